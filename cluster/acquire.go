package cluster

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/store"
)

// Acquisition bounds: a batch's simulations take their leases in one
// pipeline, are read from the store in one round trip and have their
// owner recorded in one write; a dead node's stories need not wait for
// each other's round trips, nor for a line of batches. A batch spends
// most of its time waiting (on a busy machine, 0.8 s at the median for
// 64 stories, of which about 35 ms is CPU), so a survivor of a dead node
// with 1,667 of its stories (26 batches) keeps eight in flight; each
// holds a store connection for its read, leaving half of the default
// pool to the turns.
const (
	acquireBatch   = 64 // simulations acquired together
	acquireWorkers = 8  // batches in flight in one scan
)

// acquire takes sim's lease and starts it here. It reports whether the
// simulation runs here now.
func (c *Cluster) acquire(ctx context.Context, sim string) bool {
	return c.acquireMany(ctx, []orphan{{sim: sim}}, time.Time{}) == 1
}

// acquireAll acquires sims, in batches, acquireWorkers batches at a time.
// It returns when all are done; seen is when the scan found them.
func (c *Cluster) acquireAll(ctx context.Context, sims []orphan, seen time.Time) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, acquireWorkers)
	for lo := 0; lo < len(sims); lo += acquireBatch {
		batch := sims[lo:min(lo+acquireBatch, len(sims))]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.acquireMany(ctx, batch, seen)
		})
	}
	wg.Wait()
}

// acquireMany takes the leases it can of sims and starts those
// simulations here, and returns how many it started. A takeover (an
// orphan whose lease expired) is logged with how long each step took.
func (c *Cluster) acquireMany(ctx context.Context, sims []orphan, seen time.Time) int {
	if c.isLeaving() {
		return 0
	}
	t0 := time.Now()
	won := c.lease(ctx, sims)
	if len(won) == 0 {
		return 0
	}
	t1 := time.Now()
	ids := make([]string, len(won))
	for i, o := range won {
		ids[i] = o.sim
	}
	// Read the records under the leases: any listing of them may be older.
	resumes, err := c.deps.Store.Resumes(ctx, ids)
	if err != nil {
		c.log.Warn("take over simulations", "simulations", len(ids), "err", err)
		for _, sim := range ids {
			c.release(ctx, sim, false)
			c.orphan(ctx, sim)
		}
		return 0
	}
	runs := make([]store.Resume, 0, len(ids))
	for _, sim := range ids {
		r, ok := resumes[sim]
		if !ok || r.Sim.Status == store.StatusFinished || r.Sim.Status == store.StatusFailed {
			c.release(ctx, sim, false)
			c.unindex(ctx, sim)
			continue
		}
		runs = append(runs, r)
	}
	c.prepareActionsOf(ctx, runs)
	errs := c.deps.Runner.StartAll(ctx, runs)
	t2 := time.Now()
	expired := make(map[string]time.Time, len(won))
	for _, o := range won {
		expired[o.sim] = o.expired
	}
	n := 0
	for _, r := range runs {
		sim := r.Sim.ID
		if err := errs[sim]; err != nil {
			c.log.Warn("take over simulation", "sim", sim, "err", err)
			c.release(ctx, sim, false)
			c.orphan(ctx, sim)
			continue
		}
		n++
		if exp := expired[sim]; exp.IsZero() {
			c.log.Info("running simulation", "sim", sim, "head", r.Sim.Head)
		} else {
			c.log.Info("took over simulation", "sim", sim, "head", r.Sim.Head,
				"expired", exp.UTC().Format(time.RFC3339Nano), "scanned", seen.UTC().Format(time.RFC3339Nano),
				"queued", t0.Sub(seen), "lease", t1.Sub(t0), "start", t2.Sub(t1), "batch", len(won))
		}
	}
	if n > 0 {
		c.lrdb.HSet(ctx, c.keys.loads(), c.node, c.deps.Runner.Count())
		c.acquired.Add(int64(n))
		signal(c.readerSet)
	}
	return n
}

// lease takes the leases of those of sims that are free and not running
// here, in one pipeline, records them as held here and in the lease
// index, and returns them.
func (c *Cluster) lease(ctx context.Context, sims []orphan) []orphan {
	pipe := c.lrdb.Pipeline()
	cmds := make([]*redis.BoolCmd, len(sims))
	for i, o := range sims {
		if !c.deps.Runner.Running(o.sim) {
			cmds[i] = pipe.SetNX(ctx, c.keys.lease(o.sim), c.node, c.cfg.LeaseTTL)
		}
	}
	if pipe.Len() == 0 {
		return nil
	}
	pipe.Exec(ctx) // each command has its own outcome
	var won []orphan
	for i, cmd := range cmds {
		if cmd != nil && cmd.Err() == nil && cmd.Val() {
			won = append(won, sims[i])
		}
	}
	if len(won) == 0 {
		return nil
	}
	now := time.Now()
	zs := make([]redis.Z, len(won))
	until := float64(now.Add(c.cfg.LeaseTTL).UnixMilli())
	c.mu.Lock()
	for i, o := range won {
		c.leases[o.sim] = now
		delete(c.unowned, o.sim)
		zs[i] = redis.Z{Score: until, Member: o.sim}
	}
	c.mu.Unlock()
	if err := c.lrdb.ZAdd(ctx, c.keys.leaseIndex(), zs...).Err(); err != nil {
		c.log.Debug("lease index", "err", err)
	}
	return won
}

// prepareActionsOf makes sure each of runs has its actions stream and
// group, in one pipeline.
func (c *Cluster) prepareActionsOf(ctx context.Context, runs []store.Resume) {
	if len(runs) == 0 {
		return
	}
	pipe := c.lrdb.Pipeline()
	cmds := make([]*redis.StatusCmd, len(runs))
	for i, r := range runs {
		cmds[i] = pipe.XGroupCreateMkStream(ctx, c.keys.actions(r.Sim.ID), actionsGroup, "0")
	}
	pipe.Exec(ctx)
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			c.log.Warn("create actions group", "sim", runs[i].Sim.ID, "err", err)
		}
	}
}
