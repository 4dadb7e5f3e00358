package server

import (
	"context"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/store"
)

// ClusterConfig makes the node one of several that share Redis and the
// store: each simulation runs on the one node holding its lease, and
// actions and controls reach that node through Redis. The zero value of
// every field but Redis works.
type ClusterConfig struct {
	Redis redis.UniversalClient
	// Prefix starts every key and channel. Defaults to "novel:"; it must
	// match the broker's.
	Prefix string
	// LeaseTTL is how long a lease outlives its holder's last renewal:
	// the longest a dead node's simulations wait for a new owner.
	// Defaults to 3s.
	LeaseTTL time.Duration
	// RenewInterval is how often leases are renewed, well inside the TTL.
	// Defaults to LeaseTTL/3.
	RenewInterval time.Duration
	// ScanInterval is how often the node looks for simulations nobody
	// runs. Defaults to 500ms.
	ScanInterval time.Duration
	// HeartbeatInterval is how often the node says it is alive; a node
	// silent for four intervals is out of the placement. Defaults to 500ms.
	HeartbeatInterval time.Duration
	// RemoteTimeout bounds the wait for the owner's answer to an action or
	// a control sent from another node. Defaults to 8s (longer than a
	// takeover).
	RemoteTimeout time.Duration
}

// cluster is the node's part in the cluster: its heartbeat, the leases
// it holds, the loop that takes over simulations nobody runs, and the
// requests it routes to other nodes.
type cluster struct {
	// set at construction
	s    *Server
	cfg  ClusterConfig
	rdb  redis.UniversalClient
	node string
	log  *slog.Logger
	scan chan struct{} // capacity 1: look for simulations to take now

	ctx    context.Context // ends when the node leaves the cluster
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	live      []string             // nodes alive at the last heartbeat, sorted
	loads     map[string]int       // simulations each node ran at its last heartbeat
	leases    map[string]time.Time // simulations leased here → last renewal
	unowned   map[string]time.Time // simulations seen without a lease → since
	waiters   map[string]chan remoteReply
	counted   map[string]int // simulation → this node's watchers as last written to Redis
	leaving   bool
	readerSet chan struct{} // capacity 1: the leases changed (actions reader)
}

func newCluster(s *Server, cfg ClusterConfig) *cluster {
	if cfg.Prefix == "" {
		cfg.Prefix = "novel:"
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 3 * time.Second
	}
	if cfg.RenewInterval <= 0 {
		cfg.RenewInterval = cfg.LeaseTTL / 3
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 500 * time.Millisecond
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 500 * time.Millisecond
	}
	if cfg.RemoteTimeout <= 0 {
		cfg.RemoteTimeout = 8 * time.Second
	}
	c := &cluster{
		s: s, cfg: cfg, rdb: cfg.Redis, node: s.cfg.Node, log: s.log.With("node", s.cfg.Node),
		scan:      make(chan struct{}, 1),
		leases:    make(map[string]time.Time),
		unowned:   make(map[string]time.Time),
		waiters:   make(map[string]chan remoteReply),
		counted:   make(map[string]int),
		readerSet: make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

func (c *cluster) leaseKey(sim string) string { return c.cfg.Prefix + "lease:{" + sim + "}" }
func (c *cluster) nodesKey() string           { return c.cfg.Prefix + "nodes" }
func (c *cluster) loadsKey() string           { return c.cfg.Prefix + "loads" }
func (c *cluster) noticeChannel() string      { return c.cfg.Prefix + "cluster" }
func (c *cluster) replyChannel(node string) string {
	return c.cfg.Prefix + "reply:" + node
}

// Lease scripts. A lease is a key holding its owner's node id with a TTL.
var (
	// renewScript extends the lease if this node holds it, or takes it
	// again if Redis lost it (a restart); another holder means it is lost.
	renewScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
`)
	// releaseScript deletes the lease if this node holds it.
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
)

// start runs the node's loops: heartbeat, lease renewal, takeover scan,
// notices and replies, and the actions reader.
func (c *cluster) start() {
	c.heartbeat(c.ctx)
	loops := []func(context.Context){c.heartbeatLoop, c.renewLoop, c.scanLoop, c.listenLoop, c.actionsLoop}
	for _, loop := range loops {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			loop(c.ctx)
		}()
	}
	c.wakeScan()
}

// leave takes the node out of placement (no heartbeat, no takeovers)
// before its simulations are drained, so others do not wait for it.
func (c *cluster) leave(ctx context.Context) {
	c.mu.Lock()
	c.leaving = true
	c.mu.Unlock()
	c.rdb.HDel(ctx, c.loadsKey(), c.node)
	if err := c.rdb.ZRem(ctx, c.nodesKey(), c.node).Err(); err != nil {
		c.log.Warn("leave the cluster", "err", err)
	}
}

// stop ends the loops, after the runner has stopped every simulation.
func (c *cluster) stop() {
	c.cancel()
	c.wg.Wait()
}

func (c *cluster) isLeaving() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaving
}

func (c *cluster) wakeScan() { signal(c.scan) }

// heartbeat records that this node is alive and how many simulations it
// runs, and reads the same of the others. Placement decisions call it
// first, so they see the loads of now, not of the last beat.
func (c *cluster) heartbeat(ctx context.Context) {
	if c.isLeaving() {
		return
	}
	now := time.Now()
	window := 4 * c.cfg.HeartbeatInterval
	pipe := c.rdb.Pipeline()
	pipe.ZAdd(ctx, c.nodesKey(), redis.Z{Score: float64(now.UnixMilli()), Member: c.node})
	pipe.HSet(ctx, c.loadsKey(), c.node, c.s.runner.Count())
	loads := pipe.HGetAll(ctx, c.loadsKey())
	pipe.ZRemRangeByScore(ctx, c.nodesKey(), "-inf", strconv.FormatInt(now.Add(-time.Hour).UnixMilli(), 10))
	live := pipe.ZRangeByScore(ctx, c.nodesKey(), &redis.ZRangeBy{Min: strconv.FormatInt(now.Add(-window).UnixMilli(), 10), Max: "+inf"})
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
			c.rdb.HDel(ctx, c.loadsKey(), n) // a node gone for good
		}
	}
	c.mu.Lock()
	c.live, c.loads = nodes, byNode
	c.mu.Unlock()
}

func (c *cluster) heartbeatLoop(ctx context.Context) {
	every(ctx, c.cfg.HeartbeatInterval, c.heartbeat)
}

// placement is a view of the live nodes and their loads, taken once per
// decision (a scan, or a new simulation).
type placement struct {
	nodes  []string // live nodes with room: fewer simulations than target
	target int      // an even share of the simulations that should run
}

// placement computes where simulations should go when extra more of
// them need an owner: the live nodes below an even share.
func (c *cluster) placement(extra int) placement {
	c.mu.Lock()
	live, loads := c.live, c.loads
	c.mu.Unlock()
	if len(live) == 0 {
		return placement{nodes: []string{c.node}, target: c.s.runner.Count() + extra}
	}
	total := extra
	load := func(n string) int {
		if n == c.node {
			return c.s.runner.Count()
		}
		return loads[n]
	}
	for _, n := range live {
		total += load(n)
	}
	p := placement{target: (total + len(live) - 1) / len(live)}
	for _, n := range live {
		if load(n) < p.target {
			p.nodes = append(p.nodes, n)
		}
	}
	if len(p.nodes) == 0 {
		p.nodes = live
	}
	return p
}

// preferred returns the node that should run sim: among the nodes with
// room, the highest rendezvous hash of sim and the node. Every node
// computes the same answer from the same view, so a simulation goes to
// one node without a race, and simulations spread evenly.
func (p placement) preferred(sim string) string {
	best, bestScore := "", uint64(0)
	for _, n := range p.nodes {
		h := fnv.New64a()
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(sim))
		if s := h.Sum64(); best == "" || s > bestScore {
			best, bestScore = n, s
		}
	}
	return best
}

// place starts a new simulation's life in the cluster: run it here if
// this node is its preferred one, else tell the others to look now.
func (c *cluster) place(ctx context.Context, rec *store.Simulation) {
	c.heartbeat(ctx)
	if c.placement(1).preferred(rec.ID) == c.node {
		if c.acquire(ctx, rec) {
			return
		}
	}
	c.notify(ctx, "scan", rec.ID)
}

// notify publishes a notice to every node ("released <sim>": take it
// over now; "scan <sim>": a simulation needs an owner).
func (c *cluster) notify(ctx context.Context, kind, sim string) {
	if err := c.rdb.Publish(ctx, c.noticeChannel(), kind+" "+sim).Err(); err != nil {
		c.log.Debug("notify", "kind", kind, "err", err)
	}
}

// acquire takes sim's lease and starts it here. It reports whether the
// simulation runs here now.
func (c *cluster) acquire(ctx context.Context, rec *store.Simulation) bool {
	if c.isLeaving() || c.s.runner.Running(rec.ID) {
		return false
	}
	ok, err := c.rdb.SetNX(ctx, c.leaseKey(rec.ID), c.node, c.cfg.LeaseTTL).Result()
	if err != nil || !ok {
		return false
	}
	c.mu.Lock()
	c.leases[rec.ID] = time.Now()
	delete(c.unowned, rec.ID)
	c.mu.Unlock()
	// The record listed may be older than the lease: read it again.
	fresh, err := c.s.store.GetSimulation(ctx, rec.ID)
	if err == nil && (fresh.Status == store.StatusFinished || fresh.Status == store.StatusFailed) {
		c.release(ctx, rec.ID, false)
		return false
	}
	if err == nil {
		rec = fresh
	}
	if err == nil {
		c.prepareActions(ctx, rec.ID)
		err = c.s.runner.Start(ctx, rec)
	}
	if err != nil {
		c.log.Warn("take over simulation", "sim", rec.ID, "err", err)
		c.release(ctx, rec.ID, false)
		return false
	}
	c.rdb.HSet(ctx, c.loadsKey(), c.node, c.s.runner.Count())
	c.s.metrics.takeovers.Inc()
	c.log.Info("running simulation", "sim", rec.ID, "head", rec.Head)
	signal(c.readerSet)
	return true
}

// release gives up sim's lease (when its run stopped here) and, unless
// the simulation has ended, tells the other nodes to take it over now.
func (c *cluster) release(ctx context.Context, sim string, announce bool) {
	c.mu.Lock()
	delete(c.leases, sim)
	c.mu.Unlock()
	signal(c.readerSet)
	if err := releaseScript.Run(ctx, c.rdb, []string{c.leaseKey(sim)}, c.node).Err(); err != nil {
		c.log.Warn("release lease", "sim", sim, "err", err)
	}
	if announce {
		c.notify(ctx, "released", sim)
	}
}

// onStop is the runner's OnStop: a simulation stopped running here.
func (c *cluster) onStop(sim string, lost bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 5*time.Second)
	defer cancel()
	if lost {
		c.mu.Lock()
		delete(c.leases, sim)
		c.mu.Unlock()
		signal(c.readerSet)
		return
	}
	ended := false
	if rec, err := c.s.store.GetSimulation(ctx, sim); err == nil {
		ended = rec.Status == store.StatusFinished || rec.Status == store.StatusFailed
	}
	c.release(ctx, sim, !ended)
}

// renewLoop keeps this node's leases alive. A lease another node holds
// now stops its simulation here at once; a lease that could not be
// renewed for a whole TTL (Redis unreachable from here) stops it too,
// since another node may have taken it.
func (c *cluster) renewLoop(ctx context.Context) {
	every(ctx, c.cfg.RenewInterval, c.renew)
}

func (c *cluster) renew(ctx context.Context) {
	c.mu.Lock()
	sims := make([]string, 0, len(c.leases))
	for sim := range c.leases {
		sims = append(sims, sim)
	}
	c.mu.Unlock()
	if len(sims) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RenewInterval)
	defer cancel()
	cmds := make([]*redis.Cmd, len(sims))
	// Scripts in a pipeline are called by hash: load it first (Redis may
	// have restarted and forgotten it).
	err := renewScript.Load(rctx, c.rdb).Err()
	if err == nil {
		pipe := c.rdb.Pipeline()
		for i, sim := range sims {
			cmds[i] = renewScript.EvalSha(rctx, pipe, []string{c.leaseKey(sim)}, c.node, c.cfg.LeaseTTL.Milliseconds())
		}
		pipe.Exec(rctx)
	}
	now := time.Now()
	for i, sim := range sims {
		var n int64
		if cmds[i] != nil {
			n, err = cmds[i].Int64()
		}
		switch {
		case err == nil && n == 1:
			c.mu.Lock()
			if _, ok := c.leases[sim]; ok {
				c.leases[sim] = now
			}
			c.mu.Unlock()
		case err == nil && n == 0:
			c.log.Warn("lease lost to another node; stopping the simulation here", "sim", sim)
			c.s.metrics.leasesLost.Inc()
			c.s.runner.Stop(sim, true)
		default:
			c.mu.Lock()
			last, ok := c.leases[sim]
			c.mu.Unlock()
			if ok && now.Sub(last) > c.cfg.LeaseTTL {
				c.log.Warn("lease not renewed for its whole TTL; stopping the simulation here", "sim", sim, "err", err)
				c.s.metrics.leasesLost.Inc()
				c.s.runner.Stop(sim, true)
			}
		}
	}
}

// scanLoop takes over the simulations nobody runs: every ScanInterval,
// and at once when a node releases one.
func (c *cluster) scanLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.scan:
		}
		if c.isLeaving() {
			continue
		}
		if err := c.takeOver(ctx); err != nil && ctx.Err() == nil {
			c.log.Debug("ownership scan", "err", err)
		}
	}
}

// takeOver lists the simulations that should run and acquires those with
// no lease for which this node is the preferred one (while it runs less
// than an even share), or which stayed without an owner for two scans
// (their preferred node is not taking them).
func (c *cluster) takeOver(ctx context.Context) error {
	var candidates []*store.Simulation
	for _, status := range []string{store.StatusRunning, store.StatusPaused, store.StatusCreated} {
		cursor := ""
		for {
			sims, next, err := c.s.store.ListSimulations(ctx, store.ListOptions{Status: status, Limit: 200, Cursor: cursor})
			if err != nil {
				return err
			}
			for _, rec := range sims {
				if !c.s.runner.Running(rec.ID) {
					candidates = append(candidates, rec)
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	keys := make([]string, len(candidates))
	for i, rec := range candidates {
		keys[i] = c.leaseKey(rec.ID)
	}
	holders := make([]any, 0, len(keys))
	for i := 0; i < len(keys); i += 500 {
		vals, err := c.rdb.MGet(ctx, keys[i:min(i+500, len(keys))]...).Result()
		if err != nil {
			return err
		}
		holders = append(holders, vals...)
	}
	c.heartbeat(ctx)
	now := time.Now()
	grace := 2 * c.cfg.ScanInterval
	seen := make(map[string]bool, len(candidates))
	unleased := 0
	for i := range candidates {
		if holders[i] == nil {
			unleased++
		}
	}
	place := c.placement(unleased)
	for i, rec := range candidates {
		if holders[i] != nil {
			continue
		}
		seen[rec.ID] = true
		c.mu.Lock()
		since, ok := c.unowned[rec.ID]
		if !ok {
			since = now
			c.unowned[rec.ID] = now
		}
		c.mu.Unlock()
		mine := place.preferred(rec.ID) == c.node && c.s.runner.Count() < place.target
		if mine || now.Sub(since) >= grace {
			c.acquire(ctx, rec)
		}
	}
	c.mu.Lock()
	for id := range c.unowned {
		if !seen[id] {
			delete(c.unowned, id)
		}
	}
	c.mu.Unlock()
	return nil
}

// listenLoop receives notices from other nodes and the answers to this
// node's remote requests.
func (c *cluster) listenLoop(ctx context.Context) {
	ps := c.rdb.Subscribe(ctx, c.noticeChannel(), c.replyChannel(c.node))
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelHealthCheckInterval(5*time.Second), redis.WithChannelSize(1024))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if m.Channel == c.noticeChannel() {
				kind, sim, _ := strings.Cut(m.Payload, " ")
				switch kind {
				case "released", "scan":
					c.wakeScan()
				case "presence":
					c.s.presence.mark(sim)
				}
				continue
			}
			c.deliverReply(m.Payload)
		}
	}
}

func (c *cluster) watchersKey(sim string) string { return c.cfg.Prefix + "watchers:{" + sim + "}" }

// watchers records this node's count of sim's watchers (local) and returns
// the count over every live node. A change of the local count is
// announced, so the other nodes tell their watchers too.
func (c *cluster) watchers(ctx context.Context, sim string, local int) (int, error) {
	c.mu.Lock()
	prev, had := c.counted[sim]
	c.mu.Unlock()
	if !had && local == 0 {
		return 0, nil // nobody here to tell
	}
	key := c.watchersKey(sim)
	if !had || prev != local {
		pipe := c.rdb.Pipeline()
		if local > 0 {
			pipe.HSet(ctx, key, c.node, local)
			pipe.PExpire(ctx, key, time.Hour)
		} else {
			pipe.HDel(ctx, key, c.node)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, err
		}
		c.mu.Lock()
		if local > 0 {
			c.counted[sim] = local
		} else {
			delete(c.counted, sim)
		}
		c.mu.Unlock()
		if had || local > 0 {
			c.notify(ctx, "presence", sim)
		}
	}
	return c.countWatchers(ctx, sim)
}

// countWatchers sums sim's watchers over the live nodes.
func (c *cluster) countWatchers(ctx context.Context, sim string) (int, error) {
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	key := c.watchersKey(sim)
	counts, err := c.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return 0, err
	}
	total := 0
	for node, v := range counts {
		n, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		// A node that died keeps its field until it is noticed: count
		// only live nodes, and this one.
		if node == c.node || slices.Contains(live, node) {
			total += n
		} else {
			c.rdb.HDel(ctx, key, node)
		}
	}
	return total, nil
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
