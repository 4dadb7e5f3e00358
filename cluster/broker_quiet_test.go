package cluster_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/internal/poll"
)

// TestRedisBrokerQuietStoriesCostNoGoroutine: a watched simulation with
// nothing to deliver has no goroutine of its own on the node; its turns
// still arrive, in order.
func TestRedisBrokerQuietStoriesCostNoGoroutine(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := context.Background()
	n := newRedisNode(t, rdb, prefix)
	before := runtime.NumGoroutine()
	const sims = 300
	for i := range sims {
		n.watch(t, fmt.Sprint("q", i))
	}
	if extra := runtime.NumGoroutine() - before; extra >= sims/2 {
		t.Fatalf("%d goroutines more for %d quiet simulations", extra, sims)
	}
	poll.Until(t, 5*time.Second, "subscription", func() bool {
		m, _ := rdb.PubSubNumSub(ctx, prefix+"turns:q7").Result()
		return m[prefix+"turns:q7"] == 1
	})
	for i := int64(1); i <= 20; i++ {
		if err := n.b.Publish(ctx, tpub("q7", i)); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 10*time.Second, "turns of q7", func() bool { return len(n.rec.got("q7")) >= 20 })
	if got := n.rec.got("q7"); !slices.Equal(got, seqRange(1, 20)) {
		t.Fatalf("q7 got %v", got)
	}
	poll.Until(t, 10*time.Second, "the worker to end", func() bool {
		return runtime.NumGoroutine()-before < sims/2
	})
}

// BenchmarkBrokerWatchedStory reports what one watched, quiet simulation
// costs a node's broker: heap bytes and goroutines per simulation, with
// 1,000 subscribed.
func BenchmarkBrokerWatchedStory(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	ctx := context.Background()
	const sims = 1000
	var heap, goroutines float64
	for i := 0; b.Loop(); i++ {
		br := cluster.NewBroker(rdb, prefix, cluster.BrokerOptions{})
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		g0 := runtime.NumGoroutine()
		for j := range sims {
			br.Subscribe(ctx, fmt.Sprint("w", i, "-", j))
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap += float64(m1.HeapAlloc) - float64(m0.HeapAlloc)
		goroutines += float64(runtime.NumGoroutine() - g0)
		br.Close()
	}
	b.ReportMetric(heap/float64(b.N)/sims, "heapB/story")
	b.ReportMetric(goroutines/float64(b.N)/sims, "goroutines/story")
}
