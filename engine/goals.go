// Goals: what each character wants, whose side holds what, and how goals
// are won, lost, reconciled or slip away again.

package engine

// wants reports whether character c has an active goal on item.
func (s *Sim) wants(ci int, item string) bool {
	c := s.w.Chars[ci]
	if s.w.Items[s.geo.itemIndex[item]].Fixed {
		return false
	}
	for j, g := range s.sc.Characters[ci].Goals {
		if g.Item == item && c.Goals[j].Status == GoalActive && (g.Kind == GoalObtain || g.Kind == GoalDeliver) {
			return true
		}
	}
	return false
}

// updateGoals resolves goals that were won or lost this turn.
func (s *Sim) updateGoals(t *turnState) {
	for pass := 0; pass < 2; pass++ {
		for ci, c := range s.w.Chars {
			if !c.Onstage {
				continue
			}
			for j := range c.Goals {
				gs := &c.Goals[j]
				g := &s.sc.Characters[ci].Goals[j]
				if gs.Status == GoalWon && g.Kind == GoalObtain && pass == 0 && !s.w.Finished {
					s.recheckObtain(t, ci, j)
				}
				if gs.Status != GoalActive {
					continue
				}
				st := s.goalStatus(ci, g)
				if (st == GoalWon || st == GoalReconciled) && !s.requirementsMet(g, t.seq) {
					st = GoalActive
				}
				if st == GoalActive {
					continue
				}
				gs.Status, gs.Turn = st, t.seq
				r := Record{Kind: "goal", Actor: c.ID, Target: g.Target, Item: g.Item, Place: g.Location, Detail: st, Outcome: OutcomeSuccess, CauseRef: g.ID, Text: g.Text}
				switch st {
				case GoalWon, GoalReconciled:
					t.tension -= 0.1
					if gs.Slipped > 0 {
						// Won back: the scripted passage was told the first time.
						r.Detail, r.Amount = "regained", gs.Slipped
						r.Target = ""
						break
					}
					if st != GoalWon {
						break
					}
					// The scenario's line, and the plain one, say the
					// character did it; when an ally did, the line says so.
					if own, by := s.wonBy(t, ci, g); !own {
						r.Cause, r.Target = "side", by
					} else if g.Won != "" {
						r.Text = g.Won
						r.Cause = "scripted"
					}
				case GoalLost:
					t.tension += 0.05
					if g.Lost != "" {
						r.Text = g.Lost
						r.Cause = "scripted"
					}
				}
				if st == GoalWon && g.Kind == GoalDeliver {
					// The thing has reached its place, or its rightful
					// hands, and stays there.
					it := s.w.Items[s.geo.itemIndex[g.Item]]
					if g.Target == "" && c.holds(g.Item) {
						c.drop(g.Item)
						it.Holder, it.Loc = "", c.Loc
					}
					it.Fixed = true
				}
				t.recs = append(t.recs, r)
			}
		}
	}
}

// sameSide reports whether holder is character ci or one of its side.
func (s *Sim) sameSide(ci int, holder string) bool {
	if holder == "" {
		return false
	}
	if holder == s.w.Chars[ci].ID {
		return true
	}
	f := s.sc.Characters[ci].Faction
	hi, ok := s.geo.charIndex[holder]
	return ok && f != "" && s.sc.Characters[hi].Faction == f
}

// settledByFriend reports whether a fixed item was put where it is by
// character ci's side: held by one of them, or delivered by one of them.
func (s *Sim) settledByFriend(ci int, item string) bool {
	it := s.w.Items[s.geo.itemIndex[item]]
	if s.sameSide(ci, it.Holder) {
		return true
	}
	for oi, o := range s.w.Chars {
		if !s.sameSide(ci, o.ID) {
			continue
		}
		for j, g := range s.sc.Characters[oi].Goals {
			if g.Kind == GoalDeliver && g.Item == item && o.Goals[j].Status == GoalWon {
				return true
			}
		}
	}
	return false
}

// recheckObtain looks again at a won obtain goal: a thing got is only
// got while it stays in friendly hands. Taken by the other side, the goal
// is open again and its character goes after it; settled for good by the
// other side, it is lost.
func (s *Sim) recheckObtain(t *turnState, ci, j int) {
	c := s.w.Chars[ci]
	g := &s.sc.Characters[ci].Goals[j]
	gs := &c.Goals[j]
	if !c.Alive {
		return
	}
	it := s.w.Items[s.geo.itemIndex[g.Item]]
	if s.sameSide(ci, it.Holder) || (it.Fixed && s.settledByFriend(ci, g.Item)) {
		return
	}
	r := Record{Kind: "goal", Actor: c.ID, Target: it.Holder, Item: g.Item, Outcome: OutcomeSuccess, CauseRef: g.ID, Text: g.Text}
	if it.Fixed {
		gs.Status, gs.Turn = GoalLost, t.seq
		r.Detail = GoalLost
		if g.Lost != "" {
			r.Text, r.Cause = g.Lost, "scripted"
		}
		t.tension += 0.05
	} else {
		gs.Status, gs.Turn = GoalActive, 0
		gs.Slipped++
		r.Detail = "slipped"
		// Who lost it: the character, or the ally who had it.
		if was := t.holders[s.geo.itemIndex[g.Item]]; was != "" && was != c.ID {
			r.With = []string{was}
		}
		if m := recall(c, func(m memory) bool { return m.Item == g.Item && m.Turn < t.seq }); m != nil {
			r.Callback = m.callback()
		}
		t.tension += 0.08
	}
	t.recs = append(t.recs, r)
}

func (s *Sim) goalStatus(ci int, g *Goal) string {
	c := s.w.Chars[ci]
	if !c.Alive {
		return GoalLost
	}
	if g.After != "" {
		for j, o := range s.sc.Characters[ci].Goals {
			if o.ID != g.After {
				continue
			}
			switch c.Goals[j].Status {
			case GoalActive:
				return GoalActive
			case GoalLost:
				return GoalLost
			}
		}
	}
	itemGone := func() bool {
		it := s.w.Items[s.geo.itemIndex[g.Item]]
		return it.Fixed && it.Holder != c.ID && (g.Target == "" || it.Holder != g.Target)
	}
	switch g.Kind {
	case GoalObtain:
		if c.holds(g.Item) || s.sameSide(ci, s.w.Items[s.geo.itemIndex[g.Item]].Holder) {
			return GoalWon
		}
		if itemGone() {
			if s.settledByFriend(ci, g.Item) {
				return GoalWon
			}
			return GoalLost
		}
	case GoalDeliver:
		if g.Target != "" {
			if _, tc := s.charByID(g.Target); tc.Alive && tc.holds(g.Item) {
				return GoalWon
			}
			if _, tc := s.charByID(g.Target); tc.Onstage && !tc.Alive {
				return GoalLost
			}
		} else if c.holds(g.Item) && c.Loc == g.Location {
			return GoalWon
		}
		if itemGone() {
			// Carried where this goal wanted it by an ally: done.
			if it := s.w.Items[s.geo.itemIndex[g.Item]]; g.Target == "" && it.Holder == "" && it.Loc == g.Location && s.deliveredBy(ci, g.Item) != "" {
				return GoalWon
			}
			return GoalLost
		}
	case GoalReach:
		if c.Loc == g.Location {
			return GoalWon
		}
	case GoalDefeat:
		_, tc := s.charByID(g.Target)
		if !tc.Alive {
			return GoalWon
		}
		if c.Rel[g.Target] >= 0.3 && tc.Rel[c.ID] >= 0.3 {
			return GoalReconciled
		}
	case GoalProtect:
		_, tc := s.charByID(g.Target)
		if tc.Onstage && !tc.Alive {
			return GoalLost
		}
		if s.w.Finished {
			return GoalWon
		}
	case GoalBefriend:
		_, tc := s.charByID(g.Target)
		if tc.Onstage && !tc.Alive {
			return GoalLost
		}
		if c.Rel[g.Target] >= 0.5 && tc.Rel[c.ID] >= 0.45 {
			return GoalWon
		}
		if tc.Rel[c.ID] <= -0.75 {
			return GoalLost
		}
	case GoalLearn:
		if c.knows(g.Fact) {
			return GoalWon
		}
	}
	return GoalActive
}
