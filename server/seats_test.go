package server

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock keeps the timers started, to fire them when a test says.
type fakeClock struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (t *fakeTimer) Stop() bool {
	was := !t.stopped
	t.stopped = true
	return was
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{d: d, f: f}
	c.timers = append(c.timers, t)
	return t
}

// fire runs every timer started so far, stopped ones included: a timer
// may fire just as it is stopped.
func (c *fakeClock) fire() {
	c.mu.Lock()
	timers := c.timers
	c.timers = nil
	c.mu.Unlock()
	for _, t := range timers {
		t.f()
	}
}

func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// TestSeatExpiry: a seat outlives its holder's last connection by the
// grace period, not longer; a holder back in time keeps it, also when
// the timer fires as they come back; other connections of the holder
// keep it too.
func TestSeatExpiry(t *testing.T) {
	var (
		mu    sync.Mutex
		freed []string
	)
	clock := &fakeClock{}
	k := newSeatKeeper(30*time.Second, clock, func(sim, character, userID string) {
		mu.Lock()
		defer mu.Unlock()
		freed = append(freed, fmt.Sprintf("%s/%s/%s", sim, character, userID))
	})
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := slices.Clone(freed)
		slices.Sort(out)
		freed = nil
		return out
	}
	ada := User{ID: "u1", Name: "Ada", Role: RolePlayer}
	bo := User{ID: "u2", Name: "Bo", Role: RolePlayer}

	// Two connections: the seat stays while one is open.
	k.connected(ada)
	k.connected(ada)
	k.claimed(ada.ID, "s1", "ona")
	k.claimed(ada.ID, "s2", "bel")
	k.disconnected(ada)
	if clock.pending() != 0 {
		t.Fatal("a release is pending while the holder is still connected")
	}
	// The last one closes: the seats go when the grace period ends.
	k.disconnected(ada)
	if clock.pending() != 1 || clock.timers[0].d != 30*time.Second {
		t.Fatalf("timers %+v, want one of 30s", clock.timers)
	}
	clock.fire()
	if f := got(); fmt.Sprint(f) != "[s1/ona/u1 s2/bel/u1]" {
		t.Fatalf("freed %v", f)
	}

	// Back in time: the release is called off, even if its timer fires
	// as the holder comes back, and again after they leave once more.
	k.connected(bo)
	k.claimed(bo.ID, "s1", "ona")
	k.disconnected(bo)
	k.connected(bo)
	if clock.pending() != 0 {
		t.Fatal("the release was not called off")
	}
	k.disconnected(bo)
	clock.mu.Lock()
	first := clock.timers[0]
	clock.timers = clock.timers[1:]
	clock.mu.Unlock()
	first.f() // the first timer, called off, fires late
	if f := got(); len(f) != 0 {
		t.Fatalf("a release called off freed %v", f)
	}
	clock.fire() // the second one is due
	if f := got(); fmt.Sprint(f) != "[s1/ona/u2]" {
		t.Fatalf("freed %v", f)
	}

	// A seat released by hand is not freed again; anonymous connections
	// are not counted.
	k.connected(ada)
	k.claimed(ada.ID, "s3", "ona")
	k.released(ada.ID, "s3", "ona")
	k.disconnected(ada)
	k.connected(anonymous)
	k.disconnected(anonymous)
	clock.fire()
	if f := got(); len(f) != 0 {
		t.Fatalf("freed %v", f)
	}
	k.stop()
}
