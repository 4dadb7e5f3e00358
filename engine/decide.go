// Deciding: the action kinds, the Decider a persona's choice is asked of,
// and how the director gathers one action per active character each turn
// (players first, then the decider under its timeout).

package engine

import (
	"context"
	"fmt"
	"slices"
)

// Action kinds beyond move, speak and wait.
const (
	ActAttack = "attack" // target: a character here
	ActHelp   = "help"   // target: a character here; heals, more with a remedy
	ActTake   = "take"   // target: an item lying here or held by someone here
	ActGive   = "give"   // target: a character here; text: the item id
	ActSearch = "search" // no target: look for what is hidden here
)

var actionKinds = []string{ActMove, ActSpeak, ActWait, ActAttack, ActHelp, ActTake, ActGive, ActSearch}

// Decider chooses a character's action from what the character can know.
// Decide may be called concurrently for different characters.
type Decider interface {
	Decide(ctx context.Context, p Perception) (Action, error)
}

// sourcer is implemented by deciders whose actions should be labelled
// with another source than "ai" (an LLM-backed decider says "llm").
type sourcer interface{ Source() string }

// decide gathers every active character's action. Player actions come
// first; the rest are asked of the decider, concurrently and each under
// the decision timeout unless the decider is the built-in one.
func (s *Sim) decide(ctx context.Context, seq int64, player map[string]Action) ([]Action, []string) {
	n := len(s.w.Chars)
	acts := make([]Action, n)
	srcs := make([]string, n)
	var pending []int
	for i, c := range s.w.Chars {
		if !c.Onstage || !c.Alive {
			continue
		}
		if a, ok := player[c.ID]; ok && s.ValidateAction(c.ID, a) == nil {
			acts[i], srcs[i] = a, SourcePlayer
			continue
		}
		pending = append(pending, i)
	}
	if s.builtin {
		for _, i := range pending {
			// The perception lives on the Sim: on the stack it would
			// escape, one allocation per character per turn.
			s.percept = s.perceiveInto(i, seq, &s.pbufs)
			acts[i], srcs[i] = s.decideBuiltin(&s.percept), SourceAI
		}
		s.percept = Perception{} // keep nothing of this turn alive
		s.makeScene(seq, acts, pending)
		return acts, srcs
	}
	src := SourceAI
	if so, ok := s.opts.Decider.(sourcer); ok {
		src = so.Source()
	}
	type result struct {
		i   int
		a   Action
		err error
	}
	percepts := make([]Perception, n)
	for _, i := range pending {
		percepts[i] = s.perceive(i, seq)
	}
	dctx, cancel := context.WithTimeout(ctx, s.opts.DecisionTimeout)
	defer cancel()
	// Buffered so that a decider that returns late never blocks.
	results := make(chan result, len(pending))
	for _, i := range pending {
		go func(i int, p Perception) {
			defer func() {
				if r := recover(); r != nil {
					results <- result{i: i, err: fmt.Errorf("decider panic: %v", r)}
				}
			}()
			a, err := s.opts.Decider.Decide(dctx, p)
			results <- result{i: i, a: a, err: err}
		}(i, s.perceive(i, seq))
	}
	got := make([]bool, n)
collect:
	for range pending {
		select {
		case r := <-results:
			if r.err == nil && s.ValidateAction(s.w.Chars[r.i].ID, r.a) == nil {
				acts[r.i], srcs[r.i], got[r.i] = r.a, src, true
			}
		case <-dctx.Done():
			break collect
		}
	}
	for _, i := range pending {
		if !got[i] {
			acts[i], srcs[i] = decideUtility(&percepts[i]), SourceAI
		}
	}
	s.makeScene(seq, acts, slices.DeleteFunc(pending, func(i int) bool { return srcs[i] != SourceAI }))
	return acts, srcs
}

// decideBuiltin is decideUtility with the Sim's option scratch; decide
// calls it one character at a time.
func (s *Sim) decideBuiltin(p *Perception) Action {
	a, opts := decideUtilityWith(p, s.optScratch, &s.pcgScratch)
	s.optScratch = opts
	return a
}

// makeScene is the director's hand in a turn that would be a commute:
// when every deed decided is a move, a wait or a search, one of the
// characters pending lists (those the AI plays, never a player's or a
// language model's) who has company is asked again, of the built-in
// decider, what it would do with the people in front of it, if anything.
func (s *Sim) makeScene(seq int64, acts []Action, pending []int) {
	for _, a := range acts {
		switch a.Kind {
		case "", ActMove, ActWait, ActSearch:
		default:
			return
		}
	}
	// Whom the director asks first turns with the turn, so that no
	// one character is always the one who starts the scene.
	for k := range pending {
		i := pending[(k+int(seq))%len(pending)]
		c := s.w.Chars[i]
		company := false
		for j, o := range s.w.Chars {
			if j != i && o.Onstage && o.Alive && o.Loc == c.Loc {
				company = true
				break
			}
		}
		if !company {
			continue
		}
		p := s.perceiveInto(i, seq, &s.pbufs)
		p.scene = true
		if a := s.decideBuiltin(&p); a.Kind != ActWait {
			acts[i] = a
			return
		}
	}
}

// isActionKey reports whether key is kind + ":" + target, without
// building the key: options are scored by the hundred a turn.
func isActionKey(key, kind, target string) bool {
	return len(key) == len(kind)+1+len(target) && key[len(kind)] == ':' &&
		key[:len(kind)] == kind && key[len(kind)+1:] == target
}

// goalsOf is the scenario's goals for character id.
func (p *Perception) goalsOf(id string) []Goal {
	if p.sc == nil {
		return nil
	}
	for k := range p.sc.Characters {
		if p.sc.Characters[k].ID == id {
			return p.sc.Characters[k].Goals
		}
	}
	return nil
}

// wants reports whether goals seek item.
func wants(goals []Goal, item string) bool {
	for _, g := range goals {
		if g.Item == item && (g.Kind == GoalObtain || g.Kind == GoalDeliver) {
			return true
		}
	}
	return false
}

// traits sets the persona's traits the scores use, as Perception.Trait
// reads them (0.5 when missing), in one pass over its traits rather than
// a map lookup for each.
func (u *utility) traits(traits map[string]float64) {
	u.aggr, u.caution, u.courage = 0.5, 0.5, 0.5
	u.empathy, u.curiosity, u.loyalty = 0.5, 0.5, 0.5
	u.cunning, u.greed = 0.5, 0.5
	for name, v := range traits {
		switch name {
		case "aggression":
			u.aggr = v
		case "caution":
			u.caution = v
		case "courage":
			u.courage = v
		case "empathy":
			u.empathy = v
		case "curiosity":
			u.curiosity = v
		case "loyalty":
			u.loyalty = v
		case "cunning":
			u.cunning = v
		case "greed":
			u.greed = v
		}
	}
}
