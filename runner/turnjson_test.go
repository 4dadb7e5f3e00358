package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
)

// checkTurnJSON fails unless appendTurn writes what json.Marshal writes.
func checkTurnJSON(t *testing.T, msg *storedTurn) {
	t.Helper()
	want, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := appendTurn([]byte("kept"), msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte("kept")) || !bytes.Equal(got[4:], want) {
		t.Fatalf("appendTurn wrote\n%s\nencoding/json writes\n%s", got, want)
	}
}

// The hand-written encoding of a turn is byte for byte encoding/json's,
// on the built-in stories' turns, with players' inputs and a vote.
func TestAppendTurnIsJSON(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 29, 23, 30, 1, 120300000, time.UTC)
	for _, sc := range engine.Builtins() {
		for seed := int64(1); seed <= 3; seed++ {
			sim, err := engine.NewSim(sc, seed, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for !sim.Finished() && sim.Seq() < 40 {
				var inputs map[string]engine.Action
				if sim.Seq()%3 == 1 {
					inputs = map[string]engine.Action{sc.Characters[0].ID: {Kind: engine.ActWait}}
				}
				var vote *VoteResult
				if tw := sim.Twists(); len(tw) > 0 {
					vote = &VoteResult{Options: tw, Counts: map[string]int{tw[0].ID: 2}, Ballots: 2, Chosen: tw[0].ID}
					if inputs == nil {
						inputs = map[string]engine.Action{}
					}
					inputs = withTwist(inputs, vote)
				}
				turn, err := sim.Step(ctx, inputs)
				if err != nil {
					t.Fatal(err)
				}
				at = at.Add(time.Second + time.Duration(sim.Seq())*time.Microsecond)
				checkTurnJSON(t, &storedTurn{Sim: sc.ID + "-x", At: at, Turn: turn, Inputs: inputs, Vote: vote})
			}
		}
	}
}

// Every optional field and every character an escape is needed for.
func TestAppendTurnEdges(t *testing.T) {
	odd := "a <b> & \"c\" \\ \t\n\x01 \u2028\u2029 é \xff\xe2\x80 \U0001F600"
	cases := []storedTurn{
		{},
		{Sim: odd, At: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 5400))},
		{Turn: engine.Turn{Seq: -3, Events: []engine.Event{}, Characters: []engine.CharacterState{}, Finished: true}},
		{Turn: engine.Turn{Seq: 1 << 40, Narrative: odd, StateHash: odd,
			Events:     []engine.Event{{Actor: odd, Kind: odd, Target: odd, Text: odd, Outcome: odd, Source: odd}, {}},
			Characters: []engine.CharacterState{{ID: odd, Location: odd, Health: -7, Alive: true}, {}}},
			Inputs: map[string]engine.Action{odd: {Kind: odd, Target: odd, Text: odd}, "b": {}, "a": {Kind: "wait"}},
		},
		{Inputs: map[string]engine.Action{}, Vote: &VoteResult{Director: true, Options: []engine.Twist{{ID: odd, Tension: 1e-9}}}},
	}
	for i := range cases {
		checkTurnJSON(t, &cases[i])
	}
	// A year JSON has no time for is refused, as by encoding/json.
	if _, err := appendTurn(nil, &storedTurn{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Fatal("a time past year 9999 was encoded")
	}
}
