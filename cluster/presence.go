package cluster

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Watchers records this node's count of sim's watchers (local) and
// returns the count over every live node. A change of the local count is
// announced, so the other nodes tell their watchers too.
func (c *Cluster) Watchers(ctx context.Context, sim string, local int) (int, error) {
	c.mu.Lock()
	prev, had := c.counted[sim]
	c.mu.Unlock()
	if !had && local == 0 {
		return 0, nil // nobody here to tell
	}
	key := c.keys.watchers(sim)
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
		c.notify(ctx, "presence", sim)
	}
	return c.CountWatchers(ctx, sim)
}

// CountWatchers sums sim's watchers over the live nodes.
func (c *Cluster) CountWatchers(ctx context.Context, sim string) (int, error) {
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	key := c.keys.watchers(sim)
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

// CountWatchersOf sums the watchers of each of sims over the live nodes,
// in one pipeline (one round trip per shard of a Redis Cluster).
func (c *Cluster) CountWatchersOf(ctx context.Context, sims []string) (map[string]int, error) {
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(sims))
	for i, sim := range sims {
		cmds[i] = pipe.HGetAll(ctx, c.keys.watchers(sim))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]int, len(sims))
	for i, sim := range sims {
		for node, v := range cmds[i].Val() {
			if n, err := strconv.Atoi(v); err == nil && (node == c.node || slices.Contains(live, node)) {
				out[sim] += n
			}
		}
	}
	return out, nil
}
