// Validating a scenario: every problem found, each naming its field path.

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
// each names the field path and the reason.
func (s *Scenario) Validate() error {
	var p problems
	text := func(path, v string, required bool) {
		switch {
		case required && strings.TrimSpace(v) == "":
			p.add(path, "is required")
		case len(v) > MaxTextLen:
			p.add(path, "is %d bytes, more than %d", len(v), MaxTextLen)
		}
	}
	id := func(path, v string) {
		if !idPattern.MatchString(v) {
			p.add(path, "%q is not a valid id (lower-case letters, digits, '-' and '_', at most 40)", v)
		}
	}
	if !idPattern.MatchString(s.ID) {
		p.add("id", "%q is not a valid id (lower-case letters, digits, '-' and '_', at most 40)", s.ID)
	}
	text("title", s.Title, true)
	text("premise", s.Premise, true)
	text("genre", s.Genre, true)
	if s.Length < 0 || s.Length > MaxTriggerTurn {
		p.add("length", "%d is outside 0..%d", s.Length, MaxTriggerTurn)
	}

	// Locations.
	locs := map[string]int{}
	switch {
	case len(s.Locations) == 0:
		p.add("locations", "at least one location is required")
	case len(s.Locations) > MaxLocations:
		p.add("locations", "%d locations, more than %d", len(s.Locations), MaxLocations)
	}
	for i, l := range s.Locations {
		path := fmt.Sprintf("locations[%d]", i)
		id(path+".id", l.ID)
		if _, dup := locs[l.ID]; dup {
			p.add(path+".id", "duplicate id %q", l.ID)
		} else {
			locs[l.ID] = i
		}
		text(path+".name", l.Name, true)
		text(path+".description", l.Description, false)
	}
	items := map[string]bool{}
	if len(s.Items) > MaxItems {
		p.add("items", "%d items, more than %d", len(s.Items), MaxItems)
	}
	for i, it := range s.Items {
		path := fmt.Sprintf("items[%d]", i)
		id(path+".id", it.ID)
		if items[it.ID] {
			p.add(path+".id", "duplicate id %q", it.ID)
		}
		items[it.ID] = true
		text(path+".name", it.Name, true)
		text(path+".description", it.Description, false)
	}
	chars := map[string]int{}
	for i, c := range s.Characters {
		if _, dup := chars[c.ID]; !dup {
			chars[c.ID] = i
		}
	}
	facts := map[string]bool{}
	if len(s.Facts) > MaxFacts {
		p.add("facts", "%d facts, more than %d", len(s.Facts), MaxFacts)
	}
	for i, f := range s.Facts {
		path := fmt.Sprintf("facts[%d]", i)
		id(path+".id", f.ID)
		if facts[f.ID] {
			p.add(path+".id", "duplicate id %q", f.ID)
		}
		facts[f.ID] = true
		text(path+".text", f.Text, true)
		if f.About != "" {
			if _, ok := chars[f.About]; !ok {
				p.add(path+".about", "unknown character %q", f.About)
			}
		}
		if f.Sway < -1 || f.Sway > 1 {
			p.add(path+".sway", "%v is outside -1..1", f.Sway)
		}
		if f.Item != "" && !items[f.Item] {
			p.add(path+".item", "unknown item %q", f.Item)
		}
		if f.Location != "" {
			if _, ok := locs[f.Location]; !ok {
				p.add(path+".location", "unknown location %q", f.Location)
			}
		}
		if f.Holder != "" {
			if _, ok := chars[f.Holder]; !ok {
				p.add(path+".holder", "unknown character %q", f.Holder)
			}
		}
		if (f.Location != "" || f.Holder != "") && f.Item == "" {
			p.add(path+".item", "is required when a fact tells a location or holder")
		}
		if f.Location != "" && f.Holder != "" {
			p.add(path, "a fact tells either a location or a holder, not both")
		}
	}
	// Where each item starts (for "one place at a time") and which facts
	// can ever be learned.
	itemHome := map[string]string{}
	place := func(path, item, where string) {
		if !items[item] {
			p.add(path, "unknown item %q", item)
			return
		}
		if prev, ok := itemHome[item]; ok {
			p.add(path, "item %q is already placed at %s", item, prev)
			return
		}
		itemHome[item] = where
	}
	learnable := map[string]bool{}
	for i, l := range s.Locations {
		path := fmt.Sprintf("locations[%d]", i)
		seen := map[string]bool{}
		for j, e := range l.Exits {
			ep := fmt.Sprintf("%s.exits[%d]", path, j)
			if _, ok := locs[e]; !ok {
				p.add(ep, "unknown exit %q", e)
			} else if e == l.ID {
				p.add(ep, "exit leads back to %q itself", e)
			} else if seen[e] {
				p.add(ep, "duplicate exit %q", e)
			}
			seen[e] = true
		}
		for j, it := range l.Items {
			place(fmt.Sprintf("%s.items[%d]", path, j), it, path)
		}
		for j, it := range l.Hidden {
			place(fmt.Sprintf("%s.hidden[%d]", path, j), it, path)
		}
		for j, f := range l.Facts {
			if !facts[f] {
				p.add(fmt.Sprintf("%s.facts[%d]", path, j), "unknown fact %q", f)
			}
			learnable[f] = true
		}
	}

	// Characters.
	switch {
	case len(s.Characters) == 0:
		p.add("characters", "at least one character is required")
	case len(s.Characters) > MaxCharacters:
		p.add("characters", "%d characters, more than %d", len(s.Characters), MaxCharacters)
	}
	seenChar := map[string]bool{}
	for i, c := range s.Characters {
		path := fmt.Sprintf("characters[%d]", i)
		id(path+".id", c.ID)
		if seenChar[c.ID] {
			p.add(path+".id", "duplicate id %q", c.ID)
		}
		seenChar[c.ID] = true
		text(path+".name", c.Name, true)
		text(path+".role", c.Role, true)
		text(path+".faction", c.Faction, false)
		switch c.Pronoun {
		case "", "she", "he", "they":
		default:
			p.add(path+".pronoun", "%q is not one of she, he, they", c.Pronoun)
		}
		for _, k := range sortedKeys(c.Traits) {
			v := c.Traits[k]
			if !slices.Contains(TraitNames, k) {
				p.add(path+".traits."+k, "unknown trait (known: %s)", strings.Join(TraitNames, ", "))
			} else if v < 0 || v > 1 {
				p.add(path+".traits."+k, "%v is outside 0..1", v)
			}
		}
		for _, k := range sortedKeys(c.Relationships) {
			v := c.Relationships[k]
			if _, ok := chars[k]; !ok {
				p.add(path+".relationships."+k, "unknown character %q", k)
			} else if k == c.ID {
				p.add(path+".relationships."+k, "a character has no relationship with itself")
			}
			if v < -1 || v > 1 {
				p.add(path+".relationships."+k, "%v is outside -1..1", v)
			}
		}
		if _, ok := locs[c.Start]; !ok {
			p.add(path+".start", "unknown location %q", c.Start)
		}
		if c.Health < 0 || c.Health > 100 {
			p.add(path+".health", "%d is outside 1..100", c.Health)
		}
		for j, it := range c.Inventory {
			place(fmt.Sprintf("%s.inventory[%d]", path, j), it, path)
		}
		for j, f := range c.Knows {
			if !facts[f] {
				p.add(fmt.Sprintf("%s.knows[%d]", path, j), "unknown fact %q", f)
			}
			learnable[f] = true
		}
		if len(c.Voice) > 8 {
			p.add(path+".voice", "%d lines, more than 8", len(c.Voice))
		}
		for j, v := range c.Voice {
			text(fmt.Sprintf("%s.voice[%d]", path, j), v, true)
			if len(v) > MaxActionText {
				p.add(fmt.Sprintf("%s.voice[%d]", path, j), "is %d bytes, more than %d", len(v), MaxActionText)
			}
		}
		if len(c.Goals) > MaxGoals {
			p.add(path+".goals", "%d goals, more than %d", len(c.Goals), MaxGoals)
		}
	}
	// Events place items and reveal facts, so collect those before goals
	// and end conditions are checked for reachability.
	flags := map[string]bool{}
	for _, e := range s.Events {
		if e.Effect.Item != "" && items[e.Effect.Item] && e.Effect.Kind == EffectDiscovery {
			if _, ok := itemHome[e.Effect.Item]; !ok {
				itemHome[e.Effect.Item] = "event " + e.ID
			}
		}
		if e.Effect.Fact != "" {
			learnable[e.Effect.Fact] = true
		}
		if e.Effect.Flag != "" {
			flags[e.Effect.Flag] = true
		}
	}
	// Reachable locations: from every start and arrival, over exits both ways.
	adj := map[string][]string{}
	for _, l := range s.Locations {
		for _, e := range l.Exits {
			if _, ok := locs[e]; ok {
				adj[l.ID] = append(adj[l.ID], e)
				adj[e] = append(adj[e], l.ID)
			}
		}
	}
	reach := map[string]bool{}
	var visit func(string)
	visit = func(l string) {
		if reach[l] {
			return
		}
		reach[l] = true
		for _, n := range adj[l] {
			visit(n)
		}
	}
	for _, c := range s.Characters {
		if _, ok := locs[c.Start]; ok {
			visit(c.Start)
		}
	}
	for _, e := range s.Events {
		if e.Effect.Kind == EffectArrival {
			if _, ok := locs[e.Effect.Location]; ok {
				visit(e.Effect.Location)
			}
		}
	}

	for i, c := range s.Characters {
		gids := map[string]bool{}
		for j, g := range c.Goals {
			path := fmt.Sprintf("characters[%d].goals[%d]", i, j)
			id(path+".id", g.ID)
			if gids[g.ID] {
				p.add(path+".id", "duplicate id %q", g.ID)
			}
			gids[g.ID] = true
			text(path+".text", g.Text, true)
			if g.After != "" {
				if g.After == g.ID {
					p.add(path+".after", "a goal cannot come after itself")
				} else if !slices.ContainsFunc(c.Goals, func(o Goal) bool { return o.ID == g.After }) {
					p.add(path+".after", "unknown goal %q", g.After)
				}
			}
			text(path+".won", g.Won, false)
			text(path+".lost", g.Lost, false)
			needItem := func() {
				if g.Item == "" {
					p.add(path+".item", "is required for a %s goal", g.Kind)
				} else if !items[g.Item] {
					p.add(path+".item", "unknown item %q", g.Item)
				} else if _, ok := itemHome[g.Item]; !ok {
					p.add(path+".item", "item %q is never placed anywhere, so the goal cannot be reached", g.Item)
				}
			}
			needLoc := func() {
				if _, ok := locs[g.Location]; !ok {
					p.add(path+".location", "unknown location %q", g.Location)
				} else if !reach[g.Location] {
					p.add(path+".location", "location %q cannot be reached from any starting place", g.Location)
				}
			}
			needTarget := func() {
				if _, ok := chars[g.Target]; !ok {
					p.add(path+".target", "unknown character %q", g.Target)
				} else if g.Target == c.ID {
					p.add(path+".target", "a goal cannot target its own character")
				}
			}
			switch g.Kind {
			case GoalObtain:
				needItem()
			case GoalDeliver:
				needItem()
				if g.Target != "" {
					needTarget()
					if g.Location != "" {
						needLoc()
					}
				} else {
					needLoc()
				}
			case GoalReach:
				needLoc()
			case GoalDefeat, GoalProtect, GoalBefriend:
				needTarget()
			case GoalLearn:
				if g.Location != "" {
					needLoc()
				}
				if !facts[g.Fact] {
					p.add(path+".fact", "unknown fact %q", g.Fact)
				} else if !learnable[g.Fact] {
					p.add(path+".fact", "fact %q is never found, known or told, so the goal cannot be reached", g.Fact)
				}
			default:
				p.add(path+".kind", "unknown goal kind %q (known: %s)", g.Kind, strings.Join(goalKinds, ", "))
			}
		}
	}

	condition := func(path string, c Condition) {
		switch c.Kind {
		case "turn":
			if c.Turn < 1 || c.Turn > MaxTriggerTurn {
				p.add(path+".turn", "%d is outside 1..%d", c.Turn, MaxTriggerTurn)
			}
		case "climax":
			if c.Turn < 0 || c.Turn > MaxTriggerTurn {
				p.add(path+".turn", "%d is outside 0..%d", c.Turn, MaxTriggerTurn)
			}
			if !slices.ContainsFunc(s.Events, func(e ScriptedEvent) bool { return e.Trigger.Climax }) {
				p.add(path+".kind", "no event is a climax, so the condition cannot hold")
			}
		case "at", "holds", "item_at", "dead", "knows", "goal":
		case "flag":
			if c.Flag == "" {
				p.add(path+".flag", "is required")
			} else if !flags[c.Flag] {
				p.add(path+".flag", "flag %q is never set by any event, so the condition cannot hold", c.Flag)
			}
		default:
			p.add(path+".kind", "unknown condition kind %q (known: %s)", c.Kind, strings.Join(conditionKinds, ", "))
			return
		}
		charRequired := c.Kind == "at" || c.Kind == "dead" || c.Kind == "goal"
		if c.Character != "" || charRequired {
			if _, ok := chars[c.Character]; !ok {
				p.add(path+".character", "unknown character %q", c.Character)
			}
		}
		if c.Kind == "at" || c.Kind == "item_at" {
			if _, ok := locs[c.Location]; !ok {
				p.add(path+".location", "unknown location %q", c.Location)
			} else if !reach[c.Location] {
				p.add(path+".location", "location %q cannot be reached from any starting place", c.Location)
			}
		}
		if c.Kind == "holds" || c.Kind == "item_at" {
			if !items[c.Item] {
				p.add(path+".item", "unknown item %q", c.Item)
			} else if _, ok := itemHome[c.Item]; !ok {
				p.add(path+".item", "item %q is never placed anywhere, so the condition cannot hold", c.Item)
			}
		}
		if c.Kind == "knows" {
			if !facts[c.Fact] {
				p.add(path+".fact", "unknown fact %q", c.Fact)
			} else if !learnable[c.Fact] {
				p.add(path+".fact", "fact %q is never found, known or told, so the condition cannot hold", c.Fact)
			}
		}
		if c.Kind == "goal" {
			if ci, ok := chars[c.Character]; ok {
				if !slices.ContainsFunc(s.Characters[ci].Goals, func(g Goal) bool { return g.ID == c.Goal }) {
					p.add(path+".goal", "character %q has no goal %q", c.Character, c.Goal)
				}
			}
			switch c.Status {
			case "won", "lost", "resolved":
			default:
				p.add(path+".status", "%q is not one of won, lost, resolved", c.Status)
			}
		}
	}

	if len(s.Events) > MaxEvents {
		p.add("events", "%d events, more than %d", len(s.Events), MaxEvents)
	}
	eids := map[string]bool{}
	for i, e := range s.Events {
		path := fmt.Sprintf("events[%d]", i)
		id(path+".id", e.ID)
		if eids[e.ID] {
			p.add(path+".id", "duplicate id %q", e.ID)
		}
		eids[e.ID] = true
		if e.Trigger.Turn < 0 || e.Trigger.Turn > MaxTriggerTurn {
			p.add(path+".trigger.turn", "%d is outside 0..%d", e.Trigger.Turn, MaxTriggerTurn)
		}
		if e.Trigger.Turn == 0 && len(e.Trigger.When) == 0 && !e.Trigger.Climax {
			p.add(path+".trigger", "needs a turn or at least one condition")
		}
		for j, c := range e.Trigger.When {
			condition(fmt.Sprintf("%s.trigger.when[%d]", path, j), c)
		}
		ef := e.Effect
		ep := path + ".effect"
		text(ep+".text", ef.Text, true)
		if ef.Tension < -1 || ef.Tension > 1 {
			p.add(ep+".tension", "%v is outside -1..1", ef.Tension)
		}
		if ef.Damage < 0 || ef.Damage > 100 {
			p.add(ep+".damage", "%d is outside 0..100", ef.Damage)
		}
		if ef.Location != "" {
			if _, ok := locs[ef.Location]; !ok {
				p.add(ep+".location", "unknown location %q", ef.Location)
			}
		}
		if ef.Character != "" {
			if _, ok := chars[ef.Character]; !ok {
				p.add(ep+".character", "unknown character %q", ef.Character)
			}
		}
		if ef.Item != "" && !items[ef.Item] {
			p.add(ep+".item", "unknown item %q", ef.Item)
		}
		if ef.Fact != "" && !facts[ef.Fact] {
			p.add(ep+".fact", "unknown fact %q", ef.Fact)
		}
		switch ef.Kind {
		case EffectArrival:
			if ef.Character == "" {
				p.add(ep+".character", "is required for an arrival")
			}
			if ef.Location == "" {
				p.add(ep+".location", "is required for an arrival")
			}
		case EffectDiscovery:
			if ef.Item == "" && ef.Fact == "" {
				p.add(ep, "a discovery needs an item or a fact")
			}
			if ef.Location == "" {
				p.add(ep+".location", "is required for a discovery")
			}
			if ef.Item != "" && items[ef.Item] && itemHome[ef.Item] != "event "+e.ID {
				p.add(ep+".item", "item %q is already placed at %s", ef.Item, itemHome[ef.Item])
			}
		case EffectWeather, EffectMessage:
		default:
			p.add(ep+".kind", "unknown effect kind %q (known: %s)", ef.Kind, strings.Join(effectKinds, ", "))
		}
	}
	for i, c := range s.Characters {
		if !c.Offstage {
			continue
		}
		if !slices.ContainsFunc(s.Events, func(e ScriptedEvent) bool {
			return e.Effect.Kind == EffectArrival && e.Effect.Character == c.ID
		}) {
			p.add(fmt.Sprintf("characters[%d].offstage", i), "no arrival event brings %q on stage", c.ID)
		}
	}

	for i, c := range s.Characters {
		for j, g := range c.Goals {
			for k, cond := range g.Requires {
				condition(fmt.Sprintf("characters[%d].goals[%d].requires[%d]", i, j, k), cond)
			}
		}
	}

	endIDs := map[string]bool{}
	for i, e := range s.End {
		path := fmt.Sprintf("end[%d]", i)
		id(path+".id", e.ID)
		if endIDs[e.ID] {
			p.add(path+".id", "duplicate id %q", e.ID)
		}
		endIDs[e.ID] = true
		text(path+".text", e.Text, true)
		if len(e.When) == 0 {
			p.add(path+".when", "at least one condition is required")
		}
		for j, c := range e.When {
			condition(fmt.Sprintf("%s.when[%d]", path, j), c)
		}
		// A character cannot be in two places, nor dead and arrived.
		at := map[string]string{}
		for j, c := range e.When {
			if c.Kind != "at" {
				continue
			}
			if prev, ok := at[c.Character]; ok && prev != c.Location {
				p.add(fmt.Sprintf("%s.when[%d]", path, j), "unreachable: %q cannot be at both %q and %q", c.Character, prev, c.Location)
			}
			at[c.Character] = c.Location
		}
	}
	return errors.Join(p...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
