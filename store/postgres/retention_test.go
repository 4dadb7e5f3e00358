package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

// TestDeleteEndedBefore: retention deletes the stories that ended before
// the time given, with their turns, and never one still running.
func TestDeleteEndedBefore(t *testing.T) {
	s := pgtest.Store(t, postgres.Options{})
	c := ctx(t)
	for _, id := range []string{"done1", "done2", "failed", "live"} {
		if err := s.CreateSimulation(c, &store.Simulation{ID: id, Title: "t", ScenarioID: "x", Status: store.StatusRunning, CreatedBy: "u"}, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		status := store.StatusFinished
		switch id {
		case "live":
			status = store.StatusRunning
		case "failed":
			status = store.StatusFailed
		}
		if err := s.AppendTurn(c, id, store.Turn{Seq: 1, At: time.Now(), Body: []byte(`{}`)}, []byte("{}"), status, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteEndedBefore(c, time.Now().Add(-time.Hour), 2); err != nil || n != 0 {
		t.Fatalf("stories that ended now deleted for an hour ago: %d %v", n, err)
	}
	n, err := s.DeleteEndedBefore(c, time.Now().Add(time.Hour), 2)
	if err != nil || n != 3 {
		t.Fatalf("deleted %d, %v; want the 3 ended", n, err)
	}
	for _, id := range []string{"done1", "done2", "failed"} {
		if _, err := s.GetSimulation(c, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s kept: %v", id, err)
		}
		if turns, err := s.ListTurns(c, id, 0, 10); len(turns) != 0 {
			t.Fatalf("%s's turns kept: %d %v", id, len(turns), err)
		}
	}
	if turns, err := s.ListTurns(c, "live", 0, 10); err != nil || len(turns) != 1 {
		t.Fatalf("the running story lost its turns: %d %v", len(turns), err)
	}
}
