package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/store"
)

// testForks: a fork is stored with its inherited turns, as they were, and
// its state; it goes on from there like any story, and its parent lists
// it.
func testForks(t *testing.T, s store.Store) {
	c := ctx(t)
	mustCreate(t, s, "parent")
	var turns []store.Turn
	for seq := int64(1); seq <= 3; seq++ {
		tu := store.Turn{Seq: seq, At: time.Now().UTC().Truncate(time.Microsecond), Body: TurnBody("parent", seq)}
		if err := s.AppendTurn(c, "parent", tu, []byte("state"), "", nil); err != nil {
			t.Fatalf("append %d: %v", seq, err)
		}
		turns = append(turns, tu)
	}
	fork := NewSim("fork")
	fork.Head, fork.Parent, fork.ForkedAt = 2, "parent", 2
	fork.Seed = 7
	fork.Lineage = []store.SeedSpan{{Until: 2, Seed: 42}}
	if err := s.CreateFork(c, fork, turns[:3], []byte("state-2")); err == nil {
		t.Fatal("fork with 3 turns for head 2 was stored")
	}
	if err := s.CreateFork(c, fork, []store.Turn{turns[1], turns[0]}, []byte("state-2")); err == nil {
		t.Fatal("fork with turns out of order was stored")
	}
	if err := s.CreateFork(c, fork, turns[:2], []byte("state-2")); err != nil {
		t.Fatalf("CreateFork: %v", err)
	}
	if err := s.CreateFork(c, fork, turns[:2], []byte("state-2")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CreateFork: %v, want ErrConflict", err)
	}
	got, err := s.GetSimulation(c, "fork")
	if err != nil {
		t.Fatal(err)
	}
	if got.Head != 2 || got.Parent != "parent" || got.ForkedAt != 2 || got.Seed != 7 ||
		!slices.Equal(got.Lineage, fork.Lineage) || !got.CreatedAt.Equal(fork.CreatedAt) {
		t.Fatalf("fork read back as %+v, stored %+v", got, fork)
	}
	if got.SeedAt(1) != 42 || got.SeedAt(2) != 42 || got.SeedAt(3) != 7 {
		t.Fatalf("seeds of turns 1, 2, 3: %d %d %d", got.SeedAt(1), got.SeedAt(2), got.SeedAt(3))
	}
	listed, err := s.ListTurns(c, "fork", 0, 10)
	if err != nil || len(listed) != 2 {
		t.Fatalf("fork's turns: %d %v", len(listed), err)
	}
	for i, tu := range listed {
		if tu.Seq != turns[i].Seq || !tu.At.Equal(turns[i].At) || !bytes.Equal(tu.Body, turns[i].Body) {
			t.Fatalf("fork's turn %d = %+v, want %+v", i+1, tu, turns[i])
		}
	}
	if head, state, err := s.LoadState(c, "fork"); err != nil || head != 2 || string(state) != "state-2" {
		t.Fatalf("LoadState(fork) = %d %q %v", head, state, err)
	}
	// The fork goes its own way from its head, fenced like any story.
	if err := s.AppendTurn(c, "fork", store.Turn{Seq: 2, At: time.Now(), Body: TurnBody("fork", 2)}, nil, "", nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("append over the fork's history: %v, want ErrConflict", err)
	}
	if err := s.AppendTurn(c, "fork", store.Turn{Seq: 3, At: time.Now(), Body: TurnBody("fork", 3)}, []byte("state-3"), "", nil); err != nil {
		t.Fatalf("append to the fork: %v", err)
	}
	if pt, err := s.ListTurns(c, "parent", 2, 10); err != nil || len(pt) != 1 || !bytes.Equal(pt[0].Body, turns[2].Body) {
		t.Fatalf("parent's turn 3 after the fork's: %v %v", pt, err)
	}
	second := NewSim("fork2")
	second.Head, second.Parent, second.ForkedAt = 1, "parent", 1
	if err := s.CreateFork(c, second, turns[:1], []byte("state-1")); err != nil {
		t.Fatal(err)
	}
	forks, err := s.ListForks(c, "parent")
	if err != nil || len(forks) != 2 || forks[0].ID != "fork" || forks[1].ID != "fork2" {
		t.Fatalf("ListForks(parent) = %v %v", forks, err)
	}
	if forks, err := s.ListForks(c, "fork"); err != nil || len(forks) != 0 {
		t.Fatalf("ListForks(fork) = %v %v", forks, err)
	}
	if forks, err := s.ListForks(c, "nobody"); err != nil || len(forks) != 0 {
		t.Fatalf("ListForks(nobody) = %v %v", forks, err)
	}
	if root, _ := s.GetSimulation(c, "parent"); root.Parent != "" || root.ForkedAt != 0 || len(root.Lineage) != 0 {
		t.Fatalf("parent's record %+v names a parent", root)
	}
}
