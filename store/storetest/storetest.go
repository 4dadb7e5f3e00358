// Package storetest is the conformance suite every store.Store passes.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// Run runs the suite. newStore returns an empty store for each subtest; it
// is closed by the caller's cleanup.
func Run(t *testing.T, newStore func(t testing.TB) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateConflict", testCreateConflict},
		{"NotFound", testNotFound},
		{"ListPaging", testListPaging},
		{"ListByScenario", testListByScenario},
		{"Summaries", testSummaries},
		{"StatusOwner", testStatusOwner},
		{"AppendAndList", testAppendAndList},
		{"Fencing", testFencing},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Seats", testSeats},
		{"SeatCap", testSeatCap},
		{"PendingActions", testPendingActions},
		{"ActionTurns", testActionTurns},
		{"UnplayedActions", testUnplayedActions},
		{"ActionFence", testActionFence},
		{"Scenarios", testScenarios},
		{"Forks", testForks},
		{"Votes", testVotes},
		{"Resumes", testResumes},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// NewSim returns a simulation record for tests.
func NewSim(id string) *store.Simulation {
	return &store.Simulation{
		ID: id, Title: "Title of " + id, ScenarioID: "harbor",
		Scenario: []byte(`{"id":"harbor"}`), Status: store.StatusCreated,
		Seed: 42, MaxTurns: 100, TurnIntervalMS: 1000, WaitForPlayers: true,
		CreatedBy: "u1",
	}
}

// TurnBody is a realistic stored turn body for tests and benchmarks.
func TurnBody(sim string, seq int64) []byte {
	return []byte(fmt.Sprintf(`{"sim":%q,"seq":%d,"at":"2026-01-02T03:04:05.123456789Z","events":[{"actor":"ada","kind":"move","target":"dock","outcome":"success","source":"ai"},{"actor":"bo","kind":"speak","target":"ada","text":"The tide will not wait for either of us.","outcome":"success","source":"player"}],"narrative":"Ada crossed to the dock, where the lamps were already lit. Bo followed her with his eyes and said the tide would not wait for either of them, and for once she agreed.","characters":[{"id":"ada","location":"dock","health":100,"alive":true},{"id":"bo","location":"market","health":80,"alive":true}],"state_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","finished":false}`, sim, seq))
}

func mustCreate(t testing.TB, s store.Store, id string) *store.Simulation {
	t.Helper()
	sim := NewSim(id)
	if err := s.CreateSimulation(ctx(t), sim, []byte("state-0")); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	return sim
}

func testCreateGet(t *testing.T, s store.Store) {
	want := mustCreate(t, s, "sim-a")
	got, err := s.GetSimulation(ctx(t), "sim-a")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Title != want.Title || got.ScenarioID != "harbor" ||
		!bytes.Equal(got.Scenario, want.Scenario) || got.Status != store.StatusCreated ||
		got.Seed != 42 || got.Head != 0 || got.MaxTurns != 100 || got.TurnIntervalMS != 1000 ||
		!got.WaitForPlayers || got.CreatedBy != "u1" {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got.CreatedAt.IsZero() || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("created_at %v, want %v", got.CreatedAt, want.CreatedAt)
	}
	head, state, err := s.LoadState(ctx(t), "sim-a")
	if err != nil || head != 0 || string(state) != "state-0" {
		t.Fatalf("LoadState = %d %q %v", head, state, err)
	}
}

func testCreateConflict(t *testing.T, s store.Store) {
	mustCreate(t, s, "dup")
	err := s.CreateSimulation(ctx(t), NewSim("dup"), nil)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	c := ctx(t)
	checks := map[string]error{}
	_, checks["GetSimulation"] = s.GetSimulation(c, "nope")
	_, checks["SetStatus"] = s.SetStatus(c, "nope", store.StatusRunning)
	checks["SetOwner"] = s.SetOwner(c, "nope", "n1")
	checks["AppendTurn"] = s.AppendTurn(c, "nope", store.Turn{Seq: 1, At: time.Now(), Body: []byte("{}")}, nil, "", nil)
	_, checks["ListTurns"] = s.ListTurns(c, "nope", 0, 10)
	_, _, checks["LoadState"] = s.LoadState(c, "nope")
	checks["ClaimSeat"] = s.ClaimSeat(c, "nope", "ada", store.Seat{UserID: "u"})
	checks["ClaimSeat with a cap"] = s.ClaimSeat(c, "nope", "ada", store.Seat{UserID: "u", MaxPerUser: 1})
	_, checks["Seats"] = s.Seats(c, "nope")
	_, checks["PutAction"] = s.PutAction(c, "nope", store.PendingAction{ID: "a1", Character: "ada"})
	_, checks["GetScenario"] = s.GetScenario(c, "nope")
	checks["DeleteScenario"] = s.DeleteScenario(c, "nope")
	for name, err := range checks {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
}

func testListPaging(t *testing.T, s store.Store) {
	const n = 7
	for i := range n {
		sim := NewSim(fmt.Sprintf("p%02d", i))
		if i%2 == 1 {
			sim.Status = store.StatusRunning
		}
		if err := s.CreateSimulation(ctx(t), sim, nil); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		if page > n {
			t.Fatal("paging does not end")
		}
		got, next, err := s.ListSimulations(ctx(t), store.ListOptions{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 3 {
			t.Fatalf("page of %d > limit", len(got))
		}
		for _, g := range got {
			seen = append(seen, g.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != n {
		t.Fatalf("paged through %v, want %d distinct", seen, n)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] == seen[i-1] {
			t.Fatalf("duplicate in paging: %v", seen)
		}
	}
	// Newest first: p06 was created last.
	if seen[0] != "p06" || seen[n-1] != "p00" {
		t.Fatalf("order %v, want newest first", seen)
	}
	running, _, err := s.ListSimulations(ctx(t), store.ListOptions{Status: store.StatusRunning})
	if err != nil {
		t.Fatal(err)
	}
	if len(running) != 3 {
		t.Fatalf("status filter gave %d, want 3", len(running))
	}
	if _, _, err := s.ListSimulations(ctx(t), store.ListOptions{Cursor: "%%%"}); err == nil {
		t.Fatal("bad cursor accepted")
	}
}

func testListByScenario(t *testing.T, s store.Store) {
	for i := range 5 {
		sim := NewSim(fmt.Sprintf("sc%d", i))
		if i%2 == 0 {
			sim.ScenarioID = "keep"
			sim.Status = store.StatusRunning
		}
		if err := s.CreateSimulation(ctx(t), sim, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := s.ListSimulations(ctx(t), store.ListOptions{ScenarioID: "keep"})
	if err != nil || len(got) != 3 {
		t.Fatalf("scenario filter: %d, %v; want 3", len(got), err)
	}
	for _, g := range got {
		if g.ScenarioID != "keep" {
			t.Fatalf("scenario filter gave %s of %s", g.ID, g.ScenarioID)
		}
	}
	got, next, err := s.ListSimulations(ctx(t), store.ListOptions{ScenarioID: "keep", Status: store.StatusRunning, Limit: 2})
	if err != nil || len(got) != 2 || next == "" {
		t.Fatalf("scenario and status, page of 2: %d, next %q, %v", len(got), next, err)
	}
	rest, next, err := s.ListSimulations(ctx(t), store.ListOptions{ScenarioID: "keep", Status: store.StatusRunning, Limit: 2, Cursor: next})
	if err != nil || len(rest) != 1 || next != "" || rest[0].ID != "sc0" {
		t.Fatalf("second page: %v, next %q, %v; want [sc0]", rest, next, err)
	}
}

func testSummaries(t *testing.T, s store.Store) {
	mustCreate(t, s, "su1")
	mustCreate(t, s, "su2")
	for seq := int64(1); seq <= 2; seq++ {
		if err := s.AppendTurn(ctx(t), "su1", store.Turn{Seq: seq, At: time.Now(), Body: TurnBody("su1", seq)}, []byte("s"), "", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ClaimSeat(ctx(t), "su1", "ada", store.Seat{UserID: "u1", UserName: "Ada", AIFill: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Summaries(ctx(t), []string{"su1", "su2", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d summaries, want 2 (one id does not exist)", len(got))
	}
	if string(got["su1"].HeadTurn) != string(TurnBody("su1", 2)) {
		t.Fatalf("head turn %s", got["su1"].HeadTurn)
	}
	if seat := got["su1"].Seats["ada"]; seat.UserID != "u1" || seat.UserName != "Ada" || !seat.AIFill || len(got["su1"].Seats) != 1 {
		t.Fatalf("seats %+v", got["su1"].Seats)
	}
	if got["su2"].HeadTurn != nil || len(got["su2"].Seats) != 0 {
		t.Fatalf("a story at head 0: %+v", got["su2"])
	}
}

func testStatusOwner(t *testing.T, s store.Store) {
	mustCreate(t, s, "st")
	got, err := s.SetStatus(ctx(t), "st", store.StatusPaused)
	if err != nil || got.Status != store.StatusPaused {
		t.Fatalf("SetStatus = %+v, %v", got, err)
	}
	if err := s.SetOwner(ctx(t), "st", "node-1"); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetSimulation(ctx(t), "st")
	if err != nil || got.Owner != "node-1" || got.Status != store.StatusPaused {
		t.Fatalf("after owner: %+v, %v", got, err)
	}
}

func testAppendAndList(t *testing.T, s store.Store) {
	mustCreate(t, s, "ap")
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for seq := int64(1); seq <= 25; seq++ {
		status := ""
		if seq == 25 {
			status = store.StatusFinished
		}
		err := s.AppendTurn(ctx(t), "ap", store.Turn{Seq: seq, At: at, Body: TurnBody("ap", seq)}, []byte(fmt.Sprintf("state-%d", seq)), status, nil)
		if err != nil {
			t.Fatalf("append %d: %v", seq, err)
		}
	}
	sim, err := s.GetSimulation(ctx(t), "ap")
	if err != nil || sim.Head != 25 || sim.Status != store.StatusFinished {
		t.Fatalf("after appends: %+v %v", sim, err)
	}
	head, state, err := s.LoadState(ctx(t), "ap")
	if err != nil || head != 25 || string(state) != "state-25" {
		t.Fatalf("LoadState = %d %q %v", head, state, err)
	}
	got, err := s.ListTurns(ctx(t), "ap", 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("got %d turns, want 5", len(got))
	}
	for i, tr := range got {
		if tr.Seq != int64(11+i) || !bytes.Equal(tr.Body, TurnBody("ap", tr.Seq)) || !tr.At.Equal(at) {
			t.Fatalf("turn %d = %d %s %v", i, tr.Seq, tr.Body, tr.At)
		}
	}
	if got, _ := s.ListTurns(ctx(t), "ap", 23, 100); len(got) != 2 {
		t.Fatalf("tail: %d turns, want 2", len(got))
	}
	if got, _ := s.ListTurns(ctx(t), "ap", 25, 100); len(got) != 0 {
		t.Fatalf("past head: %d turns, want 0", len(got))
	}
}

func testFencing(t *testing.T, s store.Store) {
	mustCreate(t, s, "fe")
	body := TurnBody("fe", 1)
	if err := s.AppendTurn(ctx(t), "fe", store.Turn{Seq: 1, At: time.Now(), Body: body}, []byte("s1"), "", nil); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []int64{1, 3, 0} {
		err := s.AppendTurn(ctx(t), "fe", store.Turn{Seq: seq, At: time.Now(), Body: []byte(`{"fork":true}`)}, []byte("bad"), "", nil)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("append seq %d at head 1: %v, want ErrConflict", seq, err)
		}
	}
	head, state, _ := s.LoadState(ctx(t), "fe")
	turns, _ := s.ListTurns(ctx(t), "fe", 0, 10)
	if head != 1 || string(state) != "s1" || len(turns) != 1 || !bytes.Equal(turns[0].Body, body) {
		t.Fatalf("a refused write changed the store: head %d state %q turns %d", head, state, len(turns))
	}
}

// testConcurrentWriters races writers for every seq: exactly one wins each.
func testConcurrentWriters(t *testing.T, s store.Store) {
	mustCreate(t, s, "cw")
	const writers, turns = 4, 20
	var wg sync.WaitGroup
	wins := make([]int, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := int64(1); seq <= turns; seq++ {
				body := []byte(fmt.Sprintf(`{"writer":%d,"seq":%d}`, w, seq))
				err := s.AppendTurn(context.Background(), "cw", store.Turn{Seq: seq, At: time.Now(), Body: body}, body, "", nil)
				switch {
				case err == nil:
					wins[w]++
				case errors.Is(err, store.ErrConflict):
				default:
					t.Errorf("writer %d seq %d: %v", w, seq, err)
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range wins {
		total += n
	}
	got, err := s.ListTurns(ctx(t), "cw", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	head, state, _ := s.LoadState(ctx(t), "cw")
	if total != len(got) || head != int64(len(got)) {
		t.Fatalf("%d wins, %d turns stored, head %d", total, len(got), head)
	}
	for i, tr := range got {
		if tr.Seq != int64(i+1) {
			t.Fatalf("stored seqs not contiguous at %d: %d", i, tr.Seq)
		}
	}
	if len(got) > 0 && !bytes.Equal(state, got[len(got)-1].Body) {
		t.Fatalf("state %q is not the head turn's writer's %q", state, got[len(got)-1].Body)
	}
}

// testSeatCap: claims at once past MaxPerUser all but the allowed ones
// fail; reclaiming a held seat is no new one; other users are not
// counted.
func testSeatCap(t *testing.T, s store.Store) {
	mustCreate(t, s, "cap")
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.ClaimSeat(c, "cap", fmt.Sprintf("c%d", i), store.Seat{UserID: "u1", UserName: "Ada", MaxPerUser: 2})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrTooManySeats):
			t.Fatalf("claim past the cap: %v, want ErrTooManySeats", err)
		}
	}
	seats, err := s.Seats(c, "cap")
	if won != 2 || err != nil || len(seats) != 2 {
		t.Fatalf("%d claims at once won, %d seats held (%v), want 2", won, len(seats), err)
	}
	for ch, seat := range seats {
		if seat.MaxPerUser != 0 {
			t.Errorf("seat %s stored its cap: %+v", ch, seat)
		}
		if err := s.ClaimSeat(c, "cap", ch, store.Seat{UserID: "u1", UserName: "Ada", AIFill: true, MaxPerUser: 2}); err != nil {
			t.Fatalf("reclaim of a held seat at the cap: %v", err)
		}
	}
	if err := s.ClaimSeat(c, "cap", "other", store.Seat{UserID: "u2", UserName: "Bo", MaxPerUser: 1}); err != nil {
		t.Fatalf("another user's claim: %v", err)
	}
}

func testSeats(t *testing.T, s store.Store) {
	mustCreate(t, s, "se")
	c := ctx(t)
	ada := store.Seat{UserID: "u1", UserName: "Ada"}
	bo := store.Seat{UserID: "u2", UserName: "Bo"}
	if err := s.ClaimSeat(c, "se", "hero", ada); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimSeat(c, "se", "hero", ada); err != nil {
		t.Fatalf("reclaim by holder: %v", err)
	}
	if err := s.ClaimSeat(c, "se", "hero", bo); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("claim of a held seat: %v, want ErrConflict", err)
	}
	if err := s.ClaimSeat(c, "se", "villain", bo); err != nil {
		t.Fatal(err)
	}
	seats, err := s.Seats(c, "se")
	if err != nil || len(seats) != 2 || seats["hero"] != ada || seats["villain"] != bo {
		t.Fatalf("Seats = %v %v", seats, err)
	}
	// The holder reclaiming its seat may change whether the AI fills in.
	adaFill := store.Seat{UserID: "u1", UserName: "Ada", AIFill: true}
	if err := s.ClaimSeat(c, "se", "hero", adaFill); err != nil {
		t.Fatalf("reclaim with ai fill: %v", err)
	}
	if err := s.ClaimSeat(c, "se", "hero", store.Seat{UserID: "u2", UserName: "Bo"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("claim of a held seat: %v, want ErrConflict", err)
	}
	if seats, err := s.Seats(c, "se"); err != nil || seats["hero"] != adaFill {
		t.Fatalf("Seats after reclaim with ai fill = %v %v", seats, err)
	}
	if err := s.ReleaseSeat(c, "se", "hero", "u2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("release by non-holder: %v, want ErrNotFound", err)
	}
	if err := s.ReleaseSeat(c, "se", "hero", "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClaimSeat(c, "se", "hero", bo); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if err := s.ReleaseAllSeats(c, "se"); err != nil {
		t.Fatal(err)
	}
	if seats, _ := s.Seats(c, "se"); len(seats) != 0 {
		t.Fatalf("seats after ReleaseAllSeats: %v", seats)
	}
}

func testPendingActions(t *testing.T, s store.Store) {
	mustCreate(t, s, "pa")
	c := ctx(t)
	put := func(id, char string, turn int64, kind string) {
		t.Helper()
		a := store.PendingAction{ID: id, Character: char, UserID: "u1", Action: engine.Action{Kind: kind, Target: "dock", Text: "hello"}, Turn: turn, At: time.Now().UTC()}
		got, err := s.PutAction(c, "pa", a)
		if err != nil || got != turn {
			t.Fatalf("PutAction %s for turn %d = %d, %v", id, turn, got, err)
		}
	}
	put("a1", "ada", 1, "speak")
	put("a2", "ada", 1, "move") // replaces
	put("b1", "bo", 2, "wait")
	got, err := s.PendingActions(c, "pa")
	if err != nil || len(got) != 2 {
		t.Fatalf("PendingActions = %v %v", got, err)
	}
	if got[0].ID != "a2" || got[0].Character != "ada" || got[0].Action.Kind != "move" || got[0].Action.Target != "dock" || got[0].Action.Text != "hello" || got[0].Turn != 1 || got[0].UserID != "u1" {
		t.Fatalf("first action %+v", got[0])
	}
	if err := s.AppendTurn(c, "pa", store.Turn{Seq: 1, At: time.Now(), Body: []byte("{}")}, nil, "", []string{"a2"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.PendingActions(c, "pa")
	if len(got) != 1 || got[0].ID != "b1" {
		t.Fatalf("after turn 1: %+v, want only bo's", got)
	}
}

// testActionTurns: an action asked for a turn already stored (a writer
// that has not seen the newer turns) is due in the head's successor, and
// PutAction says so.
func testActionTurns(t *testing.T, s store.Store) {
	mustCreate(t, s, "at")
	c := ctx(t)
	for seq := int64(1); seq <= 3; seq++ {
		if err := s.AppendTurn(c, "at", store.Turn{Seq: seq, At: time.Now(), Body: []byte("{}")}, nil, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		id        string
		ask, want int64
	}{{"old", 2, 4}, {"head", 3, 4}, {"next", 4, 4}, {"later", 6, 6}} {
		got, err := s.PutAction(c, "at", store.PendingAction{ID: tc.id, Character: tc.id, UserID: "u1", Action: engine.Action{Kind: "wait"}, Turn: tc.ask, At: time.Now()})
		if err != nil || got != tc.want {
			t.Errorf("PutAction asking turn %d at head 3 = %d, %v; want %d", tc.ask, got, err, tc.want)
		}
	}
	pending, err := s.PendingActions(c, "at")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range pending {
		if want := map[string]int64{"old": 4, "head": 4, "next": 4, "later": 6}[a.ID]; a.Turn != want {
			t.Errorf("stored %s for turn %d, want %d", a.ID, a.Turn, want)
		}
	}
}

// testUnplayedActions: a turn that does not play every action due by it
// is refused and stores nothing; a turn removes the actions it played and
// no other.
func testUnplayedActions(t *testing.T, s store.Store) {
	mustCreate(t, s, "up")
	c := ctx(t)
	put := func(id, char string, turn int64) {
		t.Helper()
		if _, err := s.PutAction(c, "up", store.PendingAction{ID: id, Character: char, UserID: "u1", Action: engine.Action{Kind: "wait"}, Turn: turn, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	appendTurn := func(seq int64, played ...string) error {
		return s.AppendTurn(c, "up", store.Turn{Seq: seq, At: time.Now(), Body: fmt.Appendf(nil, `{"seq":%d}`, seq)}, fmt.Appendf(nil, "state-%d", seq), "", played)
	}
	put("a1", "ada", 1)
	put("b2", "bo", 2)
	if err := appendTurn(1); !errors.Is(err, store.ErrActionsPending) {
		t.Fatalf("turn 1 without ada's action: %v, want ErrActionsPending", err)
	}
	if err := appendTurn(1, "b2"); !errors.Is(err, store.ErrActionsPending) {
		t.Fatalf("turn 1 with another action only: %v, want ErrActionsPending", err)
	}
	if head, state, _ := s.LoadState(c, "up"); head != 0 || string(state) != "state-0" {
		t.Fatalf("a refused turn changed the store: head %d state %q", head, state)
	}
	// Ada's action is replaced by one for the same turn after the writer
	// read it: the turn that played the first is refused.
	put("a1b", "ada", 1)
	if err := appendTurn(1, "a1"); !errors.Is(err, store.ErrActionsPending) {
		t.Fatalf("turn 1 playing a replaced action: %v, want ErrActionsPending", err)
	}
	if err := appendTurn(1, "a1b"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.PendingActions(c, "up")
	if len(got) != 1 || got[0].ID != "b2" {
		t.Fatalf("after turn 1: %+v, want only b2", got)
	}
	// A turn that played an action replaced after it was read removes
	// neither: the replacement stays for its own turn.
	put("b3", "bo", 3)
	if err := appendTurn(2, "b2"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.PendingActions(c, "up")
	if len(got) != 1 || got[0].ID != "b3" || got[0].Turn != 3 {
		t.Fatalf("after turn 2: %+v, want b3 for turn 3", got)
	}
	// The fence on the head comes first.
	if err := appendTurn(4); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("turn 4 at head 2: %v, want ErrConflict", err)
	}
}

// testActionFence races writers of actions, each believing the head is
// still 0 (old owners), against a writer of turns that plays the pending
// actions it reads and reads them again when the store refuses a turn:
// every action is played, in the turn PutAction named.
func testActionFence(t *testing.T, s store.Store) {
	mustCreate(t, s, "af")
	const putters, perPutter, turns = 4, 10, 40
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		promise = map[string]int64{} // action id → turn PutAction named
	)
	for p := range putters {
		wg.Go(func() {
			for i := range perPutter {
				id := fmt.Sprintf("p%d-%d", p, i)
				turn, err := s.PutAction(context.Background(), "af", store.PendingAction{ID: id, Character: id, UserID: "u", Action: engine.Action{Kind: "wait"}, Turn: 1, At: time.Now()})
				if err != nil {
					t.Errorf("put %s: %v", id, err)
					return
				}
				mu.Lock()
				promise[id] = turn
				mu.Unlock()
			}
		})
	}
	played := map[string]int64{}
	for seq := int64(1); seq <= turns; seq++ {
		for attempt := 0; ; attempt++ {
			if attempt > 1000 {
				t.Fatalf("turn %d refused %d times", seq, attempt)
			}
			pending, err := s.PendingActions(context.Background(), "af")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, a := range pending {
				if a.Turn <= seq {
					ids = append(ids, a.ID)
				}
			}
			err = s.AppendTurn(context.Background(), "af", store.Turn{Seq: seq, At: time.Now(), Body: []byte("{}")}, nil, "", ids)
			if errors.Is(err, store.ErrActionsPending) {
				continue
			}
			if err != nil {
				t.Fatalf("turn %d: %v", seq, err)
			}
			for _, id := range ids {
				played[id] = seq
			}
			break
		}
	}
	wg.Wait()
	// Actions put after the last turn are still pending, for the next.
	pending, err := s.PendingActions(ctx(t), "af")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range pending {
		if a.Turn != turns+1 {
			t.Errorf("action %s pending for turn %d after turn %d", a.ID, a.Turn, turns)
		}
		played[a.ID] = a.Turn
	}
	if len(promise) != putters*perPutter {
		t.Fatalf("%d actions put, want %d", len(promise), putters*perPutter)
	}
	for id, turn := range promise {
		if played[id] != turn {
			t.Errorf("action %s promised for turn %d, played in %d (0: never)", id, turn, played[id])
		}
	}
}

func testScenarios(t *testing.T, s store.Store) {
	c := ctx(t)
	save := func(id, owner, data string) error {
		return s.SaveScenario(c, store.StoredScenario{ID: id, Owner: owner, Data: []byte(data)})
	}
	if err := save("b", "u2", `{"id":"b"}`); err != nil {
		t.Fatal(err)
	}
	if err := save("a", "u1", `{"id":"a"}`); err != nil {
		t.Fatal(err)
	}
	if err := save("a", "u2", `{"id":"a2"}`); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second save: %v, want ErrConflict", err)
	}
	d, err := s.GetScenario(c, "a")
	if err != nil || string(d.Data) != `{"id":"a"}` || d.Owner != "u1" || d.Rev == 0 {
		t.Fatalf("GetScenario = %+v %v", d, err)
	}
	all, err := s.ListScenarios(c)
	if err != nil || len(all) != 2 || all[0].ID != "a" || all[0].Owner != "u1" || all[0].Rev != d.Rev || all[1].ID != "b" {
		t.Fatalf("ListScenarios = %+v %v", all, err)
	}
	if n, err := s.CountScenarios(c, "u2"); n != 1 || err != nil {
		t.Fatalf("CountScenarios(u2) = %d %v", n, err)
	}
	// Deleted, the id is free again, under a new revision.
	if err := s.DeleteScenario(c, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteScenario(c, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := s.GetScenario(c, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetScenario after delete: %v", err)
	}
	if n, err := s.CountScenarios(c, "u1"); n != 0 || err != nil {
		t.Fatalf("CountScenarios(u1) after delete = %d %v", n, err)
	}
	if err := save("a", "u2", `{"id":"a2"}`); err != nil {
		t.Fatal(err)
	}
	again, err := s.GetScenario(c, "a")
	if err != nil || string(again.Data) != `{"id":"a2"}` || again.Rev == d.Rev {
		t.Fatalf("GetScenario after saving again = %+v %v (rev was %d)", again, err, d.Rev)
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatal(err)
	}
}
