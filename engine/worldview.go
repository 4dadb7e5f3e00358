// The world as a reader may see it at a turn: where everyone stands, how
// they fare, who holds what, and how they feel about one another in
// words, never the personas' hidden knowledge or the raw affinities.

package engine

// WorldView is the visible world after a turn.
type WorldView struct {
	Seq           int64              `json:"seq"`
	Finished      bool               `json:"finished"`
	Locations     []WorldPlace       `json:"locations"`
	Characters    []WorldCharacter   `json:"characters"`
	Relationships []RelationshipView `json:"relationships"`
}

// WorldPlace is a location with who stands there and what lies there in
// plain view.
type WorldPlace struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Exits      []string   `json:"exits"`
	Characters []string   `json:"characters"`
	Items      []ItemView `json:"items"`
}

// ItemView names an item.
type ItemView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// WorldCharacter is a character on stage and what it carries.
type WorldCharacter struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Role     string     `json:"role"`
	Faction  string     `json:"faction"`
	Location string     `json:"location"`
	Health   int        `json:"health"`
	Alive    bool       `json:"alive"`
	Holds    []ItemView `json:"holds"`
}

// RelationshipView is how one character feels about another, as a band:
// "hostile", "wary", "friendly" or "devoted". Neutral feelings are left
// out.
type RelationshipView struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Feeling string `json:"feeling"`
}

var feelings = map[int]string{-2: "hostile", -1: "wary", 1: "friendly", 2: "devoted"}

// World describes the visible world after the last played turn.
func (s *Sim) World() WorldView {
	v := WorldView{Seq: s.w.Seq, Finished: s.w.Finished}
	itemName := func(id string) ItemView {
		return ItemView{ID: id, Name: s.sc.Items[s.geo.itemIndex[id]].Name}
	}
	v.Locations = make([]WorldPlace, len(s.sc.Locations))
	at := make(map[string]int, len(s.sc.Locations))
	for i, l := range s.sc.Locations {
		v.Locations[i] = WorldPlace{ID: l.ID, Name: l.Name, Exits: append([]string{}, s.geo.exits[i]...),
			Characters: []string{}, Items: []ItemView{}}
		at[l.ID] = i
	}
	for _, it := range s.w.Items {
		if it.Hidden || it.Loc == "" {
			continue
		}
		if i, ok := at[it.Loc]; ok {
			v.Locations[i].Items = append(v.Locations[i].Items, itemName(it.ID))
		}
	}
	v.Characters = []WorldCharacter{}
	v.Relationships = []RelationshipView{}
	for i, c := range s.w.Chars {
		if !c.Onstage {
			continue
		}
		d := &s.sc.Characters[i]
		wc := WorldCharacter{ID: c.ID, Name: d.Name, Role: d.Role, Faction: d.Faction,
			Location: c.Loc, Health: c.Health, Alive: c.Alive, Holds: []ItemView{}}
		for _, it := range c.Inv {
			wc.Holds = append(wc.Holds, itemName(it))
		}
		v.Characters = append(v.Characters, wc)
		if l, ok := at[c.Loc]; ok {
			v.Locations[l].Characters = append(v.Locations[l].Characters, c.ID)
		}
		for _, o := range s.w.Chars {
			if o == c || !o.Onstage {
				continue
			}
			if f, ok := feelings[relationBand(c.Rel[o.ID])]; ok {
				v.Relationships = append(v.Relationships, RelationshipView{From: c.ID, To: o.ID, Feeling: f})
			}
		}
	}
	return v
}

// StateHash is the hash of the world state after the last played turn,
// as the turn carried it.
func (s *Sim) StateHash() string { return s.hash() }
