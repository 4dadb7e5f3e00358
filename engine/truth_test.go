package engine

import (
	"context"
	"testing"
)

// waitDecider has everyone wait, so a test sets the scene and only the
// world answers.
type waitDecider struct{}

func (waitDecider) Decide(context.Context, Perception) (Action, error) {
	return Action{Kind: ActWait}, nil
}

// scenes keeps the records the chronicler was given.
type scenes struct{ all []Scene }

func (r *scenes) Narrate(ctx context.Context, sc Scene) (Narration, error) {
	r.all = append(r.all, sc)
	return defaultChronicler.Narrate(ctx, sc)
}

// give puts an item into a character's hands, where they stand.
func give(s *Sim, who, item, at string) {
	_, c := s.charByID(who)
	c.Loc, c.Inv = at, append(c.Inv, item)
	it := s.w.Items[s.geo.itemIndex[item]]
	it.Holder, it.Loc, it.Hidden = who, "", false
}

func goalRecord(sc []Scene, actor, goal string) *Record {
	for _, s := range sc {
		for k := range s.Records {
			if r := &s.Records[k]; r.Kind == "goal" && r.Actor == actor && r.CauseRef == goal {
				return r
			}
		}
	}
	return nil
}

// A scenario's line for a goal won says the goal's own character did
// it; when an ally did, the line that is told says who.
func TestWonByAnAllyIsToldAsSuch(t *testing.T) {
	rec := &scenes{}
	s := startSim(t, mustBuiltin(t, "heronsalt"), 1, Options{Decider: waitDecider{}, Chronicler: rec})
	give(s, "wren", "ledger", "inn")
	if _, err := s.Step(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	r := goalRecord(rec.all, "dace", "recover")
	if r == nil || r.Detail != GoalWon {
		t.Fatalf("dace's goal to keep the ledger from the reeve: %+v, want won", r)
	}
	if r.Cause != "side" || r.Target != "wren" {
		t.Errorf("won by wren's hand, told as cause %q target %q (text %q)", r.Cause, r.Target, r.Text)
	}
}

// An ally who carries the thing where a goal wanted it wins that goal
// too, and the thing stays where it was carried.
func TestDeliveredByAnAlly(t *testing.T) {
	rec := &scenes{}
	s := startSim(t, mustBuiltin(t, "heronsalt"), 1, Options{Decider: waitDecider{}, Chronicler: rec})
	s.w.Flags = append(s.w.Flags, "kiln_hot")
	give(s, "osric", "ledger", "kiln")
	_, tamsin := s.charByID("tamsin")
	tamsin.Loc = "inn"
	if _, err := s.Step(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	it := s.w.Items[s.geo.itemIndex["ledger"]]
	if !it.Fixed || it.Loc != "kiln" || it.Holder != "" {
		t.Errorf("the burned ledger is at %q held by %q (fixed %v), want at the kiln", it.Loc, it.Holder, it.Fixed)
	}
	r := goalRecord(rec.all, "tamsin", "fetch")
	if r == nil || r.Detail != GoalWon || r.Cause != "side" || r.Target != "osric" {
		t.Errorf("the bailiff's goal to win the reeve his ledger: %+v, want won by osric", r)
	}
}

// The verdict of an ending on a thing lying somewhere favours whoever
// carried it there.
func TestVictorOfAThingCarriedHome(t *testing.T) {
	s := startSim(t, mustBuiltin(t, "hollin"), 1, Options{})
	it := s.w.Items[s.geo.itemIndex["lantern"]]
	it.Holder, it.Loc, it.Fixed, it.Hidden = "", "camp", true, false
	bi, b := s.charByID("brannagh")
	b.Goals[0].Status, b.Goals[0].Turn = GoalWon, 40
	// Someone else won something later: not who the verdict favours.
	_, ilse := s.charByID("ilse")
	ilse.Goals[0].Status, ilse.Goals[0].Turn = GoalWon, 45
	s.w.Verdict = "taken"
	if got := s.victor(); got != bi {
		t.Errorf("victor of the lantern taken to the camp: %d, want brannagh (%d)", got, bi)
	}
}

func TestLinesFitTheirListener(t *testing.T) {
	s := startSim(t, mustBuiltin(t, "heronsalt"), 1, Options{})
	idx := func(id string) int { i, _ := s.charByID(id); return i }
	for _, c := range []struct {
		line, to string
		fits     bool
	}{
		{"Stand aside. Reeve's business.", "osric", false},
		{"Stand aside. Reeve's business.", "wren", true},
		{"This island eats from my hand, clerk. Remember it.", "wren", true},
		{"This island eats from my hand, clerk. Remember it.", "tamsin", false},
		{"Tide's turning. It always does.", "osric", true},
	} {
		if got := s.fitsListener(c.line, idx(c.to)); got != c.fits {
			t.Errorf("%q to %s: fits %v, want %v", c.line, c.to, got, c.fits)
		}
	}
}
