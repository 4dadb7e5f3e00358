// Validating a scenario: every problem found, each naming its field path.
// This file holds the order of the checks, what they share, and the
// checks of the cast and the world they start in; what can happen
// (goals, conditions, events, endings) is checked in
// scenario_validate_story.go.

package engine

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// problems collects validation errors, each naming a field path.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// Validate checks the scenario and returns every problem found, joined;
// each names the field path and the reason. The checks run in a fixed
// order, so the same scenario always gets the same report.
func (s *Scenario) Validate() error {
	v := &validator{
		s:         s,
		locs:      map[string]int{},
		items:     map[string]bool{},
		chars:     map[string]int{},
		facts:     map[string]bool{},
		itemHome:  map[string]string{},
		learnable: map[string]bool{},
		flags:     map[string]bool{},
		reach:     map[string]bool{},
	}
	v.checkHeader()
	v.checkLocations()
	v.checkItems()
	v.indexCharacters()
	v.checkFacts()
	v.checkLocationContents()
	v.checkCharacters()
	// Events place items and reveal facts, so collect those before goals
	// and end conditions are checked for reachability.
	v.noteEventEffects()
	v.findReachable()
	v.checkGoals()
	v.checkEvents()
	v.checkOffstage()
	v.checkRequirements()
	v.checkEndings()
	return errors.Join(v.p...)
}

// validator is what the checks of one scenario share: the problems found
// so far, and what earlier checks learned of the scenario's ids.
type validator struct {
	s *Scenario
	p problems

	locs  map[string]int  // location id: its index
	items map[string]bool // item ids
	chars map[string]int  // character id: the index of its first use
	facts map[string]bool // fact ids
	// itemHome: where each item starts (for "one place at a time").
	itemHome map[string]string
	// learnable: facts that can ever be found, known or told.
	learnable map[string]bool
	flags     map[string]bool // flags some event sets
	reach     map[string]bool // locations reachable from a start or arrival
}

// text checks a text field's presence (if required) and length.
func (v *validator) text(path, val string, required bool) {
	switch {
	case required && strings.TrimSpace(val) == "":
		v.p.add(path, "is required")
	case len(val) > MaxTextLen:
		v.p.add(path, "is %d bytes, more than %d", len(val), MaxTextLen)
	}
}

// id checks an id's form.
func (v *validator) id(path, val string) {
	if !idPattern.MatchString(val) {
		v.p.add(path, "%q is not a valid id (lower-case letters, digits, '-' and '_', at most 40)", val)
	}
}

// knownLocation reports a location id that names no location.
func (v *validator) knownLocation(path, loc string) {
	if _, ok := v.locs[loc]; !ok {
		v.p.add(path, "unknown location %q", loc)
	}
}

// knownCharacter reports a character id that names no character.
func (v *validator) knownCharacter(path, id string) {
	if _, ok := v.chars[id]; !ok {
		v.p.add(path, "unknown character %q", id)
	}
}

// checkHeader checks the scenario's own fields.
func (v *validator) checkHeader() {
	s := v.s
	v.id("id", s.ID)
	v.text("title", s.Title, true)
	v.text("premise", s.Premise, true)
	v.text("genre", s.Genre, true)
	if s.Length < 0 || s.Length > MaxTriggerTurn {
		v.p.add("length", "%d is outside 0..%d", s.Length, MaxTriggerTurn)
	}
}

// checkLocations checks each location's id, name and description, and
// indexes the ids.
func (v *validator) checkLocations() {
	s := v.s
	switch {
	case len(s.Locations) == 0:
		v.p.add("locations", "at least one location is required")
	case len(s.Locations) > MaxLocations:
		v.p.add("locations", "%d locations, more than %d", len(s.Locations), MaxLocations)
	}
	for i, l := range s.Locations {
		path := fmt.Sprintf("locations[%d]", i)
		v.id(path+".id", l.ID)
		if _, dup := v.locs[l.ID]; dup {
			v.p.add(path+".id", "duplicate id %q", l.ID)
		} else {
			v.locs[l.ID] = i
		}
		v.text(path+".name", l.Name, true)
		v.text(path+".description", l.Description, false)
	}
}

// checkItems checks each item's id, name and description, and indexes
// the ids.
func (v *validator) checkItems() {
	s := v.s
	if len(s.Items) > MaxItems {
		v.p.add("items", "%d items, more than %d", len(s.Items), MaxItems)
	}
	for i, it := range s.Items {
		path := fmt.Sprintf("items[%d]", i)
		v.id(path+".id", it.ID)
		if v.items[it.ID] {
			v.p.add(path+".id", "duplicate id %q", it.ID)
		}
		v.items[it.ID] = true
		v.text(path+".name", it.Name, true)
		v.text(path+".description", it.Description, false)
	}
}

// indexCharacters indexes character ids, so that facts can name them
// before the characters themselves are checked.
func (v *validator) indexCharacters() {
	for i, c := range v.s.Characters {
		if _, dup := v.chars[c.ID]; !dup {
			v.chars[c.ID] = i
		}
	}
}

// checkFacts checks each fact: its id and text, whom it is about and
// the item whose whereabouts it tells.
func (v *validator) checkFacts() {
	s := v.s
	if len(s.Facts) > MaxFacts {
		v.p.add("facts", "%d facts, more than %d", len(s.Facts), MaxFacts)
	}
	for i, f := range s.Facts {
		path := fmt.Sprintf("facts[%d]", i)
		v.id(path+".id", f.ID)
		if v.facts[f.ID] {
			v.p.add(path+".id", "duplicate id %q", f.ID)
		}
		v.facts[f.ID] = true
		v.text(path+".text", f.Text, true)
		if f.About != "" {
			v.knownCharacter(path+".about", f.About)
		}
		if f.Sway < -1 || f.Sway > 1 {
			v.p.add(path+".sway", "%v is outside -1..1", f.Sway)
		}
		if f.Item != "" && !v.items[f.Item] {
			v.p.add(path+".item", "unknown item %q", f.Item)
		}
		if f.Location != "" {
			v.knownLocation(path+".location", f.Location)
		}
		if f.Holder != "" {
			v.knownCharacter(path+".holder", f.Holder)
		}
		if (f.Location != "" || f.Holder != "") && f.Item == "" {
			v.p.add(path+".item", "is required when a fact tells a location or holder")
		}
		if f.Location != "" && f.Holder != "" {
			v.p.add(path, "a fact tells either a location or a holder, not both")
		}
	}
}

// place notes where an item starts; an item starts in one place only.
func (v *validator) place(path, item, where string) {
	if !v.items[item] {
		v.p.add(path, "unknown item %q", item)
		return
	}
	if prev, ok := v.itemHome[item]; ok {
		v.p.add(path, "item %q is already placed at %s", item, prev)
		return
	}
	v.itemHome[item] = where
}

// checkLocationContents checks each location's exits, the items lying or
// hidden there and the facts to be found there.
func (v *validator) checkLocationContents() {
	for i, l := range v.s.Locations {
		path := fmt.Sprintf("locations[%d]", i)
		seen := map[string]bool{}
		for j, e := range l.Exits {
			ep := fmt.Sprintf("%s.exits[%d]", path, j)
			if _, ok := v.locs[e]; !ok {
				v.p.add(ep, "unknown exit %q", e)
			} else if e == l.ID {
				v.p.add(ep, "exit leads back to %q itself", e)
			} else if seen[e] {
				v.p.add(ep, "duplicate exit %q", e)
			}
			seen[e] = true
		}
		for j, it := range l.Items {
			v.place(fmt.Sprintf("%s.items[%d]", path, j), it, path)
		}
		for j, it := range l.Hidden {
			v.place(fmt.Sprintf("%s.hidden[%d]", path, j), it, path)
		}
		for j, f := range l.Facts {
			if !v.facts[f] {
				v.p.add(fmt.Sprintf("%s.facts[%d]", path, j), "unknown fact %q", f)
			}
			v.learnable[f] = true
		}
	}
}

// checkCharacters checks each character but its goals, which need to
// know first what events do.
func (v *validator) checkCharacters() {
	s := v.s
	switch {
	case len(s.Characters) == 0:
		v.p.add("characters", "at least one character is required")
	case len(s.Characters) > MaxCharacters:
		v.p.add("characters", "%d characters, more than %d", len(s.Characters), MaxCharacters)
	}
	seen := map[string]bool{}
	for i, c := range s.Characters {
		path := fmt.Sprintf("characters[%d]", i)
		v.id(path+".id", c.ID)
		if seen[c.ID] {
			v.p.add(path+".id", "duplicate id %q", c.ID)
		}
		seen[c.ID] = true
		v.checkCharacter(path, c)
	}
}

// checkCharacter checks one character's fields but its id and goals.
func (v *validator) checkCharacter(path string, c Character) {
	v.text(path+".name", c.Name, true)
	v.text(path+".role", c.Role, true)
	v.text(path+".faction", c.Faction, false)
	switch c.Pronoun {
	case "", "she", "he", "they":
	default:
		v.p.add(path+".pronoun", "%q is not one of she, he, they", c.Pronoun)
	}
	v.checkTraits(path, c)
	v.checkRelationships(path, c)
	if _, ok := v.locs[c.Start]; !ok {
		v.p.add(path+".start", "unknown location %q", c.Start)
	}
	if c.Health < 0 || c.Health > 100 {
		v.p.add(path+".health", "%d is outside 1..100", c.Health)
	}
	for j, it := range c.Inventory {
		v.place(fmt.Sprintf("%s.inventory[%d]", path, j), it, path)
	}
	for j, f := range c.Knows {
		if !v.facts[f] {
			v.p.add(fmt.Sprintf("%s.knows[%d]", path, j), "unknown fact %q", f)
		}
		v.learnable[f] = true
	}
	v.checkVoice(path, c)
	v.checkLines(path, c)
	if len(c.Goals) > MaxGoals {
		v.p.add(path+".goals", "%d goals, more than %d", len(c.Goals), MaxGoals)
	}
}

// checkTraits checks a character's traits are known and on 0..1.
func (v *validator) checkTraits(path string, c Character) {
	for _, k := range sortedKeys(c.Traits) {
		val := c.Traits[k]
		if !slices.Contains(TraitNames, k) {
			v.p.add(path+".traits."+k, "unknown trait (known: %s)", strings.Join(TraitNames, ", "))
		} else if val < 0 || val > 1 {
			v.p.add(path+".traits."+k, "%v is outside 0..1", val)
		}
	}
}

// checkRelationships checks a character's affinities name others and
// lie on -1..1.
func (v *validator) checkRelationships(path string, c Character) {
	for _, k := range sortedKeys(c.Relationships) {
		val := c.Relationships[k]
		if _, ok := v.chars[k]; !ok {
			v.p.add(path+".relationships."+k, "unknown character %q", k)
		} else if k == c.ID {
			v.p.add(path+".relationships."+k, "a character has no relationship with itself")
		}
		if val < -1 || val > 1 {
			v.p.add(path+".relationships."+k, "%v is outside -1..1", val)
		}
	}
}

// checkVoice checks a character's lines: at most 8, each short enough
// to be spoken as an action's text.
func (v *validator) checkVoice(path string, c Character) {
	if len(c.Voice) > 8 {
		v.p.add(path+".voice", "%d lines, more than 8", len(c.Voice))
	}
	for j, line := range c.Voice {
		v.text(fmt.Sprintf("%s.voice[%d]", path, j), line, true)
		if len(line) > MaxActionText {
			v.p.add(fmt.Sprintf("%s.voice[%d]", path, j), "is %d bytes, more than %d", len(line), MaxActionText)
		}
	}
}

// checkLines checks a character's aliases and confrontation lines:
// at most 8 aliases of one to three words, at most 12 lines of a known
// kind, each said to a known other character if to anyone.
func (v *validator) checkLines(path string, c Character) {
	if len(c.Aliases) > 8 {
		v.p.add(path+".aliases", "%d aliases, more than 8", len(c.Aliases))
	}
	for j, a := range c.Aliases {
		if w := strings.Fields(a); len(w) == 0 || len(w) > 3 || len(a) > 60 {
			v.p.add(fmt.Sprintf("%s.aliases[%d]", path, j), "must be one to three words")
		}
	}
	if len(c.Lines) > 12 {
		v.p.add(path+".lines", "%d lines, more than 12", len(c.Lines))
	}
	for j, l := range c.Lines {
		lp := fmt.Sprintf("%s.lines[%d]", path, j)
		if !slices.Contains(lineKinds, l.Kind) {
			v.p.add(lp+".kind", "unknown kind %q (known: %s)", l.Kind, strings.Join(lineKinds, ", "))
		}
		if l.To != "" {
			if _, ok := v.chars[l.To]; !ok || l.To == c.ID {
				v.p.add(lp+".to", "unknown character %q", l.To)
			}
		}
		if l.Item != "" {
			if _, ok := v.items[l.Item]; !ok {
				v.p.add(lp+".item", "unknown item %q", l.Item)
			}
		}
		v.text(lp+".text", l.Text, true)
		if len(l.Text) > MaxActionText {
			v.p.add(lp+".text", "is %d bytes, more than %d", len(l.Text), MaxActionText)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
