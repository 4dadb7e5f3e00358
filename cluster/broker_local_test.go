package cluster_test

import (
	"context"
	"slices"
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
