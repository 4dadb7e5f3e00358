package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/internal/poll"
)

// redisNode is one node's broker, delivering to a recorder that stands
// in for the hub.
type redisNode struct {
	b   *cluster.Broker
	rec *recorder
}

func newRedisNode(t *testing.T, rdb redis.UniversalClient, prefix string) *redisNode {
	t.Helper()
	b := cluster.NewBroker(rdb, prefix, cluster.BrokerOptions{HealthCheck: 500 * time.Millisecond})
	t.Cleanup(func() { b.Close() })
	// The hub drops a turn a watcher has: a node's own turns reach it
	// first from the node, then from Redis.
	rec := &recorder{b: b, seqs: map[string][]int64{}, dedupe: true}
	b.Bind(rec)
	return &redisNode{b: b, rec: rec}
}

// recorder is a hub.Receiver that records the turn seqs delivered per
// simulation, in order; asked to recover, it reads the broker's history
// after the last seq it has, as the hub does.
type recorder struct {
	b *cluster.Broker

	mu        sync.Mutex
	seqs      map[string][]int64
	recovered int
	// dedupe drops a turn at or before the last one delivered, as the
	// hub does (one recovered from history may then come again).
	dedupe bool
}

func (r *recorder) Deliver(ctx context.Context, p hub.Publication) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.seqs[p.Sim]); r.dedupe && p.Seq > 0 && n > 0 && p.Seq <= r.seqs[p.Sim][n-1] {
		return
	}
	r.seqs[p.Sim] = append(r.seqs[p.Sim], p.Seq)
}

func (r *recorder) Recover(ctx context.Context, sim string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recovered++
	last := int64(0)
	if n := len(r.seqs[sim]); n > 0 {
		last = r.seqs[sim][n-1]
	}
	// Read again while Redis fails over (the hub would instead fill at
	// its next turn, which a test's last turn does not have).
	pubs, err := r.b.History(ctx, sim, last, 100)
	for deadline := time.Now().Add(20 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		pubs, err = r.b.History(ctx, sim, last, 100)
	}
	if err != nil {
		return
	}
	for _, p := range pubs {
		r.seqs[sim] = append(r.seqs[sim], p.Seq)
	}
}

func (r *recorder) got(sim string) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seqs[sim])
}

// watch subscribes the node to sim.
func (n *redisNode) watch(t *testing.T, sim string) {
	t.Helper()
	if err := n.b.Subscribe(context.Background(), sim); err != nil {
		t.Fatal(err)
	}
}

func tpub(sim string, seq int64) hub.Publication {
	return hub.Publication{Sim: sim, Seq: seq, Data: []byte("turn " + strconv.FormatInt(seq, 10))}
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// TestRedisBrokerFanOut: turns published on one node reach the watchers
// of every node, in order per simulation, and land in history.
func TestRedisBrokerFanOut(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	a, b := newRedisNode(t, rdb, prefix), newRedisNode(t, rdb, prefix)
	sims := []string{"s1", "s2", "s3"}
	for _, sim := range sims {
		a.watch(t, sim)
		b.watch(t, sim)
	}
	poll.Until(t, 5*time.Second, "subscriptions", func() bool {
		for _, sim := range sims {
			n, _ := rdb.PubSubNumSub(ctx, prefix+"turns:"+sim).Result()
			if n[prefix+"turns:"+sim] != 2 {
				return false
			}
		}
		return true
	})
	const turns = 200
	var wg sync.WaitGroup
	for _, sim := range sims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(1); i <= turns; i++ {
				if err := a.b.Publish(ctx, tpub(sim, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, n := range []*redisNode{a, b} {
		for _, sim := range sims {
			poll.Until(t, 10*time.Second, fmt.Sprintf("node %d: turns of %s", i, sim), func() bool { return len(n.rec.got(sim)) >= turns })
			if got := n.rec.got(sim); !slices.Equal(got, seqRange(1, turns)) {
				t.Fatalf("node %d: %s got %v", i, sim, got)
			}
		}
	}
	hist, err := b.b.History(ctx, "s2", 150, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 50 || hist[0].Seq != 151 || string(hist[49].Data) != "turn 200" {
		t.Fatalf("history after 150: %d entries, first %+v", len(hist), hist[0])
	}
	// A repeated publication keeps history as it was.
	if err := a.b.Publish(ctx, hub.Publication{Sim: "s2", Seq: 200, Data: []byte("other")}); err != nil {
		t.Fatal(err)
	}
	hist, _ = b.b.History(ctx, "s2", 199, 10)
	if len(hist) != 1 || string(hist[0].Data) != "turn 200" {
		t.Fatalf("history after a repeat: %+v", hist)
	}
}

// TestRedisBrokerEpoch: the epoch lasts as long as the history and
// changes when Redis loses it.
func TestRedisBrokerEpoch(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	n := newRedisNode(t, rdb, prefix)
	e1, err := n.b.Epoch(ctx, "e")
	if err != nil || e1 == "" {
		t.Fatalf("epoch %q, %v", e1, err)
	}
	n.b.Publish(ctx, tpub("e", 1))
	if e2, _ := n.b.Epoch(ctx, "e"); e2 != e1 {
		t.Fatalf("epoch changed from %q to %q with history intact", e1, e2)
	}
	rdb.Del(ctx, prefix+"history:{e}", prefix+"epoch:{e}") // what a restart without persistence does
	n.b.Publish(ctx, tpub("e", 2))
	if e3, _ := n.b.Epoch(ctx, "e"); e3 == e1 || e3 == "" {
		t.Fatalf("epoch %q after history was lost, was %q", e3, e1)
	}
}

// TestRedisBrokerRestart: Redis restarts (losing everything); the broker
// reconnects and resubscribes by itself, and a turn published while it
// was away, with no later turn, still reaches the watcher.
func TestRedisBrokerRestart(t *testing.T) {
	srv := redistest.StartServer(t)
	ctx := context.Background()
	watchRDB := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: 1, DialTimeout: 200 * time.Millisecond})
	pubRDB := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { watchRDB.Close(); pubRDB.Close() })
	watching := newRedisNode(t, watchRDB, "r:")
	publisher := cluster.NewBroker(pubRDB, "r:", cluster.BrokerOptions{})
	t.Cleanup(func() { publisher.Close() })

	watching.watch(t, "sim")
	poll.Until(t, 5*time.Second, "subscription", func() bool {
		m, _ := pubRDB.PubSubNumSub(ctx, "r:turns:sim").Result()
		return m["r:turns:sim"] == 1
	})
	for i := int64(1); i <= 3; i++ {
		if err := publisher.Publish(ctx, tpub("sim", i)); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 5*time.Second, "turns 1-3", func() bool { return len(watching.rec.got("sim")) == 3 })

	srv.Stop()
	srv.Start()
	// Turn 4 goes out before the watching node is back on the channel:
	// pub/sub drops it, history keeps it.
	if err := publisher.Publish(ctx, tpub("sim", 4)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "turn 4 recovered", func() bool { return len(watching.rec.got("sim")) == 4 })
	poll.Until(t, 5*time.Second, "resubscription", func() bool {
		m, _ := pubRDB.PubSubNumSub(ctx, "r:turns:sim").Result()
		return m["r:turns:sim"] == 1
	})
	for i := int64(5); i <= 6; i++ {
		if err := publisher.Publish(ctx, tpub("sim", i)); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 5*time.Second, "turns 5-6", func() bool { return len(watching.rec.got("sim")) == 6 })
	if got := watching.rec.got("sim"); !slices.Equal(got, seqRange(1, 6)) {
		t.Fatalf("watcher got %v", got)
	}
	if watching.b.Reconnects() < 1 {
		t.Fatal("no reconnect counted")
	}
}

// TestRedisBrokerSubscribeCounts: a simulation subscribed twice stays
// subscribed until it is unsubscribed twice (the hub's first watcher may
// arrive before its Unsubscribe of the last one reached the broker).
func TestRedisBrokerSubscribeCounts(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	b := cluster.NewBroker(rdb, prefix, cluster.BrokerOptions{})
	t.Cleanup(func() { b.Close() })
	numsub := func() int64 {
		m, _ := rdb.PubSubNumSub(ctx, prefix+"turns:c").Result()
		return m[prefix+"turns:c"]
	}
	b.Subscribe(ctx, "c")
	b.Subscribe(ctx, "c")
	b.Unsubscribe(ctx, "c")
	poll.Until(t, 5*time.Second, "subscription", func() bool { return numsub() == 1 })
	b.Unsubscribe(ctx, "c")
	poll.Until(t, 5*time.Second, "unsubscription", func() bool { return numsub() == 0 })
}

// TestRedisClusterBroker: on a Redis Cluster of three shards, each with a
// replica, turns reach every node's watchers through sharded pub/sub, in
// order; when a shard's primary is killed and its replica takes over,
// the watchers of the stories on that shard end with every turn, those
// published during the failover included.
func TestRedisClusterBroker(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	ctx := context.Background()
	client := func() redis.UniversalClient {
		c := cluster.NewClusterClient(rc.Options())
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := newRedisNode(t, client(), "c:"), newRedisNode(t, client(), "c:")
	a.rec.dedupe, b.rec.dedupe = true, true
	var sims []string
	for i := range 40 {
		sims = append(sims, fmt.Sprintf("s%d", i))
	}
	nodes := []*redisNode{a, b}
	for _, n := range nodes {
		for _, sim := range sims {
			n.watch(t, sim)
		}
	}
	// Subscriptions are confirmed asynchronously: publish markers (seq 0,
	// not kept in history) until each node has one of every story.
	poll.Until(t, 20*time.Second, "every node subscribed to every story", func() bool {
		for _, sim := range sims {
			for _, n := range nodes {
				if !slices.Contains(n.rec.got(sim), 0) {
					a.b.Publish(ctx, hub.Publication{Sim: sim})
					return false
				}
			}
		}
		return true
	})
	publish := func(from, to int64) {
		t.Helper()
		for _, sim := range sims {
			for i := from; i <= to; i++ {
				// A publication refused while a shard fails over is
				// tried again, as the next turn would be.
				var err error
				poll.Until(t, 30*time.Second, "publish "+sim, func() bool {
					if err = a.b.Publish(ctx, tpub(sim, i)); err != nil {
						t.Log(err)
					}
					return err == nil
				})
			}
		}
	}
	turns := func(n *redisNode, sim string) []int64 {
		return slices.DeleteFunc(n.rec.got(sim), func(s int64) bool { return s == 0 })
	}
	check := func(upTo int64) {
		t.Helper()
		for i, n := range nodes {
			for _, sim := range sims {
				poll.Until(t, 30*time.Second, fmt.Sprintf("node %d: turns of %s", i, sim), func() bool { return len(turns(n, sim)) >= int(upTo) })
				if got := turns(n, sim); !slices.Equal(got, seqRange(1, upTo)) {
					t.Fatalf("node %d: %s got %v", i, sim, got)
				}
			}
		}
	}
	publish(1, 20)
	check(20)
	// Each story's channel is on its bucket's shard, not everywhere.
	counts := map[string]int{}
	for _, sim := range sims {
		counts[rc.PrimaryFor("c:turns:{"+cluster.BucketOf(sim)+"}").Addr]++
	}
	if len(counts) != 3 {
		t.Fatalf("stories' channels on %d shards, want 3: %v", len(counts), counts)
	}
	rc.Kill(rc.PrimaryFor("c:turns:{"+cluster.BucketOf("s0")+"}"), true)
	publish(21, 40)
	check(40)
}

// TestRedisSentinelBroker: through go-redis's failover client, turns
// reach a watching node before and after Sentinel replaces a killed
// primary with its replica, and the watcher ends with every turn.
func TestRedisSentinelBroker(t *testing.T) {
	s := redistest.StartSentinel(t)
	ctx := context.Background()
	client := func() redis.UniversalClient {
		c := redis.NewFailoverClient(s.Options())
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := newRedisNode(t, client(), "s:"), newRedisNode(t, client(), "s:")
	a.rec.dedupe, b.rec.dedupe = true, true
	b.watch(t, "sim")
	poll.Until(t, 20*time.Second, "the watcher subscribed", func() bool {
		if !slices.Contains(b.rec.got("sim"), 0) {
			a.b.Publish(ctx, hub.Publication{Sim: "sim"})
			return false
		}
		return true
	})
	publish := func(from, to int64) {
		for i := from; i <= to; i++ {
			poll.Until(t, 60*time.Second, "publish", func() bool { return a.b.Publish(ctx, tpub("sim", i)) == nil })
		}
	}
	turns := func() []int64 {
		return slices.DeleteFunc(b.rec.got("sim"), func(s int64) bool { return s == 0 })
	}
	publish(1, 10)
	poll.Until(t, 20*time.Second, "turns 1-10", func() bool { return len(turns()) >= 10 })
	// Let the replica have every turn before its primary dies.
	poll.Until(t, 20*time.Second, "the replica in sync", func() bool {
		r := redis.NewClient(&redis.Options{Addr: s.Replica.Addr})
		defer r.Close()
		n, _ := r.XLen(ctx, "s:history:{sim}").Result()
		return n == 10
	})
	s.KillPrimary()
	publish(11, 20)
	poll.Until(t, 60*time.Second, "turns 11-20", func() bool { return len(turns()) >= 20 })
	if got := turns(); !slices.Equal(got, seqRange(1, 20)) {
		t.Fatalf("watcher got %v", got)
	}
}
