// Validating what can happen in a scenario: reachable places, goals,
// conditions, scripted events and endings. The checks of the cast and
// the world they start in are in scenario_validate.go.

package engine

import (
	"fmt"
	"slices"
	"strings"
)

// noteEventEffects notes the items events place, the facts they reveal
// and the flags they set.
func (v *validator) noteEventEffects() {
	for _, e := range v.s.Events {
		if e.Effect.Item != "" && v.items[e.Effect.Item] && e.Effect.Kind == EffectDiscovery {
			if _, ok := v.itemHome[e.Effect.Item]; !ok {
				v.itemHome[e.Effect.Item] = "event " + e.ID
			}
		}
		if e.Effect.Fact != "" {
			v.learnable[e.Effect.Fact] = true
		}
		if e.Effect.Flag != "" {
			v.flags[e.Effect.Flag] = true
		}
	}
}

// findReachable marks the locations reachable from every start and
// arrival, over exits both ways.
func (v *validator) findReachable() {
	adj := map[string][]string{}
	for _, l := range v.s.Locations {
		for _, e := range l.Exits {
			if _, ok := v.locs[e]; ok {
				adj[l.ID] = append(adj[l.ID], e)
				adj[e] = append(adj[e], l.ID)
			}
		}
	}
	var visit func(string)
	visit = func(l string) {
		if v.reach[l] {
			return
		}
		v.reach[l] = true
		for _, n := range adj[l] {
			visit(n)
		}
	}
	for _, c := range v.s.Characters {
		if _, ok := v.locs[c.Start]; ok {
			visit(c.Start)
		}
	}
	for _, e := range v.s.Events {
		if e.Effect.Kind == EffectArrival {
			if _, ok := v.locs[e.Effect.Location]; ok {
				visit(e.Effect.Location)
			}
		}
	}
}

// reachableLocation reports a location that is unknown or that nobody
// can get to.
func (v *validator) reachableLocation(path, loc string) {
	if _, ok := v.locs[loc]; !ok {
		v.p.add(path, "unknown location %q", loc)
	} else if !v.reach[loc] {
		v.p.add(path, "location %q cannot be reached from any starting place", loc)
	}
}

// checkGoals checks every character's goals.
func (v *validator) checkGoals() {
	for i, c := range v.s.Characters {
		ids := map[string]bool{}
		for j, g := range c.Goals {
			path := fmt.Sprintf("characters[%d].goals[%d]", i, j)
			v.id(path+".id", g.ID)
			if ids[g.ID] {
				v.p.add(path+".id", "duplicate id %q", g.ID)
			}
			ids[g.ID] = true
			v.checkGoal(path, c, g)
		}
	}
}

// checkGoal checks one goal: its texts, the goal it comes after, and
// that what it names exists and can be reached.
func (v *validator) checkGoal(path string, c Character, g Goal) {
	v.text(path+".text", g.Text, true)
	if g.After != "" {
		if g.After == g.ID {
			v.p.add(path+".after", "a goal cannot come after itself")
		} else if !slices.ContainsFunc(c.Goals, func(o Goal) bool { return o.ID == g.After }) {
			v.p.add(path+".after", "unknown goal %q", g.After)
		}
	}
	v.text(path+".won", g.Won, false)
	v.text(path+".lost", g.Lost, false)
	switch g.Kind {
	case GoalObtain:
		v.goalItem(path, g)
	case GoalDeliver:
		v.goalItem(path, g)
		if g.Target != "" {
			v.goalTarget(path, c, g)
			if g.Location != "" {
				v.reachableLocation(path+".location", g.Location)
			}
		} else {
			v.reachableLocation(path+".location", g.Location)
		}
	case GoalReach:
		v.reachableLocation(path+".location", g.Location)
	case GoalDefeat, GoalProtect, GoalBefriend:
		v.goalTarget(path, c, g)
	case GoalLearn:
		if g.Location != "" {
			v.reachableLocation(path+".location", g.Location)
		}
		if !v.facts[g.Fact] {
			v.p.add(path+".fact", "unknown fact %q", g.Fact)
		} else if !v.learnable[g.Fact] {
			v.p.add(path+".fact", "fact %q is never found, known or told, so the goal cannot be reached", g.Fact)
		}
	default:
		v.p.add(path+".kind", "unknown goal kind %q (known: %s)", g.Kind, strings.Join(goalKinds, ", "))
	}
}

// goalItem checks the item a goal is on exists and is placed somewhere.
func (v *validator) goalItem(path string, g Goal) {
	if g.Item == "" {
		v.p.add(path+".item", "is required for a %s goal", g.Kind)
	} else if !v.items[g.Item] {
		v.p.add(path+".item", "unknown item %q", g.Item)
	} else if _, ok := v.itemHome[g.Item]; !ok {
		v.p.add(path+".item", "item %q is never placed anywhere, so the goal cannot be reached", g.Item)
	}
}

// goalTarget checks the character a goal is about exists and is another.
func (v *validator) goalTarget(path string, c Character, g Goal) {
	if _, ok := v.chars[g.Target]; !ok {
		v.p.add(path+".target", "unknown character %q", g.Target)
	} else if g.Target == c.ID {
		v.p.add(path+".target", "a goal cannot target its own character")
	}
}

// checkCondition checks a condition of a trigger, a goal requirement or
// an end: its kind and fields, and that it can ever hold.
func (v *validator) checkCondition(path string, c Condition) {
	switch c.Kind {
	case "turn":
		if c.Turn < 1 || c.Turn > MaxTriggerTurn {
			v.p.add(path+".turn", "%d is outside 1..%d", c.Turn, MaxTriggerTurn)
		}
	case "climax":
		if c.Turn < 0 || c.Turn > MaxTriggerTurn {
			v.p.add(path+".turn", "%d is outside 0..%d", c.Turn, MaxTriggerTurn)
		}
		if !slices.ContainsFunc(v.s.Events, func(e ScriptedEvent) bool { return e.Trigger.Climax }) {
			v.p.add(path+".kind", "no event is a climax, so the condition cannot hold")
		}
	case "at", "holds", "item_at", "dead", "knows", "goal":
	case "flag":
		if c.Flag == "" {
			v.p.add(path+".flag", "is required")
		} else if !v.flags[c.Flag] {
			v.p.add(path+".flag", "flag %q is never set by any event, so the condition cannot hold", c.Flag)
		}
	default:
		v.p.add(path+".kind", "unknown condition kind %q (known: %s)", c.Kind, strings.Join(conditionKinds, ", "))
		return
	}
	v.checkConditionFields(path, c)
}

// checkConditionFields checks the character, location, item, fact and
// goal a condition names, as its kind needs them.
func (v *validator) checkConditionFields(path string, c Condition) {
	charRequired := c.Kind == "at" || c.Kind == "dead" || c.Kind == "goal"
	if c.Character != "" || charRequired {
		v.knownCharacter(path+".character", c.Character)
	}
	if c.Kind == "at" || c.Kind == "item_at" {
		v.reachableLocation(path+".location", c.Location)
	}
	if c.Kind == "holds" || c.Kind == "item_at" {
		if !v.items[c.Item] {
			v.p.add(path+".item", "unknown item %q", c.Item)
		} else if _, ok := v.itemHome[c.Item]; !ok {
			v.p.add(path+".item", "item %q is never placed anywhere, so the condition cannot hold", c.Item)
		}
	}
	if c.Kind == "knows" {
		if !v.facts[c.Fact] {
			v.p.add(path+".fact", "unknown fact %q", c.Fact)
		} else if !v.learnable[c.Fact] {
			v.p.add(path+".fact", "fact %q is never found, known or told, so the condition cannot hold", c.Fact)
		}
	}
	if c.Kind == "goal" {
		if ci, ok := v.chars[c.Character]; ok {
			if !slices.ContainsFunc(v.s.Characters[ci].Goals, func(g Goal) bool { return g.ID == c.Goal }) {
				v.p.add(path+".goal", "character %q has no goal %q", c.Character, c.Goal)
			}
		}
		switch c.Status {
		case "won", "lost", "resolved":
		default:
			v.p.add(path+".status", "%q is not one of won, lost, resolved", c.Status)
		}
	}
}

// checkEvents checks each scripted event: its id, its trigger and its
// effect.
func (v *validator) checkEvents() {
	s := v.s
	if len(s.Events) > MaxEvents {
		v.p.add("events", "%d events, more than %d", len(s.Events), MaxEvents)
	}
	ids := map[string]bool{}
	for i, e := range s.Events {
		path := fmt.Sprintf("events[%d]", i)
		v.id(path+".id", e.ID)
		if ids[e.ID] {
			v.p.add(path+".id", "duplicate id %q", e.ID)
		}
		ids[e.ID] = true
		if e.Trigger.Turn < 0 || e.Trigger.Turn > MaxTriggerTurn {
			v.p.add(path+".trigger.turn", "%d is outside 0..%d", e.Trigger.Turn, MaxTriggerTurn)
		}
		if e.Trigger.Turn == 0 && len(e.Trigger.When) == 0 && !e.Trigger.Climax {
			v.p.add(path+".trigger", "needs a turn or at least one condition")
		}
		for j, c := range e.Trigger.When {
			v.checkCondition(fmt.Sprintf("%s.trigger.when[%d]", path, j), c)
		}
		v.checkEffect(path+".effect", e)
	}
}

// checkEffect checks what an event does: its text and numbers, what it
// names, and the fields its kind needs.
func (v *validator) checkEffect(ep string, e ScriptedEvent) {
	ef := e.Effect
	v.text(ep+".text", ef.Text, true)
	if ef.Tension < -1 || ef.Tension > 1 {
		v.p.add(ep+".tension", "%v is outside -1..1", ef.Tension)
	}
	if ef.Damage < 0 || ef.Damage > 100 {
		v.p.add(ep+".damage", "%d is outside 0..100", ef.Damage)
	}
	if ef.Location != "" {
		v.knownLocation(ep+".location", ef.Location)
	}
	if ef.Character != "" {
		v.knownCharacter(ep+".character", ef.Character)
	}
	if ef.Item != "" && !v.items[ef.Item] {
		v.p.add(ep+".item", "unknown item %q", ef.Item)
	}
	if ef.Fact != "" && !v.facts[ef.Fact] {
		v.p.add(ep+".fact", "unknown fact %q", ef.Fact)
	}
	switch ef.Kind {
	case EffectArrival:
		if ef.Character == "" {
			v.p.add(ep+".character", "is required for an arrival")
		}
		if ef.Location == "" {
			v.p.add(ep+".location", "is required for an arrival")
		}
	case EffectDiscovery:
		if ef.Item == "" && ef.Fact == "" {
			v.p.add(ep, "a discovery needs an item or a fact")
		}
		if ef.Location == "" {
			v.p.add(ep+".location", "is required for a discovery")
		}
		if ef.Item != "" && v.items[ef.Item] && v.itemHome[ef.Item] != "event "+e.ID {
			v.p.add(ep+".item", "item %q is already placed at %s", ef.Item, v.itemHome[ef.Item])
		}
	case EffectWeather, EffectMessage:
	default:
		v.p.add(ep+".kind", "unknown effect kind %q (known: %s)", ef.Kind, strings.Join(effectKinds, ", "))
	}
}

// checkOffstage checks every offstage character has an arrival to bring
// them on stage.
func (v *validator) checkOffstage() {
	for i, c := range v.s.Characters {
		if !c.Offstage {
			continue
		}
		if !slices.ContainsFunc(v.s.Events, func(e ScriptedEvent) bool {
			return e.Effect.Kind == EffectArrival && e.Effect.Character == c.ID
		}) {
			v.p.add(fmt.Sprintf("characters[%d].offstage", i), "no arrival event brings %q on stage", c.ID)
		}
	}
}

// checkRequirements checks the conditions goals require.
func (v *validator) checkRequirements() {
	for i, c := range v.s.Characters {
		for j, g := range c.Goals {
			for k, cond := range g.Requires {
				v.checkCondition(fmt.Sprintf("characters[%d].goals[%d].requires[%d]", i, j, k), cond)
			}
		}
	}
}

// checkEndings checks each end condition: its id, text and conditions,
// and that the conditions do not contradict each other.
func (v *validator) checkEndings() {
	ids := map[string]bool{}
	for i, e := range v.s.End {
		path := fmt.Sprintf("end[%d]", i)
		v.id(path+".id", e.ID)
		if ids[e.ID] {
			v.p.add(path+".id", "duplicate id %q", e.ID)
		}
		ids[e.ID] = true
		v.text(path+".text", e.Text, true)
		if len(e.When) == 0 {
			v.p.add(path+".when", "at least one condition is required")
		}
		for j, c := range e.When {
			v.checkCondition(fmt.Sprintf("%s.when[%d]", path, j), c)
		}
		// A character cannot be in two places, nor dead and arrived.
		at := map[string]string{}
		for j, c := range e.When {
			if c.Kind != "at" {
				continue
			}
			if prev, ok := at[c.Character]; ok && prev != c.Location {
				v.p.add(fmt.Sprintf("%s.when[%d]", path, j), "unreachable: %q cannot be at both %q and %q", c.Character, prev, c.Location)
			}
			at[c.Character] = c.Location
		}
	}
}
