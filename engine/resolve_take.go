// Resolving a take: picking up what lies about, or stealing from whoever
// holds it.

package engine

func (s *Sim) resolveTake(t *turnState, i int, item string, r *Record, ev *Event) {
	c := s.w.Chars[i]
	r.Item, r.Target = item, ""
	ii, ok := s.geo.itemIndex[item]
	if !ok {
		ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "unknown"
		return
	}
	it := s.w.Items[ii]
	switch {
	case it.Holder == "" && it.Loc == c.Loc && !it.Hidden && !it.Fixed:
		it.Loc, it.Holder = "", c.ID
		c.Inv = append(c.Inv, item)
		s.witness(t, c.Loc, "pickup", c.ID, "", item, 0.4)
	case it.Holder != "" && it.Holder != c.ID && !it.Fixed:
		hi, h := s.charByID(it.Holder)
		if h.Loc != c.Loc {
			ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "gone"
			r.Target = h.ID
			return
		}
		r.Target = h.ID
		chance := 0.3 + 0.45*s.trait(i, "cunning") - 0.25*s.trait(hi, "caution") + s.catchUpChance(i, hi, item, t.seq)
		if !h.Alive {
			chance = 1
		}
		t.tension += 0.08
		if t.plot.Float64() < chance {
			h.drop(item)
			it.Holder = c.ID
			c.Inv = append(c.Inv, item)
			r.Detail = "steal"
			if h.Alive {
				s.shiftAffinity(h, c.ID, -0.35)
				s.witness(t, c.Loc, ActTake, c.ID, h.ID, item, 0.8)
			} else {
				r.Detail = "strip"
			}
		} else {
			ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "caught"
			s.shiftAffinity(h, c.ID, -0.2)
			s.witness(t, c.Loc, ActTake, c.ID, h.ID, item, 0.6)
		}
	default:
		ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "gone"
		if it.Holder != "" {
			r.Target = it.Holder
		}
	}
}
