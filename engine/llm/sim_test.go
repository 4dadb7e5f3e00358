package llm

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
)

// pickOption plays a model that reads its options: it picks one of them
// by a hash of the prompt, with the first target and item listed.
func pickOption(_ *http.Request, req chatRequest) (int, string) {
	u := req.Messages[1].Content
	_, opts, ok := strings.Cut(u, "Your options this turn:\n")
	if !ok {
		return http.StatusOK, "no options?"
	}
	var lines []string
	for _, l := range strings.Split(opts, "\n") {
		if strings.HasPrefix(l, "- ") {
			lines = append(lines, l[2:])
		}
	}
	h := sha256.Sum256([]byte(u))
	l := lines[int(h[0])%len(lines)]
	kind, rest, _ := strings.Cut(l, ":")
	first := func(after string) string {
		_, s, ok := strings.Cut(rest, after)
		if !ok {
			return ""
		}
		s = strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '(' })[0]
		return s
	}
	ans := answer{Kind: kind, Target: first("target one of: "), Why: "It fits."}
	switch kind {
	case engine.ActSpeak:
		ans.Text = "We should not linger here."
	case engine.ActGive:
		ans.Text = first("text one of: ")
	}
	b, _ := json.Marshal(ans)
	return http.StatusOK, string(b)
}

func runStory(t *testing.T, d engine.Decider, turns int) []engine.Event {
	t.Helper()
	sc := engine.Builtins()[0]
	sim, err := engine.NewSim(sc, 11, engine.Options{Decider: d, DecisionTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var events []engine.Event
	for range turns {
		turn, err := sim.Step(context.Background(), nil)
		if err == engine.ErrFinished {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, turn.Events...)
	}
	return events
}

func countSources(evs []engine.Event) map[string]int {
	n := map[string]int{}
	for _, e := range evs {
		n[e.Source]++
	}
	return n
}

func TestStoryRunsOnTheModel(t *testing.T) {
	f := newFakeModel(t, pickOption)
	d := newDecider(t, Options{URL: f.URL})
	events := runStory(t, d, 12)
	n := countSources(events)
	if n[engine.SourceLLM] == 0 {
		t.Fatalf("no llm events: %v", n)
	}
	// Every answer is valid, so the engine never falls back.
	if n[engine.SourceAI] != 0 {
		for _, e := range events {
			if e.Source == engine.SourceAI {
				t.Errorf("fell back for %+v", e)
			}
		}
		t.Fatalf("sources %v", n)
	}
	kinds := map[string]bool{}
	for _, e := range events {
		if e.Source == engine.SourceLLM {
			kinds[e.Kind] = true
		}
	}
	if len(kinds) < 3 {
		t.Fatalf("the model's choices were not followed: kinds %v", kinds)
	}
	if d.Used() == 0 {
		t.Fatal("no tokens counted")
	}
}

func TestStoryFallsBackWhenTheModelFails(t *testing.T) {
	f := newFakeModel(t, func(*http.Request, chatRequest) (int, string) {
		return http.StatusInternalServerError, "out of memory"
	})
	d := newDecider(t, Options{URL: f.URL})
	n := countSources(runStory(t, d, 6))
	if n[engine.SourceLLM] != 0 || n[engine.SourceAI] == 0 {
		t.Fatalf("sources %v", n)
	}
	if f.requests() == 0 {
		t.Fatal("the model was never asked")
	}
}

func TestStoryFallsBackWhenTheBudgetIsSpent(t *testing.T) {
	f := newFakeModel(t, pickOption)
	f.tokens = 1000
	d := newDecider(t, Options{URL: f.URL, Budget: 1})
	sc := engine.Builtins()[0]
	sim, err := engine.NewSim(sc, 11, engine.Options{Decider: d, DecisionTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The first turn spends the budget (every persona asks at once).
	first, err := sim.Step(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	asked := f.requests()
	var later []engine.Event
	for range 4 {
		turn, err := sim.Step(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		later = append(later, turn.Events...)
	}
	if n := countSources(first.Events); n[engine.SourceLLM] == 0 {
		t.Fatalf("first turn sources %v", n)
	}
	if n := countSources(later); n[engine.SourceLLM] != 0 || n[engine.SourceAI] == 0 {
		t.Fatalf("later sources %v", n)
	}
	if f.requests() != asked {
		t.Fatalf("asked %d more times after the budget was spent", f.requests()-asked)
	}
}
