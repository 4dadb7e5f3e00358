package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func mustBuiltin(tb testing.TB, id string) *Scenario {
	tb.Helper()
	sc, ok := Builtin(id)
	if !ok {
		tb.Fatalf("no built-in scenario %q", id)
	}
	return sc
}

// play runs a simulation for up to n turns, with player actions by turn.
func play(tb testing.TB, s *Sim, n int, player func(seq int64) map[string]Action) []Turn {
	tb.Helper()
	var out []Turn
	playEach(tb, s, n, player, func(t Turn) { out = append(out, t) })
	return out
}

// playEach plays like play, and hands each turn to each as soon as it is
// played, while the world stands as that turn left it.
func playEach(tb testing.TB, s *Sim, n int, player func(seq int64) map[string]Action, each func(Turn)) {
	tb.Helper()
	for played := 0; !s.Finished() && played < n; played++ {
		var acts map[string]Action
		if player != nil {
			acts = player(s.Seq() + 1)
		}
		t, err := s.Step(context.Background(), acts)
		if err != nil {
			tb.Fatalf("step %d: %v", s.Seq()+1, err)
		}
		each(t)
	}
}

func encodeTurns(tb testing.TB, turns []Turn) string {
	tb.Helper()
	b, err := json.Marshal(turns)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func startSim(tb testing.TB, sc *Scenario, seed int64, opts Options) *Sim {
	tb.Helper()
	s, err := NewSim(sc, seed, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// someInput plays a few player actions on chosen turns.
func someInput(seq int64) map[string]Action {
	switch seq {
	case 2:
		return map[string]Action{"wren": {Kind: ActSpeak, Text: "Who put the lamp out?"}}
	case 3:
		return map[string]Action{"dace": {Kind: ActMove, Target: "nowhere"}} // invalid: falls back
	case 5:
		return map[string]Action{"tamsin": {Kind: ActWait}}
	}
	return nil
}

func TestDeterminism(t *testing.T) {
	for _, sc := range Builtins() {
		t.Run(sc.ID, func(t *testing.T) {
			var want string
			for _, procs := range []int{1, 2, 1, 2} {
				prev := runtime.GOMAXPROCS(procs)
				got := encodeTurns(t, play(t, startSim(t, sc, 42, Options{}), 60, someInput))
				runtime.GOMAXPROCS(prev)
				if want == "" {
					want = got
				} else if got != want {
					t.Fatalf("GOMAXPROCS=%d: turns differ from the first run", procs)
				}
			}
		})
	}
}

// slowDecider is the built-in one, run through the concurrent path.
type slowDecider struct{ delay time.Duration }

func (d slowDecider) Decide(ctx context.Context, p Perception) (Action, error) {
	if d.delay > 0 {
		time.Sleep(d.delay)
	}
	return UtilityDecider{}.Decide(ctx, p)
}

func TestDeterminismCustomDecider(t *testing.T) {
	sc := mustBuiltin(t, "heronsalt")
	opts := Options{Decider: slowDecider{delay: time.Millisecond}, DecisionTimeout: 2 * time.Second}
	var want string
	for _, procs := range []int{1, 2} {
		prev := runtime.GOMAXPROCS(procs)
		got := encodeTurns(t, play(t, startSim(t, sc, 9, opts), 25, someInput))
		runtime.GOMAXPROCS(prev)
		if want == "" {
			want = got
		} else if got != want {
			t.Fatal("turns differ between GOMAXPROCS 1 and 2")
		}
	}
	// The concurrent path decides exactly as the built-in one does.
	if base := encodeTurns(t, play(t, startSim(t, sc, 9, Options{}), 25, someInput)); base != want {
		t.Fatal("a custom decider returning the built-in choices gave other turns")
	}
}

func TestRestoreContinuesIdentically(t *testing.T) {
	for _, sc := range Builtins() {
		t.Run(sc.ID, func(t *testing.T) {
			for _, cut := range []int{1, 4, 9} {
				orig := startSim(t, sc, 77, Options{})
				head := play(t, orig, cut, someInput)
				if orig.Finished() {
					continue
				}
				state, err := orig.State()
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(state), "77") && false {
					t.Fatal("unreachable")
				}
				restored, err := RestoreSim(sc, 77, state, Options{})
				if err != nil {
					t.Fatal(err)
				}
				// RestoreParsed (no second validation) restores the same.
				parsed, err := RestoreParsed(sc, 77, state, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if restored.Seq() != int64(len(head)) || parsed.Seq() != restored.Seq() {
					t.Fatalf("restored seq %d and %d, want %d", restored.Seq(), parsed.Seq(), len(head))
				}
				a := encodeTurns(t, play(t, orig, 40, someInput))
				b := encodeTurns(t, play(t, restored, 40, someInput))
				if a != b {
					t.Fatalf("cut at %d: restored simulation diverged", cut)
				}
				if c := encodeTurns(t, play(t, parsed, 40, someInput)); c != a {
					t.Fatalf("cut at %d: simulation restored from the parsed scenario diverged", cut)
				}
			}
		})
	}
}

func TestRestoreRejectsOtherScenario(t *testing.T) {
	a, b := mustBuiltin(t, "heronsalt"), mustBuiltin(t, "hollin")
	state, err := startSim(t, a, 1, Options{}).State()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreSim(b, 1, state, Options{}); err == nil {
		t.Fatal("restored a heronsalt state into hollin")
	}
	if _, err := RestoreParsed(b, 1, state, Options{}); err == nil {
		t.Fatal("restored a heronsalt state into hollin, without validating it again")
	}
	if _, err := RestoreSim(a, 1, []byte("{"), Options{}); err == nil {
		t.Fatal("restored from broken JSON")
	}
}

func TestStateHashChangesAndRepeats(t *testing.T) {
	sc := mustBuiltin(t, "coldwater")
	turns := play(t, startSim(t, sc, 3, Options{}), 10, nil)
	seen := map[string]bool{}
	for _, tr := range turns {
		if len(tr.StateHash) != 64 {
			t.Fatalf("turn %d: state hash %q", tr.Seq, tr.StateHash)
		}
		if seen[tr.StateHash] {
			t.Fatalf("turn %d: repeated state hash", tr.Seq)
		}
		seen[tr.StateHash] = true
	}
}

// neverDecider never returns until the test ends.
type neverDecider struct{ done chan struct{} }

func (d neverDecider) Decide(ctx context.Context, p Perception) (Action, error) {
	<-d.done
	return Action{Kind: ActWait}, nil
}

type errDecider struct{}

func (errDecider) Decide(context.Context, Perception) (Action, error) {
	return Action{}, fmt.Errorf("model unavailable")
}

func TestHangingDeciderFallsBack(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	sc := mustBuiltin(t, "heronsalt")
	s := startSim(t, sc, 5, Options{Decider: neverDecider{done}, DecisionTimeout: 20 * time.Millisecond})
	start := time.Now()
	for range 3 {
		tr, err := s.Step(context.Background(), map[string]Action{"wren": {Kind: ActWait}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tr.Events {
			if e.Actor == "wren" && e.Source != SourcePlayer {
				t.Fatalf("player action lost: %+v", e)
			}
			if e.Actor != "wren" && e.Source != SourceAI && e.Source != SourceScript {
				t.Fatalf("hanging decider's action was used: %+v", e)
			}
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("three turns took %v with a 20ms decision timeout", el)
	}
	// The fallback is the built-in decider, so the story is the same one.
	want := encodeTurns(t, play(t, startSim(t, sc, 5, Options{}), 3, func(int64) map[string]Action {
		return map[string]Action{"wren": {Kind: ActWait}}
	}))
	s2 := startSim(t, sc, 5, Options{Decider: errDecider{}})
	got := encodeTurns(t, play(t, s2, 3, func(int64) map[string]Action {
		return map[string]Action{"wren": {Kind: ActWait}}
	}))
	if got != want {
		t.Fatal("an erring decider did not fall back to the built-in choices")
	}
}

func TestStepAfterCancel(t *testing.T) {
	s := startSim(t, mustBuiltin(t, "hollin"), 1, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Step(ctx, nil); err == nil {
		t.Fatal("step with a cancelled context succeeded")
	}
	if s.Seq() != 0 {
		t.Fatal("a refused step advanced the simulation")
	}
}

func TestBuiltinsRunToTheEnd(t *testing.T) {
	for _, sc := range Builtins() {
		t.Run(sc.ID, func(t *testing.T) {
			resolved, total := 0, 0
			lengths := 0
			for seed := int64(0); seed < 50; seed++ {
				s := startSim(t, sc, seed, Options{})
				turns := play(t, s, 200, nil)
				total++
				lengths += len(turns)
				if !s.Finished() {
					continue
				}
				if w := s.w.Ending; w != "cap" && w != "last-standing" {
					resolved++
				}
				last := turns[len(turns)-1]
				if !last.Finished {
					t.Fatalf("seed %d: last turn not marked finished", seed)
				}
				if _, err := s.Step(context.Background(), nil); err != ErrFinished {
					t.Fatalf("seed %d: step after the end: %v", seed, err)
				}
			}
			t.Logf("%s: %d/%d ended by resolution, mean length %.1f turns", sc.ID, resolved, total, float64(lengths)/float64(total))
			if resolved*10 < total*9 {
				t.Fatalf("only %d of %d runs ended by resolution", resolved, total)
			}
		})
	}
}

func TestBuiltinsMeetTheBrief(t *testing.T) {
	scs := Builtins()
	if len(scs) < 3 {
		t.Fatalf("%d built-in scenarios, want at least 3", len(scs))
	}
	genres := map[string]bool{}
	for i, sc := range scs {
		if i > 0 && scs[i-1].ID >= sc.ID {
			t.Fatal("built-ins not sorted by id")
		}
		genres[sc.Genre] = true
		if len(sc.Characters) < 5 || len(sc.Locations) < 6 || len(sc.Events) < 3 {
			t.Errorf("%s: %d characters, %d locations, %d events", sc.ID, len(sc.Characters), len(sc.Locations), len(sc.Events))
		}
		if len(sc.End) == 0 {
			t.Errorf("%s: no end conditions", sc.ID)
		}
		sum := sc.Summary()
		if sum.ID != sc.ID || sum.Characters != len(sc.Characters) || sum.Locations != len(sc.Locations) {
			t.Errorf("%s: summary %+v", sc.ID, sum)
		}
	}
	if len(genres) != len(scs) {
		t.Errorf("genres repeat: %v", genres)
	}
	if _, ok := Builtin("no-such"); ok {
		t.Error("found a scenario that does not exist")
	}
}

func TestViews(t *testing.T) {
	s := startSim(t, mustBuiltin(t, "heronsalt"), 1, Options{})
	if s.Title() == "" || !s.HasCharacter("wren") || s.HasCharacter("nobody") {
		t.Fatal("title or characters wrong")
	}
	// The magistrate is off stage until he arrives.
	for _, c := range s.Characters() {
		if c.ID == "keel" {
			t.Fatal("offstage character listed")
		}
	}
	if len(s.Locations()) != 9 {
		t.Fatalf("%d locations", len(s.Locations()))
	}
	for _, l := range s.Locations() {
		if l.ID == "quay" && !reflect.DeepEqual(l.Exits, []string{"causeway", "inn", "saltpans"}) {
			t.Fatalf("quay exits both ways: %v", l.Exits)
		}
	}
	kinds := s.ActionKinds()
	for _, k := range []string{ActMove, ActSpeak, ActWait} {
		if !strings.Contains(strings.Join(kinds, ","), k) {
			t.Fatalf("kinds %v lack %s", kinds, k)
		}
	}
}

func TestValidateAction(t *testing.T) {
	s := startSim(t, mustBuiltin(t, "heronsalt"), 1, Options{})
	// Wren and Sabeth start in the inn; Tamsin and Dace on the quay.
	tests := []struct {
		char string
		a    Action
		want string // "" for valid
	}{
		{"wren", Action{Kind: ActMove, Target: "quay"}, ""},
		{"wren", Action{Kind: ActMove, Target: "lighthouse"}, "not adjacent"},
		{"wren", Action{Kind: ActMove, Target: "atlantis"}, "unknown location"},
		{"wren", Action{Kind: ActSpeak, Text: "hello"}, ""},
		{"wren", Action{Kind: ActSpeak, Target: "sabeth", Text: "hello"}, ""},
		{"wren", Action{Kind: ActSpeak, Target: "tamsin"}, "not here"},
		{"wren", Action{Kind: ActSpeak, Target: "ghost"}, "unknown target"},
		{"wren", Action{Kind: ActSpeak, Text: strings.Repeat("é", 501)}, "more than 500"},
		{"wren", Action{Kind: ActSpeak, Text: strings.Repeat("é", 500)}, ""},
		{"wren", Action{Kind: "dance"}, "unknown action kind"},
		{"wren", Action{Kind: ActAttack, Target: "sabeth"}, ""},
		{"wren", Action{Kind: ActAttack, Target: "wren"}, "themselves"},
		{"wren", Action{Kind: ActAttack}, "needs a target"},
		{"wren", Action{Kind: ActHelp, Target: "dace"}, "not here"},
		{"wren", Action{Kind: ActTake, Target: "cordial"}, ""},
		{"wren", Action{Kind: ActTake, Target: "ledger"}, "not here"},
		{"wren", Action{Kind: ActTake, Target: "crown"}, "unknown item"},
		{"wren", Action{Kind: ActGive, Target: "sabeth"}, "nothing to give"},
		{"tamsin", Action{Kind: ActGive, Target: "dace", Text: "cudgel"}, ""},
		{"wren", Action{Kind: ActSearch}, ""},
		{"wren", Action{Kind: ActWait}, ""},
		{"keel", Action{Kind: ActWait}, "not arrived"},
		{"nobody", Action{Kind: ActWait}, "unknown character"},
	}
	for _, tt := range tests {
		err := s.ValidateAction(tt.char, tt.a)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s %+v: unexpected error %v", tt.char, tt.a, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s %+v: error %v, want %q", tt.char, tt.a, err, tt.want)
		}
	}
	// A dead actor.
	s.w.Chars[0].Alive = false
	if err := s.ValidateAction("wren", Action{Kind: ActWait}); err == nil || !strings.Contains(err.Error(), "dead") {
		t.Errorf("dead actor: %v", err)
	}
}

func TestPlayerActionReplacesDecision(t *testing.T) {
	s := startSim(t, mustBuiltin(t, "heronsalt"), 1, Options{})
	tr, err := s.Step(context.Background(), map[string]Action{
		"wren":   {Kind: ActSpeak, Text: "Pour me something strong."},
		"sabeth": {Kind: ActMove, Target: "lighthouse"}, // not adjacent: falls back to the AI
	})
	if err != nil {
		t.Fatal(err)
	}
	var wren, sabeth *Event
	for i := range tr.Events {
		switch tr.Events[i].Actor {
		case "wren":
			wren = &tr.Events[i]
		case "sabeth":
			sabeth = &tr.Events[i]
		}
	}
	if wren == nil || wren.Source != SourcePlayer || wren.Kind != ActSpeak || wren.Text != "Pour me something strong." {
		t.Fatalf("wren's event: %+v", wren)
	}
	if sabeth == nil || sabeth.Source != SourceAI {
		t.Fatalf("sabeth's invalid action was not replaced: %+v", sabeth)
	}
	if !strings.Contains(tr.Narrative, "Pour me something strong") {
		t.Fatalf("the player's words are not in the story: %s", tr.Narrative)
	}
}

func TestRenderMarkdown(t *testing.T) {
	sc := mustBuiltin(t, "hollin")
	s := startSim(t, sc, 7, Options{})
	turns := play(t, s, 200, nil)
	md := RenderMarkdown(sc.Title, sc.Premise, turns)
	if !strings.HasPrefix(md, "# "+sc.Title+"\n") {
		t.Fatalf("no title: %.80s", md)
	}
	for _, tr := range turns {
		if tr.Narrative == "" {
			t.Fatalf("turn %d has no narrative", tr.Seq)
		}
	}
	if !strings.Contains(md, "* * *") || !strings.Contains(md, "The end.") {
		t.Fatal("no scene breaks or no ending")
	}
}
