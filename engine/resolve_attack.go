// Resolving an attack: the blow, its witnesses, a death and what the fallen
// drop.

package engine

// resolveAttack has character i strike character ti: a miss, a wound
// (which may knock loose what i came for), or a death.
func (s *Sim) resolveAttack(t *turnState, i, ti int, r *Record, ev *Event) {
	c, tc := s.w.Chars[i], s.w.Chars[ti]
	open := 0.0
	for _, it := range tc.Inv {
		open = max(open, s.catchUpChance(i, ti, it, t.seq))
	}
	chance := 0.55 + 0.25*s.trait(i, "aggression") + 0.1*s.trait(i, "courage") - 0.25*s.trait(ti, "caution") + open
	if t.plot.Float64() >= chance {
		ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "miss"
		s.shiftAffinity(tc, c.ID, -0.15)
		s.witness(t, c.Loc, ActAttack, c.ID, tc.ID, "", 0.7)
		t.tension += 0.06
		return
	}
	dmg := 10 + t.plot.IntN(16)
	for _, it := range c.Inv {
		if s.sc.Items[s.geo.itemIndex[it]].Kind == ItemWeapon {
			dmg += 12
			r.Item = it
			break
		}
	}
	dmg = min(dmg, tc.Health)
	tc.Health -= dmg
	r.Amount = dmg
	t.tension += 0.12
	s.shiftAffinity(tc, c.ID, -0.3)
	s.shiftAffinity(c, tc.ID, -0.05)
	for oi, o := range s.w.Chars {
		if !o.Alive || !o.Onstage || o.Loc != c.Loc || o == c || o == tc {
			continue
		}
		switch {
		case o.Rel[tc.ID] > 0:
			s.shiftAffinity(o, c.ID, -0.1-0.15*s.trait(oi, "empathy"))
		case o.Rel[tc.ID] < -0.3:
			s.shiftAffinity(o, c.ID, 0.05)
		}
	}
	s.witness(t, c.Loc, ActAttack, c.ID, tc.ID, "", 0.9)
	if tc.Health <= 0 {
		s.fall(t, i, ti, dmg, r)
		return
	}
	// A heavy blow can knock loose what the attacker came for.
	if dmg >= 18-int(40*open) || tc.Health < 30 {
		for _, it := range tc.Inv {
			if s.wants(i, it) {
				tc.drop(it)
				c.Inv = append(c.Inv, it)
				s.w.Items[s.geo.itemIndex[it]].Holder = c.ID
				r.Detail, r.Item = "wrest", it
				break
			}
		}
	}
}

func (r Record) withoutCallback() Record {
	r.Callback = nil
	return r
}

// fall ends character ti, struck down by character i for dmg: the
// fallen drop what they carried, and the victor takes a prize. The blow
// is recorded, and r becomes the record of the death.
func (s *Sim) fall(t *turnState, i, ti, dmg int, r *Record) {
	c, tc := s.w.Chars[i], s.w.Chars[ti]
	tc.Health, tc.Alive = 0, false
	t.tension += 0.3
	// The fallen drop what they carried; the victor takes a prize.
	for _, it := range tc.Inv {
		st := s.w.Items[s.geo.itemIndex[it]]
		if s.wants(i, it) {
			st.Holder = c.ID
			c.Inv = append(c.Inv, it)
			if r.Detail == "" {
				// The blow is told by what it won, not the weapon.
				r.Detail, r.Item = "wrest", it
			}
		} else {
			st.Holder, st.Loc = "", tc.Loc
		}
	}
	tc.Inv = nil
	s.witness(t, c.Loc, "death", c.ID, tc.ID, "", 1)
	t.recs = append(t.recs, r.withoutCallback())
	*r = Record{Kind: "death", Actor: tc.ID, Target: c.ID, Place: tc.Loc, Outcome: OutcomeSuccess, Amount: dmg, Item: r.Item, Cause: r.Cause, CauseRef: r.CauseRef, Detail: r.Detail}
}
