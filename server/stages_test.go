package server

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/novel-engine/novel-engine/hub"
)

// TestTurnAt reads a turn's production time from its message, whatever
// its simulation's id holds.
func TestTurnAt(t *testing.T) {
	at := time.Date(2026, 11, 29, 23, 40, 1, 123456789, time.UTC)
	for _, sim := range []string{"s1", `odd "at":"2001-01-01T00:00:00Z" id`} {
		body, _ := json.Marshal(struct {
			Sim string    `json:"sim"`
			At  time.Time `json:"at"`
		}{sim, at})
		got, ok := turnAt(turnMessage(sim, 7, body))
		if !ok || !got.Equal(at) {
			t.Errorf("sim %q: %v %v, want %v", sim, got, ok, at)
		}
	}
	if _, ok := turnAt([]byte(`{"type":"status","sim":"s1","status":"finished","seq":3}`)); ok {
		t.Error("a time read from a status")
	}
}

// TestTurnStagesDelivered: a turn received from Redis counts in the
// receive and fan-out histograms, a node's own in the local one only; a
// message that is not a turn in none.
func TestTurnStagesDelivered(t *testing.T) {
	s := newTurnStages()
	at := time.Now().UTC()
	body, _ := json.Marshal(map[string]any{"sim": "s1", "at": at})
	pub := hub.Publication{Sim: "s1", Seq: 1, Data: turnMessage("s1", 1, body)}
	s.delivered(pub, at.Add(time.Millisecond), at.Add(2*time.Millisecond))
	s.delivered(pub, time.Time{}, at.Add(3*time.Millisecond))
	s.delivered(hub.Publication{Sim: "s1", Data: []byte(`{"type":"status","sim":"s1"}`)}, time.Time{}, at)
	for name, c := range map[string]struct {
		h    prometheus.Histogram
		want float64 // the sum of the one sample, in seconds
	}{"received": {s.received, 0.001}, "fanout": {s.fanout, 0.002}, "local": {s.fanoutLocal, 0.003}} {
		var m dto.Metric
		if err := c.h.Write(&m); err != nil {
			t.Fatal(err)
		}
		if n, sum := m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum(); n != 1 || math.Abs(sum-c.want) > 1e-6 {
			t.Errorf("%s: %d samples, sum %v; want 1 of %v", name, n, sum, c.want)
		}
	}
}
