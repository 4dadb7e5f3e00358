// What each persona can know: the Perception the director builds for its
// decider, and the sightings (where people and things were last seen)
// that personas keep up from turn to turn.

package engine

import (
	"maps"
	"slices"
)

// Perception is everything a persona can know when it decides: itself,
// the place it stands in, who and what is there, what it remembers and
// where it last saw people and things.
type Perception struct {
	Turn  int64     `json:"turn"` // the turn being decided
	Self  SelfView  `json:"self"`
	Place PlaceView `json:"place"`
	// Present: the other characters here, standing or fallen.
	Present []PresentView `json:"present"`
	// Memories, most salient first.
	Memories []MemoryView `json:"memories,omitempty"`
	// ItemsSeen: where the persona last saw each item ("@location" lying
	// there, or the id of the character holding it).
	ItemsSeen map[string]string `json:"items_seen,omitempty"`
	// PeopleSeen: where the persona last saw each other character.
	PeopleSeen map[string]string `json:"people_seen,omitempty"`
	// Recent: the persona's last actions, newest last, as "kind:target".
	Recent []string `json:"recent,omitempty"`
	// CameFrom: where the persona stood before last turn's move, if it
	// moved; going straight back undoes it.
	CameFrom string `json:"came_from,omitempty"`
	// Decided: the story's outcome is decided and only its aftermath is
	// left; nobody fights any more.
	Decided bool `json:"decided,omitempty"`
	// Kinds: the action kinds allowed.
	Kinds []string `json:"kinds"`
	// Seed seeds the persona's random choices this turn.
	Seed uint64 `json:"seed"`

	geo *geography
	sc  *Scenario
	// scene: the director asks only what the persona would do with
	// those here (no moving, waiting or searching).
	scene bool
}

// SelfView is the persona as it knows itself.
type SelfView struct {
	ID            string             `json:"id"`
	Name          string             `json:"name"`
	Role          string             `json:"role"`
	Faction       string             `json:"faction,omitempty"`
	Health        int                `json:"health"`
	Inventory     []string           `json:"inventory,omitempty"`
	Knows         []string           `json:"knows,omitempty"`
	Traits        map[string]float64 `json:"traits,omitempty"`
	Relationships map[string]float64 `json:"relationships,omitempty"`
	Goals         []GoalView         `json:"goals,omitempty"`
	Voice         []string           `json:"voice,omitempty"`
}

// GoalView is one of the persona's goals with its status.
type GoalView struct {
	Goal
	Status string `json:"status"`
	// Waiting: the goal's requirements do not hold yet, so it cannot be
	// won for now.
	Waiting bool `json:"waiting,omitempty"`
}

// PlaceView is the location the persona stands in.
type PlaceView struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Exits []string `json:"exits"`
	// Items lying here in plain view.
	Items []string `json:"items,omitempty"`
	// Searched: the persona has already searched here and found nothing more.
	Searched bool `json:"searched,omitempty"`
}

// PresentView is another character in the same place.
type PresentView struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Role    string   `json:"role"`
	Faction string   `json:"faction,omitempty"`
	Health  int      `json:"health"`
	Alive   bool     `json:"alive"`
	Holding []string `json:"holding,omitempty"`
}

// MemoryView is something the persona witnessed.
type MemoryView struct {
	Turn   int64   `json:"turn"`
	Kind   string  `json:"kind"`
	Actor  string  `json:"actor,omitempty"`
	Target string  `json:"target,omitempty"`
	Item   string  `json:"item,omitempty"`
	Place  string  `json:"place"`
	Weight float64 `json:"weight"`
}

// NextHop is the adjacent location on a shortest route towards to, or ""
// if there is none (or the persona is already there).
func (p *Perception) NextHop(to string) string {
	if p.geo == nil {
		return ""
	}
	return p.geo.nextHop(p.sc, p.Place.ID, to)
}

// Trait returns a trait of the persona, 0.5 if the scenario leaves it out.
func (p *Perception) Trait(name string) float64 {
	if v, ok := p.Self.Traits[name]; ok {
		return v
	}
	return 0.5
}

// memRank is a memory's weight and position, sorted by perceive.
type memRank struct {
	weight float64
	j      int
}

// before orders memory ranks: heavier first (by cmp.Compare, so a NaN
// weight is the lightest), then in memory order.
func (a memRank) before(b memRank) bool {
	switch {
	case a.weight > b.weight:
		return true
	case a.weight < b.weight:
		return false
	case a.weight == b.weight:
		return a.j < b.j
	}
	// At least one is NaN: equal if both are, else the other is heavier.
	if aNaN, bNaN := a.weight != a.weight, b.weight != b.weight; aNaN != bNaN {
		return bNaN
	}
	return a.j < b.j
}

// sortMemRanks sorts ord by before. A memory holds at most MemorySize,
// and for so few an insertion sort with the comparison inlined costs a
// fraction of slices.SortFunc's calls through a function value; the
// order is total (positions differ), so the result is the same.
func sortMemRanks(ord []memRank) {
	if len(ord) > 2*MemorySize {
		slices.SortFunc(ord, func(a, b memRank) int {
			switch {
			case a.before(b):
				return -1
			case b.before(a):
				return 1
			}
			return 0
		})
		return
	}
	for k := 1; k < len(ord); k++ {
		for m := k; m > 0 && ord[m].before(ord[m-1]); m-- {
			ord[m], ord[m-1] = ord[m-1], ord[m]
		}
	}
}

// perceptBufs are slices a perception borrows when its decider keeps
// nothing of it (the built-in one, called one character at a time).
type perceptBufs struct {
	goals   []GoalView
	items   []string
	present []PresentView
	mems    []MemoryView
}

// perceive builds what character i can know at the start of turn seq.
func (s *Sim) perceive(i int, seq int64) Perception {
	return s.perceiveInto(i, seq, nil)
}

// perceiveInto is perceive with the perception's lists in b's slices,
// which b keeps for the next call, or in new ones if b is nil.
func (s *Sim) perceiveInto(i int, seq int64, b *perceptBufs) Perception {
	c, d := s.w.Chars[i], &s.sc.Characters[i]
	li := s.geo.locIndex[c.Loc]
	p := Perception{
		Turn: seq,
		Self: SelfView{
			ID: c.ID, Name: d.Name, Role: d.Role, Faction: d.Faction, Health: c.Health,
			Inventory: c.Inv, Knows: c.Knows, Traits: d.Traits, Relationships: c.Rel, Voice: d.Voice,
		},
		Place:      PlaceView{ID: c.Loc, Name: s.sc.Locations[li].Name, Exits: s.geo.exits[li], Searched: slices.Contains(c.Searched, c.Loc)},
		ItemsSeen:  c.Seen,
		PeopleSeen: c.Met,
		Recent:     c.Last,
		CameFrom:   c.Came,
		Decided:    s.w.Decided != 0,
		Kinds:      actionKinds,
		geo:        s.geo,
		sc:         s.sc,
	}
	p.Seed, _ = streamSeed(s.seed, seq, streamPersona+uint64(i))
	if b != nil {
		p.Self.Goals = slices.Grow(b.goals[:0], len(d.Goals))[:len(d.Goals)]
		p.Place.Items, p.Present = b.items[:0], b.present[:0]
	} else {
		p.Self.Goals = make([]GoalView, len(d.Goals))
	}
	for j, g := range d.Goals {
		p.Self.Goals[j] = GoalView{Goal: g, Status: c.Goals[j].Status, Waiting: len(g.Requires) > 0 && !s.requirementsMet(&d.Goals[j], seq)}
	}
	for _, it := range s.w.Items {
		// A thing that has reached its end (burned, handed over) is no
		// longer there for the taking.
		if it.Loc == c.Loc && it.Holder == "" && !it.Hidden && !it.Fixed {
			p.Place.Items = append(p.Place.Items, it.ID)
		}
	}
	for j, o := range s.w.Chars {
		if j == i || !o.Onstage || o.Loc != c.Loc {
			continue
		}
		od := &s.sc.Characters[j]
		p.Present = append(p.Present, PresentView{
			ID: o.ID, Name: od.Name, Role: od.Role, Faction: od.Faction,
			Health: o.Health, Alive: o.Alive, Holding: o.Inv,
		})
	}
	if len(c.Memory) > 0 {
		// Order small (weight, index) pairs rather than the views: moving
		// the string-laden views in a stable sort cost more than building
		// them. Ties keep the memory order, as a stable sort by weight would.
		ord := s.memOrder[:0]
		for j := range c.Memory {
			ord = append(ord, memRank{weight: c.Memory[j].salience(seq), j: j})
		}
		sortMemRanks(ord)
		s.memOrder = ord
		if b != nil {
			p.Memories = slices.Grow(b.mems[:0], len(c.Memory))[:len(c.Memory)]
		} else {
			p.Memories = make([]MemoryView, len(c.Memory))
		}
		for k, r := range ord {
			m := &c.Memory[r.j]
			p.Memories[k] = MemoryView{Turn: m.Turn, Kind: m.Kind, Actor: m.Actor, Target: m.Target, Item: m.Item, Place: m.Loc, Weight: r.weight}
		}
	}
	if !s.builtin {
		// Another decider may keep or change what it is given.
		p.Self.Inventory = slices.Clone(p.Self.Inventory)
		p.Self.Knows = slices.Clone(p.Self.Knows)
		p.Self.Traits = maps.Clone(p.Self.Traits)
		p.Self.Relationships = maps.Clone(p.Self.Relationships)
		p.Self.Voice = slices.Clone(p.Self.Voice)
		p.Place.Exits = slices.Clone(p.Place.Exits)
		for j := range p.Present {
			p.Present[j].Holding = slices.Clone(p.Present[j].Holding)
		}
		p.ItemsSeen = maps.Clone(p.ItemsSeen)
		p.PeopleSeen = maps.Clone(p.PeopleSeen)
		p.Recent = slices.Clone(p.Recent)
		p.Kinds = slices.Clone(p.Kinds)
	}
	if b != nil {
		b.goals, b.items, b.present = p.Self.Goals, p.Place.Items, p.Present
		if p.Memories != nil {
			b.mems = p.Memories
		}
	}
	return p
}

// updateSightings updates where each persona last saw people and things.
func (s *Sim) updateSightings() {
	for _, c := range s.w.Chars {
		if !c.Onstage || !c.Alive {
			continue
		}
		for k, v := range c.Seen {
			// Forget sightings proven wrong by what is in front of us.
			if lyingAt(v, c.Loc) {
				// Hidden things stay where the persona was told they are.
				it := s.w.Items[s.geo.itemIndex[k]]
				if it.Loc != c.Loc || it.Holder != "" {
					delete(c.Seen, k)
				}
			} else if _, h := s.charByID(v); h != nil && h.Loc == c.Loc && !h.holds(k) {
				delete(c.Seen, k)
			}
		}
		for _, it := range s.w.Items {
			switch {
			case it.Holder == c.ID:
				c.Seen[it.ID] = c.ID
			case it.Holder != "":
				if _, h := s.charByID(it.Holder); h.Loc == c.Loc {
					c.Seen[it.ID] = h.ID
				}
			case it.Loc == c.Loc && !it.Hidden:
				if !lyingAt(c.Seen[it.ID], c.Loc) {
					c.Seen[it.ID] = "@" + c.Loc
				}
			}
		}
		for _, o := range s.w.Chars {
			if o != c && o.Onstage && o.Loc == c.Loc {
				c.Met[o.ID] = c.Loc
			}
		}
	}
}

// lyingAt reports whether a sighting is "@" and loc: the thing lying
// there. Sightings are checked every turn, so without building the string.
func lyingAt(seen, loc string) bool {
	return len(seen) == 1+len(loc) && seen[0] == '@' && seen[1:] == loc
}
