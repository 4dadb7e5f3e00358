package engine

import (
	"context"
	"slices"
	"strings"
)

// Record is one structured happening of a turn, with its cause, as the
// director recorded it for the chronicler. Kind is an action kind, an
// effect kind, or one of: death, goal, bond, ending, outcome.
type Record struct {
	Kind    string `json:"kind"`
	Actor   string `json:"actor,omitempty"`
	Target  string `json:"target,omitempty"`
	Item    string `json:"item,omitempty"`
	Place   string `json:"place,omitempty"`
	From    string `json:"from,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	// Detail refines Kind: how a take went (steal, caught, gone), what a
	// search found (item, fact, nothing), a goal's new status, a bond's
	// former band.
	Detail string `json:"detail,omitempty"`
	Amount int    `json:"amount,omitempty"`
	// Cause is the strongest reason for the action (prize, goal, revenge,
	// loyalty, hatred, temper, greed, fear, wander, company, kindness,
	// kin, debt, curiosity, wounds); CauseRef names the goal, item or
	// person behind it.
	Cause    string    `json:"cause,omitempty"`
	CauseRef string    `json:"cause_ref,omitempty"`
	Text     string    `json:"text,omitempty"`
	Callback *Callback `json:"callback,omitempty"`
	// With: who a mover found on arrival.
	With []string `json:"with,omitempty"`
	// CauseAt, for a bond, is the place (from 1) among the turn's records
	// of the one that changed the feeling; 0 if none did.
	CauseAt int    `json:"cause_at,omitempty"`
	Source  string `json:"source,omitempty"`
}

// Callback is an older memory that the record calls back to.
type Callback struct {
	Turn   int64  `json:"turn"`
	Kind   string `json:"kind"`
	Actor  string `json:"actor,omitempty"`
	Target string `json:"target,omitempty"`
	Item   string `json:"item,omitempty"`
	Place  string `json:"place,omitempty"`
}

// Scene is what a chronicler gets to tell one turn.
type Scene struct {
	Seq          int64    `json:"seq"`
	Phase        string   `json:"phase"`
	PhaseChanged bool     `json:"phase_changed"`
	Tension      float64  `json:"tension"`
	Records      []Record `json:"records"`
	Cast         *Cast    `json:"-"`
	// Recent: template keys the chronicler used lately, oldest first.
	Recent []string `json:"recent,omitempty"`
	// Introduced: the characters already introduced by name and role.
	Introduced []string `json:"introduced,omitempty"`
	// Seed seeds the chronicler's choices of wording for this turn.
	Seed  uint64 `json:"seed"`
	Final bool   `json:"final"`
}

// Narration is a told turn. Used lists the template keys it used, so the
// next turns can avoid them; they are kept in the world state.
type Narration struct {
	Text string
	Used []string
	// Introduced: the characters this turn introduced by name and role.
	Introduced []string
	// Sentences describes each sentence told, when the chronicler
	// knows (the built-in one does); it is not kept in the world state.
	Sentences []Sentence
}

// Chronicler tells a turn as prose.
type Chronicler interface {
	Narrate(ctx context.Context, sc Scene) (Narration, error)
}

// Person is how the story names a character.
type Person struct {
	Name    string
	Role    string
	Pronoun string
	Faction string
	Traits  map[string]float64
	// Short is the name a second mention in one sentence uses (the
	// first name); Refs are the ways of calling them by role ("the
	// harbour reeve", "the reeve"), lower case, longest first.
	Short string
	Refs  []string
	// Lines are the character's own words for confrontations.
	Lines []Line
}

// Cast names the people, places, items, facts and goals of a scenario.
type Cast struct {
	People map[string]Person
	Places map[string]string
	Items  map[string]string
	Facts  map[string]string
	Goals  map[string]map[string]Goal // character id, goal id
	// index is what naming needs of the cast, worked out once.
	index *castIndex
}

const proseMemory = 60

func (s *Sim) cast() *Cast {
	if s.castCache != nil {
		return s.castCache
	}
	c := &Cast{People: map[string]Person{}, Places: map[string]string{}, Items: map[string]string{}, Facts: map[string]string{}, Goals: map[string]map[string]Goal{}}
	for _, p := range s.sc.Characters {
		pr := p.Pronoun
		if pr == "" {
			pr = "they"
		}
		c.People[p.ID] = Person{Name: p.Name, Role: p.Role, Pronoun: pr, Faction: p.Faction, Traits: p.Traits,
			Short: strings.Fields(p.Name + " x")[0], Refs: roleRefs(s.sc, p), Lines: p.Lines}
		c.Goals[p.ID] = map[string]Goal{}
		for _, g := range p.Goals {
			c.Goals[p.ID][g.ID] = g
		}
	}
	for _, l := range s.sc.Locations {
		c.Places[l.ID] = l.Name
	}
	for _, it := range s.sc.Items {
		c.Items[it.ID] = it.Name
	}
	for _, f := range s.sc.Facts {
		c.Facts[f.ID] = f.Text
	}
	s.castCache = c
	return c
}

// roleRefs are the ways the story may call c by role: "the" and the
// role, the role's last word when no one else's role ends in it, and
// the scenario's aliases for c; lower case, longest first.
func roleRefs(sc *Scenario, c Character) []string {
	head := func(role string) string {
		w := strings.Fields(strings.ToLower(role))
		if len(w) == 0 {
			return ""
		}
		return w[len(w)-1]
	}
	shared := func(word string) bool {
		for _, o := range sc.Characters {
			if o.ID != c.ID && (head(o.Role) == word || slices.Contains(o.Aliases, word)) {
				return true
			}
		}
		return false
	}
	role := strings.ToLower(strings.TrimSpace(c.Role))
	if role == "" {
		return nil
	}
	refs := []string{"the " + role}
	if h := head(role); h != role && !shared(h) {
		refs = append(refs, "the "+h)
	}
	for _, a := range c.Aliases {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" && !shared(a) && !slices.Contains(refs, "the "+a) {
			refs = append(refs, "the "+a)
		}
	}
	slices.SortStableFunc(refs, func(a, b string) int { return len(b) - len(a) })
	return refs
}
