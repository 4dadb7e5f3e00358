// The contest over the prize: which thing the sides are after and who holds
// it, and the director's hand on the scale that keeps the contest open
// (word reaching the side that lost track, a slackening guard).

package engine

import "slices"

// contestedItem finds the contested thing: the first item that characters
// of more than one side have active goals on. It returns the item's index,
// the index of whoever holds it (-1 if nobody), and the characters still
// after it who are not on the holder's side.
func (s *Sim) contestedItem() (int, int, []int) {
	for ii, it := range s.w.Items {
		if it.Fixed {
			continue
		}
		var sides []string
		for ci, c := range s.w.Chars {
			if c.Onstage && c.Alive && s.wants(ci, it.ID) {
				f := s.sc.Characters[ci].Faction
				if f == "" {
					f = "@" + c.ID
				}
				if !slices.Contains(sides, f) {
					sides = append(sides, f)
				}
			}
		}
		if len(sides) < 2 {
			continue
		}
		hi := -1
		if it.Holder != "" {
			hi = s.geo.charIndex[it.Holder]
		}
		var seekers []int
		for ci, c := range s.w.Chars {
			if c.Onstage && c.Alive && s.wants(ci, it.ID) && (hi < 0 || !s.sameSide(hi, c.ID)) {
				seekers = append(seekers, ci)
			}
		}
		return ii, hi, seekers
	}
	return -1, -1, nil
}

// spreadWordOfPrize is the director's hand on the scale: when the side
// that does not have the contested thing has lost track of it for a while,
// word of where it is reaches them, so the contest stays open.
func (s *Sim) spreadWordOfPrize(t *turnState) {
	w := s.w
	gap := int64(7)
	if w.Climax != 0 {
		gap = 4
	}
	if t.seq < 6 || t.seq-w.Tip < gap || w.Phase == PhaseRelax || w.Decided != 0 {
		return
	}
	ii, hi, seekers := s.contestedItem()
	if ii < 0 {
		// No contest left: those of one side who must still carry the
		// thing somewhere should learn who has it.
		ii, hi, seekers = s.heldItemStillSought()
	} else if hi >= 0 {
		for ci, c := range w.Chars {
			if ci != hi && c.Onstage && c.Alive && s.wants(ci, s.w.Items[ii].ID) && s.sameSide(hi, c.ID) && !slices.Contains(seekers, ci) {
				seekers = append(seekers, ci)
			}
		}
	}
	if hi < 0 || len(seekers) == 0 {
		return
	}
	it, h := s.w.Items[ii], s.w.Chars[hi]
	lost := seekers[:0:0]
	for _, ci := range seekers {
		c := s.w.Chars[ci]
		if c.Loc == h.Loc || (c.Seen[it.ID] == h.ID && c.Met[h.ID] == h.Loc) {
			continue
		}
		lost = append(lost, ci)
	}
	if len(lost) == 0 {
		return
	}
	w.Tip = t.seq
	r := Record{Kind: "tip", Actor: h.ID, Item: it.ID, Place: h.Loc, Outcome: OutcomeSuccess, Source: SourceScript}
	for _, ci := range lost {
		c := s.w.Chars[ci]
		c.Seen[it.ID], c.Met[h.ID] = h.ID, h.Loc
		r.With = append(r.With, c.ID)
		c.remember(memory{Turn: t.seq, Kind: "tip", Actor: h.ID, Item: it.ID, Loc: h.Loc, Imp: 0.5})
	}
	t.tension += 0.06
	t.events = append(t.events, Event{Actor: h.ID, Kind: "tip", Target: h.Loc, Text: it.ID, Outcome: OutcomeSuccess, Source: SourceScript})
	t.recs = append(t.recs, r)
}

// sideOf names character ci's side: its faction, or itself if it has
// none.
func (s *Sim) sideOf(ci int) string {
	if f := s.sc.Characters[ci].Faction; f != "" {
		return f
	}
	return "@" + s.w.Chars[ci].ID
}

// trackHold notes which side holds the contested thing, and since when.
func (s *Sim) trackHold(t *turnState) {
	_, hi, _ := s.contestedItem()
	by := ""
	if hi >= 0 {
		by = s.sideOf(hi)
	}
	if by != s.w.HeldBy {
		s.w.HeldBy, s.w.Held = by, t.seq
		if by == "" {
			s.w.Held = 0
		}
	}
}

// catchUpChance is the chance the side that is behind gets: the longer one
// side has sat on the contested thing, the more its guard slackens against
// those who come for it, most of all once the climax has come.
func (s *Sim) catchUpChance(i, hi int, item string, seq int64) float64 {
	w := s.w
	if w.HeldBy == "" || w.Decided != 0 || s.sameSide(hi, s.w.Chars[i].ID) || !s.wants(i, item) || s.sideOf(hi) != w.HeldBy {
		return 0
	}
	held := float64(seq - w.Held)
	if w.Climax != 0 {
		held += 6
	}
	return clamp(0.025*(held-6), 0, 0.3)
}

// heldItemStillSought finds the first held item that others still have
// goals on, with its holder and those others.
func (s *Sim) heldItemStillSought() (int, int, []int) {
	for ii, it := range s.w.Items {
		if it.Fixed || it.Holder == "" {
			continue
		}
		hi := s.geo.charIndex[it.Holder]
		var who []int
		for ci, c := range s.w.Chars {
			if ci != hi && c.Onstage && c.Alive && s.wants(ci, it.ID) {
				who = append(who, ci)
			}
		}
		if len(who) > 0 {
			return ii, hi, who
		}
	}
	return -1, -1, nil
}
