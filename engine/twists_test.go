package engine

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"
)

// twistScenario is hollin with two quiet events ready from turn 2, so
// the director has a choice to offer early.
func twistScenario(tb testing.TB) *Scenario {
	tb.Helper()
	b, err := json.Marshal(mustBuiltin(tb, "hollin"))
	if err != nil {
		tb.Fatal(err)
	}
	sc, err := ParseScenario(b)
	if err != nil {
		tb.Fatal(err)
	}
	when := []Condition{{Kind: "turn", Turn: 2}}
	sc.Events = append(sc.Events,
		ScriptedEvent{ID: "omen", Trigger: Trigger{When: when}, Effect: Effect{Kind: "message", Tension: 0.05,
			Text: "A raven sat on the mill roof all afternoon and would not be driven off."}},
		ScriptedEvent{ID: "thaw", Trigger: Trigger{When: when}, Effect: Effect{Kind: "message", Tension: 0.02,
			Text: "Water ran under the snow on the ford road, loud in the quiet."}},
	)
	if err := sc.Validate(); err != nil {
		tb.Fatal(err)
	}
	return sc
}

// untilTwists plays turns until the director has twists to offer.
func untilTwists(tb testing.TB, s *Sim) []Twist {
	tb.Helper()
	for range 10 {
		if tw := s.Twists(); len(tw) > 0 {
			return tw
		}
		play(tb, s, 1, nil)
	}
	tb.Fatal("no twists offered in 10 turns")
	return nil
}

func firedScripts(turn Turn) []string {
	var out []string
	for _, e := range turn.Events {
		if e.Source == SourceScript {
			out = append(out, e.Text)
		}
	}
	return out
}

func TestTwistsOffered(t *testing.T) {
	sc := twistScenario(t)
	s := startSim(t, sc, 7, Options{})
	tw := untilTwists(t, s)
	if len(tw) < 2 || len(tw) > maxTwists {
		t.Fatalf("offered %d twists, want 2 or 3: %+v", len(tw), tw)
	}
	ids := make([]string, len(tw))
	for i, x := range tw {
		ids[i] = x.ID
		if x.Label == "" || x.Kind == "" {
			t.Errorf("twist %q has no label or kind: %+v", x.ID, x)
		}
	}
	if !slices.Contains(ids, "omen") || !slices.Contains(ids, "thaw") {
		t.Errorf("offered %v, want omen and thaw among them", ids)
	}
	// The same world offers the same twists.
	state, _ := s.State()
	again, err := RestoreSim(sc, 7, state, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Twists(); encodeJSON(t, got) != encodeJSON(t, tw) {
		t.Errorf("restored world offers %+v, want %+v", got, tw)
	}
}

// Each choice plays its event, the same input replays to the same turn,
// and holding back plays none.
func TestTwistChoicePlaysAndReplays(t *testing.T) {
	sc := twistScenario(t)
	s := startSim(t, sc, 7, Options{})
	untilTwists(t, s)
	state, _ := s.State()
	texts := map[string]string{}
	for _, e := range sc.Events {
		texts[e.ID] = e.Effect.Text
	}
	for _, choice := range []string{"omen", "thaw", QuietTwist} {
		in := map[string]Action{DirectorInput: {Kind: ActTwist, Target: choice}}
		var turns []Turn
		for range 2 {
			r, err := RestoreSim(sc, 7, state, Options{})
			if err != nil {
				t.Fatal(err)
			}
			turn, err := r.Step(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			turns = append(turns, turn)
		}
		if encodeJSON(t, turns[0]) != encodeJSON(t, turns[1]) {
			t.Errorf("choice %s: the same input played two different turns", choice)
		}
		fired := firedScripts(turns[0])
		switch choice {
		case QuietTwist:
			if slices.Contains(fired, texts["omen"]) || slices.Contains(fired, texts["thaw"]) {
				t.Errorf("held back, yet fired %q", fired)
			}
		default:
			if !slices.Contains(fired, texts[choice]) {
				t.Errorf("chose %s, fired %q", choice, fired)
			}
		}
	}
}

// A choice that names no event that may fire leaves the director's own.
func TestTwistUnknownChoiceIsTheDirectors(t *testing.T) {
	sc := twistScenario(t)
	s := startSim(t, sc, 7, Options{})
	untilTwists(t, s)
	state, _ := s.State()
	step := func(in map[string]Action) Turn {
		r, err := RestoreSim(sc, 7, state, Options{})
		if err != nil {
			t.Fatal(err)
		}
		turn, err := r.Step(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		return turn
	}
	own := step(nil)
	odd := step(map[string]Action{DirectorInput: {Kind: ActTwist, Target: "no-such-event"}})
	if own.StateHash != odd.StateHash {
		t.Errorf("an unknown choice changed the turn")
	}
}

func TestTwistLabel(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Short. Second sentence.", "Short."},
		{"No stop", "No stop"},
		{"Ünïcödé wörds " + "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé", ""},
	} {
		got := twistLabel(c.in)
		if c.want != "" && got != c.want {
			t.Errorf("twistLabel(%q) = %q, want %q", c.in, got, c.want)
		}
		if len(got) > 110 || !utf8.ValidString(got) {
			t.Errorf("twistLabel(%q) = %q: too long or not text", c.in, got)
		}
	}
}

func encodeJSON(tb testing.TB, v any) string {
	tb.Helper()
	return string(mustMarshal(tb, v))
}

func mustMarshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
