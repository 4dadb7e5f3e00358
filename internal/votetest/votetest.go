// Package votetest gives tests of audience votes a story with a choice of
// twists early on.
package votetest

import (
	"encoding/json"
	"testing"

	"github.com/novel-engine/novel-engine/engine"
)

// Scenario returns, as JSON under the given id, the built-in hollin with
// two quiet events ready from turn 2 ("omen" and "thaw"), so that its
// director has twists to offer (a vote) from the second turn.
func Scenario(tb testing.TB, id string) []byte {
	tb.Helper()
	base, ok := engine.Builtin("hollin")
	if !ok {
		tb.Fatal("no built-in scenario hollin")
	}
	b, err := json.Marshal(base)
	if err != nil {
		tb.Fatal(err)
	}
	sc, err := engine.ParseScenario(b) // a copy: the built-in is shared
	if err != nil {
		tb.Fatal(err)
	}
	sc.ID = id
	when := []engine.Condition{{Kind: "turn", Turn: 2}}
	sc.Events = append(sc.Events,
		engine.ScriptedEvent{ID: "omen", Trigger: engine.Trigger{When: when}, Effect: engine.Effect{Kind: "message", Tension: 0.05,
			Text: "A raven sat on the mill roof all afternoon and would not be driven off."}},
		engine.ScriptedEvent{ID: "thaw", Trigger: engine.Trigger{When: when}, Effect: engine.Effect{Kind: "message", Tension: 0.02,
			Text: "Water ran under the snow on the ford road, loud in the quiet."}},
	)
	if err := sc.Validate(); err != nil {
		tb.Fatal(err)
	}
	if b, err = json.Marshal(sc); err != nil {
		tb.Fatal(err)
	}
	return b
}
