// Resolving speech: addresses, refusals, asking for a wanted thing, telling
// a friend where it is, sharing facts; and how learning a fact changes a
// persona.

package engine

import "strings"

func (s *Sim) resolveSpeak(t *turnState, i, ti int, text string, r *Record, ev *Event) {
	c, d := s.w.Chars[i], &s.sc.Characters[i]
	line := func() string {
		if text != "" {
			return text
		}
		if len(d.Voice) == 0 {
			return ""
		}
		return d.Voice[t.plot.IntN(len(d.Voice))]
	}
	if ti < 0 || r.Target == "" {
		ev.Text = line()
		r.Text, r.Detail = ev.Text, "address"
		for _, o := range s.w.Chars {
			if o.Alive && o.Onstage && o.Loc == c.Loc && o != c {
				s.shiftAffinity(o, c.ID, 0.02+0.04*s.trait(s.geo.charIndex[o.ID], "empathy"))
			}
		}
		return
	}
	tc := s.w.Chars[ti]
	if tc.Rel[c.ID] < -0.45 {
		ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "refuse"
		ev.Text = line()
		r.Text = ev.Text
		s.shiftAffinity(c, tc.ID, -0.05)
		if m := recall(tc, func(m memory) bool { return m.Actor == c.ID && m.Target == tc.ID && m.Kind != ActSpeak }); m != nil {
			r.Callback = m.callback()
		}
		return
	}
	s.shiftAffinity(tc, c.ID, 0.05+0.08*s.trait(ti, "empathy"))
	s.shiftAffinity(c, tc.ID, 0.03+0.05*s.trait(i, "empathy"))
	// Ask for something wanted that the other holds; not of a friend on
	// the same side, who is keeping it safe already.
	ally := d.Faction != "" && d.Faction == s.sc.Characters[ti].Faction && c.Rel[tc.ID] >= 0.25
	for _, it := range tc.Inv {
		if !s.wants(i, it) || (ally && s.wants(ti, it)) {
			continue
		}
		r.Item = it
		if !s.wants(ti, it) && tc.Rel[c.ID] >= 0.35 {
			tc.drop(it)
			c.Inv = append(c.Inv, it)
			s.w.Items[s.geo.itemIndex[it]].Holder = c.ID
			r.Detail = "persuade"
			s.witness(t, c.Loc, ActGive, tc.ID, c.ID, it, 0.7)
		} else {
			ev.Outcome, r.Outcome, r.Detail = OutcomePartial, OutcomePartial, "denied"
			t.tension += 0.03
		}
		ev.Text = line()
		r.Text = ev.Text
		return
	}
	// Tell a friend where to find what they are after.
	if (c.Rel[tc.ID] >= 0.1 || s.sameSide(i, tc.ID)) && text == "" {
		for _, it := range s.w.Items {
			where := c.Seen[it.ID]
			if where == "" || where == tc.ID || where == tc.Seen[it.ID] || !s.wants(ti, it.ID) {
				continue
			}
			loc := strings.TrimPrefix(where, "@")
			holder := ""
			if !strings.HasPrefix(where, "@") {
				holder, loc = where, c.Met[where]
				if where == c.ID {
					loc = c.Loc
				}
				if loc == "" {
					continue
				}
				tc.Met[holder] = loc
			}
			tc.Seen[it.ID] = where
			r.Detail, r.Item, r.CauseRef, r.From = "whereabouts", it.ID, holder, loc
			ev.Text = ""
			s.shiftAffinity(tc, c.ID, 0.06)
			s.witness(t, c.Loc, "told", c.ID, tc.ID, it.ID, 0.5)
			return
		}
	}
	// Share what the speaker knows and the listener does not.
	if c.Rel[tc.ID] >= 0.1 && text == "" {
		var share string
		for _, f := range c.Knows {
			if tc.knows(f) {
				continue
			}
			fd := &s.sc.Facts[s.geo.factIndex[f]]
			if fd.About == tc.ID {
				continue
			}
			share = f
			if s.hasLearnGoal(ti, f) {
				break
			}
		}
		if share != "" {
			s.learnFact(ti, share)
			r.Detail, r.Item = "fact", ""
			r.Text = s.sc.Facts[s.geo.factIndex[share]].Text
			r.CauseRef = share
			ev.Text = r.Text
			s.witness(t, c.Loc, "told", c.ID, tc.ID, "", 0.5)
			return
		}
	}
	ev.Text = line()
	r.Text, r.Detail = ev.Text, "talk"
	s.witness(t, c.Loc, ActSpeak, c.ID, tc.ID, "", 0.2)
}

func (s *Sim) hasLearnGoal(i int, fact string) bool {
	for _, g := range s.sc.Characters[i].Goals {
		if g.Kind == GoalLearn && g.Fact == fact {
			return true
		}
	}
	return false
}

// learnFact teaches character i a fact; a fact about someone sways how
// the learner feels about them.
func (s *Sim) learnFact(i int, fact string) bool {
	c := s.w.Chars[i]
	if !c.learn(fact) {
		return false
	}
	fd := &s.sc.Facts[s.geo.factIndex[fact]]
	if fd.About != "" && fd.About != c.ID && fd.Sway != 0 {
		s.shiftAffinity(c, fd.About, fd.Sway)
	}
	if fd.Item != "" && !c.holds(fd.Item) {
		switch {
		case fd.Location != "":
			c.Seen[fd.Item] = "@" + fd.Location
		case fd.Holder != "" && fd.Holder != c.ID:
			c.Seen[fd.Item] = fd.Holder
			// Word of who has it says where they were seen.
			if _, h := s.charByID(fd.Holder); h.Onstage {
				c.Met[h.ID] = h.Loc
			}
		}
	}
	return true
}
