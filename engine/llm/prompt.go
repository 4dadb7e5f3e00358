package llm

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/novel-engine/novel-engine/engine"
)

// maxMemories bounds the memories a prompt recalls, most salient first.
const maxMemories = 12

// systemPrompt is the same for every persona and every turn.
const systemPrompt = `You play one character in a story that unfolds turn by turn. Each turn you choose that character's next action from the options you are given. Stay in character: act on the character's traits, goals, feelings towards others and memories, and on what is in front of them. Pursue the goals, but the story is better when the choice is one the character would plausibly make.

Answer with one JSON object and nothing else:
{"kind": "<an action kind from the options>", "target": "<an id from that option, or empty>", "text": "<see below>", "why": "<one short sentence>"}

Rules:
- kind and target must be exactly as listed in the options, using ids, not names.
- For speak, text is what the character says, in their own voice, at most two sentences; leave it empty to tell the other what you know or where things are, and the story will say it for you.
- For give, text is the id of the item handed over.
- For every other kind, text is empty.`

// menu is what the persona may do this turn: every valid kind with its
// targets, in a fixed order. It renders the prompt's options and checks
// the answer.
type menu struct {
	kinds   []string            // offered, in the perception's order
	targets map[string][]string // kind → valid target ids
	optTgt  map[string]bool     // kinds whose target may be empty
	gifts   []string            // item ids the persona may give
	names   map[string]string   // lower-case name → id of the characters here, for answers that use names
}

func newMenu(p *engine.Perception) *menu {
	m := &menu{targets: map[string][]string{}, optTgt: map[string]bool{}, names: map[string]string{}}
	var alive, holding []string
	for _, o := range p.Present {
		if o.Alive {
			alive = append(alive, o.ID)
		}
		if o.Name != "" {
			m.names[strings.ToLower(o.Name)] = o.ID
		}
		for _, it := range o.Holding {
			if !slices.Contains(holding, it) && !slices.Contains(p.Place.Items, it) {
				holding = append(holding, it)
			}
		}
	}
	offer := func(kind string, targets []string, optional bool) {
		if !optional && len(targets) == 0 {
			return
		}
		m.kinds = append(m.kinds, kind)
		m.targets[kind] = targets
		m.optTgt[kind] = optional
	}
	for _, k := range p.Kinds {
		switch k {
		case engine.ActMove:
			offer(k, p.Place.Exits, false)
		case engine.ActSpeak:
			offer(k, alive, true)
		case engine.ActAttack, engine.ActHelp:
			offer(k, alive, false)
		case engine.ActTake:
			offer(k, append(slices.Clone(p.Place.Items), holding...), false)
		case engine.ActGive:
			if len(p.Self.Inventory) > 0 {
				m.gifts = p.Self.Inventory
				offer(k, alive, false)
			}
		case engine.ActSearch, engine.ActWait:
			offer(k, nil, true)
		}
		// Kinds this package does not know are not offered: it could
		// not tell a valid target from an invalid one.
	}
	return m
}

// answer is the JSON object the model is asked for.
type answer struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Text   string `json:"text"`
	Why    string `json:"why"`
}

// action turns an answer into an action valid for the perception the
// menu was made from, or says why it is not one.
func (m *menu) action(ans answer) (engine.Action, error) {
	kind := strings.ToLower(strings.TrimSpace(ans.Kind))
	if !slices.Contains(m.kinds, kind) {
		return engine.Action{}, fmt.Errorf("kind %q is not one of %s", ans.Kind, strings.Join(m.kinds, ", "))
	}
	if n := utf8.RuneCountInString(ans.Text); n > engine.MaxActionText {
		return engine.Action{}, fmt.Errorf("text is %d characters, more than %d", n, engine.MaxActionText)
	}
	a := engine.Action{Kind: kind}
	if kind == engine.ActSearch || kind == engine.ActWait {
		// No target and no text to speak of.
		return a, nil
	}
	target := strings.TrimSpace(ans.Target)
	switch lt := strings.ToLower(target); {
	case lt == "" || lt == "none" || lt == "null" || lt == "nobody" || lt == "no one":
		target = ""
	case slices.Contains(m.targets[kind], target):
	default:
		// A model may answer with a name, or change the case of an id.
		target = ""
		for _, id := range m.targets[kind] {
			if strings.EqualFold(id, lt) {
				target = id
			}
		}
		if id, ok := m.names[lt]; ok && target == "" && slices.Contains(m.targets[kind], id) {
			target = id
		}
		if target == "" {
			return engine.Action{}, fmt.Errorf("%s target %q is not one of [%s]", kind, ans.Target, strings.Join(m.targets[kind], ", "))
		}
	}
	if target == "" && !m.optTgt[kind] {
		return engine.Action{}, fmt.Errorf("%s needs a target, one of [%s]", kind, strings.Join(m.targets[kind], ", "))
	}
	a.Target = target
	switch kind {
	case engine.ActSpeak:
		a.Text = strings.TrimSpace(ans.Text)
	case engine.ActGive:
		item := strings.TrimSpace(ans.Text)
		if item != "" && !slices.Contains(m.gifts, item) {
			return engine.Action{}, fmt.Errorf("give text %q is not an item held: [%s]", ans.Text, strings.Join(m.gifts, ", "))
		}
		a.Text = item
	}
	return a, nil
}

// prompt renders the perception for the model: the fixed system message
// and the persona's situation. It reads nothing but p and never the turn
// number or the seed, so equal situations give equal prompts.
func prompt(p *engine.Perception, m *menu) (system, user string) {
	var w promptWriter
	w.self(&p.Self)
	w.line("")
	w.place(p)
	w.recollections(p)
	w.line("")
	w.line("Your options this turn:")
	for _, k := range m.kinds {
		w.line("- %s", optionLine(k, m))
	}
	w.b.WriteString("Choose one and answer with the JSON object only.")
	return systemPrompt, w.b.String()
}

// promptWriter writes the user prompt a line at a time.
type promptWriter struct{ b strings.Builder }

func (w *promptWriter) line(format string, args ...any) {
	fmt.Fprintf(&w.b, format, args...)
	w.b.WriteByte('\n')
}

// self writes who the persona is: health, what it carries and knows,
// traits, voice, goals and feelings towards others.
func (w *promptWriter) self(self *engine.SelfView) {
	who := self.Name
	if who == "" {
		who = self.ID
	}
	desc := fmt.Sprintf("You are %s (id %s)", who, self.ID)
	if self.Role != "" {
		desc += ", " + self.Role
	}
	if self.Faction != "" {
		desc += ", of the " + self.Faction
	}
	w.line("%s. Health %d of 100.", desc, self.Health)
	if len(self.Inventory) > 0 {
		w.line("You carry: %s.", strings.Join(self.Inventory, ", "))
	}
	if len(self.Knows) > 0 {
		w.line("You know: %s.", strings.Join(self.Knows, ", "))
	}
	if len(self.Traits) > 0 {
		w.line("Your traits, from 0 (not at all) to 1 (very): %s.", numbers(self.Traits))
	}
	if len(self.Voice) > 0 {
		q := make([]string, len(self.Voice))
		for i, v := range self.Voice {
			q[i] = strconv.Quote(v)
		}
		w.line("Things you might say: %s.", strings.Join(q, "; "))
	}
	if len(self.Goals) > 0 {
		w.line("")
		w.line("Your goals, the first the most important:")
		for _, g := range self.Goals {
			w.line("- %s", goalLine(g))
		}
	}
	if len(self.Relationships) > 0 {
		w.line("")
		w.line("How you feel about others, from -1 (hatred) to 1 (devotion): %s.", numbers(self.Relationships))
	}
}

// place writes where the persona stands: the way out, what lies there
// and who is there with it.
func (w *promptWriter) place(p *engine.Perception) {
	place := p.Place.ID
	if p.Place.Name != "" {
		place = fmt.Sprintf("%s (id %s)", p.Place.Name, p.Place.ID)
	}
	w.line("You are at %s.", place)
	if len(p.Place.Exits) > 0 {
		w.line("Ways out lead to: %s.", strings.Join(p.Place.Exits, ", "))
	} else {
		w.line("There is no way out from here.")
	}
	if len(p.Place.Items) > 0 {
		w.line("Lying here in plain view: %s.", strings.Join(p.Place.Items, ", "))
	}
	if p.Place.Searched {
		w.line("You have searched here already and found nothing more.")
	}
	if len(p.Present) == 0 {
		w.line("No one else is here.")
		return
	}
	w.line("Here with you:")
	for _, o := range p.Present {
		w.line("%s", presentLine(o))
	}
}

// presentLine describes someone else here.
func presentLine(o engine.PresentView) string {
	s := fmt.Sprintf("- %s", o.ID)
	if o.Name != "" {
		s += ": " + o.Name
	}
	if o.Role != "" {
		s += ", " + o.Role
	}
	if o.Faction != "" {
		s += ", of the " + o.Faction
	}
	if o.Alive {
		s += fmt.Sprintf(", health %d", o.Health)
	} else {
		s += ", fallen"
	}
	if len(o.Holding) > 0 {
		s += ", holding " + strings.Join(o.Holding, ", ")
	}
	return s
}

// recollections writes what the persona remembers, where it last saw
// things and people, the way to the places on its mind and its last
// actions.
func (w *promptWriter) recollections(p *engine.Perception) {
	self := &p.Self
	if len(p.Memories) > 0 {
		w.line("")
		w.line("What you remember, the most vivid first:")
		for _, mv := range p.Memories[:min(len(p.Memories), maxMemories)] {
			w.line("- %s", memoryLine(self.ID, mv))
		}
	}
	if parts := itemSightings(self.ID, p.ItemsSeen); len(parts) > 0 {
		w.line("Where you last saw things: %s.", strings.Join(parts, "; "))
	}
	if len(p.PeopleSeen) > 0 {
		var parts []string
		for _, id := range slices.Sorted(maps.Keys(p.PeopleSeen)) {
			if loc := p.PeopleSeen[id]; loc != "" {
				parts = append(parts, id+": at "+loc)
			}
		}
		if len(parts) > 0 {
			w.line("Where you last saw people: %s.", strings.Join(parts, "; "))
		}
	}
	if routes := routes(p); len(routes) > 0 {
		w.line("The way to places on your mind: %s.", strings.Join(routes, "; "))
	}
	if len(p.Recent) > 0 {
		w.line("Your last actions, the latest last: %s.", strings.Join(p.Recent, ", "))
	}
}

// itemSightings tells, item by item, where the persona last saw it.
func itemSightings(self string, seen map[string]string) []string {
	var parts []string
	for _, it := range slices.Sorted(maps.Keys(seen)) {
		where := seen[it]
		switch {
		case where == self:
			parts = append(parts, it+": you have it")
		case strings.HasPrefix(where, "@"):
			parts = append(parts, it+": at "+where[1:])
		case where != "":
			parts = append(parts, it+": held by "+where)
		}
	}
	return parts
}

func optionLine(kind string, m *menu) string {
	ts := strings.Join(m.targets[kind], ", ")
	switch kind {
	case engine.ActMove:
		return "move: go to a neighbouring place; target one of: " + ts
	case engine.ActSpeak:
		if ts == "" {
			return "speak: say something aloud to no one in particular; target empty"
		}
		return "speak: talk to someone; target one of: " + ts + " (or empty to address the room)"
	case engine.ActAttack:
		return "attack: strike someone here; target one of: " + ts
	case engine.ActHelp:
		return "help: tend someone's wounds; target one of: " + ts
	case engine.ActTake:
		return "take: pick up or seize an item; target one of: " + ts
	case engine.ActGive:
		return "give: hand someone an item you carry; target one of: " + ts + "; text one of: " + strings.Join(m.gifts, ", ")
	case engine.ActSearch:
		return "search: look for what is hidden here; no target"
	case engine.ActWait:
		return "wait: hold still and watch; no target"
	}
	return kind
}

func goalLine(g engine.GoalView) string {
	s := g.ID + ": "
	switch g.Kind {
	case engine.GoalObtain:
		s += "obtain " + g.Item
	case engine.GoalDeliver:
		s += "deliver " + g.Item
		if g.Target != "" {
			s += " into the hands of " + g.Target
			if g.Location != "" {
				s += " (look for them at " + g.Location + ")"
			}
		} else if g.Location != "" {
			s += " to " + g.Location
		}
	case engine.GoalReach:
		s += "reach " + g.Location
	case engine.GoalDefeat:
		s += "defeat " + g.Target
	case engine.GoalProtect:
		s += "protect " + g.Target + " until the end"
	case engine.GoalBefriend:
		s += "win the friendship of " + g.Target
	case engine.GoalLearn:
		s += "learn " + g.Fact
		if g.Location != "" {
			s += " (look at " + g.Location + ")"
		}
	default:
		s += g.Kind
	}
	status := g.Status
	if status == "" {
		status = "active"
	}
	s += " [" + status
	if g.Waiting {
		s += ", its moment has not come yet"
	}
	if g.After != "" {
		s += ", only after goal " + g.After
	}
	s += "]"
	if g.Text != "" {
		s += ": " + g.Text
	}
	return s
}

func memoryLine(self string, m engine.MemoryView) string {
	name := func(id string) string {
		if id == self {
			return "you"
		}
		return id
	}
	s := name(m.Actor)
	if s == "" {
		s = "someone"
	}
	verb, ok := pastTense[m.Kind]
	if !ok {
		verb = m.Kind
	}
	s += " " + verb
	if m.Target != "" {
		s += " " + name(m.Target)
	}
	if m.Item != "" {
		s += " (" + m.Item + ")"
	}
	if m.Place != "" {
		s += " at " + m.Place
	}
	return s
}

// pastTense words what a memory recalls; kinds not listed read as they are.
var pastTense = map[string]string{
	engine.ActMove:   "went to",
	engine.ActSpeak:  "spoke to",
	engine.ActWait:   "waited for",
	engine.ActAttack: "attacked",
	engine.ActHelp:   "helped",
	engine.ActTake:   "took",
	engine.ActGive:   "gave",
	engine.ActSearch: "searched",
}

// routes gives the first step towards every place the persona has in
// mind: its goals' places and where it last saw people and things.
func routes(p *engine.Perception) []string {
	dests := map[string]bool{}
	for _, g := range p.Self.Goals {
		if g.Status == engine.GoalActive && g.Location != "" {
			dests[g.Location] = true
		}
	}
	for _, loc := range p.PeopleSeen {
		dests[loc] = true
	}
	for _, where := range p.ItemsSeen {
		if strings.HasPrefix(where, "@") {
			dests[where[1:]] = true
		}
	}
	var out []string
	for _, to := range slices.Sorted(maps.Keys(dests)) {
		if to == "" || to == p.Place.ID || slices.Contains(p.Place.Exits, to) {
			continue
		}
		if hop := p.NextHop(to); hop != "" {
			out = append(out, "to "+to+" go by "+hop)
		}
	}
	return out
}

// numbers renders a map of numbers sorted by key.
func numbers(m map[string]float64) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+" "+strconv.FormatFloat(m[k], 'f', 2, 64))
	}
	return strings.Join(parts, ", ")
}

// parseAnswer finds the answer in a model's reply: the first JSON object
// in it, after any reasoning in <think> tags and with code fences ignored.
func parseAnswer(content string) (answer, error) {
	s := content
	if i := strings.LastIndex(s, "</think>"); i >= 0 {
		s = s[i+len("</think>"):]
	}
	for i := strings.IndexByte(s, '{'); i >= 0; {
		dec := json.NewDecoder(strings.NewReader(s[i:]))
		var raw map[string]any
		if err := dec.Decode(&raw); err == nil {
			ans := answer{Kind: str(raw["kind"]), Target: str(raw["target"]), Text: str(raw["text"]), Why: str(raw["why"])}
			if ans.Kind != "" {
				return ans, nil
			}
		}
		j := strings.IndexByte(s[i+1:], '{')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	short := content
	if len(short) > 120 {
		short = short[:120] + "…"
	}
	return answer{}, fmt.Errorf("llm: no JSON answer with a kind in %q", short)
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}
