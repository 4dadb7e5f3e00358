// Relationships: affinity shifts, and the bands whose crossing is worth
// telling.

package engine

import (
	"fmt"
	"slices"
	"strconv"
)

// shiftAffinity moves from's affinity towards to by d.
func (s *Sim) shiftAffinity(from *charState, to string, d float64) {
	if from.ID == to {
		return
	}
	from.Rel[to] = clamp(from.Rel[to]+d, -1, 1)
}

// Relationship bands; crossing one is worth telling.
func relationBand(v float64) int {
	switch {
	case v <= -0.5:
		return -2
	case v < -0.15:
		return -1
	case v < 0.35:
		return 0
	case v < 0.7:
		return 1
	}
	return 2
}

func (s *Sim) relationBands() []int8 {
	n := len(s.w.Chars)
	b := make([]int8, n*n)
	for i, c := range s.w.Chars {
		for j, o := range s.w.Chars {
			if i != j {
				b[i*n+j] = int8(relationBand(c.Rel[o.ID]))
			}
		}
	}
	return b
}

func (s *Sim) noteBonds(t *turnState, before []int8) {
	n := len(s.w.Chars)
	for i, c := range s.w.Chars {
		if !c.Onstage || !c.Alive {
			continue
		}
		for j, o := range s.w.Chars {
			if i == j || !o.Onstage || !o.Alive {
				continue
			}
			now := relationBand(c.Rel[o.ID])
			was := int(before[i*n+j])
			// Telling every wobble around neutral would be noise; so
			// would a feeling that swings back into a band it has been
			// in before.
			if now == was || (now >= -1 && now <= 0 && was >= -1 && was <= 0) {
				continue
			}
			key := c.ID + ">" + o.ID + ":" + strconv.Itoa(now)
			k, felt := slices.BinarySearch(s.w.Felt, key)
			if felt {
				continue
			}
			s.w.Felt = slices.Insert(s.w.Felt, k, key)
			t.recs = append(t.recs, Record{Kind: "bond", Actor: c.ID, Target: o.ID, Amount: now, Outcome: OutcomeSuccess, Detail: fmt.Sprint(was),
				CauseAt: s.bondCause(t, c, o)})
		}
	}
}

// bondCause finds the record of this turn that changed c's feeling for
// o, so that the story can say why: a deed of one to the other,
// something c learned about o, or a deed of o's that c saw. It returns
// the record's place from 1, 0 if none.
func (s *Sim) bondCause(t *turnState, c, o *charState) int {
	about := func(r *Record) string {
		if r.Detail != "fact" || r.CauseRef == "" {
			return ""
		}
		if k, ok := s.geo.factIndex[r.CauseRef]; ok {
			return s.sc.Facts[k].About
		}
		return ""
	}
	best, bestRank := 0, 0
	for k := range t.recs {
		r := &t.recs[k]
		rank := 0
		switch {
		case r.Kind == "bond" || r.Kind == ActWait:
			continue
		case r.Actor == o.ID && r.Target == c.ID:
			rank = 5
		case r.Actor == c.ID && r.Target == o.ID:
			rank = 4
		case about(r) == o.ID && (r.Actor == c.ID && r.Kind == ActSearch || r.Target == c.ID && r.Kind == ActSpeak):
			rank = 3
		case r.Actor == o.ID && r.Target != "" && r.Place == c.Loc:
			rank = 2
		case r.Source == SourceScript && (r.Actor == o.ID || r.Actor == c.ID):
			rank = 1
		}
		if rank > bestRank {
			best, bestRank = k+1, rank
		}
	}
	return best
}
