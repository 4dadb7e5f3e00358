package runner

import (
	"context"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/internal/cpuclock"
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

// waitingDecider takes 50 ms to decide and computes nothing meanwhile,
// as a model asked elsewhere does.
type waitingDecider struct{}

func (waitingDecider) Decide(ctx context.Context, p engine.Perception) (engine.Action, error) {
	select {
	case <-time.After(50 * time.Millisecond):
		return engine.Action{Kind: engine.ActWait}, nil
	case <-ctx.Done():
		return engine.Action{}, ctx.Err()
	}
}

// TestLoadIsCPU: a turn that spends its time waiting, not computing,
// costs next to nothing: the node's load is the CPU its turns take, not
// their wall time (each of these turns takes 50 ms or more).
func TestLoadIsCPU(t *testing.T) {
	if _, ok := cpuclock.Thread(); !ok {
		t.Skip("no thread CPU clock here: turns are measured by the wall clock")
	}
	st := store.NewMemory()
	r, pub := newRunner(t, st, "n1", Config{MinInterval: time.Millisecond, Engine: engine.Options{Decider: waitingDecider{}, DecisionTimeout: time.Hour}})
	if err := r.Start(context.Background(), newSim(t, st, "s1", store.StatusRunning, 10)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "turns measured", func() bool { return pub.published() >= 3 && r.TurnCost() > 0 })
	// A turn of this two-character story computes for well under a
	// millisecond, a few with the race detector on a busy machine.
	if c := r.TurnCost(); c >= 25*time.Millisecond {
		t.Fatalf("turns that wait 50 ms for their decisions cost %v, their wall time", c)
	}
	if l := r.Load(); l >= 2.5 {
		t.Fatalf("load %v from one story waiting for its decisions every 10 ms", l)
	}
}

// TestLoadSums: the load is each story's cost over its interval, a story
// not measured yet counting at the node's average cost.
func TestLoadSums(t *testing.T) {
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
	delete(r.stories, "a")
	delete(r.stories, "b")
}

// The stories and the views of this node share one parse of a scenario
// text: the second ask is the first's.
func TestScenarioParsedOnce(t *testing.T) {
	r := New(Config{})
	a, errA := r.Scenario([]byte(endlessScenario))
	b, errB := r.Scenario([]byte(endlessScenario))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a != b {
		t.Fatal("the same text parsed twice")
	}
	if _, err := r.Scenario([]byte(`{`)); err == nil {
		t.Fatal("invalid JSON parsed")
	}
}
