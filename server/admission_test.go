package server

import (
	"context"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

// shortStory and endlessStory are creates of a story of two turns and of
// one without end, at a turn every 20 ms.
var (
	shortStory   = `{"scenario":` + endlessScenario + `,"turn_interval_ms":20,"max_turns":2}`
	endlessStory = `{"scenario":` + endlessScenario + `,"turn_interval_ms":20,"max_turns":100000}`
)

// measureTurns creates short stories through base until each node in
// nodes has measured a turn (so that MaxLoad judges its load), or the
// cluster refuses one; it returns the last answer's status.
func measureTurns(t *testing.T, st store.Store, base, tok string, nodes ...*Server) int {
	t.Helper()
	measured := func() bool {
		for _, s := range nodes {
			if s.runner.TurnCost() == 0 {
				return false
			}
		}
		return true
	}
	for range 40 {
		if measured() {
			return 201
		}
		code, _, out := call(t, "POST", base+"/v1/simulations", tok, "", shortStory)
		if code != 201 {
			return code
		}
		id, _ := out["id"].(string)
		poll.Until(t, 20*time.Second, "a short story to end", func() bool {
			rec, err := st.GetSimulation(context.Background(), id)
			return err == nil && rec.Status == store.StatusFinished
		})
	}
	t.Fatal("forty short stories, and a node has still measured no turn")
	return 0
}

// runsOn waits until story id has an owner that played a few turns, and
// returns the owner.
func runsOn(t *testing.T, st store.Store, id string) string {
	t.Helper()
	var owner string
	poll.Until(t, 20*time.Second, "story "+id+" to run", func() bool {
		rec, err := st.GetSimulation(context.Background(), id)
		if err != nil {
			return false
		}
		owner = rec.Owner
		return owner != "" && rec.Head >= 3
	})
	return owner
}

// TestCreatePlacedByLoad: on a cluster, a story the node it is created
// on (or forked on) cannot take at its pace, by its measured turn cost,
// is created all the same and runs on a node that can.
func TestCreatePlacedByLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two nodes on PostgreSQL and Redis")
	}
	rdb, prefix := redistest.Client(t)
	st := pgtest.Store(t, postgres.Options{})
	// n1 takes no load at all, once it knows what a turn costs; n2 is
	// without bound.
	n1, hs1 := newClusterNodeWith(t, st, rdb, prefix, "n1", Config{MaxLoad: 1e-9, MaxUserStories: -1})
	newClusterNodeWith(t, st, rdb, prefix, "n2", Config{MaxLoad: -1, MaxUserStories: -1})
	tok, _, err := n1.auth.Issue(User{ID: "u1", Name: "Ada", Role: RolePlayer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if code := measureTurns(t, st, hs1.URL, tok, n1); code != 201 {
		t.Fatalf("a short story, with n2 free: %d", code)
	}
	if n1.capacity().Admits(20 * time.Millisecond) {
		t.Fatalf("n1 admits a story with its load bound of 1e-9: %+v", n1.capacity())
	}
	poll.Until(t, 10*time.Second, "n1 to see n2 with room", func() bool {
		return n1.cluster.Admits(context.Background(), 20*time.Millisecond)
	})
	code, _, out := call(t, "POST", hs1.URL+"/v1/simulations", tok, "", endlessStory)
	if code != 201 {
		t.Fatalf("create through n1, full, with n2 free: %d %v", code, out)
	}
	id, _ := out["id"].(string)
	if owner := runsOn(t, st, id); owner != "n2" {
		t.Fatalf("the story runs on %q, want n2", owner)
	}
	code, _, out = call(t, "POST", hs1.URL+"/v1/simulations/"+id+"/fork", tok, "", `{"at":1,"seed":8}`)
	if code != 201 {
		t.Fatalf("fork through n1, full, with n2 free: %d %v", code, out)
	}
	fork, _ := out["id"].(string)
	if owner := runsOn(t, st, fork); owner != "n2" {
		t.Fatalf("the fork runs on %q, want n2", owner)
	}
	if n1.runner.Count() != 0 {
		t.Fatalf("n1, full, runs %v", n1.runner.Sims())
	}
}

// TestCreateRefusedWhenClusterFull: when no node of a cluster can take a
// story at its pace, the create is refused as on one node: unavailable,
// with Retry-After.
func TestCreateRefusedWhenClusterFull(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two nodes on PostgreSQL and Redis")
	}
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	st := pgtest.Store(t, postgres.Options{})
	cfg := Config{MaxLoad: 1e-9, MaxUserStories: -1}
	n1, hs1 := newClusterNodeWith(t, st, rdb, prefix, "n1", cfg)
	n2, _ := newClusterNodeWith(t, st, rdb, prefix, "n2", cfg)
	tok, _, err := n1.auth.Issue(User{ID: "u1", Name: "Ada", Role: RolePlayer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The nodes fill up as they measure their first turns: a node that
	// knows no cost yet admits, and the stories go to it.
	measureTurns(t, st, hs1.URL, tok, n1, n2)
	poll.Until(t, 10*time.Second, "n1 to see n2 full", func() bool { return !n1.cluster.Admits(ctx, 20*time.Millisecond) })
	code, hdr, out := call(t, "POST", hs1.URL+"/v1/simulations", tok, "", endlessStory)
	if code != 503 || errCode(out) != CodeUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("create with every node full: %d %v %v", code, hdr, out)
	}
}
