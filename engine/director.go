// The director plays one turn: it gathers every character's action,
// resolves them in initiative order, lets the world answer (scripted
// events, goals, sightings, bonds, pacing, the ending) and has the turn
// told. Each of those steps lives in the file named after it.

package engine

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
)

// Resolution phases, in order: quick deeds among those together
// (grabs, gifts, words, a hand), movement, searching, conflict, rest.
func resolutionPhase(kind string) int {
	switch kind {
	case ActTake, ActGive, ActSpeak, ActHelp:
		// Grabbing, handing over, a word and a hand are quick: done
		// before anyone leaves, so a scene is played out before its
		// people part.
		return 0
	case ActMove:
		return 1
	case ActSearch:
		return 2
	case ActAttack:
		return 3
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
	// holders: who held each item when the turn began.
	holders []string
	// The turn's choice of twist (Twists, DirectorInput), if one was made.
	voted bool
	twist string
}

// step plays one turn and returns it as published.
func (s *Sim) step(ctx context.Context, player map[string]Action) (Turn, error) {
	w := s.w
	s.encFresh = false
	t := &turnState{seq: w.Seq + 1, plot: s.rng(w.Seq+1, streamPlot)}
	// A deed and an event for each character, and records of what came
	// of them: sized once, not grown by doubling (a record is large).
	t.recs = make([]Record, 0, len(w.Chars)+6)
	t.events = make([]Event, 0, len(w.Chars)+2)
	t.holders = make([]string, len(w.Items))
	for k, it := range w.Items {
		t.holders[k] = it.Holder
	}
	if a, ok := player[DirectorInput]; ok && a.Kind == ActTwist {
		t.voted, t.twist = true, a.Target
	}
	bands := s.relationBands()
	prevPhase := w.Phase

	acts, srcs := s.decide(ctx, t.seq, player)
	before := s.locations()
	s.resolveAll(t, acts, srcs)
	s.noteCame(before)

	s.fireScripted(t)
	s.updateGoals(t)
	s.trackHold(t)
	s.updateSightings()
	s.noteBonds(t, bands)
	s.updateTensionAndPhase(t)
	s.checkEnd(t)
	s.noteLastActions(acts)
	w.Seq = t.seq

	nar := s.tellTurn(ctx, t, prevPhase)
	return s.turnOf(t, nar), nil
}

// initiative is a character's place in the order of a turn's deeds.
type initiative struct {
	i int
	v float64
}

// resolveAll plays every action in initiative order. Whom each mover
// found at the end of the road is noted once grabs and moves are done,
// before anyone speaks, searches or fights.
func (s *Sim) resolveAll(t *turnState, acts []Action, srcs []string) {
	order, phase := s.initiativeOrder(t, acts)
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
}

// initiativeOrder orders the turn's actions: by resolution phase, then
// by seeded initiative (chance, with a head start for the bold). It
// returns the order and each character's phase.
func (s *Sim) initiativeOrder(t *turnState, acts []Action) ([]initiative, []int) {
	n := len(s.w.Chars)
	order := make([]initiative, 0, n)
	for i, c := range s.w.Chars {
		if c.Onstage && c.Alive && acts[i].Kind != "" {
			order = append(order, initiative{i, t.plot.Float64() + 0.3*s.trait(i, "courage")})
		}
	}
	// A blow struck for a prize its holder carries is a contested
	// action: it lands before the holder can walk away.
	phase := make([]int, n)
	for _, o := range order {
		phase[o.i] = resolutionPhase(acts[o.i].Kind)
		if acts[o.i].Kind == ActAttack {
			if _, tc := s.charByID(acts[o.i].Target); tc != nil {
				for _, it := range tc.Inv {
					if s.wants(o.i, it) {
						phase[o.i] = 0
					}
				}
			}
		}
	}
	slices.SortStableFunc(order, func(a, b initiative) int {
		if c := cmp.Compare(phase[a.i], phase[b.i]); c != 0 {
			return c
		}
		return cmp.Compare(b.v, a.v)
	})
	return order, phase
}

// noteLastActions keeps each character's last three actions, which the
// decider reads so as not to repeat itself.
func (s *Sim) noteLastActions(acts []Action) {
	for i, c := range s.w.Chars {
		if acts[i].Kind == "" {
			continue
		}
		c.Last = append(c.Last, acts[i].Kind+":"+acts[i].Target)
		if len(c.Last) > 3 {
			c.Last = c.Last[len(c.Last)-3:]
		}
	}
}

// locations is where each character stands.
func (s *Sim) locations() []string {
	l := make([]string, len(s.w.Chars))
	for i, c := range s.w.Chars {
		l[i] = c.Loc
	}
	return l
}

// noteCame keeps, for each character that moved this turn, where it
// came from, so that going straight back next turn needs a reason.
func (s *Sim) noteCame(before []string) {
	for i, c := range s.w.Chars {
		c.Came = ""
		if c.Loc != before[i] {
			c.Came = before[i]
		}
	}
}

// tellTurn has the chronicler tell the turn (the built-in one, if the
// chronicler fails), and remembers the templates it used.
func (s *Sim) tellTurn(ctx context.Context, t *turnState, prevPhase string) Narration {
	w := s.w
	scene := Scene{
		Seq: t.seq, Phase: w.Phase, PhaseChanged: w.Phase != prevPhase && t.seq > 1,
		Tension: w.Tension, Records: t.recs, Cast: s.cast(), Recent: w.Prose, Final: w.Finished,
		Introduced: w.Introduced,
	}
	scene.Seed, _ = streamSeed(s.seed, t.seq, streamProse)
	nar, err := s.opts.Chronicler.Narrate(ctx, scene)
	if err != nil || nar.Text == "" {
		nar, _ = defaultChronicler.Narrate(ctx, scene)
	}
	for _, id := range nar.Introduced {
		if k, found := slices.BinarySearch(w.Introduced, id); !found {
			w.Introduced = slices.Insert(slices.Clone(w.Introduced), k, id)
		}
	}
	// keepProse makes a new list when it trims; an append only writes
	// past the end of the old one, which is the scene's Recent that a
	// chronicler may keep.
	w.Prose = keepProse(append(w.Prose, nar.Used...))
	return nar
}

// turnOf is the turn as published: its events, prose, where everyone
// on stage stands, and the state hash.
func (s *Sim) turnOf(t *turnState, nar Narration) Turn {
	turn := Turn{Seq: t.seq, Events: t.events, Narrative: nar.Text, Finished: s.w.Finished}
	if turn.Events == nil {
		turn.Events = []Event{}
	}
	turn.Characters = make([]CharacterState, 0, len(s.w.Chars))
	for _, c := range s.w.Chars {
		if c.Onstage {
			turn.Characters = append(turn.Characters, CharacterState{ID: c.ID, Location: c.Loc, Health: c.Health, Alive: c.Alive})
		}
	}
	if len(turn.Characters) == 0 {
		turn.Characters = nil // as published before: null, not []
	}
	turn.StateHash = s.hash()
	return turn
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

func (s *Sim) charByID(id string) (int, *charState) {
	i, ok := s.geo.charIndex[id]
	if !ok {
		return -1, nil
	}
	return i, s.w.Chars[i]
}
