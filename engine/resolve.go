// Resolving deeds: the dispatch of each character's action by kind, with
// the simple deeds (move, give, help, wait) and what every deed shares
// (who witnessed it). Larger deeds have their own resolve_*.go file.

package engine

// witness gives everyone standing at loc a memory of what happened.
func (s *Sim) witness(t *turnState, loc, kind, actor, target, item string, imp float64) {
	for _, c := range s.w.Chars {
		if !c.Onstage || !c.Alive || c.Loc != loc {
			continue
		}
		m := memory{Turn: t.seq, Kind: kind, Actor: actor, Target: target, Item: item, Loc: loc, Imp: imp * 0.6}
		if c.ID == actor || c.ID == target {
			m.Imp = imp
		}
		c.remember(m)
	}
}

// resolve plays character i's action.
func (s *Sim) resolve(t *turnState, i int, a Action, src string) {
	c := s.w.Chars[i]
	if !c.Alive {
		return
	}
	ev := Event{Actor: c.ID, Kind: a.Kind, Target: a.Target, Text: a.Text, Outcome: OutcomeSuccess, Source: src}
	r := Record{Kind: a.Kind, Actor: c.ID, Target: a.Target, Place: c.Loc, Outcome: OutcomeSuccess, Source: src}
	s.motive(i, a, &r)
	ti, tc := s.findTarget(c, a, &r, &ev)
	if r.Outcome == OutcomeSuccess {
		switch a.Kind {
		case ActMove:
			s.resolveMove(c, a, &r, &ev)
		case ActTake:
			s.resolveTake(t, i, a.Target, &r, &ev)
		case ActSpeak:
			s.resolveSpeak(t, i, ti, a.Text, &r, &ev)
		case ActGive:
			s.resolveGive(t, i, ti, a.Text, &r, &ev)
		case ActSearch:
			s.resolveSearch(t, i, &r)
			if r.Outcome != OutcomeSuccess {
				ev.Outcome = r.Outcome
			}
		case ActAttack:
			s.resolveAttack(t, i, ti, &r, &ev)
		case ActHelp:
			s.resolveHelp(t, c, tc, &r, &ev)
		case ActWait:
			if c.Health < 100 {
				r.Amount = min(3, 100-c.Health)
				c.Health += r.Amount
			}
		}
	}
	t.events = append(t.events, ev)
	t.recs = append(t.recs, r)
}

// failDeed marks a deed failed, for the reason detail.
func failDeed(r *Record, ev *Event, detail string) {
	ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, detail
}

// findTarget finds the character a deed is done to, if it is done to
// someone, and fails the deed if they are unknown, gone or fallen:
// targets may have moved or fallen since the decision.
func (s *Sim) findTarget(c *charState, a Action, r *Record, ev *Event) (int, *charState) {
	ti := -1
	var tc *charState
	if a.Kind == ActAttack || a.Kind == ActHelp || a.Kind == ActGive || (a.Kind == ActSpeak && a.Target != "") {
		ti, tc = s.charByID(a.Target)
		if tc == nil {
			failDeed(r, ev, "unknown")
		} else if tc.Loc != c.Loc || !tc.Onstage {
			failDeed(r, ev, "gone")
			r.Place = tc.Loc
		} else if !tc.Alive {
			failDeed(r, ev, "dead")
		}
	}
	return ti, tc
}

// resolveMove walks c to an adjacent place; those left behind see which
// way c went.
func (s *Sim) resolveMove(c *charState, a Action, r *Record, ev *Event) {
	if !s.geo.adjacent(c.Loc, a.Target) {
		failDeed(r, ev, "blocked")
		return
	}
	r.From, r.Place = c.Loc, a.Target
	r.Target = ""
	// Those left behind saw which way the mover went.
	for _, o := range s.w.Chars {
		if o != c && o.Onstage && o.Alive && o.Loc == c.Loc {
			o.Met[c.ID] = a.Target
		}
	}
	c.Loc = a.Target
}

// resolveGive hands item (or, if it is not held, something the giver
// does not need) from character i to character ti.
func (s *Sim) resolveGive(t *turnState, i, ti int, item string, r *Record, ev *Event) {
	c, tc := s.w.Chars[i], s.w.Chars[ti]
	if item == "" || !c.holds(item) {
		item = ""
		for _, it := range c.Inv {
			if !s.wants(i, it) {
				item = it
				break
			}
		}
	}
	if item == "" {
		failDeed(r, ev, "empty")
		return
	}
	c.drop(item)
	tc.Inv = append(tc.Inv, item)
	s.w.Items[s.geo.itemIndex[item]].Holder = tc.ID
	r.Item, ev.Text = item, item
	lift := 0.25
	if s.wants(ti, item) {
		lift = 0.45
		r.Detail = "wanted"
	}
	s.shiftAffinity(tc, c.ID, lift)
	s.shiftAffinity(c, tc.ID, 0.05)
	s.witness(t, c.Loc, ActGive, c.ID, tc.ID, item, 0.7)
	t.tension -= 0.03
}

// resolveHelp has c tend tc's wounds, using up a remedy if c carries
// one; those who care for tc think better of c.
func (s *Sim) resolveHelp(t *turnState, c, tc *charState, r *Record, ev *Event) {
	heal := 8 + t.plot.IntN(8)
	for _, it := range c.Inv {
		if s.sc.Items[s.geo.itemIndex[it]].Kind == ItemRemedy {
			heal += 15
			c.drop(it)
			st := s.w.Items[s.geo.itemIndex[it]]
			st.Holder, st.Loc, st.Fixed = "", "", true
			r.Item, r.Detail = it, "remedy"
			break
		}
	}
	heal = min(heal, 100-tc.Health)
	if heal <= 0 {
		ev.Outcome, r.Outcome, r.Detail = OutcomePartial, OutcomePartial, "unhurt"
	}
	tc.Health += max(heal, 0)
	r.Amount = max(heal, 0)
	s.shiftAffinity(tc, c.ID, 0.2)
	s.shiftAffinity(c, tc.ID, 0.05)
	for _, o := range s.w.Chars {
		if o.Alive && o.Onstage && o.Loc == c.Loc && o != c && o != tc && o.Rel[tc.ID] > 0 {
			s.shiftAffinity(o, c.ID, 0.05)
		}
	}
	s.witness(t, c.Loc, ActHelp, c.ID, tc.ID, "", 0.6)
	t.tension -= 0.03
}
