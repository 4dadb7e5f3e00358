package main

import (
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

// TestFleetRedisCluster: three nodes on a Redis Cluster of three shards
// run 300 stories with a watcher each; kill -9 of the node running the
// most moves every one of its stories to the others, and every watcher,
// resuming through the balancer with since, ends with the complete
// sequence.
func TestFleetRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster of real processes")
	}
	dbURL := pgtest.URL(t)
	rc := redistest.StartCluster(t, 3, 0)
	c := startCluster(t, 3, dbURL, rc.URL(), "NOVEL_REDIS_CLUSTER=true")
	l := c.lb()
	token := l.guest(t, "Ada")

	var scenario map[string]any
	if code := l.api(t, "GET", "/v1/scenarios/"+firstScenario(t, l), "", nil, &scenario); code != 200 {
		t.Fatalf("scenario: %d", code)
	}
	delete(scenario, "end")
	const stories = 300
	var ids []string
	for i := range stories {
		// Creating is rate limited per client address: pace, as a client
		// told 429 does.
		var v simView
		poll.Until(t, 30*time.Second, "a story created", func() bool {
			return l.api(t, "POST", "/v1/simulations", token, map[string]any{
				"scenario": scenario, "seed": i + 1, "max_turns": 100000, "turn_interval_ms": 2000,
			}, &v) == 201
		})
		ids = append(ids, v.ID)
	}
	owners := map[string]string{}
	poll.Until(t, 60*time.Second, "every story to have an owner", func() bool {
		for _, id := range ids {
			if owners[id] != "" {
				continue
			}
			_, owner, _ := c.sim(id)
			if owner == "" {
				return false
			}
			owners[id] = owner
		}
		return true
	})
	perNode := map[string]int{}
	for _, o := range owners {
		perNode[o]++
	}
	t.Logf("stories per node: %v", perNode)
	if len(perNode) != 3 {
		t.Fatalf("stories on nodes %v, want them spread over all three", perNode)
	}
	var fs []*follower
	for _, id := range ids {
		fs = append(fs, follow(t, c.lbURL, id))
	}
	target := func(ahead int64) map[string]int64 {
		m := map[string]int64{}
		for _, id := range ids {
			_, _, head := c.sim(id)
			m[id] = head + ahead
		}
		return m
	}
	waitFollowers(t, 60*time.Second, fs, target(2))

	victim := ""
	for n, k := range perNode {
		if victim == "" || k > perNode[victim] {
			victim = n
		}
	}
	var orphans []string
	for id, o := range owners {
		if o == victim {
			orphans = append(orphans, id)
		}
	}
	heads := target(0)
	c.node(victim).kill(t)
	killedAt := time.Now()
	poll.Until(t, 60*time.Second, "the dead node's stories to go on from the others", func() bool {
		for _, id := range orphans {
			if _, o, head := c.sim(id); o == "" || o == victim || head <= heads[id] {
				return false
			}
		}
		return true
	})
	t.Logf("kill -9 of %s: its %d stories went on elsewhere after %v", victim, len(orphans), time.Since(killedAt).Round(time.Millisecond))
	waitFollowers(t, 60*time.Second, fs, target(2))
	checkFollowers(t, fs)
}
