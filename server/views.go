package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/store"
)

// SimulationView is PROTOCOL.md's Simulation.
type SimulationView struct {
	ID             string                `json:"id"`
	Title          string                `json:"title"`
	ScenarioID     string                `json:"scenario_id"`
	Status         string                `json:"status"`
	Seed           int64                 `json:"seed"`
	Head           int64                 `json:"head"`
	MaxTurns       int                   `json:"max_turns"`
	TurnIntervalMS int                   `json:"turn_interval_ms"`
	WaitForPlayers bool                  `json:"wait_for_players"`
	CreatedBy      string                `json:"created_by"`
	CreatedAt      time.Time             `json:"created_at"`
	UpdatedAt      time.Time             `json:"updated_at"`
	Owner          string                `json:"owner"`
	Characters     []CharacterSeatView   `json:"characters"`
	Locations      []engine.LocationView `json:"locations"`
	Actions        []string              `json:"actions"`
	Watchers       *int                  `json:"watchers,omitempty"` // extension: the story's watchers
	// Extension: a fork's parent and the turn it left it at.
	Parent   string `json:"parent,omitempty"`
	ForkedAt int64  `json:"forked_at,omitempty"`
	// Extension: audience votes on twists, whether watchers who are not
	// signed in may vote, how long a vote is open, and the vote open now.
	AudienceVotes  bool            `json:"audience_votes,omitempty"`
	AnonymousVotes bool            `json:"anonymous_votes,omitempty"`
	VoteWindowMS   int             `json:"vote_window_ms,omitempty"`
	Vote           json.RawMessage `json:"vote,omitempty"`
}

// CharacterSeatView is a character of a Simulation with its seat.
type CharacterSeatView struct {
	engine.CharacterView
	Seat *SeatView `json:"seat"`
}

// SeatView names who holds a seat.
type SeatView struct {
	UserID   string `json:"user_id"`
	UserName string `json:"user_name"`
	// AIFill (extension): the AI plays the character on turns its player
	// sends no action for; otherwise it holds its ground.
	AIFill bool `json:"ai_fill"`
}

// simInfo is what never changes about a simulation: its parsed scenario
// and the cast and map before the first turn.
type simInfo struct {
	scenario  *engine.Scenario
	initial   []engine.CharacterView
	locations []engine.LocationView
	actions   []string
}

// viewCache keeps simInfo per simulation, so describing one does not
// parse its scenario each time; a miss parses with parse, which shares
// the scenarios already parsed (most stories share one).
type viewCache struct {
	mu    sync.Mutex
	infos map[string]*simInfo
	parse func([]byte) (*engine.Scenario, error)
}

const maxViewCache = 4096

func newViewCache(parse func([]byte) (*engine.Scenario, error)) *viewCache {
	return &viewCache{infos: make(map[string]*simInfo), parse: parse}
}

func (v *viewCache) info(rec *store.Simulation) (*simInfo, error) {
	v.mu.Lock()
	in, ok := v.infos[rec.ID]
	v.mu.Unlock()
	if ok {
		return in, nil
	}
	sc, err := v.parse(rec.Scenario)
	if err != nil {
		return nil, fmt.Errorf("scenario of %q: %w", rec.ID, err)
	}
	sim, err := engine.NewSim(sc, rec.Seed, engine.Options{})
	if err != nil {
		return nil, fmt.Errorf("simulation %q: %w", rec.ID, err)
	}
	in = &simInfo{scenario: sc, initial: sim.Characters(), locations: sim.Locations(), actions: sim.ActionKinds()}
	v.mu.Lock()
	if len(v.infos) >= maxViewCache {
		clear(v.infos) // simple bound; entries are cheap to rebuild
	}
	v.infos[rec.ID] = in
	v.mu.Unlock()
	return in, nil
}

// describe builds the Simulation of rec: its cast as of the head turn
// (lastTurn, the head turn's body, is read from the store when nil) and
// its seats.
func (s *Server) describe(ctx context.Context, rec *store.Simulation, lastTurn []byte) (*SimulationView, error) {
	w := s.hub.Watchers(rec.ID)
	if s.cluster != nil {
		if total, err := s.cluster.CountWatchers(ctx, rec.ID); err == nil {
			w = max(total, w)
		}
	}
	if rec.Head > 0 && lastTurn == nil {
		turns, err := s.store.ListTurns(ctx, rec.ID, rec.Head-1, 1)
		if err != nil {
			return nil, fmt.Errorf("head turn of %q: %w", rec.ID, err)
		}
		if len(turns) == 1 {
			lastTurn = turns[0].Body
		}
	}
	seats, err := s.store.Seats(ctx, rec.ID)
	if err != nil {
		return nil, fmt.Errorf("seats of %q: %w", rec.ID, err)
	}
	return s.view(rec, lastTurn, seats, w)
}

// describeAll builds the Simulations of a page of records in a constant
// number of round trips: one to the store for every head turn and seat,
// one to Redis for every watcher count.
func (s *Server) describeAll(ctx context.Context, recs []*store.Simulation) ([]*SimulationView, error) {
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	sums, err := s.store.Summaries(ctx, ids)
	if err != nil {
		return nil, err
	}
	var counts map[string]int
	if s.cluster != nil && len(ids) > 0 {
		// Without Redis the counts are this node's: a listing is still
		// worth giving.
		counts, _ = s.cluster.CountWatchersOf(ctx, ids)
	}
	views := make([]*SimulationView, 0, len(recs))
	for _, rec := range recs {
		sum := sums[rec.ID]
		v, err := s.view(rec, sum.HeadTurn, sum.Seats, max(counts[rec.ID], s.hub.Watchers(rec.ID)))
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

// view builds the Simulation of rec from its head turn's body (nil
// before the first turn), its seats and its watchers.
func (s *Server) view(rec *store.Simulation, lastTurn []byte, seats map[string]store.Seat, watchers int) (*SimulationView, error) {
	in, err := s.views.info(rec)
	if err != nil {
		return nil, err
	}
	v := &SimulationView{
		ID: rec.ID, Title: rec.Title, ScenarioID: rec.ScenarioID, Status: rec.Status,
		Seed: rec.Seed, Head: rec.Head, MaxTurns: rec.MaxTurns, TurnIntervalMS: rec.TurnIntervalMS,
		WaitForPlayers: rec.WaitForPlayers, CreatedBy: rec.CreatedBy,
		CreatedAt: rec.CreatedAt.UTC(), UpdatedAt: rec.UpdatedAt.UTC(), Owner: rec.Owner,
		Locations: in.locations, Actions: in.actions, Parent: rec.Parent, ForkedAt: rec.ForkedAt,
		AudienceVotes: rec.AudienceVotes, AnonymousVotes: rec.AnonymousVotes, VoteWindowMS: rec.VoteWindowMS,
		Vote: openVote(rec, time.Now()),
	}
	if v.Owner == "" && s.runner.Running(rec.ID) {
		v.Owner = s.cfg.Node
	}
	v.Watchers = &watchers
	state := map[string]engine.CharacterState{}
	if lastTurn != nil {
		var t struct {
			Characters []engine.CharacterState `json:"characters"`
		}
		if err := json.Unmarshal(lastTurn, &t); err != nil {
			return nil, fmt.Errorf("decode head turn of %q: %w", rec.ID, err)
		}
		for _, c := range t.Characters {
			state[c.ID] = c
		}
	}
	v.Characters = make([]CharacterSeatView, len(in.initial))
	for i, c := range in.initial {
		if st, ok := state[c.ID]; ok {
			c.Location, c.Health, c.Alive = st.Location, st.Health, st.Alive
		}
		v.Characters[i] = CharacterSeatView{CharacterView: c}
		if seat, ok := seats[c.ID]; ok {
			v.Characters[i].Seat = &SeatView{UserID: seat.UserID, UserName: seat.UserName, AIFill: seat.AIFill}
		}
	}
	return v, nil
}

// fillFromStore gives the hub the stored turns after since, to close gaps.
func (s *Server) fillFromStore(ctx context.Context, sim string, since int64) ([]hub.Publication, error) {
	turns, err := s.store.ListTurns(ctx, sim, since, turnsPageLimit)
	if err != nil {
		return nil, err
	}
	out := make([]hub.Publication, len(turns))
	for i, t := range turns {
		out[i] = turnPublication(sim, t.Seq, t.Body)
	}
	return out, nil
}
