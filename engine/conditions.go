// Conditions on the world, as scripted triggers, goal requirements and end
// conditions use them.

package engine

import "slices"

// requirementsMet reports whether a goal's requirements hold.
func (s *Sim) requirementsMet(g *Goal, seq int64) bool {
	for _, c := range g.Requires {
		if !s.conditionHolds(c, seq) {
			return false
		}
	}
	return true
}

// conditionHolds evaluates a condition against the world.
func (s *Sim) conditionHolds(c Condition, seq int64) bool {
	_, ch := s.charByID(c.Character)
	switch c.Kind {
	case "turn":
		return seq >= int64(c.Turn)
	case "at":
		return ch != nil && ch.Onstage && ch.Alive && ch.Loc == c.Location
	case "holds":
		it := s.w.Items[s.geo.itemIndex[c.Item]]
		if c.Character == "" {
			return it.Holder != ""
		}
		return it.Holder == c.Character
	case "item_at":
		it := s.w.Items[s.geo.itemIndex[c.Item]]
		if it.Holder != "" {
			_, h := s.charByID(it.Holder)
			return h.Loc == c.Location
		}
		return it.Loc == c.Location && !it.Hidden
	case "dead":
		return ch != nil && ch.Onstage && !ch.Alive
	case "knows":
		if ch != nil {
			return ch.knows(c.Fact)
		}
		for _, o := range s.w.Chars {
			if o.knows(c.Fact) {
				return true
			}
		}
		return false
	case "flag":
		return slices.Contains(s.w.Flags, c.Flag)
	case "climax":
		return s.w.Climax > 0 && seq-s.w.Climax >= int64(c.Turn)
	case "goal":
		ci := s.geo.charIndex[c.Character]
		for j, g := range s.sc.Characters[ci].Goals {
			if g.ID != c.Goal {
				continue
			}
			st := ch.Goals[j].Status
			switch c.Status {
			case "resolved":
				return st != GoalActive
			case GoalWon:
				return st == GoalWon || st == GoalReconciled
			default:
				return st == c.Status
			}
		}
	}
	return false
}
