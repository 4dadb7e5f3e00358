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
	fail := func(detail string) {
		ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, detail
	}
	// Targets may have moved or fallen since the decision.
	ti := -1
	var tc *charState
	if a.Kind == ActAttack || a.Kind == ActHelp || a.Kind == ActGive || (a.Kind == ActSpeak && a.Target != "") {
		ti, tc = s.charByID(a.Target)
		if tc == nil {
			fail("unknown")
		} else if tc.Loc != c.Loc || !tc.Onstage {
			fail("gone")
			r.Place = tc.Loc
		} else if !tc.Alive {
			fail("dead")
		}
	}
	if r.Outcome == OutcomeSuccess {
		switch a.Kind {
		case ActMove:
			if !s.geo.adjacent(c.Loc, a.Target) {
				fail("blocked")
				break
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
		case ActTake:
			s.resolveTake(t, i, a.Target, &r, &ev)
		case ActSpeak:
			s.resolveSpeak(t, i, ti, a.Text, &r, &ev)
		case ActGive:
			item := a.Text
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
				fail("empty")
				break
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
		case ActSearch:
			s.resolveSearch(t, i, &r)
			if r.Outcome != OutcomeSuccess {
				ev.Outcome = r.Outcome
			}
		case ActAttack:
			s.resolveAttack(t, i, ti, &r, &ev)
		case ActHelp:
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
