// Why characters act: the strongest reason behind each deed, and the
// memories worth calling back when it is told.

package engine

import "strings"

// motive finds the strongest reason for character i's action, and a
// memory worth calling back.
func (s *Sim) motive(i int, a Action, r *Record) {
	c := s.w.Chars[i]
	switch a.Kind {
	case ActAttack:
		s.attackMotive(i, a, r)
	case ActTake:
		if s.wants(i, a.Target) {
			r.Cause, r.CauseRef = "prize", a.Target
			return
		}
		r.Cause = "greed"
	case ActMove:
		s.moveMotive(i, a, r)
	case ActSpeak:
		if s.goalMotive(i, r, func(g Goal) bool { return g.Kind == GoalBefriend && g.Target == a.Target }) {
			return
		}
		r.Cause = "company"
	case ActHelp:
		s.helpMotive(i, a, r)
	case ActGive:
		if s.goalMotive(i, r, func(g Goal) bool { return g.Kind == GoalBefriend && g.Target == a.Target }) {
			return
		}
		if ti, _ := s.charByID(a.Target); ti >= 0 && a.Text != "" && s.sameSide(i, a.Target) && s.wants(ti, a.Text) {
			r.Cause, r.CauseRef = "side", a.Target
			return
		}
		r.Cause = "kindness"
	case ActSearch:
		if s.goalMotive(i, r, func(g Goal) bool {
			return g.Kind == GoalLearn || ((g.Kind == GoalObtain || g.Kind == GoalDeliver) && !c.holds(g.Item) && c.Seen[g.Item] == "")
		}) {
			return
		}
		r.Cause = "curiosity"
	case ActWait:
		if c.Health < 60 {
			r.Cause = "wounds"
		}
	}
}

// goalMotive gives as the cause the first active goal of character i
// that match accepts; it reports whether there was one.
func (s *Sim) goalMotive(i int, r *Record, match func(g Goal) bool) bool {
	c, d := s.w.Chars[i], &s.sc.Characters[i]
	for j, g := range d.Goals {
		if c.Goals[j].Status == GoalActive && match(g) {
			r.Cause, r.CauseRef = "goal", g.ID
			return true
		}
	}
	return false
}

// attackMotive: a prize the target carries, a goal, revenge, loyalty to
// someone the target hurt, hatred, or plain temper.
func (s *Sim) attackMotive(i int, a Action, r *Record) {
	c := s.w.Chars[i]
	_, tc := s.charByID(a.Target)
	if tc != nil {
		for _, it := range tc.Inv {
			if s.wants(i, it) {
				r.Cause, r.CauseRef = "prize", it
				return
			}
		}
	}
	if s.goalMotive(i, r, func(g Goal) bool { return g.Kind == GoalDefeat && g.Target == a.Target }) {
		return
	}
	if m := recall(c, func(m memory) bool {
		return m.Actor == a.Target && m.Target == c.ID && (m.Kind == ActAttack || m.Kind == ActTake)
	}); m != nil {
		r.Cause, r.Callback = "revenge", m.callback()
		return
	}
	if m := recall(c, func(m memory) bool {
		return m.Actor == a.Target && m.Kind == ActAttack && c.Rel[m.Target] > 0.3
	}); m != nil {
		r.Cause, r.CauseRef, r.Callback = "loyalty", m.Target, m.callback()
		return
	}
	if c.Rel[a.Target] < -0.3 {
		r.Cause = "hatred"
		return
	}
	r.Cause = "temper"
}

// moveMotive: a goal the step leads towards, carrying a thing to
// someone of the mover's side who wants it, fear of an enemy here, or
// wandering. A move that carries what someone is after is marked as
// bearing it, whatever its cause.
func (s *Sim) moveMotive(i int, a Action, r *Record) {
	c := s.w.Chars[i]
	from := c.Loc
	// Whatever someone is after goes where its holder goes: worth telling.
	for _, it := range c.Inv {
		for oi := range s.w.Chars {
			if oi != i && s.wants(oi, it) {
				r.Item, r.Detail = it, "bearing"
			}
		}
	}
	if s.goalMotive(i, r, func(g Goal) bool { return s.stepServesGoal(c, from, a.Target, g, r) }) {
		return
	}
	for _, it := range c.Inv {
		for oi, o := range s.w.Chars {
			if oi == i || !s.sameSide(i, o.ID) || !s.wants(oi, it) || !o.Onstage {
				continue
			}
			if loc := c.Met[o.ID]; loc != "" && s.geo.nextHop(s.sc, from, loc) == a.Target {
				r.Cause, r.CauseRef, r.Item, r.Detail = "side", o.ID, it, "bearing"
				return
			}
		}
	}
	for _, o := range s.w.Chars {
		if o.Alive && o.Onstage && o.Loc == from && o.ID != c.ID && (c.Rel[o.ID] < -0.3) && c.Health < 50 {
			r.Cause, r.CauseRef = "fear", o.ID
			return
		}
	}
	r.Cause = "wander"
}

// stepServesGoal reports whether a step from from to next brings c
// nearer what goal g needs. A deliverer carrying the thing is marked as
// carrying it, whether or not the step leads its way.
func (s *Sim) stepServesGoal(c *charState, from, next string, g Goal, r *Record) bool {
	switch g.Kind {
	case GoalDeliver:
		if c.holds(g.Item) {
			r.Detail = "carry"
			dest := g.Location
			if g.Target != "" && c.Met[g.Target] != "" {
				dest = c.Met[g.Target]
			}
			return dest != "" && s.geo.nextHop(s.sc, from, dest) == next
		}
		return s.stepsTowardsSighting(c, from, next, g.Item)
	case GoalObtain:
		return s.stepsTowardsSighting(c, from, next, g.Item)
	case GoalReach, GoalLearn:
		return g.Location != "" && s.geo.nextHop(s.sc, from, g.Location) == next
	case GoalDefeat, GoalBefriend, GoalProtect:
		loc := c.Met[g.Target]
		return loc != "" && s.geo.nextHop(s.sc, from, loc) == next
	}
	return false
}

// helpMotive: a goal, a debt of kindness, kinship, or kindness itself.
func (s *Sim) helpMotive(i int, a Action, r *Record) {
	c, d := s.w.Chars[i], &s.sc.Characters[i]
	if s.goalMotive(i, r, func(g Goal) bool {
		return (g.Kind == GoalProtect || g.Kind == GoalBefriend) && g.Target == a.Target
	}) {
		return
	}
	if m := recall(c, func(m memory) bool {
		return m.Actor == a.Target && m.Target == c.ID && (m.Kind == ActHelp || m.Kind == ActGive)
	}); m != nil {
		r.Cause, r.Callback = "debt", m.callback()
		return
	}
	_, tc := s.charByID(a.Target)
	if tc != nil && d.Faction != "" && s.sc.Characters[s.geo.charIndex[a.Target]].Faction == d.Faction {
		r.Cause = "kin"
		return
	}
	r.Cause = "kindness"
}

// stepsTowardsSighting reports whether a step to next brings c nearer
// where it last saw item.
func (s *Sim) stepsTowardsSighting(c *charState, from, next, item string) bool {
	where := c.Seen[item]
	if where == "" {
		return false
	}
	loc := strings.TrimPrefix(where, "@")
	if !strings.HasPrefix(where, "@") {
		loc = c.Met[where]
	}
	return loc != "" && s.geo.nextHop(s.sc, from, loc) == next
}

// recall returns the most salient memory that matches, at least two
// turns old.
func recall(c *charState, match func(memory) bool) *memory {
	var best *memory
	for k := range c.Memory {
		m := &c.Memory[k]
		if !match(*m) {
			continue
		}
		if best == nil || m.Imp > best.Imp || (m.Imp == best.Imp && m.Turn > best.Turn) {
			best = m
		}
	}
	return best
}

func (m *memory) callback() *Callback {
	return &Callback{Turn: m.Turn, Kind: m.Kind, Actor: m.Actor, Target: m.Target, Place: m.Loc, Item: m.Item}
}
