package storycheck

import (
	"testing"

	"github.com/novel-engine/novel-engine/engine"
)

func heronsalt(t *testing.T) *worldIndex {
	t.Helper()
	sc, ok := engine.Builtin("heronsalt")
	if !ok {
		t.Fatal("no heronsalt")
	}
	return newWorldIndex(sc)
}

// world builds a snapshot of heronsalt with everyone at loc and the
// ledger held by holder.
func world(w *worldIndex, loc, holder string) engine.Snapshot {
	var sn engine.Snapshot
	for _, c := range w.sc.Characters {
		cs := engine.CharacterSnapshot{ID: c.ID, Faction: c.Faction, Location: loc, Onstage: true, Alive: true, Bands: make([]int, len(w.sc.Characters))}
		for range c.Goals {
			cs.Goals = append(cs.Goals, engine.GoalActive)
		}
		sn.Characters = append(sn.Characters, cs)
	}
	for _, it := range w.sc.Items {
		is := engine.ItemSnapshot{ID: it.ID}
		if it.ID == "ledger" {
			is.Holder = holder
		}
		sn.Items = append(sn.Items, is)
	}
	return sn
}

func TestCheckClaim(t *testing.T) {
	w := heronsalt(t)
	pt := &playedTurn{after: world(w, "quay", "wren")}
	held := map[[2]string]bool{{"wren", "ledger"}: true}
	for _, c := range []struct {
		claim engine.Claim
		want  string
	}{
		{engine.Claim{Kind: engine.ClaimHolds, Who: "wren", Item: "ledger"}, ""},
		{engine.Claim{Kind: engine.ClaimHolds, Who: "dace", Item: "ledger"}, ClassWonNotHeld},
		{engine.Claim{Kind: engine.ClaimHeld, Who: "wren", Item: "ledger"}, ""},
		{engine.Claim{Kind: engine.ClaimHeld, Who: "dace", Item: "ledger"}, ClassLostNeverHeld},
		{engine.Claim{Kind: engine.ClaimTogether, Who: "wren", Other: "dace"}, ""},
		{engine.Claim{Kind: engine.ClaimHanded, Who: "wren", Other: "keel", Item: "ledger"}, ClassWonNotHeld},
		{engine.Claim{Kind: engine.ClaimGladRecall, Who: "wren", Other: "dace", Detail: engine.ActAttack}, ClassGladHostile},
		{engine.Claim{Kind: engine.ClaimGladRecall, Who: "wren", Other: "dace", Detail: engine.ActHelp}, ""},
		{engine.Claim{Kind: engine.ClaimNews, Who: "wren", Other: "wren"}, ClassNewsToDoer},
		{engine.Claim{Kind: engine.ClaimNews, Who: "wren", Fact: "wren_has_ledger"}, ClassNewsToDoer},
		{engine.Claim{Kind: engine.ClaimNews, Who: "dace", Fact: "wren_has_ledger"}, ""},
		{engine.Claim{Kind: engine.ClaimFailed, Who: "dace", Other: "recover", Item: "ledger"}, ""},
	} {
		if got := w.checkClaim(c.claim, pt, nil, held); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.claim, got, c.want)
		}
	}
	// Apart, a face-to-face line is false.
	pt.after.Characters[w.char["dace"]].Location = "inn"
	if got := w.checkClaim(engine.Claim{Kind: engine.ClaimTogether, Who: "wren", Other: "dace"}, pt, nil, held); got != ClassFaceApart {
		t.Errorf("together, apart: got %q", got)
	}
	// Won by an ally: "failed" is false.
	pt.after.Characters[w.char["wren"]].Goals[0] = engine.GoalWon
	if got := w.checkClaim(engine.Claim{Kind: engine.ClaimFailed, Who: "dace", Other: "recover", Item: "ledger"}, pt, nil, held); got != ClassFailedWon {
		t.Errorf("failed while an ally won: got %q", got)
	}
	// Handed over by whoever gave it.
	pt.after.Items[w.items["ledger"]].Holder = "keel"
	pt.scene.Records = []engine.Record{{Kind: engine.ActGive, Actor: "dace", Target: "keel", Item: "ledger", Outcome: engine.OutcomeSuccess}}
	if got := w.checkClaim(engine.Claim{Kind: engine.ClaimHanded, Who: "wren", Other: "keel", Item: "ledger"}, pt, nil, held); got != ClassWonWrongActor {
		t.Errorf("handed by another: got %q", got)
	}
	if got := w.checkClaim(engine.Claim{Kind: engine.ClaimHanded, Who: "dace", Other: "keel", Item: "ledger"}, pt, nil, held); got != "" {
		t.Errorf("handed by the giver: got %q", got)
	}
}

func TestTextChecks(t *testing.T) {
	w := heronsalt(t)
	for _, c := range []struct {
		line, listener string
		want           bool
	}{
		{"Stand aside. Reeve's business.", "osric", true},
		{"Stand aside. Reeve's business.", "wren", false},
		{"This island eats from my hand, clerk. Remember it.", "wren", false},
		{"This island eats from my hand, clerk. Remember it.", "tamsin", true},
		{"Tide's turning. It always does.", "osric", false},
	} {
		if got := w.misaddressed(c.line, c.listener); got != c.want {
			t.Errorf("%q to %s: misaddressed %v, want %v", c.line, c.listener, got, c.want)
		}
	}
	for s, want := range map[string]bool{
		"Sabeth Crane bound his wounds, because islanders look after their own.": true,
		"Osric Pell hit the ferryman, for no reason anyone could name.":          true,
		"The reeve's informer came running.":                                     false,
		"Osric Pell, the harbour reeve, spat.":                                   false,
		"Then osric left.":                                                       true,
		"The bailiff handed Osric Pell crown and all.":                           false,
	} {
		if got := w.machinery(s) != ""; got != want {
			t.Errorf("%q: machinery %v, want %v", s, got, want)
		}
	}
	// "company" is a faction's id at Coldwater, and a plain word after a
	// pronoun as after a name.
	sc, _ := engine.Builtin("coldwater")
	cw := newWorldIndex(sc)
	for s, want := range map[string]bool{
		"The pilot kept them company for a while.":     false,
		"Anselm Quist kept the pilot company.":         false,
		"The pilot said the company would never come.": false,
	} {
		if got := cw.machinery(s) != ""; got != want {
			t.Errorf("coldwater %q: machinery %v, want %v", s, got, want)
		}
	}
	if got := familyOf("move.goal.far#3"); got != "move.goal" {
		t.Errorf("family of move.goal.far#3: %q", got)
	}
	if w.firstUnintroduced([]string{"The bailiff came in.", "Tamsin Vole, the bailiff, sat down."}) != "The bailiff came in." {
		t.Error("a role before its introduction passes")
	}
	if w.firstUnintroduced([]string{"Tamsin Vole, the bailiff, came in.", "The bailiff sat down."}) != "" {
		t.Error("a role after its introduction fails")
	}
	if w.shape("Wren Hallowby took the harbourmaster's ledger to the quay.") != w.shape("The bailiff took a bailiff's cudgel to the lime kiln.") {
		t.Error("names, places and items are not replaced in shapes")
	}
}

// TestChangedCarried: carrying the prize to another place changes
// something (the goal object's place); the carrier walking alone, or
// everyone staying put, does not.
func TestChangedCarried(t *testing.T) {
	w := heronsalt(t)
	moved := func(holder, who string) bool {
		a, b := world(w, "quay", holder), world(w, "quay", holder)
		b.Characters[w.char[who]].Location = "kiln"
		return w.sc.Changed(&a, &b)
	}
	if !moved("wren", "wren") {
		t.Error("the ledger carried from the quay to the kiln did not count as a change")
	}
	if moved("wren", "dace") {
		t.Error("someone walking without the ledger counted as a change")
	}
	if a, b := world(w, "quay", "wren"), world(w, "quay", "wren"); w.sc.Changed(&a, &b) {
		t.Error("a turn where nothing moved counted as a change")
	}
}
