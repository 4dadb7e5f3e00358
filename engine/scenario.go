// Scenarios: what a story starts from (places, people, items, facts,
// goals, scripted events, endings) and reading one from JSON or YAML.
// Checking one is in scenario_validate.go.

package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// Limits on a scenario. They keep one simulation small enough that a node
// can run thousands of them.
const (
	MaxScenarioBytes = 256 << 10
	MaxCharacters    = 24
	MaxLocations     = 64
	MaxItems         = 64
	MaxFacts         = 64
	MaxEvents        = 64
	MaxGoals         = 6
	MaxTextLen       = 2000
	MaxActionText    = 500
	// MaxTriggerTurn is the latest turn a trigger or end condition may name.
	MaxTriggerTurn = 10000
)

// Scenario is the starting point of a simulation: a place, its people and
// what may happen to them. It reads from JSON or YAML with the same
// snake_case field names.
type Scenario struct {
	ID      string `json:"id" yaml:"id"`
	Title   string `json:"title" yaml:"title"`
	Premise string `json:"premise" yaml:"premise"`
	Genre   string `json:"genre" yaml:"genre"`
	// Length is the planned length in turns: the director aims the peak of
	// tension at about three quarters of it. Defaults to 60.
	Length     int             `json:"length,omitempty" yaml:"length,omitempty"`
	Locations  []Location      `json:"locations" yaml:"locations"`
	Items      []Item          `json:"items,omitempty" yaml:"items,omitempty"`
	Facts      []Fact          `json:"facts,omitempty" yaml:"facts,omitempty"`
	Characters []Character     `json:"characters" yaml:"characters"`
	Events     []ScriptedEvent `json:"events,omitempty" yaml:"events,omitempty"`
	End        []EndCondition  `json:"end,omitempty" yaml:"end,omitempty"`
}

// Location is a place characters can be. Exits name adjacent locations;
// an exit is walkable in both directions.
type Location struct {
	ID          string   `json:"id" yaml:"id"`
	Name        string   `json:"name" yaml:"name"`
	Description string   `json:"description,omitempty" yaml:"description,omitempty"`
	Exits       []string `json:"exits" yaml:"exits"`
	// Items lie in plain view at the start.
	Items []string `json:"items,omitempty" yaml:"items,omitempty"`
	// Hidden items and facts are found by searching here.
	Hidden []string `json:"hidden,omitempty" yaml:"hidden,omitempty"`
	Facts  []string `json:"facts,omitempty" yaml:"facts,omitempty"`
}

// Item kinds with a mechanical effect.
const (
	ItemWeapon = "weapon" // adds to the damage of an attack
	ItemRemedy = "remedy" // used up by help, heals more
)

// Item is a thing that can be carried, taken, given and fought over.
type Item struct {
	ID          string `json:"id" yaml:"id"`
	Name        string `json:"name" yaml:"name"`
	Kind        string `json:"kind,omitempty" yaml:"kind,omitempty"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// Fact is a piece of knowledge. Learning a fact about someone moves the
// learner's affinity towards them by Sway. A fact may also tell where an
// item is: lying at Location, or held by Holder.
type Fact struct {
	ID       string  `json:"id" yaml:"id"`
	Text     string  `json:"text" yaml:"text"`
	About    string  `json:"about,omitempty" yaml:"about,omitempty"`
	Sway     float64 `json:"sway,omitempty" yaml:"sway,omitempty"`
	Item     string  `json:"item,omitempty" yaml:"item,omitempty"`
	Location string  `json:"location,omitempty" yaml:"location,omitempty"`
	Holder   string  `json:"holder,omitempty" yaml:"holder,omitempty"`
}

// Character is a persona of the story.
type Character struct {
	ID      string `json:"id" yaml:"id"`
	Name    string `json:"name" yaml:"name"`
	Role    string `json:"role" yaml:"role"`
	Faction string `json:"faction,omitempty" yaml:"faction,omitempty"`
	// Pronoun is "she", "he" or "they". Defaults to "they".
	Pronoun string `json:"pronoun,omitempty" yaml:"pronoun,omitempty"`
	// Traits on 0..1; see TraitNames. A missing trait counts as 0.5.
	Traits map[string]float64 `json:"traits,omitempty" yaml:"traits,omitempty"`
	Goals  []Goal             `json:"goals,omitempty" yaml:"goals,omitempty"`
	// Relationships: affinity towards other characters, -1..1.
	Relationships map[string]float64 `json:"relationships,omitempty" yaml:"relationships,omitempty"`
	Start         string             `json:"start" yaml:"start"`
	// Health on 1..100. Defaults to 100.
	Health    int      `json:"health,omitempty" yaml:"health,omitempty"`
	Inventory []string `json:"inventory,omitempty" yaml:"inventory,omitempty"`
	Knows     []string `json:"knows,omitempty" yaml:"knows,omitempty"`
	Voice     []string `json:"voice,omitempty" yaml:"voice,omitempty"`
	// Aliases are other words the scenario's texts call the character by
	// in place of their role ("apprentice" for an apprentice
	// lamplighter), so that the story introduces them first.
	Aliases []string `json:"aliases,omitempty" yaml:"aliases,omitempty"`
	// Lines are the character's own words when a quarrel comes to a
	// head: what they demand, threaten, refuse or offer.
	Lines []Line `json:"lines,omitempty" yaml:"lines,omitempty"`
	// Offstage characters enter the story only through an arrival event.
	Offstage bool `json:"offstage,omitempty" yaml:"offstage,omitempty"`
}

// Line kinds: what a character says when facing a rival.
const (
	LineDemand  = "demand"  // to someone holding what the speaker wants
	LineThreat  = "threat"  // before a blow
	LineRefuse  = "refuse"  // the answer of one who holds on, with a reason
	LineBargain = "bargain" // an offer instead of a fight
)

var lineKinds = []string{LineDemand, LineThreat, LineRefuse, LineBargain}

// Line is something a character says to a rival, in their own voice.
// To, if set, is the only character it is said to; Item, if set, the
// only thing it is said over (a demand to one who holds it, a refusal
// by one who holds it). Lines without an item must fit any quarrel.
type Line struct {
	Kind string `json:"kind" yaml:"kind"`
	To   string `json:"to,omitempty" yaml:"to,omitempty"`
	Item string `json:"item,omitempty" yaml:"item,omitempty"`
	Text string `json:"text" yaml:"text"`
}

// Goal kinds.
const (
	GoalObtain   = "obtain"   // hold Item
	GoalDeliver  = "deliver"  // bring Item to Location, or into Target's hands (Location then a hint where to find them)
	GoalReach    = "reach"    // stand at Location
	GoalDefeat   = "defeat"   // Target is down
	GoalProtect  = "protect"  // Target still stands when the story ends
	GoalBefriend = "befriend" // mutual affinity with Target
	GoalLearn    = "learn"    // know Fact (Location, if set, is where to look)
)

var goalKinds = []string{GoalObtain, GoalDeliver, GoalReach, GoalDefeat, GoalProtect, GoalBefriend, GoalLearn}

// Goal is something a character wants. Text is how the story names it
// ("to carry the ledger to the magistrate").
type Goal struct {
	ID       string `json:"id" yaml:"id"`
	Kind     string `json:"kind" yaml:"kind"`
	Item     string `json:"item,omitempty" yaml:"item,omitempty"`
	Location string `json:"location,omitempty" yaml:"location,omitempty"`
	Target   string `json:"target,omitempty" yaml:"target,omitempty"`
	Fact     string `json:"fact,omitempty" yaml:"fact,omitempty"`
	Text     string `json:"text" yaml:"text"`
	// After names another goal of the same character that must be won
	// before this one can be.
	After string `json:"after,omitempty" yaml:"after,omitempty"`
	// Requires holds the goal back: it cannot be won until every
	// condition holds (a flag a climax event sets, say), though it can
	// still be lost.
	Requires []Condition `json:"requires,omitempty" yaml:"requires,omitempty"`
	// Won and Lost are told when the goal resolves; both optional.
	Won  string `json:"won,omitempty" yaml:"won,omitempty"`
	Lost string `json:"lost,omitempty" yaml:"lost,omitempty"`
}

// TraitNames are the traits the built-in decider reads.
var TraitNames = []string{"aggression", "caution", "courage", "cunning", "curiosity", "empathy", "greed", "loyalty"}

// Condition is a test on the world. Kind selects which fields matter:
//
//	turn:    the turn is at least Turn
//	at:      Character stands at Location
//	holds:   Character (or anyone, if empty) holds Item
//	item_at: Item lies at, or is held by someone at, Location
//	dead:    Character is down
//	knows:   Character (or anyone, if empty) knows Fact
//	flag:    an event has set Flag
//	goal:    Character's goal Goal has Status (won, lost or resolved)
//	climax:  a climax event fired at least Turn turns ago (0: at all)
type Condition struct {
	Kind      string `json:"kind" yaml:"kind"`
	Turn      int    `json:"turn,omitempty" yaml:"turn,omitempty"`
	Character string `json:"character,omitempty" yaml:"character,omitempty"`
	Location  string `json:"location,omitempty" yaml:"location,omitempty"`
	Item      string `json:"item,omitempty" yaml:"item,omitempty"`
	Fact      string `json:"fact,omitempty" yaml:"fact,omitempty"`
	Flag      string `json:"flag,omitempty" yaml:"flag,omitempty"`
	Goal      string `json:"goal,omitempty" yaml:"goal,omitempty"`
	Status    string `json:"status,omitempty" yaml:"status,omitempty"`
}

var conditionKinds = []string{"turn", "at", "holds", "item_at", "dead", "knows", "flag", "goal", "climax"}

// Trigger says when a scripted event fires: on or after Turn, once every
// condition in When holds. It fires once.
//
// A Climax event is held back by the director until the story has built
// up to it: not before 55% of the planned length, then on the first turn
// tension is near the arc's target, and by 75% of it at the latest (its
// Turn and When still apply). Pair it with goal requirements or end
// conditions on the flag it sets, so that the story cannot be settled
// before its climax.
type Trigger struct {
	Turn   int         `json:"turn,omitempty" yaml:"turn,omitempty"`
	When   []Condition `json:"when,omitempty" yaml:"when,omitempty"`
	Climax bool        `json:"climax,omitempty" yaml:"climax,omitempty"`
}

// Effect kinds.
const (
	EffectArrival   = "arrival"   // Character appears at Location
	EffectDiscovery = "discovery" // Item appears at Location, or Fact becomes known there
	EffectWeather   = "weather"   // at Location (or everywhere): Damage to all there
	EffectMessage   = "message"   // news reaches Location (or everyone): Fact learned
)

var effectKinds = []string{EffectArrival, EffectDiscovery, EffectWeather, EffectMessage}

// Effect is what a scripted event does. Text is told in the story.
// Tension (-1..1) is how much it raises or eases the mood; the director
// prefers, among due events, the one that brings tension nearest its arc.
type Effect struct {
	Kind      string  `json:"kind" yaml:"kind"`
	Text      string  `json:"text" yaml:"text"`
	Character string  `json:"character,omitempty" yaml:"character,omitempty"`
	Location  string  `json:"location,omitempty" yaml:"location,omitempty"`
	Item      string  `json:"item,omitempty" yaml:"item,omitempty"`
	Fact      string  `json:"fact,omitempty" yaml:"fact,omitempty"`
	Damage    int     `json:"damage,omitempty" yaml:"damage,omitempty"`
	Flag      string  `json:"flag,omitempty" yaml:"flag,omitempty"`
	Tension   float64 `json:"tension,omitempty" yaml:"tension,omitempty"`
}

// ScriptedEvent is a storylet: a trigger and an effect.
type ScriptedEvent struct {
	ID      string  `json:"id" yaml:"id"`
	Trigger Trigger `json:"trigger" yaml:"trigger"`
	Effect  Effect  `json:"effect" yaml:"effect"`
}

// EndCondition finishes the story once every condition in When holds;
// Text is the closing passage.
type EndCondition struct {
	ID   string      `json:"id" yaml:"id"`
	When []Condition `json:"when" yaml:"when"`
	Text string      `json:"text" yaml:"text"`
}

// ScenarioSummary is a scenario as listed.
type ScenarioSummary struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Genre      string `json:"genre"`
	Premise    string `json:"premise"`
	Characters int    `json:"characters"`
	Locations  int    `json:"locations"`
}

// Summary returns the scenario as listed.
func (s *Scenario) Summary() ScenarioSummary {
	return ScenarioSummary{
		ID: s.ID, Title: s.Title, Genre: s.Genre, Premise: s.Premise,
		Characters: len(s.Characters), Locations: len(s.Locations),
	}
}

// ParseScenario reads a scenario from JSON (if the first non-space byte is
// '{') or YAML. Unknown fields are rejected, and the result is validated.
func ParseScenario(data []byte) (*Scenario, error) {
	if len(data) > MaxScenarioBytes {
		return nil, fmt.Errorf("scenario: %d bytes exceeds the limit of %d", len(data), MaxScenarioBytes)
	}
	var sc Scenario
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sc); err != nil {
			return nil, fmt.Errorf("scenario: invalid JSON: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, errors.New("scenario: invalid JSON: trailing data after the object")
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&sc); err != nil {
			if err == io.EOF {
				return nil, errors.New("scenario: empty document")
			}
			return nil, fmt.Errorf("scenario: invalid YAML: %w", err)
		}
		var extra any
		if err := dec.Decode(&extra); err != io.EOF {
			return nil, errors.New("scenario: invalid YAML: more than one document")
		}
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}
