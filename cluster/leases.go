package cluster

import (
	"context"
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

// Place starts a new simulation's life in the cluster: run it here if
// this node is its preferred one, else tell the others to look now.
func (c *Cluster) Place(ctx context.Context, rec *store.Simulation) {
	c.heartbeat(ctx)
	if c.placement(1).preferred(rec.ID) == c.node {
		if c.acquire(ctx, rec) {
			return
		}
	}
	c.notify(ctx, "scan", rec.ID)
}

// acquire takes sim's lease and starts it here. It reports whether the
// simulation runs here now.
func (c *Cluster) acquire(ctx context.Context, rec *store.Simulation) bool {
	if c.isLeaving() || c.deps.Runner.Running(rec.ID) {
		return false
	}
	ok, err := c.rdb.SetNX(ctx, c.keys.lease(rec.ID), c.node, c.cfg.LeaseTTL).Result()
	if err != nil || !ok {
		return false
	}
	c.mu.Lock()
	c.leases[rec.ID] = time.Now()
	delete(c.unowned, rec.ID)
	c.mu.Unlock()
	// The record listed may be older than the lease: read it again.
	fresh, err := c.deps.Store.GetSimulation(ctx, rec.ID)
	if err == nil && (fresh.Status == store.StatusFinished || fresh.Status == store.StatusFailed) {
		c.release(ctx, rec.ID, false)
		return false
	}
	if err == nil {
		rec = fresh
		c.prepareActions(ctx, rec.ID)
		err = c.deps.Runner.Start(ctx, rec)
	}
	if err != nil {
		c.log.Warn("take over simulation", "sim", rec.ID, "err", err)
		c.release(ctx, rec.ID, false)
		return false
	}
	c.rdb.HSet(ctx, c.keys.loads(), c.node, c.deps.Runner.Count())
	c.acquired.Add(1)
	c.log.Info("running simulation", "sim", rec.ID, "head", rec.Head)
	signal(c.readerSet)
	return true
}

// release gives up sim's lease (when its run stopped here) and, unless
// the simulation has ended, tells the other nodes to take it over now.
func (c *Cluster) release(ctx context.Context, sim string, announce bool) {
	c.mu.Lock()
	delete(c.leases, sim)
	c.mu.Unlock()
	signal(c.readerSet)
	if err := releaseScript.Run(ctx, c.rdb, []string{c.keys.lease(sim)}, c.node).Err(); err != nil {
		c.log.Warn("release lease", "sim", sim, "err", err)
	}
	if announce {
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
}

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
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RenewInterval)
	defer cancel()
	cmds := make([]*redis.Cmd, len(sims))
	// Scripts in a pipeline are called by hash: load it first (Redis may
	// have restarted and forgotten it).
	err := renewScript.Load(rctx, c.rdb).Err()
	if err == nil {
		pipe := c.rdb.Pipeline()
		for i, sim := range sims {
			cmds[i] = renewScript.EvalSha(rctx, pipe, []string{c.keys.lease(sim)}, c.node, c.cfg.LeaseTTL.Milliseconds())
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
}

// lose stops a simulation whose lease this node may no longer hold.
func (c *Cluster) lose(sim string) {
	c.lost.Add(1)
	c.deps.Runner.Stop(sim, true)
}

// scanLoop takes over the simulations nobody runs: every ScanInterval,
// and at once when a node releases one.
func (c *Cluster) scanLoop(ctx context.Context) {
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

// takeOver acquires the simulations with no lease for which this node is
// the preferred one (while it runs less than an even share), or which
// stayed without an owner for two scans (their preferred node is not
// taking them).
func (c *Cluster) takeOver(ctx context.Context) error {
	candidates, err := c.unrun(ctx)
	if err != nil || len(candidates) == 0 {
		return err
	}
	holders, err := c.holders(ctx, candidates)
	if err != nil {
		return err
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
		mine := place.preferred(rec.ID) == c.node && c.deps.Runner.Count() < place.target
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

// unrun lists the simulations that should run and do not run here.
func (c *Cluster) unrun(ctx context.Context) ([]*store.Simulation, error) {
	var out []*store.Simulation
	for _, status := range []string{store.StatusRunning, store.StatusPaused, store.StatusCreated} {
		cursor := ""
		for {
			sims, next, err := c.deps.Store.ListSimulations(ctx, store.ListOptions{Status: status, Limit: 200, Cursor: cursor})
			if err != nil {
				return nil, err
			}
			for _, rec := range sims {
				if !c.deps.Runner.Running(rec.ID) {
					out = append(out, rec)
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return out, nil
}

// holders reads who holds each simulation's lease (nil: nobody).
func (c *Cluster) holders(ctx context.Context, sims []*store.Simulation) ([]any, error) {
	keys := make([]string, len(sims))
	for i, rec := range sims {
		keys[i] = c.keys.lease(rec.ID)
	}
	out := make([]any, 0, len(keys))
	for i := 0; i < len(keys); i += 500 {
		vals, err := c.rdb.MGet(ctx, keys[i:min(i+500, len(keys))]...).Result()
		if err != nil {
			return nil, err
		}
		out = append(out, vals...)
	}
	return out, nil
}
