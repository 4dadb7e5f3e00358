package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is the in-memory store: the embedded default and the reference
// implementation of Store. Everything is lost when the process stops.
type Memory struct {
	now func() time.Time // set at construction

	mu          sync.RWMutex
	sims        map[string]*memSim
	scenarios   map[string]StoredScenario
	scenarioRev int64    // the last Rev given
	maxTurns    int      // turns kept before ended stories are forgotten; 0: no bound
	turns       int      // turns held, of every story
	ended       []string // ids of stories that ended, oldest first (may name forgotten ones)
}

type memSim struct {
	rec     Simulation
	turns   []Turn // turns[i].Seq == i+1
	state   []byte
	seats   map[string]Seat
	pending map[string]PendingAction
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{
		now:       func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		sims:      make(map[string]*memSim),
		scenarios: make(map[string]StoredScenario),
	}
}

// NewBoundedMemory returns an in-memory store that keeps about maxTurns
// turns: past that, the stories that ended longest ago are forgotten
// whole, record and turns, until it holds no more (stories that have not
// ended are never forgotten). 0 is no bound.
func NewBoundedMemory(maxTurns int) *Memory {
	m := NewMemory()
	m.maxTurns = max(maxTurns, 0)
	return m
}

// noteStatus records a story's end, for the bound, when status ends it.
func (m *Memory) noteStatus(s *memSim, status string) {
	if (status == StatusFinished || status == StatusFailed) && s.rec.Status != status {
		m.ended = append(m.ended, s.rec.ID)
	}
}

// evictLocked forgets the stories that ended longest ago while the store
// holds more turns than its bound.
func (m *Memory) evictLocked() {
	for m.maxTurns > 0 && m.turns > m.maxTurns && len(m.ended) > 0 {
		id := m.ended[0]
		m.ended = m.ended[1:]
		s, ok := m.sims[id]
		if !ok || (s.rec.Status != StatusFinished && s.rec.Status != StatusFailed) {
			continue
		}
		m.turns -= len(s.turns)
		delete(m.sims, id)
	}
}

// TurnsHeld is how many turns the store holds.
func (m *Memory) TurnsHeld() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.turns
}

func (m *Memory) getLocked(id string) (*memSim, error) {
	s, ok := m.sims[id]
	if !ok {
		return nil, fmt.Errorf("simulation %q: %w", id, ErrNotFound)
	}
	return s, nil
}

func cloneSim(s *Simulation) *Simulation {
	c := *s
	c.Scenario = slices.Clone(s.Scenario)
	c.Lineage = slices.Clone(s.Lineage)
	c.Vote = slices.Clone(s.Vote)
	return &c
}

func (m *Memory) CreateSimulation(ctx context.Context, sim *Simulation, state []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sims[sim.ID]; ok {
		return fmt.Errorf("simulation %q: %w", sim.ID, ErrConflict)
	}
	rec := cloneSim(sim)
	now := m.now()
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = now
	}
	rec.UpdatedAt = rec.CreatedAt
	rec.Head = 0
	m.sims[sim.ID] = &memSim{
		rec:     *rec,
		state:   slices.Clone(state),
		seats:   make(map[string]Seat),
		pending: make(map[string]PendingAction),
	}
	sim.CreatedAt, sim.UpdatedAt, sim.Head = rec.CreatedAt, rec.UpdatedAt, 0
	return nil
}

func (m *Memory) GetSimulation(ctx context.Context, id string) (*Simulation, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, err := m.getLocked(id)
	if err != nil {
		return nil, err
	}
	return cloneSim(&s.rec), nil
}

// EncodeCursor makes the opaque page cursor shared by the implementations:
// the position (created_at, id) of the last item returned. Timestamps are
// kept to the microsecond, as PostgreSQL keeps them.
func EncodeCursor(createdAt time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(createdAt.UnixNano(), 10) + "|" + id))
}

// DecodeCursor parses a cursor made by EncodeCursor.
func DecodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("bad cursor")
	}
	ns, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return time.Time{}, "", fmt.Errorf("bad cursor")
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("bad cursor")
	}
	return time.Unix(0, n).UTC(), id, nil
}

// NormalizeLimit applies ListOptions' default and cap.
func NormalizeLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 200:
		return 200
	}
	return n
}

func (m *Memory) ListSimulations(ctx context.Context, opts ListOptions) ([]*Simulation, string, error) {
	limit := NormalizeLimit(opts.Limit)
	var (
		afterT  time.Time
		afterID string
	)
	if opts.Cursor != "" {
		var err error
		if afterT, afterID, err = DecodeCursor(opts.Cursor); err != nil {
			return nil, "", err
		}
	}
	m.mu.RLock()
	all := make([]*Simulation, 0, len(m.sims))
	for _, s := range m.sims {
		if opts.Status != "" && s.rec.Status != opts.Status {
			continue
		}
		if opts.ScenarioID != "" && s.rec.ScenarioID != opts.ScenarioID {
			continue
		}
		all = append(all, cloneSim(&s.rec))
	}
	m.mu.RUnlock()
	// Newest first; ties broken by id, descending, as in PostgreSQL.
	slices.SortFunc(all, func(a, b *Simulation) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if opts.Cursor != "" {
		i := 0
		for i < len(all) {
			a := all[i]
			if a.CreatedAt.Before(afterT) || (a.CreatedAt.Equal(afterT) && a.ID < afterID) {
				break
			}
			i++
		}
		all = all[i:]
	}
	next := ""
	if len(all) > limit {
		all = all[:limit]
		last := all[limit-1]
		next = EncodeCursor(last.CreatedAt, last.ID)
	}
	return all, next, nil
}

func (m *Memory) SetStatus(ctx context.Context, id, status string) (*Simulation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getLocked(id)
	if err != nil {
		return nil, err
	}
	m.noteStatus(s, status)
	s.rec.Status = status
	s.rec.UpdatedAt = m.now()
	rec := cloneSim(&s.rec)
	m.evictLocked()
	return rec, nil
}

func (m *Memory) SetOwner(ctx context.Context, id, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getLocked(id)
	if err != nil {
		return err
	}
	s.rec.Owner = owner
	return nil
}

func (m *Memory) SetVote(ctx context.Context, id string, vote []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getLocked(id)
	if err != nil {
		return err
	}
	s.rec.Vote = slices.Clone(vote)
	return nil
}

func (m *Memory) AppendTurn(ctx context.Context, simID string, t Turn, state []byte, status string, played []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getLocked(simID)
	if err != nil {
		return err
	}
	if t.Seq != s.rec.Head+1 {
		return fmt.Errorf("append turn %d to %q at head %d: %w", t.Seq, simID, s.rec.Head, ErrConflict)
	}
	for _, a := range s.pending {
		if a.Turn <= t.Seq && !slices.Contains(played, a.ID) {
			return fmt.Errorf("append turn %d to %q: action %s of %q: %w", t.Seq, simID, a.ID, a.Character, ErrActionsPending)
		}
	}
	// Kept as given (Store.AppendTurn): a copy of each turn's state and
	// body cost about a twentieth of a turn.
	s.turns = append(s.turns, t)
	m.turns++
	s.state = state
	s.rec.Head = t.Seq
	if status != "" {
		m.noteStatus(s, status)
		s.rec.Status = status
	}
	defer m.evictLocked()
	s.rec.UpdatedAt = m.now()
	for c, a := range s.pending {
		if slices.Contains(played, a.ID) {
			delete(s.pending, c)
		}
	}
	return nil
}

func (m *Memory) Summaries(ctx context.Context, ids []string) (map[string]Summary, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]Summary, len(ids))
	for _, id := range ids {
		s, ok := m.sims[id]
		if !ok {
			continue
		}
		var sum Summary
		if n := len(s.turns); n > 0 {
			sum.HeadTurn = s.turns[n-1].Body
		}
		sum.Seats = make(map[string]Seat, len(s.seats))
		for k, v := range s.seats {
			sum.Seats[k] = v
		}
		out[id] = sum
	}
	return out, nil
}

func (m *Memory) ListTurns(ctx context.Context, simID string, since int64, limit int) ([]Turn, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, err := m.getLocked(simID)
	if err != nil {
		return nil, err
	}
	if since < 0 {
		since = 0
	}
	if since >= int64(len(s.turns)) || limit <= 0 {
		return []Turn{}, nil
	}
	end := min(int64(len(s.turns)), since+int64(limit))
	// Turns are immutable once stored, so the slice can be shared.
	return slices.Clone(s.turns[since:end]), nil
}

func (m *Memory) LoadState(ctx context.Context, simID string) (int64, []byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, err := m.getLocked(simID)
	if err != nil {
		return 0, nil, err
	}
	return s.rec.Head, slices.Clone(s.state), nil
}

func (m *Memory) ClaimSeat(ctx context.Context, simID, character string, seat Seat) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getLocked(simID)
	if err != nil {
		return err
	}
	if cur, ok := s.seats[character]; ok && cur.UserID != seat.UserID {
		return fmt.Errorf("seat %q is held by %s: %w", character, cur.UserName, ErrConflict)
	}
	if seat.MaxPerUser > 0 {
		held := 0
		for c, cur := range s.seats {
			if c != character && cur.UserID == seat.UserID {
				held++
			}
		}
		if held >= seat.MaxPerUser {
			return fmt.Errorf("seat %q: %w", character, ErrTooManySeats)
		}
	}
	seat.MaxPerUser = 0
	s.seats[character] = seat
	return nil
}

func (m *Memory) ReleaseSeat(ctx context.Context, simID, character, userID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getLocked(simID)
	if err != nil {
		return err
	}
	cur, ok := s.seats[character]
	if !ok || (userID != "" && cur.UserID != userID) {
		return fmt.Errorf("seat %q not held: %w", character, ErrNotFound)
	}
	delete(s.seats, character)
	return nil
}

func (m *Memory) Seats(ctx context.Context, simID string) (map[string]Seat, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, err := m.getLocked(simID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Seat, len(s.seats))
	for k, v := range s.seats {
		out[k] = v
	}
	return out, nil
}

func (m *Memory) SeatsOf(ctx context.Context, simIDs []string) (map[string]map[string]Seat, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]map[string]Seat)
	for _, id := range simIDs {
		if s, ok := m.sims[id]; ok && len(s.seats) > 0 {
			out[id] = maps.Clone(s.seats)
		}
	}
	return out, nil
}

func (m *Memory) ReleaseAllSeats(ctx context.Context, simID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getLocked(simID)
	if err != nil {
		return err
	}
	clear(s.seats)
	return nil
}

func (m *Memory) PutAction(ctx context.Context, simID string, a PendingAction) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getLocked(simID)
	if err != nil {
		return 0, err
	}
	a.Turn = max(a.Turn, s.rec.Head+1)
	s.pending[a.Character] = a
	return a.Turn, nil
}

func (m *Memory) PendingActions(ctx context.Context, simID string) ([]PendingAction, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, err := m.getLocked(simID)
	if err != nil {
		return nil, err
	}
	out := make([]PendingAction, 0, len(s.pending))
	for _, a := range s.pending {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b PendingAction) int { return strings.Compare(a.Character, b.Character) })
	return out, nil
}

func (m *Memory) Ping(ctx context.Context) error { return ctx.Err() }
func (m *Memory) Close() error                   { return nil }
