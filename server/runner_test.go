package server

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/store"
)

// gatedDecider waits at every decision until released, as a slow model
// would; it then waits.
type gatedDecider struct {
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (d *gatedDecider) Decide(ctx context.Context, p engine.Perception) (engine.Action, error) {
	d.once.Do(func() { close(d.entered) })
	select {
	case <-d.release:
		return engine.Action{Kind: engine.ActWait}, nil
	case <-ctx.Done():
		return engine.Action{}, ctx.Err()
	}
}

// TestActDuringSlowDecision: while a slow decider holds a turn, a
// player's action is still validated and accepted at once, for the next
// turn, and is played in it.
func TestActDuringSlowDecision(t *testing.T) {
	st := store.NewMemory()
	sc, err := engine.ParseScenario([]byte(endlessScenario))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := engine.NewSim(sc, 1, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	state, _ := sim.State()
	rec := &store.Simulation{ID: "s1", Title: "t", ScenarioID: sc.ID, Scenario: []byte(endlessScenario),
		Status: store.StatusRunning, Seed: 1, MaxTurns: 1000, TurnIntervalMS: 10}
	ctx := context.Background()
	if err := st.CreateSimulation(ctx, rec, state); err != nil {
		t.Fatal(err)
	}
	d := &gatedDecider{entered: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(d.release) }) }
	turns := make(chan []byte, 100)
	r := NewRunner(RunnerConfig{
		Store: st,
		Publish: func(ctx context.Context, p hub.Publication) error {
			if p.Seq > 0 {
				turns <- p.Data
			}
			return nil
		},
		Engine: engine.Options{Decider: d, DecisionTimeout: time.Hour},
	})
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		r.Shutdown(sctx)
	}()
	defer release() // runs before Shutdown: a failing test must not leave the turn held
	if err := r.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	<-d.entered // turn 1 is being decided, and stays so until released

	if _, err := r.Act(ctx, "s1", "ona", "u1", engine.Action{Kind: engine.ActMove, Target: "nowhere"}); err == nil {
		t.Fatal("an invalid move was accepted")
	}
	got := make(chan int64, 1)
	go func() {
		turn, err := r.Act(ctx, "s1", "ona", "u1", engine.Action{Kind: engine.ActMove, Target: "tower"})
		if err != nil {
			t.Error(err)
		}
		got <- turn
	}()
	var turn int64
	select {
	case turn = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("Act waited for the slow decision")
	}
	if turn != 2 {
		t.Fatalf("accepted for turn %d, want 2 (turn 1 is being decided)", turn)
	}
	release()
	for {
		var m struct {
			Seq  int64       `json:"seq"`
			Turn engine.Turn `json:"turn"`
		}
		select {
		case b := <-turns:
			json.Unmarshal(b, &m)
		case <-time.After(10 * time.Second):
			t.Fatal("no turn 2")
		}
		if m.Seq < 2 {
			continue
		}
		for _, e := range m.Turn.Events {
			if e.Actor == "ona" && e.Source == engine.SourcePlayer && e.Kind == engine.ActMove {
				return
			}
		}
		t.Fatalf("turn 2 lacks ona's move: %+v", m.Turn.Events)
	}
}
