// What each persona can know: the Perception the director builds for its
// decider, and the sightings (where people and things were last seen)
// that personas keep up from turn to turn.

package engine

import (
	"cmp"
	"maps"
	"slices"
)

// perceive builds what character i can know at the start of turn seq.
func (s *Sim) perceive(i int, seq int64) Perception {
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
		Kinds:      actionKinds,
		geo:        s.geo,
		sc:         s.sc,
	}
	p.Seed, _ = streamSeed(s.seed, seq, streamPersona+uint64(i))
	p.Self.Goals = make([]GoalView, len(d.Goals))
	for j, g := range d.Goals {
		p.Self.Goals[j] = GoalView{Goal: g, Status: c.Goals[j].Status, Waiting: len(g.Requires) > 0 && !s.requires(&d.Goals[j], seq)}
	}
	for _, it := range s.w.Items {
		if it.Loc == c.Loc && it.Holder == "" && !it.Hidden {
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
		p.Memories = make([]MemoryView, len(c.Memory))
		for j, m := range c.Memory {
			p.Memories[j] = MemoryView{Turn: m.Turn, Kind: m.Kind, Actor: m.Actor, Target: m.Target, Item: m.Item, Place: m.Loc, Weight: m.salience(seq)}
		}
		slices.SortStableFunc(p.Memories, func(a, b MemoryView) int { return cmp.Compare(b.Weight, a.Weight) })
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
	return p
}

// observe updates where each persona last saw people and things.
func (s *Sim) observe() {
	for _, c := range s.w.Chars {
		if !c.Onstage || !c.Alive {
			continue
		}
		for k, v := range c.Seen {
			// Forget sightings proven wrong by what is in front of us.
			if v == "@"+c.Loc {
				// Hidden things stay where the persona was told they are.
				it := s.w.Items[s.geo.itemIndex[k]]
				if it.Loc != c.Loc || it.Holder != "" {
					delete(c.Seen, k)
				}
			} else if _, h := s.char(v); h != nil && h.Loc == c.Loc && !h.holds(k) {
				delete(c.Seen, k)
			}
		}
		for _, it := range s.w.Items {
			switch {
			case it.Holder == c.ID:
				c.Seen[it.ID] = c.ID
			case it.Holder != "":
				if _, h := s.char(it.Holder); h.Loc == c.Loc {
					c.Seen[it.ID] = h.ID
				}
			case it.Loc == c.Loc && !it.Hidden:
				c.Seen[it.ID] = "@" + c.Loc
			}
		}
		for _, o := range s.w.Chars {
			if o != c && o.Onstage && o.Loc == c.Loc {
				c.Met[o.ID] = c.Loc
			}
		}
	}
}
