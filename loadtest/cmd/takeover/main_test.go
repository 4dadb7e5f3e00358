package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
	"github.com/novel-engine/novel-engine/store/storetest"
)

func TestTrackerWaitsForOwnerAndTurn(t *testing.T) {
	killed := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	before := killed.Add(-time.Second)
	tr := newTracker("n1", []story{
		{ID: "a", Owner: "n1", UpdatedAt: before},
		{ID: "b", Owner: "n1", UpdatedAt: before},
		{ID: "c", Owner: "n2", UpdatedAt: before},
	})
	if len(tr.victims) != 2 {
		t.Fatalf("victims %v, want a and b", tr.victims)
	}
	// The dead node's owner mark stays until another node takes over; a
	// cleared owner is nobody's yet.
	tr.observe([]story{{ID: "a", Owner: "", UpdatedAt: before}, {ID: "b", Owner: "n1", UpdatedAt: before}}, killed, killed.Add(time.Second))
	if tr.owned != 0 || tr.done() {
		t.Fatalf("owned %d, done %v: no story has a new owner yet", tr.owned, tr.done())
	}
	// A new owner that has not stored a turn since the kill is not done.
	tr.observe([]story{{ID: "a", Owner: "n2", UpdatedAt: before}, {ID: "b", Owner: "n3", UpdatedAt: killed.Add(3 * time.Second)}}, killed, killed.Add(4*time.Second))
	if tr.owned != 2 || tr.turned != 1 || tr.done() {
		t.Fatalf("owned %d turned %d done %v, want 2, 1, false", tr.owned, tr.turned, tr.done())
	}
	tr.observe([]story{{ID: "a", Owner: "n2", UpdatedAt: killed.Add(5 * time.Second)}}, killed, killed.Add(6*time.Second))
	if !tr.done() {
		t.Fatal("not done after every story stored a turn on its new owner")
	}
	owned, turned := tr.result(killed)
	if owned != 4*time.Second || turned != 5*time.Second {
		t.Fatalf("owned after %v, turned after %v; want 4s (the listing) and 5s (the turn stored)", owned, turned)
	}
}

func TestTrackerQuantiles(t *testing.T) {
	killed := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var before []story
	for i := range 10 {
		before = append(before, story{ID: string(rune('a' + i)), Owner: "n1"})
	}
	tr := newTracker("n1", before)
	var after []story
	for i := range 10 {
		after = append(after, story{ID: string(rune('a' + i)), Owner: "n2", UpdatedAt: killed.Add(time.Duration(i+1) * time.Second)})
	}
	tr.observe(after, killed, killed.Add(11*time.Second))
	q := tr.quantiles(killed, 0, 0.5, 0.99)
	if q[0] != time.Second || q[1] != 6*time.Second || q[2] != 10*time.Second {
		t.Fatalf("quantiles %v, want 1s, 6s, 10s", q)
	}
}

// TestFromStore: the stories read from the store are those the listing
// shows (running, with their owner and the time of their head turn), or
// the ones asked for.
func TestFromStore(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	if _, err := postgres.Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []string{"a", "b", "c"} {
		rec := storetest.NewSim(id)
		rec.Status = store.StatusRunning
		if id == "c" {
			rec.Status = store.StatusPaused
		}
		if err := st.CreateSimulation(ctx, rec, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetOwners(ctx, []string{"a"}, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOwners(ctx, []string{"b"}, "n2"); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	running, err := fromStore(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracker("n1", running)
	if len(running) != 2 || len(tr.victims) != 1 || tr.victims["a"] == nil {
		t.Fatalf("running %+v: want a (n1's) and b", running)
	}
	rec, _ := st.GetSimulation(ctx, "a")
	some, err := fromStore(ctx, pool, []string{"a", "c"})
	if err != nil || len(some) != 2 {
		t.Fatalf("stories a and c: %+v, %v", some, err)
	}
	for _, s := range some {
		if s.ID == "a" && (s.Owner != "n1" || !s.UpdatedAt.Equal(rec.UpdatedAt)) {
			t.Fatalf("a: %+v, want owner n1, updated at %v", s, rec.UpdatedAt)
		}
	}
}
