// Endings: when the story is decided, its aftermath of reactions, and the
// closing of every goal when it finishes.

package engine

// checkEnd finishes the story on a scenario end condition, on goal
// outcomes (every goal that can resolve has), when at most one
// character still stands, or, as a fallback, long after the planned
// length. An ending by condition or resolution is first decided, and
// the story plays its aftermath before it finishes; if the verdict
// stops holding meanwhile, the story goes on.
func (s *Sim) checkEnd(t *turnState) {
	w := s.w
	text, id := s.endingThatHolds(t.seq)
	switch {
	case id == "" && w.Decided != 0:
		// The verdict no longer holds: the story goes on.
		t.recs = append(t.recs, Record{Kind: "reversal", Detail: w.Verdict, Outcome: OutcomeSuccess, Source: SourceScript})
		t.tension += 0.15
		w.Decided, w.Verdict = 0, ""
		return
	case id == "":
		return
	case id != "last-standing" && id != "cap" && w.Decided != 0 && id != w.Verdict:
		// Another ending holds now (the thing changed hands after all):
		// the verdict turns, and its aftermath starts again.
		t.recs = append(t.recs, Record{Kind: "reversal", Detail: w.Verdict, Outcome: OutcomeSuccess, Source: SourceScript})
		t.tension += 0.15
		w.Decided, w.Verdict = t.seq, id
		return
	case id != "last-standing" && id != "cap" && w.Decided == 0:
		// The decisive moment: the story plays its aftermath first.
		w.Decided, w.Verdict = t.seq, id
		return
	case id != "last-standing" && id != "cap" && t.seq-w.Decided < s.aftermathTurns():
		s.reactToVerdict(t)
		return
	}
	s.finish(t, id, text)
}

// endingThatHolds finds the ending the world has come to, if any: the
// first scenario end condition that holds (with its closing text), or
// else last-standing, resolution or cap.
func (s *Sim) endingThatHolds(seq int64) (text, id string) {
	for _, e := range s.sc.End {
		all := true
		for _, c := range e.When {
			if !s.conditionHolds(c, seq) {
				all = false
				break
			}
		}
		if all {
			return e.Text, e.ID
		}
	}
	standing, open, goals := 0, false, 0
	for ci, c := range s.w.Chars {
		if !c.Onstage {
			continue
		}
		if c.Alive {
			standing++
		}
		for j, g := range s.sc.Characters[ci].Goals {
			goals++
			if c.Goals[j].Status == GoalActive && g.Kind != GoalProtect {
				open = true
			}
		}
	}
	switch {
	case standing <= 1 && len(s.w.Chars) > 1:
		return "", "last-standing"
	case !open && goals > 0 && seq >= 5:
		return "", "resolution"
	case seq >= int64(3*s.plannedLength()):
		return "", "cap"
	}
	return "", ""
}

// finish ends the story: whatever is still open resolves now
// (protected people who stand are a goal won), and every character's
// goals are recorded for the epilogue.
func (s *Sim) finish(t *turnState, id, text string) {
	w := s.w
	w.Finished, w.Ending = true, id
	// Whatever is still open resolves now; protected people who stand are
	// a goal won.
	for ci, c := range w.Chars {
		for j := range c.Goals {
			if c.Goals[j].Status != GoalActive {
				continue
			}
			g := &s.sc.Characters[ci].Goals[j]
			st := GoalLost
			if g.Kind == GoalProtect && c.Alive {
				if _, tc := s.charByID(g.Target); tc.Alive {
					st = GoalWon
				}
			}
			if !c.Onstage {
				continue
			}
			c.Goals[j].Status, c.Goals[j].Turn = st, t.seq
		}
	}
	t.recs = append(t.recs, Record{Kind: "ending", Detail: id, Text: text, Outcome: OutcomeSuccess})
	for ci, c := range w.Chars {
		if !c.Onstage {
			continue
		}
		for j, g := range s.sc.Characters[ci].Goals {
			r := Record{Kind: "outcome", Actor: c.ID, Target: g.Target, Item: g.Item, Place: g.Location, Detail: c.Goals[j].Status, Text: g.Text, Outcome: OutcomeSuccess, CauseRef: g.ID}
			// A goal lost while an ally won the thing: the verdict is
			// the side's, and the epilogue says who won it.
			if r.Detail == GoalLost {
				if by := s.sideWon(ci, &g); by != "" {
					r.Cause, r.Target = "side", by
				}
			}
			t.recs = append(t.recs, r)
		}
	}
}

// aftermathTurns is how many turns the story runs on after its outcome is
// decided: time for consequences and reactions.
func (s *Sim) aftermathTurns() int64 {
	return max(4, s.w.Decided/8)
}

// victor is who the verdict favours: the character named by the first
// fitting condition of the ending that holds, or for a resolution the
// last to win a goal.
func (s *Sim) victor() int {
	for _, e := range s.sc.End {
		if e.ID != s.w.Verdict {
			continue
		}
		for _, c := range e.When {
			switch c.Kind {
			case "goal", "at", "holds":
				if ci, ok := s.geo.charIndex[c.Character]; ok {
					return ci
				}
			case "item_at":
				if h := s.w.Items[s.geo.itemIndex[c.Item]].Holder; h != "" {
					return s.geo.charIndex[h]
				}
				// Lying there: whoever carried it there.
				for ci, ch := range s.sc.Characters {
					for j, g := range ch.Goals {
						if g.Kind == GoalDeliver && g.Item == c.Item && g.Location == c.Location && s.w.Chars[ci].Goals[j].Status == GoalWon {
							return ci
						}
					}
				}
			}
		}
	}
	best, at := -1, int64(-1)
	for ci, c := range s.w.Chars {
		for _, g := range c.Goals {
			if g.Status == GoalWon && g.Turn > at {
				best, at = ci, g.Turn
			}
		}
	}
	return best
}

// reactToVerdict plays one turn of the aftermath: two of those with a
// stake in the outcome take it well or badly, towards whoever it favoured,
// and remember why.
func (s *Sim) reactToVerdict(t *turnState) {
	wi := s.victor()
	if wi < 0 {
		return
	}
	win := s.w.Chars[wi]
	var who []int
	for ci, c := range s.w.Chars {
		if ci == wi || !c.Onstage || !c.Alive {
			continue
		}
		stake := s.sameSide(wi, c.ID)
		for j, g := range s.sc.Characters[ci].Goals {
			if (g.Kind == GoalObtain || g.Kind == GoalDeliver) && c.Goals[j].Status != GoalWon {
				for _, wg := range s.sc.Characters[wi].Goals {
					if wg.Item == g.Item {
						stake = true
					}
				}
			}
			if g.Target == win.ID {
				stake = true
			}
		}
		if stake {
			who = append(who, ci)
		}
	}
	k := int(t.seq-s.w.Decided-1) * 2
	for n := k; n < k+2 && n < len(who); n++ {
		ci := who[n]
		c := s.w.Chars[ci]
		r := Record{Kind: "reaction", Actor: c.ID, Target: win.ID, Outcome: OutcomeSuccess, Source: SourceScript}
		glad := s.sameSide(wi, c.ID)
		if glad {
			r.Detail, r.Amount = "glad", 1
			s.shiftAffinity(c, win.ID, 0.25)
			s.shiftAffinity(win, c.ID, 0.1)
		} else {
			r.Detail, r.Amount = "bitter", -1
			s.shiftAffinity(c, win.ID, -0.3)
		}
		// Face to face only where they both are; elsewhere word reaches.
		if c.Loc != win.Loc {
			r.Place = c.Loc
			r.From = "word"
		}
		if m := recall(c, func(m memory) bool {
			return m.Turn <= t.seq-3 && (m.Actor == win.ID || m.Target == win.ID) && m.Kind != ActSpeak && m.Kind != "pickup" &&
				(!glad || !hostileMemory(m.Kind))
		}); m != nil {
			r.Callback = m.callback()
		}
		t.recs = append(t.recs, r)
	}
}
