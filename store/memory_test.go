package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store { return store.NewMemory() })
}

// TestBoundedMemoryConformance: a bound that is not reached changes nothing.
func TestBoundedMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store { return store.NewBoundedMemory(1 << 20) })
}

// TestBoundedMemoryForgetsEnded: past its bound, the store forgets the
// stories that ended longest ago, and never one still running.
func TestBoundedMemoryForgetsEnded(t *testing.T) {
	ctx := context.Background()
	m := store.NewBoundedMemory(10)
	for _, id := range []string{"old", "newer", "live"} {
		if err := m.CreateSimulation(ctx, &store.Simulation{ID: id, Status: store.StatusRunning}, nil); err != nil {
			t.Fatal(err)
		}
	}
	appendTurns := func(id string, n int, last string) {
		rec, _ := m.GetSimulation(ctx, id)
		for i := 1; i <= n; i++ {
			status := store.StatusRunning
			if i == n {
				status = last
			}
			if err := m.AppendTurn(ctx, id, store.Turn{Seq: rec.Head + int64(i), Body: []byte(`{}`)}, nil, status, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendTurns("old", 4, store.StatusFinished)
	appendTurns("newer", 4, store.StatusRunning)
	if _, err := m.SetStatus(ctx, "newer", store.StatusFailed); err != nil {
		t.Fatal(err)
	}
	appendTurns("live", 2, store.StatusRunning) // 10 turns: at the bound
	if _, err := m.GetSimulation(ctx, "old"); err != nil {
		t.Fatalf("forgotten within the bound: %v", err)
	}
	appendTurns("live", 1, store.StatusRunning) // 11: the oldest ended goes
	if _, err := m.GetSimulation(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the oldest ended story is still held: %v", err)
	}
	if _, err := m.GetSimulation(ctx, "newer"); err != nil {
		t.Fatalf("more was forgotten than the bound needs: %v", err)
	}
	if n := m.TurnsHeld(); n != 7 {
		t.Fatalf("%d turns held, want 7", n)
	}
	appendTurns("live", 10, store.StatusRunning)
	if _, err := m.GetSimulation(ctx, "newer"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an ended story is held past the bound: %v", err)
	}
	if rec, err := m.GetSimulation(ctx, "live"); err != nil || rec.Head != 13 {
		t.Fatalf("the running story: %v %v", rec, err)
	}
}
