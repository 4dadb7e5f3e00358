package cluster_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/internal/poll"
)

// TestRedisBrokerOwnTurnsFirst: a turn published by a node reaches that
// node's own watchers without waiting for Redis, so they get it even
// when Redis does not answer; the publication still fails.
func TestRedisBrokerOwnTurnsFirst(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	n := newRedisNode(t, rdb, "local-first:")
	n.watch(t, "own")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := n.b.Publish(ctx, tpub("own", 1)); err == nil {
		t.Fatal("published without Redis")
	}
	poll.Until(t, 5*time.Second, "the own watchers' turn", func() bool { return len(n.rec.got("own")) == 1 })
	// A simulation not watched here is not delivered here.
	n.b.Publish(ctx, tpub("elsewhere", 1))
	if got := n.rec.got("elsewhere"); len(got) != 0 {
		t.Fatalf("an unwatched simulation delivered %v", got)
	}
}

// TestRedisBrokerStatusBeforeLaterTurn: a message that is not a turn
// (a status) goes through Redis; a turn the same node publishes after
// it still reaches that node's watchers after it, however soon.
func TestRedisBrokerStatusBeforeLaterTurn(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	n := newRedisNode(t, rdb, prefix)
	n.watch(t, "st")
	ch := prefix + "turns:st"
	poll.Until(t, 5*time.Second, "subscription", func() bool {
		m, _ := rdb.PubSubNumSub(ctx, ch).Result()
		return m[ch] == 1
	})
	const rounds = 100
	var want []int64
	for i := int64(1); i <= rounds; i++ {
		if err := n.b.Publish(ctx, hub.Publication{Sim: "st", Data: []byte("status")}); err != nil {
			t.Fatal(err)
		}
		if err := n.b.Publish(ctx, tpub("st", i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, 0, i)
	}
	poll.Until(t, 10*time.Second, "every message", func() bool { return len(n.rec.got("st")) >= 2*rounds })
	if got := n.rec.got("st"); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want each status before the turn after it", got)
	}
}

// TestRedisBrokerOwnTurnsAfterClose: a node publishing as its broker
// closes starts no delivery after Close returned.
func TestRedisBrokerOwnTurnsAfterClose(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	b := cluster.NewBroker(rdb, prefix, cluster.BrokerOptions{})
	rec := &recorder{b: b, seqs: map[string][]int64{}, dedupe: true}
	b.Bind(rec)
	if err := b.Subscribe(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(1); i <= 200; i++ {
			b.Publish(ctx, tpub("c", i))
		}
	}()
	b.Close()
	n := len(rec.got("c"))
	<-done
	if got := len(rec.got("c")); got != n {
		t.Fatalf("%d turns delivered after Close returned", got-n)
	}
}

// TestRedisBrokerObserve: each turn a node's watchers get is observed
// once, after its delivery: on the node that played it as its own (no
// time received; its copy from Redis is not observed again), on another
// node as received from Redis. Messages that are not turns are not.
func TestRedisBrokerObserve(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	type seen struct {
		node  string
		seq   int64
		local bool
	}
	var mu sync.Mutex
	var got []seen
	node := func(name string) *redisNode {
		b := cluster.NewBroker(rdb, prefix, cluster.BrokerOptions{Observe: func(p hub.Publication, received, delivered time.Time) {
			if delivered.Before(received) {
				t.Errorf("%s seq %d delivered before it was received", name, p.Seq)
			}
			mu.Lock()
			got = append(got, seen{name, p.Seq, received.IsZero()})
			mu.Unlock()
		}})
		t.Cleanup(func() { b.Close() })
		rec := &recorder{b: b, seqs: map[string][]int64{}, dedupe: true}
		b.Bind(rec)
		return &redisNode{b: b, rec: rec}
	}
	a, b := node("a"), node("b")
	a.watch(t, "ob")
	b.watch(t, "ob")
	ch := prefix + "turns:ob"
	poll.Until(t, 5*time.Second, "subscriptions", func() bool {
		m, _ := rdb.PubSubNumSub(ctx, ch).Result()
		return m[ch] == 2
	})
	if err := a.b.Publish(ctx, hub.Publication{Sim: "ob", Data: []byte("status")}); err != nil {
		t.Fatal(err)
	}
	// After the status has come back, a's turns go to its watchers first.
	poll.Until(t, 5*time.Second, "the status on both nodes", func() bool {
		return len(a.rec.got("ob")) == 1 && len(b.rec.got("ob")) == 1
	})
	for i := int64(1); i <= 3; i++ {
		if err := a.b.Publish(ctx, tpub("ob", i)); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 5*time.Second, "every turn on both nodes", func() bool {
		return len(a.rec.got("ob")) == 4 && len(b.rec.got("ob")) == 4
	})
	// a's copies from Redis come after its own deliveries; wait for them
	// through a turn b publishes, which both get from Redis after them.
	if err := b.b.Publish(ctx, tpub("ob", 4)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "b's turn on a", func() bool { return len(a.rec.got("ob")) == 5 })
	poll.Until(t, 5*time.Second, "b's turn observed on a", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(got, seen{"a", 4, false})
	})
	mu.Lock()
	defer mu.Unlock()
	var fromA, fromB []seen
	for _, s := range got {
		if s.node == "a" {
			fromA = append(fromA, s)
		} else {
			fromB = append(fromB, s)
		}
	}
	wantA := []seen{{"a", 1, true}, {"a", 2, true}, {"a", 3, true}, {"a", 4, false}}
	wantB := []seen{{"b", 1, false}, {"b", 2, false}, {"b", 3, false}, {"b", 4, true}}
	if !slices.Equal(fromA, wantA) || !slices.Equal(fromB[:min(3, len(fromB))], wantB[:3]) {
		t.Fatalf("observed on a %v, on b %v; want %v and %v", fromA, fromB, wantA, wantB)
	}
}
