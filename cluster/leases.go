package cluster

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/store"
)

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

// placedScans is how many scans a new simulation stays named for the
// node it was placed on.
const placedScans = 20

// Place starts a new simulation's life in the cluster. Its preferred node
// is chosen among those whose capacity admits a story at its pace (all,
// if none does): this node runs it at once; another is named as the one
// to take it (while it is alive, for placedScans at most), and told with
// the others to look now.
func (c *Cluster) Place(ctx context.Context, rec *store.Simulation) {
	c.heartbeat(ctx)
	interval := time.Duration(rec.TurnIntervalMS) * time.Millisecond
	to := c.placementFor(1, func(cp Capacity) bool { return cp.Admits(interval) }).preferred(rec.ID)
	if to == c.node && c.acquire(ctx, rec.ID) {
		return
	}
	if to != c.node {
		// Honoured only while the node is alive: the time is for a node
		// alive that does not take it (Redis failing it), not for a dead one.
		if err := c.rdb.Set(ctx, c.keys.placed(rec.ID), to, placedScans*c.cfg.ScanInterval).Err(); err != nil {
			c.log.Warn("name the node for a new simulation", "sim", rec.ID, "node", to, "err", err)
		}
	}
	c.orphan(ctx, rec.ID)
	c.notify(ctx, "scan", rec.ID)
}

// orphan scores sim in the lease index as without an owner.
func (c *Cluster) orphan(ctx context.Context, sim string) {
	if err := c.lrdb.ZAdd(ctx, c.keys.leaseIndex(), redis.Z{Score: 0, Member: sim}).Err(); err != nil {
		c.log.Warn("lease index", "sim", sim, "err", err)
	}
}

// unindex takes sim, which has ended or is gone, out of the lease index.
func (c *Cluster) unindex(ctx context.Context, sim string) {
	if err := c.lrdb.ZRem(ctx, c.keys.leaseIndex(), sim).Err(); err != nil {
		c.log.Warn("lease index", "sim", sim, "err", err)
	}
}

// release gives up sim's lease (when its run stopped here) and, unless
// the simulation has ended, tells the other nodes to take it over now.
func (c *Cluster) release(ctx context.Context, sim string, announce bool) {
	c.mu.Lock()
	delete(c.leases, sim)
	c.mu.Unlock()
	signal(c.readerSet)
	if err := releaseScript.Run(ctx, c.lrdb, []string{c.keys.lease(sim)}, c.node).Err(); err != nil {
		c.log.Warn("release lease", "sim", sim, "err", err)
	}
	if announce {
		c.orphan(ctx, sim)
		c.notify(ctx, "released", sim)
	}
}

// Stopped is the runner's word that a simulation stopped running here;
// lost: because another node may hold it now.
func (c *Cluster) Stopped(sim string, lost bool) {
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
	if rec, err := c.deps.Store.GetSimulation(ctx, sim); err == nil {
		ended = rec.Status == store.StatusFinished || rec.Status == store.StatusFailed
	}
	c.release(ctx, sim, !ended)
	if ended {
		c.unindex(ctx, sim)
	}
}

// renewBatch is how many leases one pipeline renews.
const renewBatch = 500

// renewLoop keeps this node's leases alive.
func (c *Cluster) renewLoop(ctx context.Context) {
	every(ctx, c.cfg.RenewInterval, c.renew)
}

// renew renews every lease this node holds. A lease another node holds
// now stops its simulation here at once; a lease that could not be
// renewed for a whole TTL (Redis unreachable from here) stops it too,
// since another node may have taken it.
func (c *Cluster) renew(ctx context.Context) {
	c.mu.Lock()
	sims := make([]string, 0, len(c.leases))
	for sim := range c.leases {
		sims = append(sims, sim)
	}
	c.mu.Unlock()
	if len(sims) == 0 {
		return
	}
	// A node holding thousands of leases may take longer than one
	// interval to renew them all on a busy machine: allow until the
	// oldest could expire, not one interval (a missed deadline loses
	// every lease at once).
	rctx, cancel := context.WithTimeout(ctx, max(c.cfg.RenewInterval, c.cfg.LeaseTTL-c.cfg.RenewInterval))
	defer cancel()
	cmds := c.renewAll(rctx, sims)
	now := time.Now()
	renewed := make([]redis.Z, 0, len(sims))
	until := float64(now.Add(c.cfg.LeaseTTL).UnixMilli())
	for i, sim := range sims {
		n, err := cmds[i].Int64()
		switch {
		case err == nil && n == 1:
			renewed = append(renewed, redis.Z{Score: until, Member: sim})
			c.mu.Lock()
			if _, ok := c.leases[sim]; ok {
				c.leases[sim] = now
			}
			c.mu.Unlock()
		case err == nil && n == 0:
			c.log.Warn("lease lost to another node; stopping the simulation here", "sim", sim)
			c.lose(sim)
		default:
			c.mu.Lock()
			last, ok := c.leases[sim]
			c.mu.Unlock()
			if ok && now.Sub(last) > c.cfg.LeaseTTL {
				c.log.Warn("lease not renewed for its whole TTL; stopping the simulation here", "sim", sim, "err", err)
				c.lose(sim)
			}
		}
	}
	// One command for every lease renewed: the index says until when each
	// is held, so others look at a simulation only once that has passed.
	if len(renewed) > 0 {
		if err := c.lrdb.ZAdd(rctx, c.keys.leaseIndex(), renewed...).Err(); err != nil {
			c.log.Debug("lease index", "err", err)
		}
	}
}

// renewAll runs the renewal script on each of sims' leases and returns
// each one's command. It calls the script by its hash, and loads it only
// when Redis answers that it does not have it (a restart): loading it
// every round asks every server of a Redis Cluster, replicas included,
// and waits for the slowest before a lease is renewed, which on a busy
// machine took most of the renewal's deadline.
func (c *Cluster) renewAll(ctx context.Context, sims []string) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(sims))
	c.renewPipelines(ctx, sims, cmds, func(int) bool { return true })
	noScript := func(i int) bool { return cmds[i] != nil && redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") }
	if !anyOf(len(sims), noScript) {
		return cmds
	}
	if err := renewScript.Load(ctx, c.lrdb).Err(); err != nil {
		return cmds
	}
	c.renewPipelines(ctx, sims, cmds, noScript)
	return cmds
}

// renewPipelines sends the renewal of sims[i], for each i that send
// picks, into cmds[i]: in pipelines of a bounded size, so that one round
// trip's buffers stay small however many leases the node holds; all in
// flight at once, so that on a busy machine the renewal of thousands
// waits for one round trip, not one after another until the deadline
// passes and the last pipelines are never sent.
func (c *Cluster) renewPipelines(ctx context.Context, sims []string, cmds []*redis.Cmd, send func(i int) bool) {
	var wg sync.WaitGroup
	pipe := c.lrdb.Pipeline()
	flush := func() {
		if p := pipe; p.Len() > 0 {
			wg.Go(func() { p.Exec(ctx) })
			pipe = c.lrdb.Pipeline()
		}
	}
	for i, sim := range sims {
		if !send(i) {
			continue
		}
		cmds[i] = renewScript.EvalSha(ctx, pipe, []string{c.keys.lease(sim)}, c.node, c.cfg.LeaseTTL.Milliseconds())
		if pipe.Len() == renewBatch {
			flush()
		}
	}
	flush()
	wg.Wait()
}

// anyOf reports whether f holds for one of 0..n-1.
func anyOf(n int, f func(int) bool) bool {
	for i := range n {
		if f(i) {
			return true
		}
	}
	return false
}

// lose stops a simulation whose lease this node may no longer hold.
func (c *Cluster) lose(sim string) {
	c.lost.Add(1)
	c.deps.Runner.Stop(sim, true)
}

// scanLoop takes over the simulations nobody runs: every ScanInterval,
// at once when a node releases one, and when the next lease in the index
// expires (a dead node's leases are taken as they expire, not up to a
// scan interval later).
func (c *Cluster) scanLoop(ctx context.Context) {
	t := time.NewTimer(c.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.scan:
		}
		wait := c.cfg.ScanInterval
		if !c.isLeaving() {
			next, more, err := c.takeOver(ctx)
			if err != nil && ctx.Err() == nil {
				c.log.Debug("ownership scan", "err", err)
			}
			// A lease key outlives its index score by under a millisecond
			// (the score is whole milliseconds); look just after.
			if d := time.Until(next) + expiryMargin; !next.IsZero() && d < wait {
				wait = max(d, 0)
			}
			// More orphans than one scan lists: the rest are due already,
			// so look again now rather than a scan interval later.
			if more {
				wait = 0
			}
		}
		t.Reset(wait)
	}
}

// expiryMargin is how long after a lease's index score a scan looks.
const expiryMargin = 5 * time.Millisecond

// takeOver acquires the simulations with no lease for which this node is
// the preferred one (among the nodes below an even share, weighted by how
// far below), or which stayed without an owner for two scan intervals
// (their preferred node is not taking them). A new simulation placed on a
// live node is that node's alone. A node at its bounds (Capacity.HasRoom)
// takes no other while another node has room. It reads only the
// simulations the lease index says have no owner now, so its cost grows
// with those, not with all. It returns when the next lease in the index
// expires unless renewed (zero for none), and whether more orphans are
// due than it listed.
func (c *Cluster) takeOver(ctx context.Context) (next time.Time, more bool, err error) {
	candidates, next, more, err := c.orphans(ctx)
	if err != nil || len(candidates) == 0 {
		c.forgetUnowned(nil)
		return next, more, err
	}
	c.heartbeat(ctx)
	now := time.Now()
	grace := 2 * c.cfg.ScanInterval
	seen := make(map[string]bool, len(candidates))
	place := c.placementFor(len(candidates), Capacity.HasRoom)
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	var take []orphan
	for _, o := range candidates {
		sim := o.sim
		seen[sim] = true
		c.mu.Lock()
		since, ok := c.unowned[sim]
		if !ok {
			since = now
			c.unowned[sim] = now
		}
		c.mu.Unlock()
		if o.placed != "" && slices.Contains(live, o.placed) {
			if o.placed == c.node {
				take = append(take, o)
			}
			continue
		}
		// Preferred by a placement weighted by room: each orphan has one
		// taker, which takes it at once, and a node takes about its even
		// share. A cap on what this node takes in one scan would leave the
		// orphans the hash gave it beyond the cap for the grace below.
		mine := !place.full && place.preferred(sim) == c.node
		if mine || (!place.full && now.Sub(since) >= grace) {
			take = append(take, o)
		}
	}
	c.acquireAll(ctx, take, now)
	c.forgetUnowned(seen)
	// Look again at once only after taking some: a full page of orphans
	// all left for other nodes would otherwise be listed in a busy loop.
	return next, more && len(take) > 0, nil
}

// forgetUnowned forgets when the simulations not in seen were first seen
// without an owner.
func (c *Cluster) forgetUnowned(seen map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.unowned {
		if !seen[id] {
			delete(c.unowned, id)
		}
	}
}

// maxOrphans bounds the simulations one scan looks at; the rest wait for
// the next scan, which follows at once. It is above a dead node's share
// of a large fleet (3,334 of 10,000 stories on three nodes), so that its
// orphans are acquired in one scan, in parallel, not one page after
// another; the index reads and lease checks of 10,000 cost Redis a few
// milliseconds.
const maxOrphans = 10000

// orphan is a simulation without a lease, and when its lease expired
// (as the index says; zero for one released or never leased).
type orphan struct {
	sim     string
	expired time.Time
	placed  string // the node a new simulation was placed on, if any
}

// orphans lists the simulations without a lease that do not run here:
// those the index scores as expired, whose lease key confirms it (with,
// for the new ones placed on a node, that node), and when the next lease
// in the index expires unless renewed, and whether more are due than it
// listed (c.maxOrphans). When the index was lost (Redis restarted without
// persistence) it is seeded again from the store first.
func (c *Cluster) orphans(ctx context.Context) (sims []orphan, next time.Time, more bool, err error) {
	nowMS := strconv.FormatInt(time.Now().UnixMilli(), 10)
	pipe := c.lrdb.Pipeline()
	seeded := pipe.Exists(ctx, c.keys.indexSeeded())
	due := pipe.ZRangeByScoreWithScores(ctx, c.keys.leaseIndex(), &redis.ZRangeBy{
		Min: "-inf", Max: nowMS, Count: int64(c.maxOrphans),
	})
	upcoming := pipe.ZRangeByScoreWithScores(ctx, c.keys.leaseIndex(), &redis.ZRangeBy{
		Min: "(" + nowMS, Max: "+inf", Count: 1,
	})
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, time.Time{}, false, err
	}
	if seeded.Val() == 0 {
		if err := c.seedIndex(ctx); err != nil {
			return nil, time.Time{}, false, err
		}
		return c.orphans(ctx)
	}
	if z := upcoming.Val(); len(z) == 1 {
		next = time.UnixMilli(int64(z[0].Score))
	}
	more = len(due.Val()) >= c.maxOrphans
	for _, z := range due.Val() {
		sim, _ := z.Member.(string)
		if c.deps.Runner.Running(sim) {
			continue
		}
		o := orphan{sim: sim}
		if z.Score > 0 {
			o.expired = time.UnixMilli(int64(z.Score))
		}
		sims = append(sims, o)
	}
	if len(sims) == 0 {
		return nil, next, more, nil
	}
	// The index is a hint: a lease key says who holds it.
	pipe = c.lrdb.Pipeline()
	holders := make([]*redis.StringCmd, len(sims))
	placedOn := make([]*redis.StringCmd, len(sims))
	for i, o := range sims {
		holders[i] = pipe.Get(ctx, c.keys.lease(o.sim))
		placedOn[i] = pipe.Get(ctx, c.keys.placed(o.sim))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, time.Time{}, false, err
	}
	out := sims[:0]
	for i, o := range sims {
		if errors.Is(holders[i].Err(), redis.Nil) {
			o.placed = placedOn[i].Val()
			out = append(out, o)
		}
	}
	return out, next, more, nil
}

// seedIndex puts every simulation the store says should run into the
// lease index (keeping the scores of those already there), then marks
// the index seeded. It reads every such simulation: it runs only when
// Redis has lost the index.
func (c *Cluster) seedIndex(ctx context.Context) error {
	n := 0
	for _, status := range []string{store.StatusRunning, store.StatusPaused, store.StatusCreated} {
		cursor := ""
		for {
			sims, next, err := c.deps.Store.ListSimulations(ctx, store.ListOptions{Status: status, Limit: 200, Cursor: cursor})
			if err != nil {
				return err
			}
			if len(sims) > 0 {
				zs := make([]redis.Z, len(sims))
				for i, rec := range sims {
					zs[i] = redis.Z{Score: 0, Member: rec.ID}
				}
				if err := c.rdb.ZAddNX(ctx, c.keys.leaseIndex(), zs...).Err(); err != nil {
					return err
				}
				n += len(sims)
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	c.log.Info("lease index seeded from the store", "simulations", n)
	return c.rdb.Set(ctx, c.keys.indexSeeded(), c.node, 0).Err()
}
