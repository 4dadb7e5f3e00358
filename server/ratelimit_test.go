package server

import (
	"fmt"
	"testing"
	"time"
)

// TestIPLimiter: each address has its own bucket: a burst, then a wait
// that the answer names, then requests again at the rate.
func TestIPLimiter(t *testing.T) {
	l := newIPLimiter(2, 3) // 2 a second, bursts of 3
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.reserveAt("a", now); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i+1)
		}
	}
	ok, wait := l.reserveAt("a", now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("fourth request: ok %v, wait %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := l.reserveAt("b", now); !ok {
		t.Fatal("another address shares the first one's bucket")
	}
	if ok, _ := l.reserveAt("a", now.Add(499*time.Millisecond)); ok {
		t.Fatal("allowed before the wait named")
	}
	if ok, _ := l.reserveAt("a", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("refused after the wait named")
	}
}

// TestIPLimiterForgets: idle addresses (full buckets) are forgotten
// every ten minutes, or as soon as the table is full, so it stays
// bounded; an address whose bucket is not full is kept.
func TestIPLimiterForgets(t *testing.T) {
	l := newIPLimiter(1, 2)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tracked := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.limiters)
	}
	for i := range 100 {
		l.reserveAt(fmt.Sprintf("a%d", i), t0)
	}
	// Within ten minutes nothing is swept, idle or not.
	l.reserveAt("b", t0.Add(9*time.Minute))
	if n := tracked(); n != 101 {
		t.Fatalf("%d tracked before a sweep is due, want 101", n)
	}
	// Ten minutes on, the idle ones go; the one sweeping is new.
	l.reserveAt("c", t0.Add(11*time.Minute))
	if n := tracked(); n != 1 {
		t.Fatalf("%d tracked after the sweep, want 1", n)
	}
	// A full table is swept at once, keeping those still busy.
	t1 := t0.Add(12 * time.Minute)
	for i := range maxTrackedAddrs - 1 {
		l.reserveAt(fmt.Sprintf("d%d", i), t1)
	}
	l.reserveAt("e", t1) // the table is full: sweep; only c is idle
	if n := tracked(); n != maxTrackedAddrs {
		t.Fatalf("%d tracked, want the %d busy ones", n, maxTrackedAddrs)
	}
	l.reserveAt("f", t1.Add(2*time.Second)) // their buckets are full again
	if n := tracked(); n != 1 {
		t.Fatalf("%d tracked after the idle ones were swept, want 1", n)
	}
}
