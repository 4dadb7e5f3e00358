// What the built-in chronicler says about each sentence it tells (its
// template, the record it tells, the people it names and the claims it
// makes about the world), and a snapshot of the world those claims can be
// checked against. The storycheck package measures stories with both.

package engine

import "slices"

// Sentence is what the built-in chronicler knows of one sentence it
// told. Other chroniclers leave Narration.Sentences empty.
type Sentence struct {
	Text string
	// Key is the template used ("move.goal#3"), Family its family
	// ("move.goal"); a scenario's own text has the family "verbatim".
	Key    string
	Family string
	// Record is the index in Scene.Records of the record the sentence
	// tells, -1 for none (a phase lead).
	Record int
	// Subject is the person the sentence is about, if one; People,
	// everyone it names or points at.
	Subject string
	People  []string
	// Cause reports that the sentence says why (a cause or a memory).
	Cause bool
	// Claims are what the sentence asserts about the world beyond the
	// deed it tells.
	Claims []Claim
}

// Claim is one assertion a told sentence makes about the world, to be
// checked against the world as the turn left it.
type Claim struct {
	Kind  string
	Who   string
	Other string
	Item  string
	Place string
	Fact  string
	// Detail refines Kind: for ClaimGladRecall the kind of the memory
	// recalled.
	Detail string
}

// Claim kinds.
const (
	// ClaimHolds: Who holds Item.
	ClaimHolds = "holds"
	// ClaimHeld: Who held Item at some time ("had lost it").
	ClaimHeld = "held"
	// ClaimHanded: Who put Item into Other's hands this turn.
	ClaimHanded = "handed"
	// ClaimDelivered: Who stands at Place, where Item now lies.
	ClaimDelivered = "delivered"
	// ClaimTogether: Who and Other are face to face, in one place.
	ClaimTogether = "together"
	// ClaimGladRecall: Who, glad of Other, recalls a memory of kind
	// Detail as the reason.
	ClaimGladRecall = "glad-recall"
	// ClaimFailed: Who failed at a goal about Item (Other is the goal).
	ClaimFailed = "failed"
	// ClaimNews: Who learns news of what Other did or has, or Fact.
	ClaimNews = "news"
)

// claim notes a claim the next sentence makes.
func (t *teller) claim(c Claim) { t.claims = append(t.claims, c) }

// FamilyVerbatim is the family of a scenario's own text told as written.
const FamilyVerbatim = "verbatim"

// Snapshot is the state of the world after a turn, as far as the
// checks of a story need it.
type Snapshot struct {
	Seq      int64
	Finished bool
	Ending   string
	// Verdict is the ending decided, during the aftermath and after;
	// Victor the character it favours ("" if none).
	Verdict    string
	Victor     string
	Characters []CharacterSnapshot
	Items      []ItemSnapshot
}

// CharacterSnapshot is one character in a Snapshot.
type CharacterSnapshot struct {
	ID       string
	Faction  string
	Location string
	Health   int
	Alive    bool
	Onstage  bool
	// Goals: each goal's status, in scenario order.
	Goals []string
	// Bands: the relationship band (-2..2) towards each other
	// character, in scenario order (0 towards itself).
	Bands []int
}

// ItemSnapshot is one item in a Snapshot.
type ItemSnapshot struct {
	ID       string
	Holder   string
	Location string
	Fixed    bool
}

// Snapshot returns the state of the world after the last turn.
func (s *Sim) Snapshot() Snapshot {
	w := s.w
	sn := Snapshot{Seq: w.Seq, Finished: w.Finished, Ending: w.Ending, Verdict: w.Verdict}
	if w.Finished && sn.Verdict == "" {
		sn.Verdict = w.Ending
	}
	if sn.Verdict != "" {
		if vi := s.victor(); vi >= 0 {
			sn.Victor = w.Chars[vi].ID
		}
	}
	for i, c := range w.Chars {
		cs := CharacterSnapshot{
			ID: c.ID, Faction: s.sc.Characters[i].Faction, Location: c.Loc,
			Health: c.Health, Alive: c.Alive, Onstage: c.Onstage,
			Bands: make([]int, len(w.Chars)),
		}
		for _, g := range c.Goals {
			cs.Goals = append(cs.Goals, g.Status)
		}
		for j, o := range w.Chars {
			if j != i {
				cs.Bands[j] = relationBand(c.Rel[o.ID])
			}
		}
		sn.Characters = append(sn.Characters, cs)
	}
	for _, it := range w.Items {
		sn.Items = append(sn.Items, ItemSnapshot{ID: it.ID, Holder: it.Holder, Location: it.Loc, Fixed: it.Fixed})
	}
	return sn
}

// Changed reports whether a turn of a story of sc changed something
// that matters, from before to after: the holder or place of a thing some
// goal is about, anyone's health or life, a goal's status or a
// relationship band. A carried thing is where its carrier is (the
// snapshot leaves its own place empty), so carrying the prize from one
// place to another moves it. The story checks count told turns by it.
func (sc *Scenario) Changed(before, after *Snapshot) bool {
	for k := range before.Items {
		a, b := &before.Items[k], &after.Items[k]
		if sc.isPrize(a.ID) && (a.Holder != b.Holder || before.placeOf(a) != after.placeOf(b)) {
			return true
		}
	}
	for k := range before.Characters {
		a, b := &before.Characters[k], &after.Characters[k]
		if a.Health != b.Health || a.Alive != b.Alive || !slices.Equal(a.Goals, b.Goals) || !slices.Equal(a.Bands, b.Bands) {
			return true
		}
	}
	return false
}

// isPrize reports whether some goal is to obtain or deliver the item.
func (sc *Scenario) isPrize(item string) bool {
	for _, c := range sc.Characters {
		for _, g := range c.Goals {
			if g.Item == item && (g.Kind == GoalObtain || g.Kind == GoalDeliver) {
				return true
			}
		}
	}
	return false
}

// placeOf is where a thing is: its own place, or its carrier's.
func (sn *Snapshot) placeOf(it *ItemSnapshot) string {
	if it.Holder != "" {
		for k := range sn.Characters {
			if sn.Characters[k].ID == it.Holder {
				return sn.Characters[k].Location
			}
		}
	}
	return it.Location
}

// exportSentences turns what the teller knows of its sentences into the
// exported form.
func exportSentences(told []toldSentence) []Sentence {
	out := make([]Sentence, len(told))
	for k, ts := range told {
		out[k] = Sentence{
			Text: ts.text, Key: ts.key, Family: ts.family, Record: ts.rec,
			Subject: ts.subject, People: ts.people, Cause: ts.cause, Claims: ts.claims,
		}
	}
	return out
}
