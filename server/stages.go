package server

import (
	"bytes"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/novel-engine/novel-engine/hub"
)

// turnStages time a turn's way in a cluster, each from its production
// (the turn's "at"), so that a delay can be told apart: the store's
// commit on the node that played it, the way through Redis to the other
// nodes, and each node's fan-out to its watchers. Every node runs on the
// same clock in the benchmarks these serve; across machines the figures
// carry the clocks' offset.
type turnStages struct {
	store       prometheus.Histogram // production → the store's answer, on the node that played it
	received    prometheus.Histogram // production → read from Redis, on a node that did not deliver it first itself
	fanout      prometheus.Histogram // production → fan-out done, for turns that came from Redis
	fanoutLocal prometheus.Histogram // production → fan-out done, for the node's own turns delivered ahead of Redis
}

// stageBuckets are finer than the other histograms' (a factor of 1.25,
// from 0.1 ms to 3.6 s): the stages differ by fractions of a millisecond.
var stageBuckets = prometheus.ExponentialBuckets(0.0001, 1.25, 48)

func newTurnStages() turnStages {
	h := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: stageBuckets})
	}
	return turnStages{
		store: h("novel_turn_store_delay_seconds",
			"From a turn's production to the store's answer, on the node that played it: encoding, the queue and the commit."),
		received: h("novel_turn_receive_delay_seconds",
			"From a turn's production to its arrival from Redis on a node (not counting the copies of turns the node delivered first itself)."),
		fanout: h("novel_turn_fanout_delay_seconds",
			"From a turn's production to the end of a node's fan-out of it to its watchers, for turns that came from Redis."),
		fanoutLocal: h("novel_turn_fanout_local_delay_seconds",
			"From a turn's production to the end of the fan-out to the watchers of the node that played it (delivered ahead of Redis)."),
	}
}

// delivered is the broker's Observe: it reads the turn's production time
// from the message and records the stages it passed on this node.
func (t turnStages) delivered(pub hub.Publication, received, done time.Time) {
	at, ok := turnAt(pub.Data)
	if !ok {
		return
	}
	if received.IsZero() {
		t.fanoutLocal.Observe(done.Sub(at).Seconds())
		return
	}
	t.received.Observe(received.Sub(at).Seconds())
	t.fanout.Observe(done.Sub(at).Seconds())
}

var atKey = []byte(`"at":"`)

// turnAt finds the turn's "at" in a turn message (turnMessage): the first
// one, in the stored turn's head, as no JSON string holds `"at":"`
// unescaped.
func turnAt(msg []byte) (time.Time, bool) {
	head := msg[:min(len(msg), 512)]
	i := bytes.Index(head, atKey)
	if i < 0 {
		return time.Time{}, false
	}
	rest := head[i+len(atKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	return at, err == nil
}
