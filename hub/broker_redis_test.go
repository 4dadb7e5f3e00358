package hub_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/hub/redistest"
)

// redisNode is one node's broker and hub on Redis, with one watcher
// recording what reaches it.
type redisNode struct {
	b   *hub.RedisBroker
	h   *hub.Hub
	rec *recorder
}

// recorder is a hub handler wrapper that records the data delivered for
// a simulation, in order.
type recorder struct {
	mu   sync.Mutex
	seqs map[string][]int64
}

func (r *recorder) got(sim string) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seqs[sim])
}

func newRedisNode(t *testing.T, rdb redis.UniversalClient, prefix string) *redisNode {
	t.Helper()
	b := hub.NewRedisBroker(rdb, hub.RedisOptions{Prefix: prefix, HealthCheck: 500 * time.Millisecond})
	fill := func(ctx context.Context, sim string, since int64) ([]hub.Publication, error) {
		return b.History(ctx, sim, since, 500)
	}
	n := &redisNode{b: b, rec: &recorder{seqs: map[string][]int64{}}}
	n.h = hub.New(b, fill, hub.Options{})
	b.SetHandler(func(ctx context.Context, p hub.Publication) {
		n.h.Deliver(ctx, p)
	})
	b.SetRecoverHandler(n.h.Recover)
	t.Cleanup(func() { b.Close() })
	return n
}

// watch subscribes a client that records turn seqs as the hub queues
// them (the hub's queue is read by a goroutine standing in for the
// connection's writer).
func (n *redisNode) watch(t *testing.T, sim string, since int64) *watcher {
	t.Helper()
	ctx := context.Background()
	c := n.h.NewClient(nil)
	s, err := n.h.Subscribe(ctx, c, sim)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.h.Activate(ctx, s, since); err != nil {
		t.Fatal(err)
	}
	return &watcher{c: c}
}

type watcher struct{ c *hub.Client }

// seqs returns the turn seqs queued so far (the test's turns carry their
// seq as data).
func (w *watcher) seqs() []int64 {
	var out []int64
	for _, m := range hub.QueuedForTest(w.c) {
		n, err := strconv.ParseInt(strings.TrimPrefix(string(m), "turn "), 10, 64)
		if err == nil {
			out = append(out, n)
		}
	}
	return out
}

func tpub(sim string, seq int64) hub.Publication {
	return hub.Publication{Sim: sim, Seq: seq, Data: []byte("turn " + strconv.FormatInt(seq, 10))}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
	var ws []*watcher
	for _, sim := range sims {
		ws = append(ws, a.watch(t, sim, 0), b.watch(t, sim, 0))
	}
	waitUntil(t, 5*time.Second, "subscriptions", func() bool {
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
	for i, w := range ws {
		waitUntil(t, 10*time.Second, fmt.Sprintf("watcher %d", i), func() bool { return len(w.seqs()) >= turns })
		if got := w.seqs(); !slices.Equal(got, seqRange(1, turns)) {
			t.Fatalf("watcher %d got %v", i, got)
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

// TestRedisBrokerSubscribesWhileWatched: a node listens to a simulation's
// channel only while it has watchers of it.
func TestRedisBrokerSubscribesWhileWatched(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	n := newRedisNode(t, rdb, prefix)
	numsub := func() int64 {
		m, err := rdb.PubSubNumSub(ctx, prefix+"turns:x").Result()
		if err != nil {
			t.Fatal(err)
		}
		return m[prefix+"turns:x"]
	}
	if numsub() != 0 {
		t.Fatal("subscribed before any watcher")
	}
	c := n.h.NewClient(nil)
	s, err := n.h.Subscribe(ctx, c, "x")
	if err != nil {
		t.Fatal(err)
	}
	n.h.Activate(ctx, s, 0)
	waitUntil(t, 5*time.Second, "subscribe", func() bool { return numsub() == 1 })
	n.h.Unsubscribe(ctx, c, "x")
	waitUntil(t, 5*time.Second, "unsubscribe", func() bool { return numsub() == 0 })
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
	publisher := hub.NewRedisBroker(pubRDB, hub.RedisOptions{Prefix: "r:"})
	t.Cleanup(func() { publisher.Close() })

	w := watching.watch(t, "sim", 0)
	waitUntil(t, 5*time.Second, "subscription", func() bool {
		m, _ := pubRDB.PubSubNumSub(ctx, "r:turns:sim").Result()
		return m["r:turns:sim"] == 1
	})
	for i := int64(1); i <= 3; i++ {
		if err := publisher.Publish(ctx, tpub("sim", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 5*time.Second, "turns 1-3", func() bool { return len(w.seqs()) == 3 })

	srv.Stop()
	srv.Start()
	// Turn 4 goes out before the watching node is back on the channel:
	// pub/sub drops it, history keeps it.
	if err := publisher.Publish(ctx, tpub("sim", 4)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "turn 4 recovered", func() bool { return len(w.seqs()) == 4 })
	waitUntil(t, 5*time.Second, "resubscription", func() bool {
		m, _ := pubRDB.PubSubNumSub(ctx, "r:turns:sim").Result()
		return m["r:turns:sim"] == 1
	})
	for i := int64(5); i <= 6; i++ {
		if err := publisher.Publish(ctx, tpub("sim", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 5*time.Second, "turns 5-6", func() bool { return len(w.seqs()) == 6 })
	if got := w.seqs(); !slices.Equal(got, seqRange(1, 6)) {
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
	b := hub.NewRedisBroker(rdb, hub.RedisOptions{Prefix: prefix})
	t.Cleanup(func() { b.Close() })
	numsub := func() int64 {
		m, _ := rdb.PubSubNumSub(ctx, prefix+"turns:c").Result()
		return m[prefix+"turns:c"]
	}
	b.Subscribe(ctx, "c")
	b.Subscribe(ctx, "c")
	b.Unsubscribe(ctx, "c")
	waitUntil(t, 5*time.Second, "subscription", func() bool { return numsub() == 1 })
	b.Unsubscribe(ctx, "c")
	waitUntil(t, 5*time.Second, "unsubscription", func() bool { return numsub() == 0 })
}
