// Pacing: the tension arc the director aims at, and the phases (buildup,
// peak, fade, relax) the story moves through.

package engine

// arcTension is the tension the story aims at on a turn: rising to a peak
// at three quarters of the planned length, falling after.
func (s *Sim) arcTension(seq int64) float64 {
	l := float64(s.plannedLength())
	x := float64(seq) / l
	if x <= 0.75 {
		return 0.15 + 0.75*x/0.75
	}
	return max(0.15, 0.9-1.5*(x-0.75))
}

func (s *Sim) plannedLength() int {
	if s.sc.Length > 0 {
		return s.sc.Length
	}
	return 60
}

// updateTensionAndPhase updates tension and moves the story through its
// phases.
func (s *Sim) updateTensionAndPhase(t *turnState) {
	w := s.w
	open := false
	for i, a := range w.Chars {
		for _, b := range w.Chars[i+1:] {
			if a.Alive && b.Alive && a.Onstage && b.Onstage && a.Loc == b.Loc && (a.Rel[b.ID] < -0.4 || b.Rel[a.ID] < -0.4) {
				open = true
			}
		}
	}
	decay := 0.9
	if open {
		decay = 0.97
	}
	w.Tension = clamp(w.Tension*decay+t.tension, 0, 1)
	w.Tension = float64(int(w.Tension*10000+0.5)) / 10000
	next := w.Phase
	switch w.Phase {
	case PhaseBuildup:
		if w.Tension >= 0.55 {
			next = PhasePeak
		}
	case PhasePeak:
		if w.Tension < 0.45 && w.PhaseTurns >= 2 {
			next = PhaseFade
		}
	case PhaseFade:
		if w.Tension < 0.25 {
			next = PhaseRelax
		} else if w.Tension >= 0.6 {
			next = PhasePeak
		}
	case PhaseRelax:
		if w.PhaseTurns >= 3 || w.Tension >= 0.45 {
			next = PhaseBuildup
		}
	default:
		next = PhaseBuildup
	}
	if next != w.Phase {
		w.Phase, w.PhaseTurns = next, 0
	} else {
		w.PhaseTurns++
	}
}
