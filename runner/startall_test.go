package runner

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// TestStartAll: many stories start at once from what the store read of
// them, each from its own head with its pending actions, with their
// owner recorded; one that cannot be restored is reported and the others
// run; starting them again starts nothing twice; stories of one scenario
// share its parse and have their seats read together.
func TestStartAll(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	st := &seatReads{Store: mem}
	r, _ := newRunner(t, st, "n1", Config{})
	newSim(t, st, "a", store.StatusRunning, 10)
	newSim(t, st, "b", store.StatusRunning, 10)
	bad := &store.Simulation{ID: "bad", Title: "t", ScenarioID: "endless", Scenario: []byte(endlessScenario),
		Status: store.StatusRunning, Seed: 1, MaxTurns: 100, TurnIntervalMS: 10}
	if err := st.CreateSimulation(ctx, bad, []byte("not a state")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutAction(ctx, "a", store.PendingAction{ID: "p1", Character: "ona", UserID: "u1",
		Action: speak("before the takeover"), Turn: 1, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	resumes, err := st.Resumes(ctx, []string{"a", "b", "bad"})
	if err != nil {
		t.Fatal(err)
	}
	runs := []store.Resume{resumes["a"], resumes["b"], resumes["bad"]}
	errs := r.StartAll(ctx, runs)
	if len(errs) != 1 || errs["bad"] == nil {
		t.Fatalf("errors %v, want one for bad", errs)
	}
	if !r.Running("a") || !r.Running("b") || r.Running("bad") {
		t.Fatalf("running a %v, b %v, bad %v; want a and b", r.Running("a"), r.Running("b"), r.Running("bad"))
	}
	for id, want := range map[string]string{"a": "n1", "b": "n1", "bad": ""} {
		if rec, _ := st.GetSimulation(ctx, id); rec.Owner != want {
			t.Fatalf("owner of %s %q, want %q", id, rec.Owner, want)
		}
	}
	// Both stories have one scenario text: it was parsed once, and they
	// share it (the race detector sees any write to it while they play).
	if sa, sb := r.get("a"), r.get("b"); sa == nil || sb == nil || sa.sc != sb.sc {
		t.Fatal("stories of one scenario text hold separate parses of it")
	}
	if errs := r.StartAll(ctx, runs[:2]); len(errs) != 0 || r.Count() != 2 {
		t.Fatalf("started again: errors %v, %d running; want none, 2", errs, r.Count())
	}
	poll.Until(t, 20*time.Second, "both stories to play turns", func() bool {
		return head(t, st, "a") >= 3 && head(t, st, "b") >= 3
	})
	if turn := playedIn(t, st, "a", "ona", "before the takeover"); turn != 1 {
		t.Fatalf("the pending action was played in turn %d, want 1", turn)
	}
	// Their seats were read together when they started, not each before
	// its first turn.
	if n := st.reads.Load(); n != 0 {
		t.Fatalf("%d reads of one story's seats, want 0", n)
	}
}

// seatReads counts the reads of one story's seats.
type seatReads struct {
	store.Store
	reads atomic.Int64
}

func (s *seatReads) Seats(ctx context.Context, id string) (map[string]store.Seat, error) {
	s.reads.Add(1)
	return s.Store.Seats(ctx, id)
}
