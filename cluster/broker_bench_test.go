package cluster_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/internal/poll"
)

// turnData is a turn message of the size a story's turns have (about
// 1.4 KB), so that what the benchmarks carry is what a cluster carries.
var turnData = bytes.Repeat([]byte("x"), 1400)

// signal is a hub.Receiver that hands each delivered seq to a channel.
type signal struct{ seqs chan int64 }

func (s signal) Deliver(ctx context.Context, p hub.Publication) { s.seqs <- p.Seq }
func (s signal) Recover(ctx context.Context, sim string)        {}

// BenchmarkBrokerPublish is the publishing node's cost of one turn: the
// script that appends it to history and publishes it, with no node
// subscribed.
func BenchmarkBrokerPublish(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	br := cluster.NewBroker(rdb, prefix, cluster.BrokerOptions{})
	defer br.Close()
	ctx := context.Background()
	b.SetBytes(int64(len(turnData)))
	b.ReportAllocs()
	for seq := int64(1); b.Loop(); seq++ {
		if err := br.Publish(ctx, hub.Publication{Sim: "bench", Seq: seq, Data: turnData}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBrokerPublishDeliver is one turn from its publication on one
// node to its delivery to the hub of another, one at a time: the
// allocations of both sides, and the time of the trip through Redis.
func BenchmarkBrokerPublishDeliver(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	ctx := context.Background()
	pub := cluster.NewBroker(rdb, prefix, cluster.BrokerOptions{})
	defer pub.Close()
	sub := cluster.NewBroker(rdb, prefix, cluster.BrokerOptions{})
	defer sub.Close()
	rec := signal{seqs: make(chan int64, 1)}
	sub.Bind(rec)
	const sim = "bench"
	if err := sub.Subscribe(ctx, sim); err != nil {
		b.Fatal(err)
	}
	ch := prefix + "turns:" + sim
	poll.Until(b, 5*time.Second, "subscription", func() bool {
		m, _ := rdb.PubSubNumSub(ctx, ch).Result()
		return m[ch] == 1
	})
	b.SetBytes(int64(len(turnData)))
	b.ReportAllocs()
	for seq := int64(1); b.Loop(); seq++ {
		if err := pub.Publish(ctx, hub.Publication{Sim: sim, Seq: seq, Data: turnData}); err != nil {
			b.Fatal(err)
		}
		if got := <-rec.seqs; got != seq {
			b.Fatalf("delivered %d, want %d", got, seq)
		}
	}
}
