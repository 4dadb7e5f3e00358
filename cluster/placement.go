package cluster

import (
	"context"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// heartbeat records that this node is alive, how many simulations it
// runs and its capacity, and reads the same of the others. Placement
// decisions call it first, so they see the loads of now, not of the last
// beat.
func (c *Cluster) heartbeat(ctx context.Context) {
	if c.isLeaving() {
		return
	}
	now := time.Now()
	window := 4 * c.cfg.HeartbeatInterval
	pipe := c.lrdb.Pipeline()
	pipe.ZAdd(ctx, c.keys.nodes(), redis.Z{Score: float64(now.UnixMilli()), Member: c.node})
	pipe.HSet(ctx, c.keys.loads(), c.node, c.deps.Runner.Count())
	pipe.HSet(ctx, c.keys.capacity(), c.node, encodeCapacity(c.capacity()))
	loads := pipe.HGetAll(ctx, c.keys.loads())
	caps := pipe.HGetAll(ctx, c.keys.capacity())
	pipe.ZRemRangeByScore(ctx, c.keys.nodes(), "-inf", strconv.FormatInt(now.Add(-time.Hour).UnixMilli(), 10))
	live := pipe.ZRangeByScore(ctx, c.keys.nodes(), &redis.ZRangeBy{Min: strconv.FormatInt(now.Add(-window).UnixMilli(), 10), Max: "+inf"})
	if _, err := pipe.Exec(ctx); err != nil {
		c.log.Debug("heartbeat", "err", err)
		return
	}
	nodes := live.Val()
	byNode := make(map[string]int, len(nodes))
	for n, v := range loads.Val() {
		if slices.Contains(nodes, n) {
			byNode[n], _ = strconv.Atoi(v)
		} else {
			// A node gone for good. On the lease client, as the rest of
			// the heartbeat: a scan's heartbeat waiting for the main client
			// (busy with the dead node's watchers resuming here) held up
			// the takeover of its stories.
			c.lrdb.HDel(ctx, c.keys.loads(), n)
		}
	}
	capByNode := make(map[string]Capacity, len(nodes))
	for n, v := range caps.Val() {
		if slices.Contains(nodes, n) {
			capByNode[n] = decodeCapacity(v)
		} else {
			c.lrdb.HDel(ctx, c.keys.capacity(), n)
		}
	}
	c.mu.Lock()
	c.live, c.loads, c.caps = nodes, byNode, capByNode
	c.mu.Unlock()
}

func (c *Cluster) heartbeatLoop(ctx context.Context) {
	every(ctx, c.cfg.HeartbeatInterval, c.heartbeat)
}

// placement is a view of the live nodes and their loads, taken once per
// decision (a scan, or a new simulation).
type placement struct {
	nodes  []string       // live nodes with room: fewer simulations than target
	target int            // an even share of the simulations that should run
	room   map[string]int // how many more each of nodes takes to reach target
	full   bool           // this node is at its bounds while another is not
}

// place spreads simulations over the live nodes: those below an even
// share have room. With no live node known, this node (self, running
// own simulations) takes them all.
func place(self string, own int, live []string, loads map[string]int, extra int) placement {
	if len(live) == 0 {
		return placement{nodes: []string{self}, target: own + extra}
	}
	load := func(n string) int {
		if n == self {
			return own
		}
		return loads[n]
	}
	total := extra
	for _, n := range live {
		total += load(n)
	}
	p := placement{target: (total + len(live) - 1) / len(live), room: make(map[string]int, len(live))}
	for _, n := range live {
		if load(n) < p.target {
			p.nodes = append(p.nodes, n)
			p.room[n] = p.target - load(n)
		}
	}
	if len(p.nodes) == 0 {
		p.nodes = live
	}
	return p
}

// preferred returns the node that should run sim: among the nodes with
// room, the highest rendezvous hash of sim and the node, weighted by the
// node's room (so that each node is preferred for a share of new
// simulations in proportion to its room, and none waits for a node that
// is already full). Every node computes the same answer from the same
// view, so a simulation goes to one node without a race, and simulations
// spread evenly.
func (p placement) preferred(sim string) string {
	best, bestScore := "", 0.0
	for _, n := range p.nodes {
		h := fnv.New64a()
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(sim))
		// Weighted rendezvous hashing: with u uniform in (0, 1), w/-ln(u)
		// is highest for node n with probability w(n)/Σw. With equal
		// weights it orders nodes as the hash does.
		u := (float64(mix(h.Sum64())>>11) + 0.5) / (1 << 53)
		w := 1.0
		if r := p.room[n]; r > 0 {
			w = float64(r)
		}
		if s := w / -math.Log(u); best == "" || s > bestScore {
			best, bestScore = n, s
		}
	}
	return best
}

// mix spreads every bit of an FNV hash over the whole word (MurmurHash3's
// finalizer): FNV alone barely moves the high bits, which decide the
// comparison, when only the last bytes differ, and the spread is uneven.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
