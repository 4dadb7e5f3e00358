// Scripted events: which storylet fires on a turn (the climax when it is
// due, otherwise the one that brings tension nearest the arc) and what its
// effect does to the world.

package engine

import "slices"

// fireScripted fires at most one scripted event: a due event anchored to
// a turn first, otherwise the eligible storylet whose tension brings the
// story nearest its arc. Threats wait while the story fades or relaxes.
// When no event fires, word of the prize may spread instead.
func (s *Sim) fireScripted(t *turnState) {
	pick, climax := s.pickScripted(t)
	pick = s.chosenTwist(t, pick, climax)
	if climax {
		s.w.Climax = t.seq
	}
	if pick < 0 {
		s.spreadWordOfPrize(t)
		return
	}
	s.w.Fired[pick] = true
	s.applyEffect(t, s.sc.Events[pick])
}

// pickScripted chooses the event to fire this turn, -1 for none, and
// reports whether it is the climax.
func (s *Sim) pickScripted(t *turnState) (int, bool) {
	pick, climax := -1, -1
	best := 0.0
	target := s.arcTension(t.seq)
	for k, e := range s.sc.Events {
		if s.w.Fired[k] || int64(e.Trigger.Turn) > t.seq || !s.triggerHolds(e.Trigger, t.seq) {
			continue
		}
		if e.Trigger.Climax {
			// The climax is held back until the story has built up to it,
			// and then comes before anything else.
			if s.climaxDue(t.seq) && (climax < 0 || e.Effect.Tension > s.sc.Events[climax].Effect.Tension) {
				climax = k
			}
			continue
		}
		if len(e.Trigger.When) == 0 {
			pick = k
			break
		}
		if e.Effect.Tension > 0.1 && (s.w.Phase == PhaseFade || s.w.Phase == PhaseRelax) {
			continue
		}
		if s.favoursLeader(e, t.seq) {
			continue
		}
		dist := abs(s.w.Tension + e.Effect.Tension - target)
		if pick < 0 || dist < best {
			pick, best = k, dist
		}
	}
	if climax >= 0 {
		return climax, true
	}
	return pick, false
}

// triggerHolds reports whether every condition of a trigger holds.
func (s *Sim) triggerHolds(tr Trigger, seq int64) bool {
	for _, c := range tr.When {
		if !s.conditionHolds(c, seq) {
			return false
		}
	}
	return true
}

// applyEffect does what a fired event does to the world, and records it.
func (s *Sim) applyEffect(t *turnState, e ScriptedEvent) {
	ef := &e.Effect
	r := Record{Kind: ef.Kind, Actor: ef.Character, Place: ef.Location, Item: ef.Item, Text: ef.Text, Outcome: OutcomeSuccess, Source: SourceScript, CauseRef: e.ID}
	ev := Event{Actor: ef.Character, Kind: ef.Kind, Target: ef.Location, Text: ef.Text, Outcome: OutcomeSuccess, Source: SourceScript}
	switch ef.Kind {
	case EffectArrival:
		_, c := s.charByID(ef.Character)
		c.Onstage, c.Loc = true, ef.Location
	case EffectDiscovery:
		if ef.Item != "" {
			it := s.w.Items[s.geo.itemIndex[ef.Item]]
			if it.Holder == "" && !it.Fixed {
				it.Loc, it.Hidden = ef.Location, false
			}
		}
	case EffectWeather:
		if ef.Damage > 0 {
			for _, c := range s.w.Chars {
				if ef.reaches(c) {
					c.Health = max(1, c.Health-ef.Damage)
				}
			}
		}
	}
	if ef.Fact != "" {
		for ci, c := range s.w.Chars {
			if ef.reaches(c) {
				s.learnFact(ci, ef.Fact)
			}
		}
	}
	if ef.Flag != "" && !slices.Contains(s.w.Flags, ef.Flag) {
		s.w.Flags = append(s.w.Flags, ef.Flag)
		slices.Sort(s.w.Flags)
	}
	for _, c := range s.w.Chars {
		if ef.reaches(c) {
			c.remember(memory{Turn: t.seq, Kind: ef.Kind, Actor: ef.Character, Item: ef.Item, Loc: c.Loc, Imp: 0.5})
		}
	}
	t.tension += ef.Tension
	t.events = append(t.events, ev)
	t.recs = append(t.recs, r)
}

// reaches reports whether an effect touches character c: on stage,
// standing, and where the effect happens (anywhere, if it names no
// place).
func (ef *Effect) reaches(c *charState) bool {
	return c.Onstage && c.Alive && (ef.Location == "" || c.Loc == ef.Location)
}

// favoursLeader reports whether the director holds back an event because
// it would only help the side that already has the contested thing: it
// sets a flag that side's goals wait for. It is held for a while after
// the climax, so the side that is behind gets its chance first.
func (s *Sim) favoursLeader(e ScriptedEvent, seq int64) bool {
	if e.Effect.Flag == "" || s.w.Climax == 0 || seq-s.w.Climax >= 12 {
		return false
	}
	_, hi, seekers := s.contestedItem()
	if hi < 0 || len(seekers) == 0 {
		return false
	}
	for ci, c := range s.w.Chars {
		if !s.sameSide(hi, c.ID) {
			continue
		}
		for j, g := range s.sc.Characters[ci].Goals {
			if c.Goals[j].Status != GoalActive {
				continue
			}
			for _, r := range g.Requires {
				if r.Kind == "flag" && r.Flag == e.Effect.Flag {
					return true
				}
			}
		}
	}
	return false
}

// climaxDue reports whether the director lets a climax event in on this
// turn: from 55% of the planned length once tension is near the arc's
// target, and from 75% in any case.
func (s *Sim) climaxDue(seq int64) bool {
	x := float64(seq) / float64(s.plannedLength())
	return x >= 0.75 || (x >= 0.55 && s.w.Tension >= s.arcTension(seq)-0.25)
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
