package engine

import (
	"fmt"
	"slices"
)

// Goal statuses.
const (
	GoalActive     = "active"
	GoalWon        = "won"
	GoalLost       = "lost"
	GoalReconciled = "reconciled"
)

// Story phases, as the director paces them.
const (
	PhaseBuildup = "buildup"
	PhasePeak    = "peak"
	PhaseFade    = "fade"
	PhaseRelax   = "relax"
)

// world is the whole mutable state of a simulation. Its JSON encoding is
// both the State and the input of state_hash, so it holds no id, no clock
// and nothing whose encoding depends on map iteration (encoding/json sorts
// map keys).
type world struct {
	Seq      int64   `json:"seq"`
	Finished bool    `json:"finished"`
	Ending   string  `json:"ending,omitempty"`
	Tension  float64 `json:"tension"`
	Phase    string  `json:"phase"`
	// PhaseTurns counts turns spent in the current phase.
	PhaseTurns int `json:"phase_turns"`
	// Climax is the turn on which the director let the climax in, 0
	// before.
	Climax int64 `json:"climax,omitempty"`
	// Decided is the turn an end condition first held; the story plays
	// its aftermath and ends a few turns later. Verdict is that ending.
	Decided int64  `json:"decided,omitempty"`
	Verdict string `json:"verdict,omitempty"`
	// Tip is the last turn the director let word of a contested thing
	// reach the side that had lost track of it.
	Tip int64 `json:"tip,omitempty"`
	// HeldBy is the side (a faction, or "@" and a character id) that has
	// held the contested thing since turn Held; empty while nobody holds it.
	HeldBy string       `json:"held_by,omitempty"`
	Held   int64        `json:"held,omitempty"`
	Chars  []*charState `json:"chars"`
	Items  []*itemState `json:"items"`
	Fired  []bool       `json:"fired"`
	Flags  []string     `json:"flags,omitempty"`
	// Prose holds the chronicler's recently used template keys.
	Prose []string `json:"prose,omitempty"`
	// Introduced: the characters the prose has introduced by name and
	// role, sorted; until then it never calls them by role alone.
	Introduced []string `json:"introduced,omitempty"`
	// Felt: the relationship bands each character has come to feel
	// towards another, as "from>to:band", sorted. A band felt before is
	// no news when it is crossed into again.
	Felt []string `json:"felt,omitempty"`
}

// charState is a character's state; Chars is in scenario order.
type charState struct {
	ID      string             `json:"id"`
	Loc     string             `json:"loc"`
	Health  int                `json:"health"`
	Alive   bool               `json:"alive"`
	Onstage bool               `json:"onstage"`
	Inv     []string           `json:"inv,omitempty"`
	Knows   []string           `json:"knows,omitempty"`
	Rel     map[string]float64 `json:"rel,omitempty"`
	Goals   []goalState        `json:"goals,omitempty"`
	Memory  []memory           `json:"memory,omitempty"`
	// Seen: where the character last saw each item ("@loc" lying there,
	// or the id of the character holding it).
	Seen map[string]string `json:"seen,omitempty"`
	// Met: where the character last saw each other character.
	Met map[string]string `json:"met,omitempty"`
	// Searched: locations the character has searched bare.
	Searched []string `json:"searched,omitempty"`
	// Last: the character's last few actions, newest last, "kind:target".
	Last []string `json:"last,omitempty"`
	// Came: where the character stood before last turn's move, "" if it
	// did not move last turn. Going straight back needs a reason.
	Came string `json:"came,omitempty"`
}

type goalState struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Turn   int64  `json:"turn,omitempty"` // when it resolved
	// Slipped counts the times a won obtain goal was opened again
	// because the thing passed out of friendly hands.
	Slipped int `json:"slipped,omitempty"`
}

// itemState: where an item is. Exactly one of Loc and Holder is set, or
// neither while it waits for a discovery event.
type itemState struct {
	ID     string `json:"id"`
	Loc    string `json:"loc,omitempty"`
	Holder string `json:"holder,omitempty"`
	Hidden bool   `json:"hidden,omitempty"`
	// Fixed items have reached their destination and can no longer be taken.
	Fixed bool `json:"fixed,omitempty"`
}

// memory is something a persona witnessed. Salience is its importance
// faded by age.
type memory struct {
	Turn   int64   `json:"turn"`
	Kind   string  `json:"kind"`
	Actor  string  `json:"actor,omitempty"`
	Target string  `json:"target,omitempty"`
	Item   string  `json:"item,omitempty"`
	Loc    string  `json:"loc"`
	Imp    float64 `json:"imp"`
}

// MemorySize bounds each persona's memory.
const MemorySize = 10

func (m memory) salience(now int64) float64 {
	age := float64(now - m.Turn)
	return m.Imp / (1 + age/8)
}

// geography is what never changes in a simulation: indexes over the
// scenario and the shortest routes between locations.
type geography struct {
	locIndex  map[string]int
	charIndex map[string]int
	itemIndex map[string]int
	factIndex map[string]int
	exits     [][]string  // both ways, sorted
	roles     []roleWords // each character's role word, for fitting lines to listeners
	next      [][]int     // next[a][b]: index of the first step from a to b, -1 if none
	dist      [][]int
}

func newGeography(sc *Scenario) *geography {
	g := &geography{
		locIndex:  map[string]int{},
		charIndex: map[string]int{},
		itemIndex: map[string]int{},
		factIndex: map[string]int{},
	}
	for i, l := range sc.Locations {
		g.locIndex[l.ID] = i
	}
	for i, c := range sc.Characters {
		g.charIndex[c.ID] = i
		g.roles = append(g.roles, newRoleWords(c.Role))
	}
	for i, it := range sc.Items {
		g.itemIndex[it.ID] = i
	}
	for i, f := range sc.Facts {
		g.factIndex[f.ID] = i
	}
	n := len(sc.Locations)
	g.exits = make([][]string, n)
	for i, l := range sc.Locations {
		for _, e := range l.Exits {
			j := g.locIndex[e]
			if !slices.Contains(g.exits[i], e) {
				g.exits[i] = append(g.exits[i], e)
			}
			if !slices.Contains(g.exits[j], l.ID) {
				g.exits[j] = append(g.exits[j], l.ID)
			}
		}
	}
	for i := range g.exits {
		slices.Sort(g.exits[i])
	}
	// Breadth-first search from every location; exits are sorted, so ties
	// between equally short routes break the same way every time.
	g.next = make([][]int, n)
	g.dist = make([][]int, n)
	for a := range n {
		next := make([]int, n)
		dist := make([]int, n)
		for i := range next {
			next[i], dist[i] = -1, -1
		}
		dist[a] = 0
		queue := []int{a}
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			for _, e := range g.exits[u] {
				v := g.locIndex[e]
				if dist[v] >= 0 {
					continue
				}
				dist[v] = dist[u] + 1
				if u == a {
					next[v] = v
				} else {
					next[v] = next[u]
				}
				queue = append(queue, v)
			}
		}
		g.next[a], g.dist[a] = next, dist
	}
	return g
}

// nextHop is the first step on a shortest route from one location to
// another, or "" if there is none or they are the same.
func (g *geography) nextHop(sc *Scenario, from, to string) string {
	a, ok1 := g.locIndex[from]
	b, ok2 := g.locIndex[to]
	if !ok1 || !ok2 || a == b || g.next[a][b] < 0 {
		return ""
	}
	return sc.Locations[g.next[a][b]].ID
}

func (g *geography) adjacent(from, to string) bool {
	a, ok := g.locIndex[from]
	return ok && slices.Contains(g.exits[a], to)
}

func initialWorld(sc *Scenario, g *geography) *world {
	w := &world{Phase: PhaseBuildup, Fired: make([]bool, len(sc.Events))}
	for _, it := range sc.Items {
		w.Items = append(w.Items, &itemState{ID: it.ID})
	}
	for _, l := range sc.Locations {
		for _, it := range l.Items {
			w.Items[g.itemIndex[it]].Loc = l.ID
		}
		for _, it := range l.Hidden {
			st := w.Items[g.itemIndex[it]]
			st.Loc, st.Hidden = l.ID, true
		}
	}
	for _, c := range sc.Characters {
		cs := &charState{
			ID: c.ID, Loc: c.Start, Health: c.Health, Alive: true, Onstage: !c.Offstage,
			Rel: map[string]float64{}, Seen: map[string]string{}, Met: map[string]string{},
		}
		if cs.Health == 0 {
			cs.Health = 100
		}
		for k, v := range c.Relationships {
			cs.Rel[k] = v
		}
		cs.Inv = append(cs.Inv, c.Inventory...)
		for _, it := range c.Inventory {
			w.Items[g.itemIndex[it]].Holder = c.ID
		}
		cs.Knows = append(cs.Knows, c.Knows...)
		slices.Sort(cs.Knows)
		cs.Knows = slices.Compact(cs.Knows)
		for _, f := range cs.Knows {
			fd := &sc.Facts[g.factIndex[f]]
			switch {
			case fd.Item == "" || slices.Contains(c.Inventory, fd.Item):
			case fd.Location != "":
				cs.Seen[fd.Item] = "@" + fd.Location
			case fd.Holder != "" && fd.Holder != c.ID:
				cs.Seen[fd.Item] = fd.Holder
			}
		}
		for _, gl := range c.Goals {
			cs.Goals = append(cs.Goals, goalState{ID: gl.ID, Status: GoalActive})
		}
		w.Chars = append(w.Chars, cs)
	}
	return w
}

// check reports whether a decoded state fits the scenario.
func (w *world) check(sc *Scenario) error {
	if len(w.Chars) != len(sc.Characters) {
		return fmt.Errorf("%d characters, scenario has %d", len(w.Chars), len(sc.Characters))
	}
	if len(w.Items) != len(sc.Items) {
		return fmt.Errorf("%d items, scenario has %d", len(w.Items), len(sc.Items))
	}
	if len(w.Fired) != len(sc.Events) {
		return fmt.Errorf("%d events, scenario has %d", len(w.Fired), len(sc.Events))
	}
	if w.Seq < 0 {
		return fmt.Errorf("negative seq %d", w.Seq)
	}
	for i, c := range w.Chars {
		if c == nil || c.ID != sc.Characters[i].ID {
			return fmt.Errorf("character %d is not %q", i, sc.Characters[i].ID)
		}
		if len(c.Goals) != len(sc.Characters[i].Goals) {
			return fmt.Errorf("character %q has %d goals, scenario has %d", c.ID, len(c.Goals), len(sc.Characters[i].Goals))
		}
		if c.Rel == nil {
			c.Rel = map[string]float64{}
		}
		if c.Seen == nil {
			c.Seen = map[string]string{}
		}
		if c.Met == nil {
			c.Met = map[string]string{}
		}
	}
	for i, it := range w.Items {
		if it == nil || it.ID != sc.Items[i].ID {
			return fmt.Errorf("item %d is not %q", i, sc.Items[i].ID)
		}
	}
	return nil
}

func (c *charState) holds(item string) bool { return slices.Contains(c.Inv, item) }

func (c *charState) knows(fact string) bool {
	_, ok := slices.BinarySearch(c.Knows, fact)
	return ok
}

func (c *charState) learn(fact string) bool {
	i, ok := slices.BinarySearch(c.Knows, fact)
	if ok {
		return false
	}
	c.Knows = slices.Insert(c.Knows, i, fact)
	return true
}

func (c *charState) drop(item string) {
	if i := slices.Index(c.Inv, item); i >= 0 {
		c.Inv = slices.Delete(c.Inv, i, i+1)
	}
}

func (c *charState) remember(m memory) {
	if len(c.Memory) < MemorySize {
		c.Memory = append(c.Memory, m)
		return
	}
	// Forget the least salient memory (the oldest among equals).
	worst, least := 0, c.Memory[0].salience(m.Turn)
	for i := 1; i < len(c.Memory); i++ {
		if sal := c.Memory[i].salience(m.Turn); sal < least {
			worst, least = i, sal
		}
	}
	if least > m.Imp {
		return
	}
	c.Memory = slices.Delete(c.Memory, worst, worst+1)
	c.Memory = append(c.Memory, m)
}

func clamp(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
