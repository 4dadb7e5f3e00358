// Keeping the told story true: the director decides, when it records a
// goal won, a goal that slipped, a reaction or the epilogue, which form
// of the line is true of the world (the goal's own character did it, or
// an ally did; face to face, or by word), and the chronicler tells that
// form. A scenario's own line for a goal won is told only when the
// goal's own character did it.

package engine

import "strings"

// wonBy says who won a goal of character ci that was just won: the
// character itself (own), or else the ally who did it ("" if none can be
// named).
func (s *Sim) wonBy(t *turnState, ci int, g *Goal) (own bool, by string) {
	c := s.w.Chars[ci]
	switch g.Kind {
	case GoalObtain:
		it := s.w.Items[s.geo.itemIndex[g.Item]]
		if it.Holder == c.ID {
			return true, ""
		}
		if it.Holder != "" {
			return false, it.Holder
		}
		return false, s.deliveredBy(ci, g.Item)
	case GoalDeliver:
		if g.Target == "" {
			if c.holds(g.Item) || s.w.Items[s.geo.itemIndex[g.Item]].Holder == "" && c.Loc == g.Location && s.deliveredBy(ci, g.Item) == c.ID {
				return true, ""
			}
			return false, s.deliveredBy(ci, g.Item)
		}
		giver := s.handedTo(t, g.Target, g.Item)
		return giver == c.ID, giver
	case GoalDefeat, GoalBefriend:
		_, tc := s.charByID(g.Target)
		return tc.Onstage && tc.Loc == c.Loc, ""
	}
	return true, ""
}

// handedTo is who put item into to's hands this turn (a gift, or giving
// in to a request), "" if nobody did.
func (s *Sim) handedTo(t *turnState, to, item string) string {
	for k := len(t.recs) - 1; k >= 0; k-- {
		r := &t.recs[k]
		if r.Outcome != OutcomeSuccess || r.Item != item {
			continue
		}
		switch {
		case r.Kind == ActGive && r.Target == to:
			return r.Actor
		case r.Kind == ActSpeak && r.Detail == "persuade" && r.Actor == to:
			return r.Target
		}
	}
	return ""
}

// deliveredBy is the character of ci's side whose goal to deliver item
// was won, "" if none.
func (s *Sim) deliveredBy(ci int, item string) string {
	for oi, o := range s.w.Chars {
		if !s.sameSide(ci, o.ID) {
			continue
		}
		for j, g := range s.sc.Characters[oi].Goals {
			if g.Kind == GoalDeliver && g.Item == item && o.Goals[j].Status == GoalWon {
				return o.ID
			}
		}
	}
	return ""
}

// sideWon names the ally who won what a lost goal of character ci
// wanted of its thing: a character of ci's side whose goal on the same
// thing was won, or the character a scenario ending favours, if of ci's
// side. "" if the side did not win it.
func (s *Sim) sideWon(ci int, g *Goal) string {
	if g.Kind != GoalObtain && g.Kind != GoalDeliver {
		return ""
	}
	for oi, o := range s.w.Chars {
		if oi == ci || !s.sameSide(ci, o.ID) {
			continue
		}
		for j, og := range s.sc.Characters[oi].Goals {
			if og.Item == g.Item && (og.Kind == GoalObtain || og.Kind == GoalDeliver) && o.Goals[j].Status == GoalWon {
				return o.ID
			}
		}
	}
	if s.scenarioEnding(s.w.Verdict) {
		if vi := s.victor(); vi >= 0 && vi != ci && s.sameSide(ci, s.w.Chars[vi].ID) {
			return s.w.Chars[vi].ID
		}
	}
	return ""
}

// scenarioEnding reports whether id is one of the scenario's own
// endings (not resolution, cap or last-standing).
func (s *Sim) scenarioEnding(id string) bool {
	for _, e := range s.sc.End {
		if e.ID == id {
			return true
		}
	}
	return false
}

// hostileMemory reports whether a memory is of harm: not a reason to be
// glad of anyone.
func hostileMemory(kind string) bool {
	switch kind {
	case ActAttack, ActTake, "death", "steal":
		return true
	}
	return false
}

// fitsListener reports whether a line of a character's voice can be
// said to listener: it does not speak of the listener's role in the
// third person ("Reeve's business" to the reeve), nor call the listener
// by another's role ("…, clerk." to the bailiff).
func (s *Sim) fitsListener(line string, listener int) bool {
	low := strings.ToLower(line)
	for i, r := range s.geo.roles {
		if r.word == "" {
			continue
		}
		if i == listener {
			if strings.Contains(low, r.poss) || strings.Contains(low, r.the) {
				return false
			}
			continue
		}
		if callsBy(low, r.voc) {
			return false
		}
	}
	return true
}

// roleWords are the forms of a character's role word a line is checked
// for: "reeve", "reeve's", "the reeve", ", reeve".
type roleWords struct{ word, poss, the, voc string }

func newRoleWords(role string) roleWords {
	w := roleWord(role)
	if w == "" {
		return roleWords{}
	}
	return roleWords{word: w, poss: w + "'s", the: "the " + w, voc: ", " + w}
}

// roleWord is the last word of a role ("reeve" of "harbour reeve",
// "clerk" of "tide-clerk"), lower case.
func roleWord(role string) string {
	ws := strings.FieldsFunc(strings.ToLower(role), func(r rune) bool { return r == ' ' || r == '-' })
	if len(ws) == 0 {
		return ""
	}
	return ws[len(ws)-1]
}

// callsBy reports whether a line (lower case) calls someone by a role
// word: voc is ", clerk", and a stop or comma follows it.
func callsBy(low, voc string) bool {
	for rest := low; ; {
		k := strings.Index(rest, voc)
		if k < 0 {
			return false
		}
		rest = rest[k+len(voc):]
		if rest != "" && strings.ContainsRune(".!?,", rune(rest[0])) {
			return true
		}
	}
}
