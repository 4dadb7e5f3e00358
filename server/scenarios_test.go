package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// TestInlineScenarioOwnership: a scenario is kept only with a story that
// was created, and an id that names another user's scenario is refused
// instead of running theirs; the same scenario again is fine.
func TestInlineScenarioOwnership(t *testing.T) {
	st := store.NewMemory()
	_, hs := newTestServer(t, st, Config{})
	sc, _ := engine.Builtin(firstBuiltin())
	mine := *sc
	mine.ID = "mine"
	body := func(sc engine.Scenario, interval int) string {
		b, _ := json.Marshal(map[string]any{"scenario": sc, "turn_interval_ms": interval})
		return string(b)
	}
	tok := guestToken(t, hs.URL, "")
	// Refused (bad interval): nothing kept.
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations", tok, "", body(mine, 1)); code != 400 {
		t.Fatalf("bad interval: %d %v", code, out)
	}
	if _, err := st.GetScenario(t.Context(), "mine"); err == nil {
		t.Fatal("the scenario of a refused create was kept")
	}
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations", tok, "", body(mine, 60000)); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	if _, err := st.GetScenario(t.Context(), "mine"); err != nil {
		t.Fatalf("the scenario of a created story was not kept: %v", err)
	}
	if code, _, out := call(t, "POST", hs.URL+"/v1/simulations", tok, "", body(mine, 60000)); code != 201 {
		t.Fatalf("the same scenario again: %d %v", code, out)
	}
	theirs := mine
	theirs.Title = "Another story altogether"
	code, _, out := call(t, "POST", hs.URL+"/v1/simulations", guestToken(t, hs.URL, ""), "", body(theirs, 60000))
	if code != 409 || errCode(out) != CodeConflict || !strings.Contains(out["error"].(map[string]any)["message"].(string), "another id") {
		t.Fatalf("another scenario under a taken id: %d %v", code, out)
	}
}
