package engine

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const minimalYAML = `
id: tiny
title: Tiny
premise: Two people and a key.
genre: test
locations:
  - {id: a, name: Room A, exits: [b]}
  - {id: b, name: Room B, exits: [], items: [key]}
items:
  - {id: key, name: a key}
facts:
  - {id: f, text: the key opens nothing}
characters:
  - id: x
    name: X
    role: finder
    start: a
    traits: {courage: 0.5}
    relationships: {y: 0.2}
    goals:
      - {id: g, kind: obtain, item: key, text: to get the key}
  - {id: y, name: Y, role: keeper, start: b}
events:
  - id: e
    trigger: {turn: 2}
    effect: {kind: message, text: A bell rang.}
end:
  - id: done
    when: [{kind: holds, character: x, item: key}]
    text: X had the key.
`

func TestParseYAMLAndJSON(t *testing.T) {
	sc, err := ParseScenario([]byte(minimalYAML))
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	sc2, err := ParseScenario(js)
	if err != nil {
		t.Fatalf("JSON of a valid scenario: %v", err)
	}
	js2, _ := json.Marshal(sc2)
	if string(js) != string(js2) {
		t.Fatal("JSON round trip changed the scenario")
	}
	// Every built-in survives the trip through JSON.
	for _, b := range Builtins() {
		data, _ := json.Marshal(b)
		if _, err := ParseScenario(data); err != nil {
			t.Errorf("%s as JSON: %v", b.ID, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"unknown YAML field", minimalYAML + "colour: red\n", "field colour not found"},
		{"unknown JSON field", `{"id":"x","colour":"red"}`, `unknown field "colour"`},
		{"trailing JSON", `{"id":"x"} {}`, "invalid JSON"},
		{"broken JSON", `{"id":`, "invalid JSON"},
		{"empty", ``, "empty document"},
		{"two YAML documents", minimalYAML + "---\nid: other\n", "more than one document"},
		{"too big", "id: x\npremise: " + strings.Repeat("a", MaxScenarioBytes), "exceeds the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseScenario([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Scenario)
		want   string
	}{
		{"bad id", func(s *Scenario) { s.ID = "Bad Id" }, `id: "Bad Id" is not a valid id`},
		{"no title", func(s *Scenario) { s.Title = " " }, "title: is required"},
		{"no premise", func(s *Scenario) { s.Premise = "" }, "premise: is required"},
		{"no genre", func(s *Scenario) { s.Genre = "" }, "genre: is required"},
		{"negative length", func(s *Scenario) { s.Length = -1 }, "length: -1 is outside"},
		{"climax condition without a climax", func(s *Scenario) {
			s.End = append(s.End, EndCondition{ID: "late", Text: "Late.", When: []Condition{{Kind: "climax", Turn: 2}}})
		}, `when[0].kind: no event is a climax`},
		{"bad goal requirement", func(s *Scenario) {
			s.Characters[0].Goals = append(s.Characters[0].Goals, Goal{ID: "req", Kind: GoalReach, Location: s.Characters[0].Start, Text: "to stay", Requires: []Condition{{Kind: "flag", Flag: "never"}}})
		}, `characters[0].goals[`},
		{"no locations", func(s *Scenario) { s.Locations = nil; s.Characters = nil }, "locations: at least one location"},
		{"too many locations", func(s *Scenario) {
			for len(s.Locations) <= MaxLocations {
				s.Locations = append(s.Locations, Location{ID: "l" + strings.Repeat("x", len(s.Locations)%30) + string(rune('a'+len(s.Locations)%26)), Name: "L"})
			}
		}, "locations: "},
		{"duplicate location", func(s *Scenario) { s.Locations[1].ID = "a" }, `locations[1].id: duplicate id "a"`},
		{"unknown exit", func(s *Scenario) { s.Locations[0].Exits = []string{"nowhere"} }, `locations[0].exits[0]: unknown exit "nowhere"`},
		{"exit to itself", func(s *Scenario) { s.Locations[0].Exits = []string{"a"} }, "exit leads back"},
		{"duplicate exit", func(s *Scenario) { s.Locations[0].Exits = []string{"b", "b"} }, `locations[0].exits[1]: duplicate exit "b"`},
		{"location name", func(s *Scenario) { s.Locations[0].Name = "" }, "locations[0].name: is required"},
		{"long description", func(s *Scenario) { s.Locations[0].Description = strings.Repeat("a", MaxTextLen+1) }, "locations[0].description: is 2001 bytes"},
		{"unknown item in location", func(s *Scenario) { s.Locations[1].Items = []string{"crown"} }, `locations[1].items[0]: unknown item "crown"`},
		{"item placed twice", func(s *Scenario) { s.Characters[1].Inventory = []string{"key"} }, `characters[1].inventory[0]: item "key" is already placed`},
		{"duplicate item", func(s *Scenario) { s.Items = append(s.Items, Item{ID: "key", Name: "k"}) }, `items[1].id: duplicate id "key"`},
		{"unknown fact in location", func(s *Scenario) { s.Locations[0].Facts = []string{"nope"} }, `locations[0].facts[0]: unknown fact "nope"`},
		{"fact sway", func(s *Scenario) { s.Facts[0].Sway = 2 }, "facts[0].sway: 2 is outside -1..1"},
		{"fact about nobody", func(s *Scenario) { s.Facts[0].About = "z" }, `facts[0].about: unknown character "z"`},
		{"fact location without item", func(s *Scenario) { s.Facts[0].Location = "a" }, "facts[0].item: is required"},
		{"no characters", func(s *Scenario) { s.Characters = nil }, "characters: at least one character"},
		{"too many characters", func(s *Scenario) {
			for len(s.Characters) <= MaxCharacters {
				s.Characters = append(s.Characters, Character{ID: "c" + string(rune('a'+len(s.Characters)%26)) + strings.Repeat("z", len(s.Characters)/26), Name: "C", Role: "r", Start: "a"})
			}
		}, "more than 24"},
		{"duplicate character", func(s *Scenario) { s.Characters[1].ID = "x" }, `characters[1].id: duplicate id "x"`},
		{"no role", func(s *Scenario) { s.Characters[0].Role = "" }, "characters[0].role: is required"},
		{"bad pronoun", func(s *Scenario) { s.Characters[0].Pronoun = "it" }, `characters[0].pronoun: "it" is not one of`},
		{"trait out of range", func(s *Scenario) { s.Characters[0].Traits["courage"] = 1.5 }, "characters[0].traits.courage: 1.5 is outside 0..1"},
		{"unknown trait", func(s *Scenario) { s.Characters[0].Traits["charm"] = 0.5 }, "characters[0].traits.charm: unknown trait"},
		{"relationship out of range", func(s *Scenario) { s.Characters[0].Relationships["y"] = -1.5 }, "characters[0].relationships.y: -1.5 is outside -1..1"},
		{"relationship with stranger", func(s *Scenario) { s.Characters[0].Relationships["z"] = 0 }, `characters[0].relationships.z: unknown character "z"`},
		{"relationship with self", func(s *Scenario) { s.Characters[0].Relationships["x"] = 0 }, "no relationship with itself"},
		{"unknown start", func(s *Scenario) { s.Characters[0].Start = "moon" }, `characters[0].start: unknown location "moon"`},
		{"health", func(s *Scenario) { s.Characters[0].Health = 101 }, "characters[0].health: 101 is outside 1..100"},
		{"unknown known fact", func(s *Scenario) { s.Characters[0].Knows = []string{"nope"} }, `characters[0].knows[0]: unknown fact "nope"`},
		{"long voice", func(s *Scenario) { s.Characters[0].Voice = []string{strings.Repeat("a", 501)} }, "characters[0].voice[0]: is 501 bytes"},
		{"offstage without arrival", func(s *Scenario) { s.Characters[1].Offstage = true }, "characters[1].offstage: no arrival event"},
		{"unknown goal kind", func(s *Scenario) { s.Characters[0].Goals[0].Kind = "rule" }, `characters[0].goals[0].kind: unknown goal kind "rule"`},
		{"goal item unknown", func(s *Scenario) { s.Characters[0].Goals[0].Item = "crown" }, `characters[0].goals[0].item: unknown item "crown"`},
		{"goal item never placed", func(s *Scenario) {
			s.Items = append(s.Items, Item{ID: "ghost", Name: "g"})
			s.Characters[0].Goals[0].Item = "ghost"
		}, `item "ghost" is never placed anywhere`},
		{"goal location unreachable", func(s *Scenario) {
			s.Locations = append(s.Locations, Location{ID: "island", Name: "I"})
			s.Characters[0].Goals[0] = Goal{ID: "g", Kind: GoalReach, Location: "island", Text: "to go"}
		}, `characters[0].goals[0].location: location "island" cannot be reached`},
		{"goal target self", func(s *Scenario) {
			s.Characters[0].Goals[0] = Goal{ID: "g", Kind: GoalDefeat, Target: "x", Text: "to win"}
		}, "cannot target its own character"},
		{"goal fact never learnable", func(s *Scenario) {
			s.Characters[0].Goals[0] = Goal{ID: "g", Kind: GoalLearn, Fact: "f", Text: "to know"}
		}, `fact "f" is never found, known or told`},
		{"goal without text", func(s *Scenario) { s.Characters[0].Goals[0].Text = "" }, "characters[0].goals[0].text: is required"},
		{"goal after unknown", func(s *Scenario) { s.Characters[0].Goals[0].After = "zz" }, `characters[0].goals[0].after: unknown goal "zz"`},
		{"duplicate goal", func(s *Scenario) { s.Characters[0].Goals = append(s.Characters[0].Goals, s.Characters[0].Goals[0]) }, `characters[0].goals[1].id: duplicate id "g"`},
		{"event without trigger", func(s *Scenario) { s.Events[0].Trigger = Trigger{} }, "events[0].trigger: needs a turn or at least one condition"},
		{"unknown effect kind", func(s *Scenario) { s.Events[0].Effect.Kind = "earthquake" }, `events[0].effect.kind: unknown effect kind "earthquake"`},
		{"effect without text", func(s *Scenario) { s.Events[0].Effect.Text = "" }, "events[0].effect.text: is required"},
		{"arrival without character", func(s *Scenario) { s.Events[0].Effect = Effect{Kind: EffectArrival, Text: "t", Location: "a"} }, "events[0].effect.character: is required for an arrival"},
		{"discovery of nothing", func(s *Scenario) { s.Events[0].Effect = Effect{Kind: EffectDiscovery, Text: "t", Location: "a"} }, "a discovery needs an item or a fact"},
		{"effect tension", func(s *Scenario) { s.Events[0].Effect.Tension = 3 }, "events[0].effect.tension: 3 is outside -1..1"},
		{"unknown condition", func(s *Scenario) { s.Events[0].Trigger.When = []Condition{{Kind: "moon"}} }, `events[0].trigger.when[0].kind: unknown condition kind "moon"`},
		{"flag never set", func(s *Scenario) { s.End[0].When = []Condition{{Kind: "flag", Flag: "never"}} }, `end[0].when[0].flag: flag "never" is never set`},
		{"end without conditions", func(s *Scenario) { s.End[0].When = nil }, "end[0].when: at least one condition is required"},
		{"end without text", func(s *Scenario) { s.End[0].Text = "" }, "end[0].text: is required"},
		{"end unknown item", func(s *Scenario) { s.End[0].When[0].Item = "crown" }, `end[0].when[0].item: unknown item "crown"`},
		{"end unreachable place", func(s *Scenario) {
			s.Locations = append(s.Locations, Location{ID: "island", Name: "I"})
			s.End[0].When = []Condition{{Kind: "at", Character: "x", Location: "island"}}
		}, `end[0].when[0].location: location "island" cannot be reached`},
		{"end two places at once", func(s *Scenario) {
			s.End[0].When = []Condition{{Kind: "at", Character: "x", Location: "a"}, {Kind: "at", Character: "x", Location: "b"}}
		}, `unreachable: "x" cannot be at both "a" and "b"`},
		{"end turn too late", func(s *Scenario) { s.End[0].When = []Condition{{Kind: "turn", Turn: MaxTriggerTurn + 1}} }, "end[0].when[0].turn: 10001 is outside"},
		{"end goal unknown", func(s *Scenario) {
			s.End[0].When = []Condition{{Kind: "goal", Character: "x", Goal: "zz", Status: "won"}}
		}, `character "x" has no goal "zz"`},
		{"end goal status", func(s *Scenario) {
			s.End[0].When = []Condition{{Kind: "goal", Character: "x", Goal: "g", Status: "maybe"}}
		}, `end[0].when[0].status: "maybe" is not one of`},
		{"end fact never learnable", func(s *Scenario) { s.End[0].When = []Condition{{Kind: "knows", Fact: "f"}} }, `fact "f" is never found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sc Scenario
			if err := yaml.Unmarshal([]byte(minimalYAML), &sc); err != nil {
				t.Fatal(err)
			}
			if err := sc.Validate(); err != nil {
				t.Fatalf("base scenario invalid: %v", err)
			}
			tt.mutate(&sc)
			err := sc.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateJoinsProblems(t *testing.T) {
	var sc Scenario
	if err := yaml.Unmarshal([]byte(minimalYAML), &sc); err != nil {
		t.Fatal(err)
	}
	sc.Title = ""
	sc.Characters[0].Start = "moon"
	err := sc.Validate()
	if err == nil || !strings.Contains(err.Error(), "title") || !strings.Contains(err.Error(), "characters[0].start") {
		t.Fatalf("want both problems, got %v", err)
	}
}

func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/scenarios.md")
	if err != nil {
		t.Skip("docs not found")
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	if !ok {
		t.Fatal("no YAML example in docs/scenarios.md")
	}
	example, _, _ := strings.Cut(rest, "```")
	sc, err := ParseScenario([]byte(example))
	if err != nil {
		t.Fatalf("the documented example is invalid: %v", err)
	}
	s := startSim(t, sc, 7, Options{})
	play(t, s, 200, nil)
	if !s.Finished() {
		t.Fatal("the documented example does not end within 200 turns")
	}
}
