package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

func (m *Memory) CreateFork(ctx context.Context, sim *Simulation, turns []Turn, state []byte) error {
	if err := CheckForkTurns(sim, turns); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sims[sim.ID]; ok {
		return fmt.Errorf("simulation %q: %w", sim.ID, ErrConflict)
	}
	rec := cloneSim(sim)
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = m.now()
	}
	rec.UpdatedAt = rec.CreatedAt
	ms := &memSim{
		rec:     *rec,
		turns:   make([]Turn, len(turns)),
		state:   slices.Clone(state),
		seats:   make(map[string]Seat),
		pending: make(map[string]PendingAction),
	}
	for i, t := range turns {
		ms.turns[i] = Turn{Seq: t.Seq, At: t.At, Body: slices.Clone(t.Body)}
	}
	m.sims[sim.ID] = ms
	sim.CreatedAt, sim.UpdatedAt = rec.CreatedAt, rec.UpdatedAt
	return nil
}

// CheckForkTurns checks that a fork's turns are exactly seq 1 to sim.Head;
// every implementation's CreateFork refuses anything else.
func CheckForkTurns(sim *Simulation, turns []Turn) error {
	if int64(len(turns)) != sim.Head {
		return fmt.Errorf("fork %q: %d turns for head %d", sim.ID, len(turns), sim.Head)
	}
	for i, t := range turns {
		if t.Seq != int64(i+1) {
			return fmt.Errorf("fork %q: turn %d has seq %d", sim.ID, i+1, t.Seq)
		}
	}
	return nil
}

func (m *Memory) ListForks(ctx context.Context, id string) ([]*Simulation, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*Simulation
	for _, s := range m.sims {
		if s.rec.Parent == id && id != "" {
			out = append(out, cloneSim(&s.rec))
		}
	}
	slices.SortFunc(out, func(a, b *Simulation) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}
