package storetest

import (
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// testResumes: Resumes reads, for many simulations at once, the same
// record, head state and pending actions as GetSimulation, LoadState and
// PendingActions do one at a time; SeatsOf reads the seats of many, as
// Seats does one; SetOwners sets many owners at once.
func testResumes(t *testing.T, s store.Store) {
	c := ctx(t)
	for _, id := range []string{"r1", "r2", "r3"} {
		mustCreate(t, s, id)
	}
	if err := s.AppendTurn(c, "r1", store.Turn{Seq: 1, At: time.Now(), Body: TurnBody("r1", 1)}, []byte("state-1"), "", nil); err != nil {
		t.Fatal(err)
	}
	for _, a := range []store.PendingAction{
		{ID: "x1", Character: "bo", UserID: "u2", Action: engine.Action{Kind: "wait"}, Turn: 3},
		{ID: "x2", Character: "ada", UserID: "u1", Action: engine.Action{Kind: "move", Target: "dock"}, Turn: 2},
	} {
		a.At = time.Now().UTC()
		if _, err := s.PutAction(c, "r1", a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Resumes(c, []string{"r1", "r2", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d resumes, want 2 (one id does not exist)", len(got))
	}
	for _, id := range []string{"r1", "r2"} {
		rec, _ := s.GetSimulation(c, id)
		head, state, _ := s.LoadState(c, id)
		pending, _ := s.PendingActions(c, id)
		r := got[id]
		if r.Sim == nil || r.Sim.ID != id || r.Sim.Head != head || r.Sim.Head != rec.Head || string(r.Sim.Scenario) != string(rec.Scenario) ||
			r.Sim.Status != rec.Status || r.Sim.Seed != rec.Seed || !r.Sim.UpdatedAt.Equal(rec.UpdatedAt) {
			t.Fatalf("%s: record %+v, want %+v", id, r.Sim, rec)
		}
		if string(r.State) != string(state) {
			t.Fatalf("%s: state %q, want %q", id, r.State, state)
		}
		if len(r.Pending) != len(pending) {
			t.Fatalf("%s: pending %+v, want %+v", id, r.Pending, pending)
		}
		for i, a := range pending {
			b := r.Pending[i]
			if a.ID != b.ID || a.Character != b.Character || a.UserID != b.UserID || a.Turn != b.Turn ||
				a.Action.Kind != b.Action.Kind || a.Action.Target != b.Action.Target || !a.At.Equal(b.At) {
				t.Fatalf("%s: pending action %d %+v, want %+v", id, i, b, a)
			}
		}
	}
	if got["r1"].Sim.Head != 1 || string(got["r1"].State) != "state-1" || len(got["r1"].Pending) != 2 || got["r1"].Pending[0].Character != "ada" {
		t.Fatalf("r1: %+v", got["r1"])
	}
	if empty, err := s.Resumes(c, nil); err != nil || len(empty) != 0 {
		t.Fatalf("no ids: %v %v", empty, err)
	}

	// SeatsOf: the seats of many at once, as Seats reads each.
	if err := s.ClaimSeat(c, "r1", "ada", store.Seat{UserID: "u1", UserName: "Ada", AIFill: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimSeat(c, "r1", "bo", store.Seat{UserID: "u2", UserName: "Bo"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimSeat(c, "r3", "bo", store.Seat{UserID: "u3", UserName: "Cy"}); err != nil {
		t.Fatal(err)
	}
	seats, err := s.SeatsOf(c, []string{"r1", "r2", "r3", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if len(seats) != 2 || len(seats["r1"]) != 2 || len(seats["r3"]) != 1 {
		t.Fatalf("seats of r1, r2, r3, nope: %+v; want r1's two and r3's one", seats)
	}
	for _, id := range []string{"r1", "r3"} {
		one, _ := s.Seats(c, id)
		for char, seat := range one {
			if got := seats[id][char]; got.UserID != seat.UserID || got.UserName != seat.UserName || got.AIFill != seat.AIFill {
				t.Fatalf("%s: seat of %s %+v, want %+v", id, char, got, seat)
			}
		}
	}
	if none, err := s.SeatsOf(c, nil); err != nil || len(none) != 0 {
		t.Fatalf("no ids: %v %v", none, err)
	}

	if err := s.SetOwners(c, []string{"r1", "r3", "nope"}, "n7"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"r1": "n7", "r2": "", "r3": "n7"} {
		if rec, err := s.GetSimulation(c, id); err != nil || rec.Owner != want {
			t.Fatalf("%s: owner %q %v, want %q", id, rec.Owner, err, want)
		}
	}
}
