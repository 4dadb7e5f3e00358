// Relationships: affinity shifts, and the bands whose crossing is worth
// telling.

package engine

import "fmt"

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
			// Telling every wobble around neutral would be noise.
			if now == was || (now >= -1 && now <= 0 && was >= -1 && was <= 0) {
				continue
			}
			t.recs = append(t.recs, Record{Kind: "bond", Actor: c.ID, Target: o.ID, Amount: now, Outcome: OutcomeSuccess, Detail: fmt.Sprint(was)})
		}
	}
}
