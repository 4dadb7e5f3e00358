// Checking a player's action against the world before the turn plays it.

package engine

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ValidateAction checks a player's action for a character before the
// turn; the error is a reason fit to show the player.
func (s *Sim) ValidateAction(character string, a Action) error {
	i, ok := s.geo.charIndex[character]
	if !ok {
		return fmt.Errorf("unknown character %q", character)
	}
	c := s.w.Chars[i]
	name := s.sc.Characters[i].Name
	switch {
	case s.w.Finished:
		return fmt.Errorf("the story has ended")
	case !c.Onstage:
		return fmt.Errorf("%s has not arrived yet", name)
	case !c.Alive:
		return fmt.Errorf("%s is dead and cannot act", name)
	case utf8.RuneCountInString(a.Text) > MaxActionText:
		return fmt.Errorf("text is %d characters, more than %d", utf8.RuneCountInString(a.Text), MaxActionText)
	case !slices.Contains(actionKinds, a.Kind):
		return fmt.Errorf("unknown action kind %q (allowed: %s)", a.Kind, strings.Join(actionKinds, ", "))
	}
	here := func(id string) error {
		j, ok := s.geo.charIndex[id]
		switch {
		case !ok:
			return fmt.Errorf("unknown target %q", id)
		case j == i:
			return fmt.Errorf("%s cannot %s themselves", name, a.Kind)
		case !s.w.Chars[j].Onstage || s.w.Chars[j].Loc != c.Loc:
			return fmt.Errorf("%s is not here", s.sc.Characters[j].Name)
		case !s.w.Chars[j].Alive && a.Kind != ActSpeak:
			return fmt.Errorf("%s is dead", s.sc.Characters[j].Name)
		}
		return nil
	}
	switch a.Kind {
	case ActMove:
		if _, ok := s.geo.locIndex[a.Target]; !ok {
			return fmt.Errorf("unknown location %q", a.Target)
		}
		if !s.geo.adjacent(c.Loc, a.Target) {
			return fmt.Errorf("%s is not adjacent to %s", s.locName(a.Target), s.locName(c.Loc))
		}
	case ActSpeak:
		if a.Target != "" {
			return here(a.Target)
		}
	case ActAttack, ActHelp:
		if a.Target == "" {
			return fmt.Errorf("%s needs a target", a.Kind)
		}
		return here(a.Target)
	case ActGive:
		if a.Target == "" {
			return fmt.Errorf("give needs a target")
		}
		if err := here(a.Target); err != nil {
			return err
		}
		if len(c.Inv) == 0 {
			return fmt.Errorf("%s has nothing to give", name)
		}
		if a.Text != "" && !c.holds(a.Text) {
			return fmt.Errorf("%s does not hold %q", name, a.Text)
		}
	case ActTake:
		j, ok := s.geo.itemIndex[a.Target]
		if !ok {
			return fmt.Errorf("unknown item %q", a.Target)
		}
		it := s.w.Items[j]
		switch {
		case it.Holder == c.ID:
			return fmt.Errorf("%s already holds %s", name, s.sc.Items[j].Name)
		case it.Holder != "":
			h := s.w.Chars[s.geo.charIndex[it.Holder]]
			if h.Loc != c.Loc || !h.Onstage {
				return fmt.Errorf("%s is not here", s.sc.Items[j].Name)
			}
		case it.Loc != c.Loc || it.Hidden:
			return fmt.Errorf("%s is not here", s.sc.Items[j].Name)
		case it.Fixed:
			return fmt.Errorf("%s can no longer be taken", s.sc.Items[j].Name)
		}
	case ActWait, ActSearch:
	}
	return nil
}

func (s *Sim) locName(id string) string {
	if i, ok := s.geo.locIndex[id]; ok {
		return s.sc.Locations[i].Name
	}
	return id
}
