package main

import (
	"testing"
	"time"
)

// Each turn's first and last reads are found among its channel's
// watchers, and turns of two channels produced 1 ms apart count as near.
func TestSplitTurns(t *testing.T) {
	st := &runState{}
	st.measuring.Store(true)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	w0a, w0b, w1 := &watcher{st: st, ch: 0}, &watcher{st: st, ch: 0}, &watcher{st: st, ch: 1}
	// Channel 0: turn 1 at t0, read after 1 and 4 ms; turn 2 at t0+100ms,
	// read after 2 and 3 ms. Channel 1: turn 7 at t0+1ms, read after 5 ms.
	w0a.deliver(1, t0, t0.Add(1*ms), 10)
	w0b.deliver(1, t0, t0.Add(4*ms), 10)
	w0a.deliver(2, t0.Add(100*ms), t0.Add(102*ms), 10)
	w0b.deliver(2, t0.Add(100*ms), t0.Add(103*ms), 10)
	w1.deliver(7, t0.Add(ms), t0.Add(6*ms), 10)
	s := splitTurns([]*watcher{w0a, w0b, w1})
	if s.turns != 3 {
		t.Fatalf("%d turns, want 3", s.turns)
	}
	// Firsts 1, 2, 5 ms; lasts 4, 3, 5; spreads 3, 1, 0.
	if s.first != [2]time.Duration{2 * ms, 5 * ms} || s.last != [2]time.Duration{4 * ms, 5 * ms} || s.spread != [2]time.Duration{1 * ms, 3 * ms} {
		t.Fatalf("first %v, last %v, spread %v", s.first, s.last, s.spread)
	}
	if s.near < 0.66 || s.near > 0.67 {
		t.Fatalf("near %.2f, want 2 of 3", s.near)
	}
	if splitTurns(nil).turns != 0 {
		t.Fatal("turns without deliveries")
	}
}
