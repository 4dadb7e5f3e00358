package timeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/timeline"
)

// wireTurn is a turn as the runner stores it.
type wireTurn struct {
	Sim string    `json:"sim"`
	At  time.Time `json:"at"`
	engine.Turn
	Inputs map[string]engine.Action `json:"inputs,omitempty"`
}

// play runs sim for turns, with a player's actions on some of them, and
// appends each turn to st as the runner would.
func play(t testing.TB, st store.Store, id string, sim *engine.Sim, turns int) {
	t.Helper()
	ctx := context.Background()
	who := sim.Characters()[0].ID
	for range turns {
		var in map[string]engine.Action
		switch (sim.Seq() + 1) % 3 {
		case 0:
			// Speech with no words: the event shows a line the teller
			// drew, not the action asked, so only the recorded input
			// replays it.
			in = map[string]engine.Action{who: {Kind: engine.ActSpeak}}
		case 1:
			in = map[string]engine.Action{who: {Kind: engine.ActWait}}
		}
		tu, err := sim.Step(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(wireTurn{Sim: id, At: time.Now().UTC(), Turn: tu, Inputs: in})
		if err != nil {
			t.Fatal(err)
		}
		state, _ := sim.State()
		if err := st.AppendTurn(ctx, id, store.Turn{Seq: tu.Seq, At: time.Now(), Body: body}, state, "", nil); err != nil {
			t.Fatal(err)
		}
	}
}

func newStory(t testing.TB, st store.Store, id string, seed int64) (*store.Simulation, *engine.Sim) {
	t.Helper()
	sc := engine.Builtins()[0]
	sim, err := engine.NewSim(sc, seed, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	scJSON, _ := json.Marshal(sc)
	state, _ := sim.State()
	rec := &store.Simulation{ID: id, Title: id, ScenarioID: sc.ID, Scenario: scJSON, Status: store.StatusRunning, Seed: seed, MaxTurns: 100, TurnIntervalMS: 10}
	if err := st.CreateSimulation(context.Background(), rec, state); err != nil {
		t.Fatal(err)
	}
	return rec, sim
}

func hashes(t *testing.T, st store.Store, id string) []string {
	t.Helper()
	turns, err := st.ListTurns(context.Background(), id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{""}
	for _, tu := range turns {
		var v struct {
			StateHash string `json:"state_hash"`
		}
		json.Unmarshal(tu.Body, &v)
		out = append(out, v.StateHash)
	}
	return out
}

// TestWorldAtEveryTurn: the world rebuilt at every turn of a story, in any
// order, is the one the story recorded there.
func TestWorldAtEveryTurn(t *testing.T) {
	st := store.NewMemory()
	rec, sim := newStory(t, st, "a", 7)
	play(t, st, "a", sim, 40)
	rec.Head = 40
	want := hashes(t, st, "a")
	r := timeline.New(st, timeline.Config{Every: 8})
	check := func(at int64) {
		p, err := r.At(context.Background(), rec, at)
		if err != nil {
			t.Fatalf("At(%d): %v", at, err)
		}
		if p.Seq != at || p.World.Seq != at || p.StateHash != want[at] {
			t.Fatalf("At(%d) = turn %d, hash %.12s; the story recorded %.12s", at, p.World.Seq, p.StateHash, want[at])
		}
		re, err := engine.RestoreSim(engine.Builtins()[0], rec.Seed, p.State, engine.Options{})
		if err != nil || re.StateHash() != p.StateHash && at > 0 {
			t.Fatalf("At(%d): the state does not restore to its hash: %v", at, err)
		}
	}
	// Backwards first, so nothing kept helps; then forwards, from what
	// was kept.
	for at := int64(40); at >= 0; at-- {
		check(at)
	}
	r = timeline.New(st, timeline.Config{Every: 8})
	for at := int64(0); at <= 40; at++ {
		check(at)
	}
	p, _ := r.At(context.Background(), rec, 40)
	if len(p.World.Characters) == 0 || len(p.World.Locations) == 0 {
		t.Fatalf("world at 40 has no one or nowhere: %+v", p.World)
	}
	placed := 0
	for _, l := range p.World.Locations {
		placed += len(l.Characters)
	}
	if placed != len(p.World.Characters) {
		t.Fatalf("%d characters placed, %d on stage", placed, len(p.World.Characters))
	}
	if _, err := r.At(context.Background(), rec, 41); !errors.Is(err, timeline.ErrNoTurn) {
		t.Fatalf("At(41): %v, want ErrNoTurn", err)
	}
}

// TestMismatchRefused: a story that does not replay to what it recorded
// gives no world.
func TestMismatchRefused(t *testing.T) {
	st := store.NewMemory()
	rec, sim := newStory(t, st, "m", 3)
	play(t, st, "m", sim, 5)
	// The same story with turn 4's hash changed.
	turns, _ := st.ListTurns(context.Background(), "m", 0, 10)
	bad, sim2 := newStory(t, st, "m2", 3)
	_ = sim2
	for _, tu := range turns {
		body := strings.Replace(string(tu.Body), `"sim":"m"`, `"sim":"m2"`, 1)
		if tu.Seq == 4 {
			var v wireTurn
			json.Unmarshal([]byte(body), &v)
			body = strings.Replace(body, v.StateHash, strings.Repeat("0", 64), 1)
		}
		if err := st.AppendTurn(context.Background(), "m2", store.Turn{Seq: tu.Seq, At: tu.At, Body: []byte(body)}, nil, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	r := timeline.New(st, timeline.Config{})
	if _, err := r.At(context.Background(), rec, 5); err != nil {
		t.Fatalf("the untouched story: %v", err)
	}
	if _, err := r.At(context.Background(), bad, 3); err != nil {
		t.Fatalf("the changed story before the change: %v", err)
	}
	if _, err := r.At(context.Background(), bad, 5); !errors.Is(err, timeline.ErrMismatch) || !strings.Contains(err.Error(), "turn 4") {
		t.Fatalf("the changed story at 5: %v, want ErrMismatch at turn 4", err)
	}
}

// TestForkReplays: a fork's inherited turns replay with its parent's seed
// and its own turns with its own.
func TestForkReplays(t *testing.T) {
	st := store.NewMemory()
	_, sim := newStory(t, st, "p", 11)
	play(t, st, "p", sim, 10)
	sc := engine.Builtins()[0]
	state, _ := sim.State()
	turns, _ := st.ListTurns(context.Background(), "p", 0, 10)
	scJSON, _ := json.Marshal(sc)
	fork := &store.Simulation{ID: "f", ScenarioID: sc.ID, Scenario: scJSON, Status: store.StatusRunning, Seed: 99,
		Head: 10, Parent: "p", ForkedAt: 10, Lineage: []store.SeedSpan{{Until: 10, Seed: 11}}, MaxTurns: 100}
	if err := st.CreateFork(context.Background(), fork, turns, state); err != nil {
		t.Fatal(err)
	}
	cont, err := engine.RestoreSim(sc, 99, state, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	play(t, st, "f", cont, 10)
	fork.Head = 20
	want := hashes(t, st, "f")
	r := timeline.New(st, timeline.Config{Every: 4})
	for at := int64(20); at >= 0; at-- {
		p, err := r.At(context.Background(), fork, at)
		if err != nil || p.StateHash != want[at] {
			t.Fatalf("fork At(%d): %v", at, err)
		}
	}
	// Replayed with one seed throughout, the fork's own turns differ.
	fork.Lineage = nil
	fork.ID = "f"
	if _, err := timeline.New(st, timeline.Config{}).At(context.Background(), fork, 20); !errors.Is(err, timeline.ErrMismatch) {
		t.Fatalf("fork replayed with its own seed only: %v, want ErrMismatch", err)
	}
}

// TestReplaysWaitForASlot: with every slot taken, a replay waits, and
// gives up when its context ends.
func TestReplaysWaitForASlot(t *testing.T) {
	st := store.NewMemory()
	rec, sim := newStory(t, st, "w", 2)
	play(t, st, "w", sim, 3)
	rec.Head = 3
	r := timeline.New(st, timeline.Config{Concurrent: 1})
	release := timeline.HoldSlot(r)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.At(ctx, rec, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("At with every slot taken and a canceled context: %v", err)
	}
	release()
	if _, err := r.At(context.Background(), rec, 3); err != nil {
		t.Fatalf("At once the slot is free: %v", err)
	}
}

// BenchmarkReplay rebuilds the world at turn 40 of a story from nothing
// kept: what the first look at a turn costs.
func BenchmarkReplay(b *testing.B) {
	st := store.NewMemory()
	rec, sim := newStory(b, st, "b", 7)
	play(b, st, "b", sim, 40)
	rec.Head = 40
	b.ReportAllocs()
	for b.Loop() {
		if _, err := timeline.New(st, timeline.Config{}).At(context.Background(), rec, 40); err != nil {
			b.Fatal(err)
		}
	}
}
