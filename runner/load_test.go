package runner

import (
	"context"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// TestLoadMeasured: running turns are measured into the node's load.
func TestLoadMeasured(t *testing.T) {
	st := store.NewMemory()
	r, pub := newRunner(t, st, "n1", Config{MinInterval: time.Millisecond})
	if r.Load() != 0 || r.TurnCost() != 0 {
		t.Fatalf("idle runner: load %v, cost %v", r.Load(), r.TurnCost())
	}
	if err := r.Start(context.Background(), newSim(t, st, "s1", store.StatusRunning, 1)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "turns measured", func() bool { return pub.published() >= 3 && r.TurnCost() > 0 && r.Load() > 0 })
}

// TestAdmit: a story is admitted while the load with it stays within
// the limit, each story counting at its own cost, or the node's average
// until it has one.
func TestAdmit(t *testing.T) {
	r := New(Config{MinInterval: time.Millisecond})
	defer r.Shutdown(context.Background())
	r.cost.Store(int64(2 * time.Millisecond))
	measured := &story{interval: 10 * time.Millisecond}
	measured.cost.Store(int64(4 * time.Millisecond))
	r.stories["a"] = measured                                // 0.4
	r.stories["b"] = &story{interval: 20 * time.Millisecond} // unmeasured: 2/20 = 0.1
	if l := r.Load(); l < 0.4999 || l > 0.5001 {
		t.Fatalf("load %v, want 0.5", l)
	}
	// A new story at 10ms adds 0.2.
	if !r.Admit(10*time.Millisecond, 0.7) {
		t.Fatal("refused at exactly the limit")
	}
	if r.Admit(10*time.Millisecond, 0.69) {
		t.Fatal("admitted past the limit")
	}
	// Faster than the node allows counts as the shortest interval.
	if r.Admit(time.Microsecond, 2.4) || !r.Admit(time.Microsecond, 2.5) {
		t.Fatal("an interval under the minimum was not counted as the minimum")
	}
	if !r.Admit(time.Millisecond, 0) {
		t.Fatal("no limit, and a story was refused")
	}
	delete(r.stories, "a")
	delete(r.stories, "b")
}
