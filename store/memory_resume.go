package store

import (
	"context"
	"slices"
	"strings"
)

func (m *Memory) SetOwners(ctx context.Context, ids []string, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if s, ok := m.sims[id]; ok {
			s.rec.Owner = owner
		}
	}
	return nil
}

func (m *Memory) Resumes(ctx context.Context, ids []string) (map[string]Resume, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]Resume, len(ids))
	for _, id := range ids {
		s, ok := m.sims[id]
		if !ok {
			continue
		}
		pending := make([]PendingAction, 0, len(s.pending))
		for _, a := range s.pending {
			pending = append(pending, a)
		}
		slices.SortFunc(pending, func(a, b PendingAction) int { return strings.Compare(a.Character, b.Character) })
		out[id] = Resume{Sim: cloneSim(&s.rec), State: slices.Clone(s.state), Pending: pending}
	}
	return out, nil
}
