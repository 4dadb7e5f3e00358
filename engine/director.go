package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode/utf8"
)

// Random streams. Each turn seeds every stream afresh from (seed, seq,
// stream), so a restored simulation needs only the world state to go on
// exactly as the original would have.
const (
	streamPlot    = 1
	streamProse   = 2
	streamPersona = 1000 // + character index
)

func streamSeed(seed int64, seq int64, stream uint64) (uint64, uint64) {
	a := splitmix(uint64(seed) ^ splitmix(uint64(seq)*0x9e3779b97f4a7c15+stream))
	return a, splitmix(a ^ stream)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (s *Sim) rng(seq int64, stream uint64) *rand.Rand {
	a, b := streamSeed(s.seed, seq, stream)
	return rand.New(rand.NewPCG(a, b))
}

// ValidateAction checks a player's action for a character before the
// turn; the error is a reason fit to show the player.
func (s *Sim) ValidateAction(character string, a Action) error {
	i, ok := s.geo.charIndex[character]
	if !ok {
		return fmt.Errorf("unknown character %q", character)
	}
	c := s.w.Chars[i]
	name := s.sc.Characters[i].Name
	switch {
	case s.w.Finished:
		return fmt.Errorf("the story has ended")
	case !c.Onstage:
		return fmt.Errorf("%s has not arrived yet", name)
	case !c.Alive:
		return fmt.Errorf("%s is dead and cannot act", name)
	case utf8.RuneCountInString(a.Text) > MaxActionText:
		return fmt.Errorf("text is %d characters, more than %d", utf8.RuneCountInString(a.Text), MaxActionText)
	case !slices.Contains(actionKinds, a.Kind):
		return fmt.Errorf("unknown action kind %q (allowed: %s)", a.Kind, strings.Join(actionKinds, ", "))
	}
	here := func(id string) error {
		j, ok := s.geo.charIndex[id]
		switch {
		case !ok:
			return fmt.Errorf("unknown target %q", id)
		case j == i:
			return fmt.Errorf("%s cannot %s themselves", name, a.Kind)
		case !s.w.Chars[j].Onstage || s.w.Chars[j].Loc != c.Loc:
			return fmt.Errorf("%s is not here", s.sc.Characters[j].Name)
		case !s.w.Chars[j].Alive && a.Kind != ActSpeak:
			return fmt.Errorf("%s is dead", s.sc.Characters[j].Name)
		}
		return nil
	}
	switch a.Kind {
	case ActMove:
		if _, ok := s.geo.locIndex[a.Target]; !ok {
			return fmt.Errorf("unknown location %q", a.Target)
		}
		if !s.geo.adjacent(c.Loc, a.Target) {
			return fmt.Errorf("%s is not adjacent to %s", s.locName(a.Target), s.locName(c.Loc))
		}
	case ActSpeak:
		if a.Target != "" {
			return here(a.Target)
		}
	case ActAttack, ActHelp:
		if a.Target == "" {
			return fmt.Errorf("%s needs a target", a.Kind)
		}
		return here(a.Target)
	case ActGive:
		if a.Target == "" {
			return fmt.Errorf("give needs a target")
		}
		if err := here(a.Target); err != nil {
			return err
		}
		if len(c.Inv) == 0 {
			return fmt.Errorf("%s has nothing to give", name)
		}
		if a.Text != "" && !c.holds(a.Text) {
			return fmt.Errorf("%s does not hold %q", name, a.Text)
		}
	case ActTake:
		j, ok := s.geo.itemIndex[a.Target]
		if !ok {
			return fmt.Errorf("unknown item %q", a.Target)
		}
		it := s.w.Items[j]
		switch {
		case it.Holder == c.ID:
			return fmt.Errorf("%s already holds %s", name, s.sc.Items[j].Name)
		case it.Holder != "":
			h := s.w.Chars[s.geo.charIndex[it.Holder]]
			if h.Loc != c.Loc || !h.Onstage {
				return fmt.Errorf("%s is not here", s.sc.Items[j].Name)
			}
		case it.Loc != c.Loc || it.Hidden:
			return fmt.Errorf("%s is not here", s.sc.Items[j].Name)
		case it.Fixed:
			return fmt.Errorf("%s can no longer be taken", s.sc.Items[j].Name)
		}
	case ActWait, ActSearch:
	}
	return nil
}

func (s *Sim) locName(id string) string {
	if i, ok := s.geo.locIndex[id]; ok {
		return s.sc.Locations[i].Name
	}
	return id
}

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

// sourcer is implemented by deciders whose actions should be labelled
// with another source than "ai" (an LLM-backed decider says "llm").
type sourcer interface{ Source() string }

// decide gathers every active character's action. Player actions come
// first; the rest are asked of the decider, concurrently and each under
// the decision timeout unless the decider is the built-in one.
func (s *Sim) decide(ctx context.Context, seq int64, player map[string]Action) ([]Action, []string) {
	n := len(s.w.Chars)
	acts := make([]Action, n)
	srcs := make([]string, n)
	var pending []int
	for i, c := range s.w.Chars {
		if !c.Onstage || !c.Alive {
			continue
		}
		if a, ok := player[c.ID]; ok && s.ValidateAction(c.ID, a) == nil {
			acts[i], srcs[i] = a, SourcePlayer
			continue
		}
		pending = append(pending, i)
	}
	if s.builtin {
		for _, i := range pending {
			p := s.perceive(i, seq)
			acts[i], srcs[i] = decideUtility(&p), SourceAI
		}
		return acts, srcs
	}
	src := SourceAI
	if so, ok := s.opts.Decider.(sourcer); ok {
		src = so.Source()
	}
	type result struct {
		i   int
		a   Action
		err error
	}
	percepts := make([]Perception, n)
	for _, i := range pending {
		percepts[i] = s.perceive(i, seq)
	}
	dctx, cancel := context.WithTimeout(ctx, s.opts.DecisionTimeout)
	defer cancel()
	// Buffered so that a decider that returns late never blocks.
	results := make(chan result, len(pending))
	for _, i := range pending {
		go func(i int, p Perception) {
			defer func() {
				if r := recover(); r != nil {
					results <- result{i: i, err: fmt.Errorf("decider panic: %v", r)}
				}
			}()
			a, err := s.opts.Decider.Decide(dctx, p)
			results <- result{i: i, a: a, err: err}
		}(i, s.perceive(i, seq))
	}
	got := make([]bool, n)
collect:
	for range pending {
		select {
		case r := <-results:
			if r.err == nil && s.ValidateAction(s.w.Chars[r.i].ID, r.a) == nil {
				acts[r.i], srcs[r.i], got[r.i] = r.a, src, true
			}
		case <-dctx.Done():
			break collect
		}
	}
	for _, i := range pending {
		if !got[i] {
			acts[i], srcs[i] = decideUtility(&percepts[i]), SourceAI
		}
	}
	return acts, srcs
}

// Resolution phases, in order: contested grabs, movement, conversation,
// conflict, help, rest.
func phaseOf(kind string) int {
	switch kind {
	case ActTake, ActGive:
		// Grabbing and handing over are quick: done before anyone leaves.
		return 0
	case ActMove:
		return 1
	case ActSpeak, ActSearch:
		return 2
	case ActAttack:
		return 3
	case ActHelp:
		return 4
	}
	return 5
}

func (s *Sim) trait(i int, name string) float64 {
	if v, ok := s.sc.Characters[i].Traits[name]; ok {
		return v
	}
	return 0.5
}

// turnState is the director's scratch space for one turn.
type turnState struct {
	seq     int64
	plot    *rand.Rand
	recs    []Record
	events  []Event
	tension float64 // change this turn
}

func (s *Sim) step(ctx context.Context, player map[string]Action) (Turn, error) {
	w := s.w
	t := &turnState{seq: w.Seq + 1, plot: s.rng(w.Seq+1, streamPlot)}
	n := len(w.Chars)
	bands := s.bands()
	prevPhase := w.Phase

	acts, srcs := s.decide(ctx, t.seq, player)

	// Seeded initiative: chance, with a head start for the bold.
	type init struct {
		i int
		v float64
	}
	order := make([]init, 0, n)
	for i, c := range w.Chars {
		if c.Onstage && c.Alive && acts[i].Kind != "" {
			order = append(order, init{i, t.plot.Float64() + 0.3*s.trait(i, "courage")})
		}
	}
	// A blow struck for a prize its holder carries is a contested
	// action: it lands before the holder can walk away.
	phase := make([]int, n)
	for _, o := range order {
		phase[o.i] = phaseOf(acts[o.i].Kind)
		if acts[o.i].Kind == ActAttack {
			if _, tc := s.char(acts[o.i].Target); tc != nil {
				for _, it := range tc.Inv {
					if s.wants(o.i, it) {
						phase[o.i] = 0
					}
				}
			}
		}
	}
	slices.SortStableFunc(order, func(a, b init) int {
		if c := cmp.Compare(phase[a.i], phase[b.i]); c != 0 {
			return c
		}
		return cmp.Compare(b.v, a.v)
	})
	moved := -1
	for k, o := range order {
		if phase[o.i] > 1 && moved < 0 {
			moved = k
			s.noteCompany(t)
		}
		s.resolve(t, o.i, acts[o.i], srcs[o.i])
	}
	if moved < 0 {
		s.noteCompany(t)
	}

	s.fireScripted(t)
	s.updateGoals(t)
	s.trackHold(t)
	s.observe()
	s.noteBonds(t, bands)
	s.pace(t)
	s.checkEnd(t)
	for i, c := range w.Chars {
		if acts[i].Kind == "" {
			continue
		}
		c.Last = append(c.Last, acts[i].Kind+":"+acts[i].Target)
		if len(c.Last) > 3 {
			c.Last = c.Last[len(c.Last)-3:]
		}
	}
	w.Seq = t.seq

	scene := Scene{
		Seq: t.seq, Phase: w.Phase, PhaseChanged: w.Phase != prevPhase && t.seq > 1,
		Tension: w.Tension, Records: t.recs, Cast: s.cast(), Recent: w.Prose, Final: w.Finished,
	}
	scene.Seed, _ = streamSeed(s.seed, t.seq, streamProse)
	nar, err := s.opts.Chronicler.Narrate(ctx, scene)
	if err != nil || nar.Text == "" {
		nar, _ = defaultChronicler.Narrate(ctx, scene)
	}
	w.Prose = append(w.Prose, nar.Used...)
	if len(w.Prose) > proseMemory {
		w.Prose = slices.Clone(w.Prose[len(w.Prose)-proseMemory:])
	}

	turn := Turn{Seq: t.seq, Events: t.events, Narrative: nar.Text, Finished: w.Finished}
	if turn.Events == nil {
		turn.Events = []Event{}
	}
	for _, c := range w.Chars {
		if c.Onstage {
			turn.Characters = append(turn.Characters, CharacterState{ID: c.ID, Location: c.Loc, Health: c.Health, Alive: c.Alive})
		}
	}
	turn.StateHash = s.hash()
	return turn, nil
}

// noteCompany fills in, for each move this turn, who the mover found at
// the end of the road.
func (s *Sim) noteCompany(t *turnState) {
	movers := map[string]bool{}
	for k := range t.recs {
		if t.recs[k].Kind == ActMove && t.recs[k].Outcome == OutcomeSuccess {
			movers[t.recs[k].Actor] = true
		}
	}
	for k := range t.recs {
		r := &t.recs[k]
		if r.Kind != ActMove || r.Outcome != OutcomeSuccess {
			continue
		}
		for _, o := range s.w.Chars {
			// Those who arrived this turn too are told on their own.
			if o.ID != r.Actor && !movers[o.ID] && o.Onstage && o.Alive && o.Loc == r.Place {
				r.With = append(r.With, o.ID)
			}
		}
	}
}

func (s *Sim) char(id string) (int, *charState) {
	i, ok := s.geo.charIndex[id]
	if !ok {
		return -1, nil
	}
	return i, s.w.Chars[i]
}

// shift moves from's affinity towards to by d.
func (s *Sim) shift(from *charState, to string, d float64) {
	if from.ID == to {
		return
	}
	from.Rel[to] = clamp(from.Rel[to]+d, -1, 1)
}

// witness gives everyone standing at loc a memory of what happened.
func (s *Sim) witness(t *turnState, loc, kind, actor, target, item string, imp float64) {
	for _, c := range s.w.Chars {
		if !c.Onstage || !c.Alive || c.Loc != loc {
			continue
		}
		m := memory{Turn: t.seq, Kind: kind, Actor: actor, Target: target, Item: item, Loc: loc, Imp: imp * 0.6}
		if c.ID == actor || c.ID == target {
			m.Imp = imp
		}
		c.remember(m)
	}
}

// wants reports whether character c has an active goal on item.
func (s *Sim) wants(ci int, item string) bool {
	c := s.w.Chars[ci]
	if s.w.Items[s.geo.itemIndex[item]].Fixed {
		return false
	}
	for j, g := range s.sc.Characters[ci].Goals {
		if g.Item == item && c.Goals[j].Status == GoalActive && (g.Kind == GoalObtain || g.Kind == GoalDeliver) {
			return true
		}
	}
	return false
}

// motive finds the strongest reason for character i's action, and a
// memory worth calling back.
func (s *Sim) motive(i int, a Action, r *Record) {
	c, d := s.w.Chars[i], &s.sc.Characters[i]
	goalFor := func(match func(g Goal) bool) bool {
		for j, g := range d.Goals {
			if c.Goals[j].Status == GoalActive && match(g) {
				r.Cause, r.CauseRef = "goal", g.ID
				return true
			}
		}
		return false
	}
	switch a.Kind {
	case ActAttack:
		_, tc := s.char(a.Target)
		if tc != nil {
			for _, it := range tc.Inv {
				if s.wants(i, it) {
					r.Cause, r.CauseRef = "prize", it
					return
				}
			}
		}
		if goalFor(func(g Goal) bool { return g.Kind == GoalDefeat && g.Target == a.Target }) {
			return
		}
		if m := recall(c, func(m memory) bool {
			return m.Actor == a.Target && m.Target == c.ID && (m.Kind == ActAttack || m.Kind == ActTake)
		}); m != nil {
			r.Cause, r.Callback = "revenge", m.callback()
			return
		}
		if m := recall(c, func(m memory) bool {
			return m.Actor == a.Target && m.Kind == ActAttack && c.Rel[m.Target] > 0.3
		}); m != nil {
			r.Cause, r.CauseRef, r.Callback = "loyalty", m.Target, m.callback()
			return
		}
		if c.Rel[a.Target] < -0.3 {
			r.Cause = "hatred"
			return
		}
		r.Cause = "temper"
	case ActTake:
		if s.wants(i, a.Target) {
			r.Cause, r.CauseRef = "prize", a.Target
			return
		}
		r.Cause = "greed"
	case ActMove:
		from := c.Loc
		// Whatever someone is after goes where its holder goes: worth telling.
		for _, it := range c.Inv {
			for oi := range s.w.Chars {
				if oi != i && s.wants(oi, it) {
					r.Item, r.Detail = it, "bearing"
				}
			}
		}
		if goalFor(func(g Goal) bool {
			switch g.Kind {
			case GoalDeliver:
				if c.holds(g.Item) {
					r.Detail = "carry"
					dest := g.Location
					if g.Target != "" && c.Met[g.Target] != "" {
						dest = c.Met[g.Target]
					}
					return dest != "" && s.geo.nextHop(s.sc, from, dest) == a.Target
				}
				return s.towards(c, from, a.Target, g.Item)
			case GoalObtain:
				return s.towards(c, from, a.Target, g.Item)
			case GoalReach, GoalLearn:
				return g.Location != "" && s.geo.nextHop(s.sc, from, g.Location) == a.Target
			case GoalDefeat, GoalBefriend, GoalProtect:
				loc := c.Met[g.Target]
				return loc != "" && s.geo.nextHop(s.sc, from, loc) == a.Target
			}
			return false
		}) {
			return
		}
		for _, it := range c.Inv {
			for oi, o := range s.w.Chars {
				if oi == i || !s.friendly(i, o.ID) || !s.wants(oi, it) || !o.Onstage {
					continue
				}
				if loc := c.Met[o.ID]; loc != "" && s.geo.nextHop(s.sc, from, loc) == a.Target {
					r.Cause, r.CauseRef, r.Item, r.Detail = "side", o.ID, it, "bearing"
					return
				}
			}
		}
		for _, o := range s.w.Chars {
			if o.Alive && o.Onstage && o.Loc == from && o.ID != c.ID && (c.Rel[o.ID] < -0.3) && c.Health < 50 {
				r.Cause, r.CauseRef = "fear", o.ID
				return
			}
		}
		r.Cause = "wander"
	case ActSpeak:
		if goalFor(func(g Goal) bool { return g.Kind == GoalBefriend && g.Target == a.Target }) {
			return
		}
		r.Cause = "company"
	case ActHelp:
		if goalFor(func(g Goal) bool {
			return (g.Kind == GoalProtect || g.Kind == GoalBefriend) && g.Target == a.Target
		}) {
			return
		}
		if m := recall(c, func(m memory) bool {
			return m.Actor == a.Target && m.Target == c.ID && (m.Kind == ActHelp || m.Kind == ActGive)
		}); m != nil {
			r.Cause, r.Callback = "debt", m.callback()
			return
		}
		_, tc := s.char(a.Target)
		if tc != nil && d.Faction != "" && s.sc.Characters[s.geo.charIndex[a.Target]].Faction == d.Faction {
			r.Cause = "kin"
			return
		}
		r.Cause = "kindness"
	case ActGive:
		if goalFor(func(g Goal) bool { return g.Kind == GoalBefriend && g.Target == a.Target }) {
			return
		}
		if ti, _ := s.char(a.Target); ti >= 0 && a.Text != "" && s.friendly(i, a.Target) && s.wants(ti, a.Text) {
			r.Cause, r.CauseRef = "side", a.Target
			return
		}
		r.Cause = "kindness"
	case ActSearch:
		if goalFor(func(g Goal) bool {
			return g.Kind == GoalLearn || ((g.Kind == GoalObtain || g.Kind == GoalDeliver) && !c.holds(g.Item) && c.Seen[g.Item] == "")
		}) {
			return
		}
		r.Cause = "curiosity"
	case ActWait:
		if c.Health < 60 {
			r.Cause = "wounds"
		}
	}
}

// towards reports whether a step to next brings c nearer where it last
// saw item.
func (s *Sim) towards(c *charState, from, next, item string) bool {
	where := c.Seen[item]
	if where == "" {
		return false
	}
	loc := strings.TrimPrefix(where, "@")
	if !strings.HasPrefix(where, "@") {
		loc = c.Met[where]
	}
	return loc != "" && s.geo.nextHop(s.sc, from, loc) == next
}

// recall returns the most salient memory that matches, at least two
// turns old.
func recall(c *charState, match func(memory) bool) *memory {
	var best *memory
	for k := range c.Memory {
		m := &c.Memory[k]
		if !match(*m) {
			continue
		}
		if best == nil || m.Imp > best.Imp || (m.Imp == best.Imp && m.Turn > best.Turn) {
			best = m
		}
	}
	return best
}

func (m *memory) callback() *Callback {
	return &Callback{Turn: m.Turn, Kind: m.Kind, Actor: m.Actor, Target: m.Target, Place: m.Loc, Item: m.Item}
}

// resolve plays character i's action.
func (s *Sim) resolve(t *turnState, i int, a Action, src string) {
	c := s.w.Chars[i]
	if !c.Alive {
		return
	}
	ev := Event{Actor: c.ID, Kind: a.Kind, Target: a.Target, Text: a.Text, Outcome: OutcomeSuccess, Source: src}
	r := Record{Kind: a.Kind, Actor: c.ID, Target: a.Target, Place: c.Loc, Outcome: OutcomeSuccess, Source: src}
	s.motive(i, a, &r)
	fail := func(detail string) {
		ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, detail
	}
	// Targets may have moved or fallen since the decision.
	ti := -1
	var tc *charState
	if a.Kind == ActAttack || a.Kind == ActHelp || a.Kind == ActGive || (a.Kind == ActSpeak && a.Target != "") {
		ti, tc = s.char(a.Target)
		if tc == nil {
			fail("unknown")
		} else if tc.Loc != c.Loc || !tc.Onstage {
			fail("gone")
			r.Place = tc.Loc
		} else if !tc.Alive {
			fail("dead")
		}
	}
	if r.Outcome == OutcomeSuccess {
		switch a.Kind {
		case ActMove:
			if !s.geo.adjacent(c.Loc, a.Target) {
				fail("blocked")
				break
			}
			r.From, r.Place = c.Loc, a.Target
			r.Target = ""
			// Those left behind saw which way the mover went.
			for _, o := range s.w.Chars {
				if o != c && o.Onstage && o.Alive && o.Loc == c.Loc {
					o.Met[c.ID] = a.Target
				}
			}
			c.Loc = a.Target
		case ActTake:
			s.take(t, i, a.Target, &r, &ev)
		case ActSpeak:
			s.speak(t, i, ti, a.Text, &r, &ev)
		case ActGive:
			item := a.Text
			if item == "" || !c.holds(item) {
				item = ""
				for _, it := range c.Inv {
					if !s.wants(i, it) {
						item = it
						break
					}
				}
			}
			if item == "" {
				fail("empty")
				break
			}
			c.drop(item)
			tc.Inv = append(tc.Inv, item)
			s.w.Items[s.geo.itemIndex[item]].Holder = tc.ID
			r.Item, ev.Text = item, item
			lift := 0.25
			if s.wants(ti, item) {
				lift = 0.45
				r.Detail = "wanted"
			}
			s.shift(tc, c.ID, lift)
			s.shift(c, tc.ID, 0.05)
			s.witness(t, c.Loc, ActGive, c.ID, tc.ID, item, 0.7)
			t.tension -= 0.03
		case ActSearch:
			s.search(t, i, &r)
			if r.Outcome != OutcomeSuccess {
				ev.Outcome = r.Outcome
			}
		case ActAttack:
			s.attack(t, i, ti, &r, &ev)
		case ActHelp:
			heal := 8 + t.plot.IntN(8)
			for _, it := range c.Inv {
				if s.sc.Items[s.geo.itemIndex[it]].Kind == ItemRemedy {
					heal += 15
					c.drop(it)
					st := s.w.Items[s.geo.itemIndex[it]]
					st.Holder, st.Loc, st.Fixed = "", "", true
					r.Item, r.Detail = it, "remedy"
					break
				}
			}
			heal = min(heal, 100-tc.Health)
			if heal <= 0 {
				ev.Outcome, r.Outcome, r.Detail = OutcomePartial, OutcomePartial, "unhurt"
			}
			tc.Health += max(heal, 0)
			r.Amount = max(heal, 0)
			s.shift(tc, c.ID, 0.2)
			s.shift(c, tc.ID, 0.05)
			for _, o := range s.w.Chars {
				if o.Alive && o.Onstage && o.Loc == c.Loc && o != c && o != tc && o.Rel[tc.ID] > 0 {
					s.shift(o, c.ID, 0.05)
				}
			}
			s.witness(t, c.Loc, ActHelp, c.ID, tc.ID, "", 0.6)
			t.tension -= 0.03
		case ActWait:
			if c.Health < 100 {
				r.Amount = min(3, 100-c.Health)
				c.Health += r.Amount
			}
		}
	}
	t.events = append(t.events, ev)
	t.recs = append(t.recs, r)
}

func (s *Sim) take(t *turnState, i int, item string, r *Record, ev *Event) {
	c := s.w.Chars[i]
	r.Item, r.Target = item, ""
	ii, ok := s.geo.itemIndex[item]
	if !ok {
		ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "unknown"
		return
	}
	it := s.w.Items[ii]
	switch {
	case it.Holder == "" && it.Loc == c.Loc && !it.Hidden && !it.Fixed:
		it.Loc, it.Holder = "", c.ID
		c.Inv = append(c.Inv, item)
		s.witness(t, c.Loc, "pickup", c.ID, "", item, 0.4)
	case it.Holder != "" && it.Holder != c.ID && !it.Fixed:
		hi, h := s.char(it.Holder)
		if h.Loc != c.Loc {
			ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "gone"
			r.Target = h.ID
			return
		}
		r.Target = h.ID
		chance := 0.3 + 0.45*s.trait(i, "cunning") - 0.25*s.trait(hi, "caution") + s.opening(i, hi, item, t.seq)
		if !h.Alive {
			chance = 1
		}
		t.tension += 0.08
		if t.plot.Float64() < chance {
			h.drop(item)
			it.Holder = c.ID
			c.Inv = append(c.Inv, item)
			r.Detail = "steal"
			if h.Alive {
				s.shift(h, c.ID, -0.35)
				s.witness(t, c.Loc, ActTake, c.ID, h.ID, item, 0.8)
			} else {
				r.Detail = "strip"
			}
		} else {
			ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "caught"
			s.shift(h, c.ID, -0.2)
			s.witness(t, c.Loc, ActTake, c.ID, h.ID, item, 0.6)
		}
	default:
		ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "gone"
		if it.Holder != "" {
			r.Target = it.Holder
		}
	}
}

func (s *Sim) speak(t *turnState, i, ti int, text string, r *Record, ev *Event) {
	c, d := s.w.Chars[i], &s.sc.Characters[i]
	line := func() string {
		if text != "" {
			return text
		}
		if len(d.Voice) == 0 {
			return ""
		}
		return d.Voice[t.plot.IntN(len(d.Voice))]
	}
	if ti < 0 || r.Target == "" {
		ev.Text = line()
		r.Text, r.Detail = ev.Text, "address"
		for _, o := range s.w.Chars {
			if o.Alive && o.Onstage && o.Loc == c.Loc && o != c {
				s.shift(o, c.ID, 0.02+0.04*s.trait(s.geo.charIndex[o.ID], "empathy"))
			}
		}
		return
	}
	tc := s.w.Chars[ti]
	if tc.Rel[c.ID] < -0.45 {
		ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "refuse"
		ev.Text = line()
		r.Text = ev.Text
		s.shift(c, tc.ID, -0.05)
		if m := recall(tc, func(m memory) bool { return m.Actor == c.ID && m.Target == tc.ID && m.Kind != ActSpeak }); m != nil {
			r.Callback = m.callback()
		}
		return
	}
	s.shift(tc, c.ID, 0.05+0.08*s.trait(ti, "empathy"))
	s.shift(c, tc.ID, 0.03+0.05*s.trait(i, "empathy"))
	// Ask for something wanted that the other holds; not of a friend on
	// the same side, who is keeping it safe already.
	ally := d.Faction != "" && d.Faction == s.sc.Characters[ti].Faction && c.Rel[tc.ID] >= 0.25
	for _, it := range tc.Inv {
		if !s.wants(i, it) || (ally && s.wants(ti, it)) {
			continue
		}
		r.Item = it
		if !s.wants(ti, it) && tc.Rel[c.ID] >= 0.35 {
			tc.drop(it)
			c.Inv = append(c.Inv, it)
			s.w.Items[s.geo.itemIndex[it]].Holder = c.ID
			r.Detail = "persuade"
			s.witness(t, c.Loc, ActGive, tc.ID, c.ID, it, 0.7)
		} else {
			ev.Outcome, r.Outcome, r.Detail = OutcomePartial, OutcomePartial, "denied"
			t.tension += 0.03
		}
		ev.Text = line()
		r.Text = ev.Text
		return
	}
	// Tell a friend where to find what they are after.
	if (c.Rel[tc.ID] >= 0.1 || s.friendly(i, tc.ID)) && text == "" {
		for _, it := range s.w.Items {
			where := c.Seen[it.ID]
			if where == "" || where == tc.ID || where == tc.Seen[it.ID] || !s.wants(ti, it.ID) {
				continue
			}
			loc := strings.TrimPrefix(where, "@")
			holder := ""
			if !strings.HasPrefix(where, "@") {
				holder, loc = where, c.Met[where]
				if where == c.ID {
					loc = c.Loc
				}
				if loc == "" {
					continue
				}
				tc.Met[holder] = loc
			}
			tc.Seen[it.ID] = where
			r.Detail, r.Item, r.CauseRef, r.From = "whereabouts", it.ID, holder, loc
			ev.Text = ""
			s.shift(tc, c.ID, 0.06)
			s.witness(t, c.Loc, "told", c.ID, tc.ID, it.ID, 0.5)
			return
		}
	}
	// Share what the speaker knows and the listener does not.
	if c.Rel[tc.ID] >= 0.1 && text == "" {
		var share string
		for _, f := range c.Knows {
			if tc.knows(f) {
				continue
			}
			fd := &s.sc.Facts[s.geo.factIndex[f]]
			if fd.About == tc.ID {
				continue
			}
			share = f
			if s.learnGoal(ti, f) {
				break
			}
		}
		if share != "" {
			s.learnFact(ti, share)
			r.Detail, r.Item = "fact", ""
			r.Text = s.sc.Facts[s.geo.factIndex[share]].Text
			r.CauseRef = share
			ev.Text = r.Text
			s.witness(t, c.Loc, "told", c.ID, tc.ID, "", 0.5)
			return
		}
	}
	ev.Text = line()
	r.Text, r.Detail = ev.Text, "talk"
	s.witness(t, c.Loc, ActSpeak, c.ID, tc.ID, "", 0.2)
}

func (s *Sim) learnGoal(i int, fact string) bool {
	for _, g := range s.sc.Characters[i].Goals {
		if g.Kind == GoalLearn && g.Fact == fact {
			return true
		}
	}
	return false
}

// learnFact teaches character i a fact; a fact about someone sways how
// the learner feels about them.
func (s *Sim) learnFact(i int, fact string) bool {
	c := s.w.Chars[i]
	if !c.learn(fact) {
		return false
	}
	fd := &s.sc.Facts[s.geo.factIndex[fact]]
	if fd.About != "" && fd.About != c.ID && fd.Sway != 0 {
		s.shift(c, fd.About, fd.Sway)
	}
	if fd.Item != "" && !c.holds(fd.Item) {
		switch {
		case fd.Location != "":
			c.Seen[fd.Item] = "@" + fd.Location
		case fd.Holder != "" && fd.Holder != c.ID:
			c.Seen[fd.Item] = fd.Holder
			// Word of who has it says where they were seen.
			if _, h := s.char(fd.Holder); h.Onstage {
				c.Met[h.ID] = h.Loc
			}
		}
	}
	return true
}

func (s *Sim) search(t *turnState, i int, r *Record) {
	c := s.w.Chars[i]
	li := s.geo.locIndex[c.Loc]
	var hidden string
	for _, it := range s.w.Items {
		if it.Hidden && it.Loc == c.Loc {
			hidden = it.ID
			break
		}
	}
	var fact string
	for _, f := range s.sc.Locations[li].Facts {
		// Nobody needs to search to learn a secret about themselves.
		if !c.knows(f) && s.sc.Facts[s.geo.factIndex[f]].About != c.ID {
			fact = f
			break
		}
	}
	if hidden == "" && fact == "" {
		r.Outcome, r.Detail = OutcomeFailure, "nothing"
		if !slices.Contains(c.Searched, c.Loc) {
			c.Searched = append(c.Searched, c.Loc)
			slices.Sort(c.Searched)
		}
		return
	}
	if t.plot.Float64() > 0.45+0.5*s.trait(i, "curiosity") {
		r.Outcome, r.Detail = OutcomePartial, "not-yet"
		return
	}
	if hidden != "" {
		it := s.w.Items[s.geo.itemIndex[hidden]]
		it.Hidden, it.Loc, it.Holder = false, "", c.ID
		c.Inv = append(c.Inv, hidden)
		r.Item, r.Detail = hidden, "item"
		s.witness(t, c.Loc, "found", c.ID, "", hidden, 0.6)
		t.tension += 0.04
		return
	}
	s.learnFact(i, fact)
	r.Detail, r.CauseRef = "fact", fact
	r.Text = s.sc.Facts[s.geo.factIndex[fact]].Text
	s.witness(t, c.Loc, "found", c.ID, "", "", 0.6)
}

func (s *Sim) attack(t *turnState, i, ti int, r *Record, ev *Event) {
	c, tc := s.w.Chars[i], s.w.Chars[ti]
	open := 0.0
	for _, it := range tc.Inv {
		open = max(open, s.opening(i, ti, it, t.seq))
	}
	chance := 0.55 + 0.25*s.trait(i, "aggression") + 0.1*s.trait(i, "courage") - 0.25*s.trait(ti, "caution") + open
	if t.plot.Float64() >= chance {
		ev.Outcome, r.Outcome, r.Detail = OutcomeFailure, OutcomeFailure, "miss"
		s.shift(tc, c.ID, -0.15)
		s.witness(t, c.Loc, ActAttack, c.ID, tc.ID, "", 0.7)
		t.tension += 0.06
		return
	}
	dmg := 10 + t.plot.IntN(16)
	for _, it := range c.Inv {
		if s.sc.Items[s.geo.itemIndex[it]].Kind == ItemWeapon {
			dmg += 12
			r.Item = it
			break
		}
	}
	dmg = min(dmg, tc.Health)
	tc.Health -= dmg
	r.Amount = dmg
	t.tension += 0.12
	s.shift(tc, c.ID, -0.3)
	s.shift(c, tc.ID, -0.05)
	for oi, o := range s.w.Chars {
		if !o.Alive || !o.Onstage || o.Loc != c.Loc || o == c || o == tc {
			continue
		}
		switch {
		case o.Rel[tc.ID] > 0:
			s.shift(o, c.ID, -0.1-0.15*s.trait(oi, "empathy"))
		case o.Rel[tc.ID] < -0.3:
			s.shift(o, c.ID, 0.05)
		}
	}
	s.witness(t, c.Loc, ActAttack, c.ID, tc.ID, "", 0.9)
	if tc.Health <= 0 {
		tc.Health, tc.Alive = 0, false
		t.tension += 0.3
		// The fallen drop what they carried; the victor takes a prize.
		for _, it := range tc.Inv {
			st := s.w.Items[s.geo.itemIndex[it]]
			if s.wants(i, it) {
				st.Holder = c.ID
				c.Inv = append(c.Inv, it)
				if r.Detail == "" {
					r.Detail = "wrest"
				}
			} else {
				st.Holder, st.Loc = "", tc.Loc
			}
		}
		tc.Inv = nil
		s.witness(t, c.Loc, "death", c.ID, tc.ID, "", 1)
		t.recs = append(t.recs, r.withoutCallback())
		*r = Record{Kind: "death", Actor: tc.ID, Target: c.ID, Place: tc.Loc, Outcome: OutcomeSuccess, Amount: dmg, Item: r.Item, Cause: r.Cause, CauseRef: r.CauseRef, Detail: r.Detail}
		return
	}
	// A heavy blow can knock loose what the attacker came for.
	if dmg >= 18-int(40*open) || tc.Health < 30 {
		for _, it := range tc.Inv {
			if s.wants(i, it) {
				tc.drop(it)
				c.Inv = append(c.Inv, it)
				s.w.Items[s.geo.itemIndex[it]].Holder = c.ID
				r.Detail, r.Item = "wrest", it
				break
			}
		}
	}
}

func (r Record) withoutCallback() Record {
	r.Callback = nil
	return r
}

// fireScripted fires at most one scripted event: a due event anchored to
// a turn first, otherwise the eligible storylet whose tension brings the
// story nearest its arc. Threats wait while the story fades or relaxes.
func (s *Sim) fireScripted(t *turnState) {
	pick, climax := -1, -1
	best := 0.0
	target := s.arc(t.seq)
	for k, e := range s.sc.Events {
		if s.w.Fired[k] || int64(e.Trigger.Turn) > t.seq {
			continue
		}
		ok := true
		for _, c := range e.Trigger.When {
			if !s.holds(c, t.seq) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if e.Trigger.Climax {
			// The climax is held back until the story has built up to it,
			// and then comes before anything else.
			if s.climaxDue(t.seq) && (climax < 0 || e.Effect.Tension > s.sc.Events[climax].Effect.Tension) {
				climax = k
			}
			continue
		}
		if len(e.Trigger.When) == 0 {
			pick = k
			break
		}
		if e.Effect.Tension > 0.1 && (s.w.Phase == PhaseFade || s.w.Phase == PhaseRelax) {
			continue
		}
		if s.favoursLeader(e, t.seq) {
			continue
		}
		dist := abs(s.w.Tension + e.Effect.Tension - target)
		if pick < 0 || dist < best {
			pick, best = k, dist
		}
	}
	if climax >= 0 {
		pick = climax
		s.w.Climax = t.seq
	}
	if pick < 0 {
		s.tip(t)
		return
	}
	s.w.Fired[pick] = true
	e := s.sc.Events[pick]
	ef := e.Effect
	r := Record{Kind: ef.Kind, Actor: ef.Character, Place: ef.Location, Item: ef.Item, Text: ef.Text, Outcome: OutcomeSuccess, Source: SourceScript, CauseRef: e.ID}
	ev := Event{Actor: ef.Character, Kind: ef.Kind, Target: ef.Location, Text: ef.Text, Outcome: OutcomeSuccess, Source: SourceScript}
	here := func(c *charState) bool {
		return c.Onstage && c.Alive && (ef.Location == "" || c.Loc == ef.Location)
	}
	switch ef.Kind {
	case EffectArrival:
		_, c := s.char(ef.Character)
		c.Onstage, c.Loc = true, ef.Location
	case EffectDiscovery:
		if ef.Item != "" {
			it := s.w.Items[s.geo.itemIndex[ef.Item]]
			if it.Holder == "" && !it.Fixed {
				it.Loc, it.Hidden = ef.Location, false
			}
		}
	case EffectWeather:
		if ef.Damage > 0 {
			for _, c := range s.w.Chars {
				if here(c) {
					c.Health = max(1, c.Health-ef.Damage)
				}
			}
		}
	}
	if ef.Fact != "" {
		for ci, c := range s.w.Chars {
			if here(c) {
				s.learnFact(ci, ef.Fact)
			}
		}
	}
	if ef.Flag != "" && !slices.Contains(s.w.Flags, ef.Flag) {
		s.w.Flags = append(s.w.Flags, ef.Flag)
		slices.Sort(s.w.Flags)
	}
	for _, c := range s.w.Chars {
		if here(c) {
			c.remember(memory{Turn: t.seq, Kind: ef.Kind, Actor: ef.Character, Item: ef.Item, Loc: c.Loc, Imp: 0.5})
		}
	}
	t.tension += ef.Tension
	t.events = append(t.events, ev)
	t.recs = append(t.recs, r)
}

// contest finds the contested thing: the first item that characters of
// more than one side have active goals on. It returns the item's index,
// the index of whoever holds it (-1 if nobody), and the characters still
// after it who are not on the holder's side.
func (s *Sim) contest() (int, int, []int) {
	for ii, it := range s.w.Items {
		if it.Fixed {
			continue
		}
		var sides []string
		for ci, c := range s.w.Chars {
			if c.Onstage && c.Alive && s.wants(ci, it.ID) {
				f := s.sc.Characters[ci].Faction
				if f == "" {
					f = "@" + c.ID
				}
				if !slices.Contains(sides, f) {
					sides = append(sides, f)
				}
			}
		}
		if len(sides) < 2 {
			continue
		}
		hi := -1
		if it.Holder != "" {
			hi = s.geo.charIndex[it.Holder]
		}
		var seekers []int
		for ci, c := range s.w.Chars {
			if c.Onstage && c.Alive && s.wants(ci, it.ID) && (hi < 0 || !s.friendly(hi, c.ID)) {
				seekers = append(seekers, ci)
			}
		}
		return ii, hi, seekers
	}
	return -1, -1, nil
}

// tip is the director's hand on the scale: when the side that does not
// have the contested thing has lost track of it for a while, word of
// where it is reaches them, so the contest stays open.
func (s *Sim) tip(t *turnState) {
	w := s.w
	gap := int64(7)
	if w.Climax != 0 {
		gap = 4
	}
	if t.seq < 6 || t.seq-w.Tip < gap || w.Phase == PhaseRelax || w.Decided != 0 {
		return
	}
	ii, hi, seekers := s.contest()
	if ii < 0 {
		// No contest left: those of one side who must still carry the
		// thing somewhere should learn who has it.
		ii, hi, seekers = s.wanted()
	} else if hi >= 0 {
		for ci, c := range w.Chars {
			if ci != hi && c.Onstage && c.Alive && s.wants(ci, s.w.Items[ii].ID) && s.friendly(hi, c.ID) && !slices.Contains(seekers, ci) {
				seekers = append(seekers, ci)
			}
		}
	}
	if hi < 0 || len(seekers) == 0 {
		return
	}
	it, h := s.w.Items[ii], s.w.Chars[hi]
	lost := seekers[:0:0]
	for _, ci := range seekers {
		c := s.w.Chars[ci]
		if c.Loc == h.Loc || (c.Seen[it.ID] == h.ID && c.Met[h.ID] == h.Loc) {
			continue
		}
		lost = append(lost, ci)
	}
	if len(lost) == 0 {
		return
	}
	w.Tip = t.seq
	r := Record{Kind: "tip", Actor: h.ID, Item: it.ID, Place: h.Loc, Outcome: OutcomeSuccess, Source: SourceScript}
	for _, ci := range lost {
		c := s.w.Chars[ci]
		c.Seen[it.ID], c.Met[h.ID] = h.ID, h.Loc
		r.With = append(r.With, c.ID)
		c.remember(memory{Turn: t.seq, Kind: "tip", Actor: h.ID, Item: it.ID, Loc: h.Loc, Imp: 0.5})
	}
	t.tension += 0.06
	t.events = append(t.events, Event{Actor: h.ID, Kind: "tip", Target: h.Loc, Text: it.ID, Outcome: OutcomeSuccess, Source: SourceScript})
	t.recs = append(t.recs, r)
}

// side names character ci's side: its faction, or itself if it has none.
func (s *Sim) side(ci int) string {
	if f := s.sc.Characters[ci].Faction; f != "" {
		return f
	}
	return "@" + s.w.Chars[ci].ID
}

// trackHold notes which side holds the contested thing, and since when.
func (s *Sim) trackHold(t *turnState) {
	_, hi, _ := s.contest()
	by := ""
	if hi >= 0 {
		by = s.side(hi)
	}
	if by != s.w.HeldBy {
		s.w.HeldBy, s.w.Held = by, t.seq
		if by == "" {
			s.w.Held = 0
		}
	}
}

// opening is the chance the side that is behind gets: the longer one side
// has sat on the contested thing, the more its guard slackens against
// those who come for it, most of all once the climax has come.
func (s *Sim) opening(i, hi int, item string, seq int64) float64 {
	w := s.w
	if w.HeldBy == "" || w.Decided != 0 || s.friendly(hi, s.w.Chars[i].ID) || !s.wants(i, item) || s.side(hi) != w.HeldBy {
		return 0
	}
	held := float64(seq - w.Held)
	if w.Climax != 0 {
		held += 6
	}
	return clamp(0.025*(held-6), 0, 0.3)
}

// wanted finds the first held item that others still have goals on,
// with its holder and those others.
func (s *Sim) wanted() (int, int, []int) {
	for ii, it := range s.w.Items {
		if it.Fixed || it.Holder == "" {
			continue
		}
		hi := s.geo.charIndex[it.Holder]
		var who []int
		for ci, c := range s.w.Chars {
			if ci != hi && c.Onstage && c.Alive && s.wants(ci, it.ID) {
				who = append(who, ci)
			}
		}
		if len(who) > 0 {
			return ii, hi, who
		}
	}
	return -1, -1, nil
}

// favoursLeader reports whether the director holds back an event because
// it would only help the side that already has the contested thing: it
// sets a flag that side's goals wait for. It is held for a while after
// the climax, so the side that is behind gets its chance first.
func (s *Sim) favoursLeader(e ScriptedEvent, seq int64) bool {
	if e.Effect.Flag == "" || s.w.Climax == 0 || seq-s.w.Climax >= 12 {
		return false
	}
	_, hi, seekers := s.contest()
	if hi < 0 || len(seekers) == 0 {
		return false
	}
	for ci, c := range s.w.Chars {
		if !s.friendly(hi, c.ID) {
			continue
		}
		for j, g := range s.sc.Characters[ci].Goals {
			if c.Goals[j].Status != GoalActive {
				continue
			}
			for _, r := range g.Requires {
				if r.Kind == "flag" && r.Flag == e.Effect.Flag {
					return true
				}
			}
		}
	}
	return false
}

// climaxDue reports whether the director lets a climax event in on this
// turn: from 55% of the planned length once tension is near the arc's
// target, and from 75% in any case.
func (s *Sim) climaxDue(seq int64) bool {
	x := float64(seq) / float64(s.length())
	return x >= 0.75 || (x >= 0.55 && s.w.Tension >= s.arc(seq)-0.25)
}

// requires reports whether a goal's requirements hold.
func (s *Sim) requires(g *Goal, seq int64) bool {
	for _, c := range g.Requires {
		if !s.holds(c, seq) {
			return false
		}
	}
	return true
}

// holds evaluates a condition against the world.
func (s *Sim) holds(c Condition, seq int64) bool {
	_, ch := s.char(c.Character)
	switch c.Kind {
	case "turn":
		return seq >= int64(c.Turn)
	case "at":
		return ch != nil && ch.Onstage && ch.Alive && ch.Loc == c.Location
	case "holds":
		it := s.w.Items[s.geo.itemIndex[c.Item]]
		if c.Character == "" {
			return it.Holder != ""
		}
		return it.Holder == c.Character
	case "item_at":
		it := s.w.Items[s.geo.itemIndex[c.Item]]
		if it.Holder != "" {
			_, h := s.char(it.Holder)
			return h.Loc == c.Location
		}
		return it.Loc == c.Location && !it.Hidden
	case "dead":
		return ch != nil && ch.Onstage && !ch.Alive
	case "knows":
		if ch != nil {
			return ch.knows(c.Fact)
		}
		for _, o := range s.w.Chars {
			if o.knows(c.Fact) {
				return true
			}
		}
		return false
	case "flag":
		return slices.Contains(s.w.Flags, c.Flag)
	case "climax":
		return s.w.Climax > 0 && seq-s.w.Climax >= int64(c.Turn)
	case "goal":
		ci := s.geo.charIndex[c.Character]
		for j, g := range s.sc.Characters[ci].Goals {
			if g.ID != c.Goal {
				continue
			}
			st := ch.Goals[j].Status
			switch c.Status {
			case "resolved":
				return st != GoalActive
			case GoalWon:
				return st == GoalWon || st == GoalReconciled
			default:
				return st == c.Status
			}
		}
	}
	return false
}

// updateGoals resolves goals that were won or lost this turn.
func (s *Sim) updateGoals(t *turnState) {
	for pass := 0; pass < 2; pass++ {
		for ci, c := range s.w.Chars {
			if !c.Onstage {
				continue
			}
			for j := range c.Goals {
				gs := &c.Goals[j]
				g := &s.sc.Characters[ci].Goals[j]
				if gs.Status == GoalWon && g.Kind == GoalObtain && pass == 0 && !s.w.Finished {
					s.recheckObtain(t, ci, j)
				}
				if gs.Status != GoalActive {
					continue
				}
				st := s.goalStatus(ci, g)
				if (st == GoalWon || st == GoalReconciled) && !s.requires(g, t.seq) {
					st = GoalActive
				}
				if st == GoalActive {
					continue
				}
				gs.Status, gs.Turn = st, t.seq
				r := Record{Kind: "goal", Actor: c.ID, Target: g.Target, Item: g.Item, Place: g.Location, Detail: st, Outcome: OutcomeSuccess, CauseRef: g.ID, Text: g.Text}
				switch st {
				case GoalWon, GoalReconciled:
					t.tension -= 0.1
					if gs.Slipped > 0 {
						// Won back: the scripted passage was told the first time.
						r.Detail, r.Amount = "regained", gs.Slipped
						r.Target = ""
					} else if g.Won != "" {
						r.Text = g.Won
						r.Cause = "scripted"
					}
				case GoalLost:
					t.tension += 0.05
					if g.Lost != "" {
						r.Text = g.Lost
						r.Cause = "scripted"
					}
				}
				if st == GoalWon && g.Kind == GoalDeliver {
					// The thing has reached its place, or its rightful
					// hands, and stays there.
					it := s.w.Items[s.geo.itemIndex[g.Item]]
					if g.Target == "" {
						c.drop(g.Item)
						it.Holder, it.Loc = "", c.Loc
					}
					it.Fixed = true
				}
				t.recs = append(t.recs, r)
			}
		}
	}
}

// friendly reports whether holder is character ci or one of its side.
func (s *Sim) friendly(ci int, holder string) bool {
	if holder == "" {
		return false
	}
	if holder == s.w.Chars[ci].ID {
		return true
	}
	f := s.sc.Characters[ci].Faction
	hi, ok := s.geo.charIndex[holder]
	return ok && f != "" && s.sc.Characters[hi].Faction == f
}

// settledByFriend reports whether a fixed item was put where it is by
// character ci's side: held by one of them, or delivered by one of them.
func (s *Sim) settledByFriend(ci int, item string) bool {
	it := s.w.Items[s.geo.itemIndex[item]]
	if s.friendly(ci, it.Holder) {
		return true
	}
	for oi, o := range s.w.Chars {
		if !s.friendly(ci, o.ID) {
			continue
		}
		for j, g := range s.sc.Characters[oi].Goals {
			if g.Kind == GoalDeliver && g.Item == item && o.Goals[j].Status == GoalWon {
				return true
			}
		}
	}
	return false
}

// recheckObtain looks again at a won obtain goal: a thing got is only
// got while it stays in friendly hands. Taken by the other side, the goal
// is open again and its character goes after it; settled for good by the
// other side, it is lost.
func (s *Sim) recheckObtain(t *turnState, ci, j int) {
	c := s.w.Chars[ci]
	g := &s.sc.Characters[ci].Goals[j]
	gs := &c.Goals[j]
	if !c.Alive {
		return
	}
	it := s.w.Items[s.geo.itemIndex[g.Item]]
	if s.friendly(ci, it.Holder) || (it.Fixed && s.settledByFriend(ci, g.Item)) {
		return
	}
	r := Record{Kind: "goal", Actor: c.ID, Target: it.Holder, Item: g.Item, Outcome: OutcomeSuccess, CauseRef: g.ID, Text: g.Text}
	if it.Fixed {
		gs.Status, gs.Turn = GoalLost, t.seq
		r.Detail = GoalLost
		if g.Lost != "" {
			r.Text, r.Cause = g.Lost, "scripted"
		}
		t.tension += 0.05
	} else {
		gs.Status, gs.Turn = GoalActive, 0
		gs.Slipped++
		r.Detail = "slipped"
		if m := recall(c, func(m memory) bool { return m.Item == g.Item && m.Turn < t.seq }); m != nil {
			r.Callback = m.callback()
		}
		t.tension += 0.08
	}
	t.recs = append(t.recs, r)
}

func (s *Sim) goalStatus(ci int, g *Goal) string {
	c := s.w.Chars[ci]
	if !c.Alive {
		return GoalLost
	}
	if g.After != "" {
		for j, o := range s.sc.Characters[ci].Goals {
			if o.ID != g.After {
				continue
			}
			switch c.Goals[j].Status {
			case GoalActive:
				return GoalActive
			case GoalLost:
				return GoalLost
			}
		}
	}
	itemGone := func() bool {
		it := s.w.Items[s.geo.itemIndex[g.Item]]
		return it.Fixed && it.Holder != c.ID && (g.Target == "" || it.Holder != g.Target)
	}
	switch g.Kind {
	case GoalObtain:
		if c.holds(g.Item) || s.friendly(ci, s.w.Items[s.geo.itemIndex[g.Item]].Holder) {
			return GoalWon
		}
		if itemGone() {
			if s.settledByFriend(ci, g.Item) {
				return GoalWon
			}
			return GoalLost
		}
	case GoalDeliver:
		if g.Target != "" {
			if _, tc := s.char(g.Target); tc.Alive && tc.holds(g.Item) {
				return GoalWon
			}
			if _, tc := s.char(g.Target); tc.Onstage && !tc.Alive {
				return GoalLost
			}
		} else if c.holds(g.Item) && c.Loc == g.Location {
			return GoalWon
		}
		if itemGone() {
			return GoalLost
		}
	case GoalReach:
		if c.Loc == g.Location {
			return GoalWon
		}
	case GoalDefeat:
		_, tc := s.char(g.Target)
		if !tc.Alive {
			return GoalWon
		}
		if c.Rel[g.Target] >= 0.3 && tc.Rel[c.ID] >= 0.3 {
			return GoalReconciled
		}
	case GoalProtect:
		_, tc := s.char(g.Target)
		if tc.Onstage && !tc.Alive {
			return GoalLost
		}
		if s.w.Finished {
			return GoalWon
		}
	case GoalBefriend:
		_, tc := s.char(g.Target)
		if tc.Onstage && !tc.Alive {
			return GoalLost
		}
		if c.Rel[g.Target] >= 0.5 && tc.Rel[c.ID] >= 0.45 {
			return GoalWon
		}
		if tc.Rel[c.ID] <= -0.75 {
			return GoalLost
		}
	case GoalLearn:
		if c.knows(g.Fact) {
			return GoalWon
		}
	}
	return GoalActive
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

// Relationship bands; crossing one is worth telling.
func band(v float64) int {
	switch {
	case v <= -0.5:
		return -2
	case v < -0.15:
		return -1
	case v < 0.35:
		return 0
	case v < 0.7:
		return 1
	}
	return 2
}

func (s *Sim) bands() []int8 {
	n := len(s.w.Chars)
	b := make([]int8, n*n)
	for i, c := range s.w.Chars {
		for j, o := range s.w.Chars {
			if i != j {
				b[i*n+j] = int8(band(c.Rel[o.ID]))
			}
		}
	}
	return b
}

func (s *Sim) noteBonds(t *turnState, before []int8) {
	n := len(s.w.Chars)
	for i, c := range s.w.Chars {
		if !c.Onstage || !c.Alive {
			continue
		}
		for j, o := range s.w.Chars {
			if i == j || !o.Onstage || !o.Alive {
				continue
			}
			now := band(c.Rel[o.ID])
			was := int(before[i*n+j])
			// Telling every wobble around neutral would be noise.
			if now == was || (now >= -1 && now <= 0 && was >= -1 && was <= 0) {
				continue
			}
			t.recs = append(t.recs, Record{Kind: "bond", Actor: c.ID, Target: o.ID, Amount: now, Outcome: OutcomeSuccess, Detail: fmt.Sprint(was)})
		}
	}
}

// arc is the tension the story aims at on a turn: rising to a peak at
// three quarters of the planned length, falling after.
func (s *Sim) arc(seq int64) float64 {
	l := float64(s.length())
	x := float64(seq) / l
	if x <= 0.75 {
		return 0.15 + 0.75*x/0.75
	}
	return max(0.15, 0.9-1.5*(x-0.75))
}

func (s *Sim) length() int {
	if s.sc.Length > 0 {
		return s.sc.Length
	}
	return 60
}

// pace updates tension and moves the story through its phases.
func (s *Sim) pace(t *turnState) {
	w := s.w
	open := false
	for i, a := range w.Chars {
		for _, b := range w.Chars[i+1:] {
			if a.Alive && b.Alive && a.Onstage && b.Onstage && a.Loc == b.Loc && (a.Rel[b.ID] < -0.4 || b.Rel[a.ID] < -0.4) {
				open = true
			}
		}
	}
	decay := 0.9
	if open {
		decay = 0.97
	}
	w.Tension = clamp(w.Tension*decay+t.tension, 0, 1)
	w.Tension = float64(int(w.Tension*10000+0.5)) / 10000
	next := w.Phase
	switch w.Phase {
	case PhaseBuildup:
		if w.Tension >= 0.55 {
			next = PhasePeak
		}
	case PhasePeak:
		if w.Tension < 0.45 && w.PhaseTurns >= 2 {
			next = PhaseFade
		}
	case PhaseFade:
		if w.Tension < 0.25 {
			next = PhaseRelax
		} else if w.Tension >= 0.6 {
			next = PhasePeak
		}
	case PhaseRelax:
		if w.PhaseTurns >= 3 || w.Tension >= 0.45 {
			next = PhaseBuildup
		}
	default:
		next = PhaseBuildup
	}
	if next != w.Phase {
		w.Phase, w.PhaseTurns = next, 0
	} else {
		w.PhaseTurns++
	}
}

// checkEnd finishes the story on a scenario end condition, on goal
// outcomes (every goal that can resolve has), when at most one
// character still stands, or, as a fallback, long after the planned
// length.
func (s *Sim) checkEnd(t *turnState) {
	w := s.w
	text, id := "", ""
	for _, e := range s.sc.End {
		all := true
		for _, c := range e.When {
			if !s.holds(c, t.seq) {
				all = false
				break
			}
		}
		if all {
			text, id = e.Text, e.ID
			break
		}
	}
	if id == "" {
		standing, open, goals := 0, false, 0
		for ci, c := range w.Chars {
			if !c.Onstage {
				continue
			}
			if c.Alive {
				standing++
			}
			for j, g := range s.sc.Characters[ci].Goals {
				goals++
				if c.Goals[j].Status == GoalActive && g.Kind != GoalProtect {
					open = true
				}
			}
		}
		switch {
		case standing <= 1 && len(w.Chars) > 1:
			id = "last-standing"
		case !open && goals > 0 && t.seq >= 5:
			id = "resolution"
		case t.seq >= int64(3*s.length()):
			id = "cap"
		}
	}
	switch {
	case id == "" && w.Decided != 0:
		// The verdict no longer holds: the story goes on.
		t.recs = append(t.recs, Record{Kind: "reversal", Detail: w.Verdict, Outcome: OutcomeSuccess, Source: SourceScript})
		t.tension += 0.15
		w.Decided, w.Verdict = 0, ""
		return
	case id == "":
		return
	case id != "last-standing" && id != "cap" && w.Decided == 0:
		// The decisive moment: the story plays its aftermath first.
		w.Decided, w.Verdict = t.seq, id
		return
	case id != "last-standing" && id != "cap" && t.seq-w.Decided < s.aftermath():
		s.react(t)
		return
	}
	w.Finished, w.Ending = true, id
	// Whatever is still open resolves now; protected people who stand are
	// a goal won.
	for ci, c := range w.Chars {
		for j := range c.Goals {
			if c.Goals[j].Status != GoalActive {
				continue
			}
			g := &s.sc.Characters[ci].Goals[j]
			st := GoalLost
			if g.Kind == GoalProtect && c.Alive {
				if _, tc := s.char(g.Target); tc.Alive {
					st = GoalWon
				}
			}
			if !c.Onstage {
				continue
			}
			c.Goals[j].Status, c.Goals[j].Turn = st, t.seq
		}
	}
	t.recs = append(t.recs, Record{Kind: "ending", Detail: id, Text: text, Outcome: OutcomeSuccess})
	for ci, c := range w.Chars {
		if !c.Onstage {
			continue
		}
		for j, g := range s.sc.Characters[ci].Goals {
			t.recs = append(t.recs, Record{Kind: "outcome", Actor: c.ID, Target: g.Target, Item: g.Item, Place: g.Location, Detail: c.Goals[j].Status, Text: g.Text, Outcome: OutcomeSuccess, CauseRef: g.ID})
		}
	}
}

// aftermath is how many turns the story runs on after its outcome is
// decided: time for consequences and reactions.
func (s *Sim) aftermath() int64 {
	return max(4, s.w.Decided/8)
}

// victor is who the verdict favours: the character named by the first
// fitting condition of the ending that holds, or for a resolution the
// last to win a goal.
func (s *Sim) victor() int {
	for _, e := range s.sc.End {
		if e.ID != s.w.Verdict {
			continue
		}
		for _, c := range e.When {
			switch c.Kind {
			case "goal", "at", "holds":
				if ci, ok := s.geo.charIndex[c.Character]; ok {
					return ci
				}
			case "item_at":
				if h := s.w.Items[s.geo.itemIndex[c.Item]].Holder; h != "" {
					return s.geo.charIndex[h]
				}
			}
		}
	}
	best, at := -1, int64(-1)
	for ci, c := range s.w.Chars {
		for _, g := range c.Goals {
			if g.Status == GoalWon && g.Turn > at {
				best, at = ci, g.Turn
			}
		}
	}
	return best
}

// react plays one turn of the aftermath: two of those with a stake in
// the outcome take it well or badly, towards whoever it favoured, and
// remember why.
func (s *Sim) react(t *turnState) {
	wi := s.victor()
	if wi < 0 {
		return
	}
	win := s.w.Chars[wi]
	var who []int
	for ci, c := range s.w.Chars {
		if ci == wi || !c.Onstage || !c.Alive {
			continue
		}
		stake := s.friendly(wi, c.ID)
		for j, g := range s.sc.Characters[ci].Goals {
			if (g.Kind == GoalObtain || g.Kind == GoalDeliver) && c.Goals[j].Status != GoalWon {
				for _, wg := range s.sc.Characters[wi].Goals {
					if wg.Item == g.Item {
						stake = true
					}
				}
			}
			if g.Target == win.ID {
				stake = true
			}
		}
		if stake {
			who = append(who, ci)
		}
	}
	k := int(t.seq-s.w.Decided-1) * 2
	for n := k; n < k+2 && n < len(who); n++ {
		ci := who[n]
		c := s.w.Chars[ci]
		r := Record{Kind: "reaction", Actor: c.ID, Target: win.ID, Outcome: OutcomeSuccess, Source: SourceScript}
		if s.friendly(wi, c.ID) {
			r.Detail, r.Amount = "glad", 1
			s.shift(c, win.ID, 0.25)
			s.shift(win, c.ID, 0.1)
		} else {
			r.Detail, r.Amount = "bitter", -1
			s.shift(c, win.ID, -0.3)
		}
		if m := recall(c, func(m memory) bool {
			return m.Turn <= t.seq-3 && (m.Actor == win.ID || m.Target == win.ID) && m.Kind != ActSpeak && m.Kind != "pickup"
		}); m != nil {
			r.Callback = m.callback()
		}
		t.recs = append(t.recs, r)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
