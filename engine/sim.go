package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ErrFinished is returned by Step once the story has ended.
var ErrFinished = errors.New("simulation finished")

// Options configure a simulation. The zero value uses the built-in decider
// and chronicler.
type Options struct {
	// Decider chooses actions for characters no player controls this turn.
	// Defaults to the built-in utility AI.
	Decider Decider
	// Chronicler turns each turn into prose. Defaults to the built-in one.
	Chronicler Chronicler
	// DecisionTimeout bounds each persona's decision. Defaults to 50ms.
	DecisionTimeout time.Duration
}

// Sim is one running story. It is not safe for concurrent use: its owner
// calls it from one goroutine.
type Sim struct {
	// Set at construction.
	sc         *Scenario
	geo        *geography
	seed       int64
	opts       Options
	builtin    bool // opts.Decider is the built-in utility AI
	castCache  *Cast
	enc        canonEncoder // reused by hash
	encFresh   bool         // enc holds the current world's encoding
	memOrder   []memRank    // perceive's sort scratch, reused across calls
	optScratch []option     // the built-in decider's options, reused
	pbufs      perceptBufs  // the built-in decider's perception lists, reused
	percept    Perception   // the built-in decider's perception, reused
	pcgScratch rand.PCG     // the built-in decider's random source, reseeded

	// Changed by Step.
	w *world
}

// NewSim starts a simulation of sc with the given seed.
func NewSim(sc *Scenario, seed int64, opts Options) (*Sim, error) {
	if sc == nil {
		return nil, errors.New("new sim: nil scenario")
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("new sim: %w", err)
	}
	s := newSim(sc, seed, opts)
	s.w = initialWorld(sc, s.geo)
	return s, nil
}

// RestoreSim continues a simulation from a State taken earlier. Given the
// same scenario and seed it plays exactly the turns the original would
// have played.
func RestoreSim(sc *Scenario, seed int64, state []byte, opts Options) (*Sim, error) {
	if sc == nil {
		return nil, errors.New("restore sim: nil scenario")
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("restore sim: %w", err)
	}
	return restore(sc, seed, state, opts)
}

// RestoreParsed is RestoreSim for a scenario ParseScenario returned,
// which validated it: it does not validate it again. Validating is a
// quarter of a restore's CPU, which a node taking over thousands of
// stories of one scenario would pay for each.
func RestoreParsed(sc *Scenario, seed int64, state []byte, opts Options) (*Sim, error) {
	if sc == nil {
		return nil, errors.New("restore sim: nil scenario")
	}
	return restore(sc, seed, state, opts)
}

func restore(sc *Scenario, seed int64, state []byte, opts Options) (*Sim, error) {
	s := newSim(sc, seed, opts)
	var w world
	if err := json.Unmarshal(state, &w); err != nil {
		return nil, fmt.Errorf("restore sim: decode state: %w", err)
	}
	if err := w.check(sc); err != nil {
		return nil, fmt.Errorf("restore sim: state does not fit scenario %q: %w", sc.ID, err)
	}
	s.w = &w
	return s, nil
}

func newSim(sc *Scenario, seed int64, opts Options) *Sim {
	if opts.DecisionTimeout <= 0 {
		opts.DecisionTimeout = 50 * time.Millisecond
	}
	s := &Sim{sc: sc, geo: newGeography(sc), seed: seed, opts: opts}
	if opts.Decider == nil {
		s.opts.Decider = UtilityDecider{}
	}
	if _, ok := s.opts.Decider.(UtilityDecider); ok {
		s.builtin = true
	}
	if opts.Chronicler == nil {
		s.opts.Chronicler = NewChronicler()
	}
	return s
}

// State returns the serialised world state. It holds nothing of the
// simulation's id or the clock. Right after Step it is the encoding the
// state hash was made of (the canonical encoding is encoding/json's), so
// a turn encodes the world once.
func (s *Sim) State() ([]byte, error) {
	if !s.encFresh {
		s.enc.world(s.w)
		s.encFresh = true
	}
	return bytes.Clone(s.enc.b), nil
}

// Seq is the seq of the last played turn, 0 before the first.
func (s *Sim) Seq() int64 { return s.w.Seq }

// Finished reports whether the story has ended.
func (s *Sim) Finished() bool { return s.w.Finished }

// Title is the scenario's title.
func (s *Sim) Title() string { return s.sc.Title }

// Premise is the scenario's premise.
func (s *Sim) Premise() string { return s.sc.Premise }

// HasCharacter reports whether the scenario has a character with this id.
func (s *Sim) HasCharacter(id string) bool {
	_, ok := s.geo.charIndex[id]
	return ok
}

// ActionKinds lists the action kinds characters can take.
func (s *Sim) ActionKinds() []string { return append([]string(nil), actionKinds...) }

// Characters lists the characters on stage with their current state.
func (s *Sim) Characters() []CharacterView {
	out := make([]CharacterView, 0, len(s.w.Chars))
	for i, c := range s.w.Chars {
		if !c.Onstage {
			continue
		}
		d := &s.sc.Characters[i]
		out = append(out, CharacterView{
			ID: c.ID, Name: d.Name, Role: d.Role, Faction: d.Faction,
			Location: c.Loc, Health: c.Health, Alive: c.Alive,
		})
	}
	return out
}

// Locations lists the scenario's locations. Exits are listed both ways.
func (s *Sim) Locations() []LocationView {
	out := make([]LocationView, len(s.sc.Locations))
	for i, l := range s.sc.Locations {
		out[i] = LocationView{ID: l.ID, Name: l.Name, Exits: append([]string{}, s.geo.exits[i]...)}
	}
	return out
}

func (s *Sim) hash() string {
	sum := sha256.Sum256(s.enc.world(s.w))
	s.encFresh = true
	return hex.EncodeToString(sum[:])
}

// Step plays turn Seq()+1. Actions in player replace the AI's decisions
// for those characters; an action that is not valid falls back to the AI.
func (s *Sim) Step(ctx context.Context, player map[string]Action) (Turn, error) {
	if s.w.Finished {
		return Turn{}, ErrFinished
	}
	if err := ctx.Err(); err != nil {
		return Turn{}, fmt.Errorf("step %d: %w", s.w.Seq+1, err)
	}
	return s.step(ctx, player)
}
