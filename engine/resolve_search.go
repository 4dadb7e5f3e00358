// Resolving a search: finding hidden items and facts where they lie.

package engine

import "slices"

func (s *Sim) resolveSearch(t *turnState, i int, r *Record) {
	c := s.w.Chars[i]
	li := s.geo.locIndex[c.Loc]
	var hidden string
	for _, it := range s.w.Items {
		if it.Hidden && it.Loc == c.Loc {
			hidden = it.ID
			break
		}
	}
	var fact string
	for _, f := range s.sc.Locations[li].Facts {
		// Nobody needs to search to learn a secret about themselves.
		if !c.knows(f) && s.sc.Facts[s.geo.factIndex[f]].About != c.ID {
			fact = f
			break
		}
	}
	if hidden == "" && fact == "" {
		r.Outcome, r.Detail = OutcomeFailure, "nothing"
		if !slices.Contains(c.Searched, c.Loc) {
			c.Searched = append(c.Searched, c.Loc)
			slices.Sort(c.Searched)
		}
		return
	}
	if t.plot.Float64() > 0.45+0.5*s.trait(i, "curiosity") {
		r.Outcome, r.Detail = OutcomePartial, "not-yet"
		return
	}
	if hidden != "" {
		it := s.w.Items[s.geo.itemIndex[hidden]]
		it.Hidden, it.Loc, it.Holder = false, "", c.ID
		c.Inv = append(c.Inv, hidden)
		r.Item, r.Detail = hidden, "item"
		s.witness(t, c.Loc, "found", c.ID, "", hidden, 0.6)
		t.tension += 0.04
		return
	}
	s.learnFact(i, fact)
	r.Detail, r.CauseRef = "fact", fact
	r.Text = s.sc.Facts[s.geo.factIndex[fact]].Text
	s.witness(t, c.Loc, "found", c.ID, "", "", 0.6)
}
