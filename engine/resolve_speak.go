// Resolving speech: addresses, refusals, asking for a wanted thing, telling
// a friend where it is, sharing facts; and how learning a fact changes a
// persona.

package engine

import "strings"

// resolveSpeak has character i speak: to everyone here, or to character
// ti, who may refuse to listen, be asked for a wanted thing, be told
// where one is or a fact, or just be talked to.
func (s *Sim) resolveSpeak(t *turnState, i, ti int, text string, r *Record, ev *Event) {
	c := s.w.Chars[i]
	if ti < 0 || r.Target == "" {
		s.speakToAll(t, i, text, r, ev)
		return
	}
	tc := s.w.Chars[ti]
	if tc.Rel[c.ID] < -0.45 {
		s.refuseToListen(t, i, ti, text, r, ev)
		return
	}
	s.shiftAffinity(tc, c.ID, 0.05+0.08*s.trait(ti, "empathy"))
	s.shiftAffinity(c, tc.ID, 0.03+0.05*s.trait(i, "empathy"))
	if s.askForWanted(t, i, ti, text, r, ev) {
		return
	}
	// Tell a friend where to find what they are after.
	if (c.Rel[tc.ID] >= 0.1 || s.sameSide(i, tc.ID)) && text == "" && s.tellWhereabouts(t, i, ti, r, ev) {
		return
	}
	// Share what the speaker knows and the listener does not.
	if c.Rel[tc.ID] >= 0.1 && text == "" && s.shareFact(t, i, ti, r, ev) {
		return
	}
	ev.Text = s.spokenLine(t, i, ti, text)
	r.Text, r.Detail = ev.Text, "talk"
	s.witness(t, c.Loc, ActSpeak, c.ID, tc.ID, "", 0.2)
}

// spokenLine is what character i says to listener (-1 for everyone
// here): the player's text, or else a line drawn from the character's
// voice, one that can be said to that listener; "" if none can.
func (s *Sim) spokenLine(t *turnState, i, listener int, text string) string {
	if text != "" {
		return text
	}
	d := &s.sc.Characters[i]
	if len(d.Voice) == 0 {
		return ""
	}
	line := d.Voice[t.plot.IntN(len(d.Voice))]
	if listener >= 0 && !s.fitsListener(line, listener) {
		return ""
	}
	return line
}

// speakToAll has character i address everyone here, who warm to the
// speaker a little.
func (s *Sim) speakToAll(t *turnState, i int, text string, r *Record, ev *Event) {
	c := s.w.Chars[i]
	ev.Text = s.spokenLine(t, i, -1, text)
	r.Text, r.Detail = ev.Text, "address"
	for _, o := range s.w.Chars {
		if o.Alive && o.Onstage && o.Loc == c.Loc && o != c {
			s.shiftAffinity(o, c.ID, 0.02+0.04*s.trait(s.geo.charIndex[o.ID], "empathy"))
		}
	}
}

// refuseToListen: character ti, who hates character i, turns away,
// remembering why.
func (s *Sim) refuseToListen(t *turnState, i, ti int, text string, r *Record, ev *Event) {
	c, tc := s.w.Chars[i], s.w.Chars[ti]
	ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "refuse"
	ev.Text = s.spokenLine(t, i, ti, text)
	r.Text = ev.Text
	s.shiftAffinity(c, tc.ID, -0.05)
	if m := recall(tc, func(m memory) bool { return m.Actor == c.ID && m.Target == tc.ID && m.Kind != ActSpeak }); m != nil {
		r.Callback = m.callback()
	}
}

// askForWanted has character i ask character ti for a thing i wants
// that ti holds; ti gives it if ti does not want it and likes i well
// enough. A friend on the same side is not asked: they are keeping it
// safe already. It reports whether i asked.
func (s *Sim) askForWanted(t *turnState, i, ti int, text string, r *Record, ev *Event) bool {
	c, d, tc := s.w.Chars[i], &s.sc.Characters[i], s.w.Chars[ti]
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
		ev.Text = s.spokenLine(t, i, ti, text)
		r.Text = ev.Text
		return true
	}
	return false
}

// tellWhereabouts has character i tell character ti where a thing ti
// is after was last seen, if ti does not know it already. It reports
// whether i told.
func (s *Sim) tellWhereabouts(t *turnState, i, ti int, r *Record, ev *Event) bool {
	c, tc := s.w.Chars[i], s.w.Chars[ti]
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
		return true
	}
	return false
}

// shareFact has character i tell character ti a fact ti does not know,
// one ti has a goal to learn first. A secret about ti is not news to
// them. It reports whether i told one.
func (s *Sim) shareFact(t *turnState, i, ti int, r *Record, ev *Event) bool {
	c, tc := s.w.Chars[i], s.w.Chars[ti]
	var share string
	for _, f := range c.Knows {
		if tc.knows(f) {
			continue
		}
		fd := &s.sc.Facts[s.geo.factIndex[f]]
		if fd.About == tc.ID || fd.Holder == tc.ID {
			continue
		}
		share = f
		if s.hasLearnGoal(ti, f) {
			break
		}
	}
	if share == "" {
		return false
	}
	s.learnFact(ti, share)
	r.Detail, r.Item = "fact", ""
	r.Text = s.sc.Facts[s.geo.factIndex[share]].Text
	r.CauseRef = share
	ev.Text = r.Text
	s.witness(t, c.Loc, "told", c.ID, tc.ID, "", 0.5)
	return true
}

// hasLearnGoal reports whether character i has a goal to learn fact.
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
	// A fact tells where a thing was when the story began; what the
	// character saw or heard of it since is newer, and stands.
	if fd.Item != "" && !c.holds(fd.Item) && c.Seen[fd.Item] == "" {
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
