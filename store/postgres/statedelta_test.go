package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
	"github.com/novel-engine/novel-engine/store/storetest"
)

// playedStates plays a built-in story to its end and returns the world
// state before the first turn and after each one.
func playedStates(t testing.TB, scenario string, seed int64) [][]byte {
	t.Helper()
	sc, ok := engine.Builtin(scenario)
	if !ok {
		t.Fatalf("no built-in %q", scenario)
	}
	sim, err := engine.NewSim(sc, seed, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	states := [][]byte{must(sim.State())}
	for !sim.Finished() {
		if _, err := sim.Step(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		states = append(states, must(sim.State()))
	}
	return states
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// nodes opens n stores on one fresh, migrated schema, as n nodes sharing
// a database would.
func nodes(t testing.TB, opts ...postgres.Options) []*postgres.Store {
	t.Helper()
	url := pgtest.URL(t)
	if _, err := postgres.Migrate(ctx(t), url); err != nil {
		t.Fatal(err)
	}
	out := make([]*postgres.Store, len(opts))
	for i, o := range opts {
		s, err := postgres.Open(ctx(t), url, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out
}

// stored reads how a simulation's row holds its state.
func stored(t testing.TB, s *postgres.Store, id string) (tag *int64, state, delta []byte) {
	t.Helper()
	err := s.Pool().QueryRow(ctx(t), `select state_tag, state, state_delta from simulations where id = $1`, id).
		Scan(&tag, &state, &delta)
	if err != nil {
		t.Fatal(err)
	}
	return tag, state, delta
}

// appendStates appends states[from:to] as turns from..to-1 and checks
// after each that both stores load exactly that state; it returns how
// many turns were written as a delta.
func appendStates(t *testing.T, w, other *postgres.Store, id string, states [][]byte, from, to int) (deltas int) {
	t.Helper()
	for seq := from; seq < to; seq++ {
		turn := store.Turn{Seq: int64(seq), At: time.Now(), Body: storetest.TurnBody(id, int64(seq))}
		if err := w.AppendTurn(ctx(t), id, turn, states[seq], "", nil); err != nil {
			t.Fatalf("%s: append turn %d: %v", id, seq, err)
		}
		if _, _, delta := stored(t, w, id); delta != nil {
			deltas++
		}
		for i, s := range []*postgres.Store{w, other} {
			head, got, err := s.LoadState(ctx(t), id)
			if err != nil || head != int64(seq) || !bytes.Equal(got, states[seq]) {
				t.Fatalf("%s: store %d loads head %d (%d bytes, %v) after turn %d, want its %d bytes exactly",
					id, i, head, len(got), err, seq, len(states[seq]))
			}
			res, err := s.Resumes(ctx(t), []string{id})
			if r := res[id]; err != nil || r.Sim == nil || r.Sim.Head != int64(seq) || !bytes.Equal(r.State, states[seq]) {
				t.Fatalf("%s: store %d resumes head %v (%d bytes, %v) after turn %d, want its %d bytes exactly",
					id, i, r.Sim, len(r.State), err, seq, len(states[seq]))
			}
		}
	}
	return deltas
}

// TestStateDeltaRoundTrip plays each built-in story to its end through the
// store: after every turn, the writer and another node (which learns the
// base only by loading it) load exactly the state written, and most turns
// wrote a delta, not the state.
func TestStateDeltaRoundTrip(t *testing.T) {
	for _, sc := range engine.Builtins() {
		t.Run(sc.ID, func(t *testing.T) {
			states := playedStates(t, sc.ID, 7)
			ns := nodes(t, postgres.Options{}, postgres.Options{})
			if err := ns[0].CreateSimulation(ctx(t), storetest.NewSim("rt"), states[0]); err != nil {
				t.Fatal(err)
			}
			deltas := appendStates(t, ns[0], ns[1], "rt", states, 1, len(states))
			if turns := len(states) - 1; deltas < turns/2 {
				t.Fatalf("%d of %d turns wrote a delta", deltas, turns)
			}
		})
	}
}

// TestStateDeltaTakeover has one node write a story's first turns, a
// second take it over (loading it, then writing new bases of its own),
// and the first write again with the base it loaded last, which is no
// longer the row's: the delta it makes is refused for its stale base, the
// turn is written in full instead, and every node loads the exact state
// throughout.
func TestStateDeltaTakeover(t *testing.T) {
	states := playedStates(t, "hollin", 3)
	if len(states) < 20 {
		t.Fatalf("a story of %d turns is too short for this test", len(states))
	}
	ns := nodes(t, postgres.Options{}, postgres.Options{StateCacheBytes: -1})
	a, b := ns[0], ns[1]
	if err := a.CreateSimulation(ctx(t), storetest.NewSim("tk"), states[0]); err != nil {
		t.Fatal(err)
	}
	if appendStates(t, a, b, "tk", states, 1, 8) == 0 {
		t.Fatal("the first node wrote no delta")
	}
	// b keeps no bases: every turn it writes is a new base. a loads
	// after each, so it knows the base of turn 11 at the end.
	if deltas := appendStates(t, b, a, "tk", states, 8, 12); deltas != 0 {
		t.Fatalf("a node keeping no bases wrote %d deltas", deltas)
	}
	known, _, _ := stored(t, a, "tk")
	turn := store.Turn{Seq: 12, At: time.Now(), Body: storetest.TurnBody("tk", 12)}
	if err := b.AppendTurn(ctx(t), "tk", turn, states[12], "", nil); err != nil {
		t.Fatal(err)
	}
	rebased, _, _ := stored(t, a, "tk")
	if *rebased == *known {
		t.Fatal("the second node wrote no new base")
	}
	// a encodes turn 13 against the base of turn 11.
	turn = store.Turn{Seq: 13, At: time.Now(), Body: storetest.TurnBody("tk", 13)}
	if err := a.AppendTurn(ctx(t), "tk", turn, states[13], "", nil); err != nil {
		t.Fatalf("append after the base changed: %v", err)
	}
	tag, full, delta := stored(t, a, "tk")
	if *tag == *known || *tag == *rebased || delta != nil || !bytes.Equal(full, states[13]) {
		t.Fatalf("after a stale base: tag %d (known %d, rebased %d), delta of %d bytes; want a new base",
			*tag, *known, *rebased, len(delta))
	}
	if appendStates(t, a, b, "tk", states, 14, len(states)) == 0 {
		t.Fatal("no delta written after the takeover")
	}
}

// TestStateOldRow loads a row written before deltas existed (the state
// in full, no tag), then carries on from it.
func TestStateOldRow(t *testing.T) {
	states := playedStates(t, "coldwater", 5)
	ns := nodes(t, postgres.Options{}, postgres.Options{})
	a := ns[0]
	if err := a.CreateSimulation(ctx(t), storetest.NewSim("old"), states[0]); err != nil {
		t.Fatal(err)
	}
	// What the append of earlier versions wrote for turn 3.
	_, err := a.Pool().Exec(ctx(t), `update simulations set head = 3, state = $2 where id = $1`, "old", states[3])
	if err != nil {
		t.Fatal(err)
	}
	if tag, _, delta := stored(t, a, "old"); tag != nil || delta != nil {
		t.Fatalf("an old row has tag %v, delta of %d bytes", tag, len(delta))
	}
	for _, s := range ns {
		head, got, err := s.LoadState(ctx(t), "old")
		if err != nil || head != 3 || !bytes.Equal(got, states[3]) {
			t.Fatalf("old row: head %d, %d bytes, %v", head, len(got), err)
		}
	}
	if appendStates(t, a, ns[1], "old", states, 4, len(states)) == 0 {
		t.Fatal("no delta written after an old row")
	}
}

// TestStateDeltaLarge round-trips states larger than DEFLATE's 32 KB
// window: each is the three built-in stories' states side by side, and
// another's, as a scenario with many characters would give.
func TestStateDeltaLarge(t *testing.T) {
	var stories [][][]byte
	for i, sc := range engine.Builtins() {
		stories = append(stories, playedStates(t, sc.ID, int64(11+i)), playedStates(t, sc.ID, int64(21+i)))
	}
	states := sideBySide(stories)
	n := len(states)
	large := 1 // the first turn whose state is larger than the window
	for large < n && len(states[large]) <= 40<<10 {
		large++
	}
	if n-large < 10 {
		t.Fatalf("only %d states of %d are larger than 40 KB", n-large, n)
	}
	ns := nodes(t, postgres.Options{}, postgres.Options{})
	if err := ns[0].CreateSimulation(ctx(t), storetest.NewSim("big"), states[0]); err != nil {
		t.Fatal(err)
	}
	appendStates(t, ns[0], ns[1], "big", states, 1, large)
	if appendStates(t, ns[0], ns[1], "big", states, large, n) == 0 {
		t.Fatalf("no delta written for states of %d to %d bytes", len(states[large]), len(states[n-1]))
	}
}

// TestStateDeltaRefusedTurn checks that a refused turn leaves the row's
// base and delta as they were: they are written by the statement that
// stores the turn, or not at all.
func TestStateDeltaRefusedTurn(t *testing.T) {
	states := playedStates(t, "heronsalt", 9)
	ns := nodes(t, postgres.Options{}, postgres.Options{})
	a := ns[0]
	if err := a.CreateSimulation(ctx(t), storetest.NewSim("rf"), states[0]); err != nil {
		t.Fatal(err)
	}
	appendStates(t, a, ns[1], "rf", states, 1, 6)
	tag, base, delta := stored(t, a, "rf")
	act := store.PendingAction{ID: "p1", Character: "x", UserID: "u1", Action: engine.Action{Kind: "wait"}, Turn: 6, At: time.Now()}
	if _, err := a.PutAction(ctx(t), "rf", act); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		seq  int64
		want error
	}{{6, store.ErrActionsPending}, {8, store.ErrConflict}, {5, store.ErrConflict}} {
		turn := store.Turn{Seq: tc.seq, At: time.Now(), Body: storetest.TurnBody("rf", tc.seq)}
		err := a.AppendTurn(ctx(t), "rf", turn, states[tc.seq], "", nil)
		if !errors.Is(err, tc.want) {
			t.Fatalf("turn %d: %v, want %v", tc.seq, err, tc.want)
		}
		tag2, base2, delta2 := stored(t, a, "rf")
		if fmt.Sprint(*tag) != fmt.Sprint(*tag2) || !bytes.Equal(base, base2) || !bytes.Equal(delta, delta2) {
			t.Fatalf("turn %d refused, yet the stored state changed", tc.seq)
		}
		head, got, err := ns[1].LoadState(ctx(t), "rf")
		if err != nil || head != 5 || !bytes.Equal(got, states[5]) {
			t.Fatalf("after turn %d refused: head %d, %d bytes, %v", tc.seq, head, len(got), err)
		}
	}
	// Played, the turn is stored.
	turn := store.Turn{Seq: 6, At: time.Now(), Body: storetest.TurnBody("rf", 6)}
	if err := a.AppendTurn(ctx(t), "rf", turn, states[6], "", []string{"p1"}); err != nil {
		t.Fatal(err)
	}
	appendStates(t, a, ns[1], "rf", states, 7, len(states))
}
