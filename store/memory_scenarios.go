package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

func (m *Memory) SaveScenario(ctx context.Context, sc StoredScenario) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.scenarios[sc.ID]; ok {
		return fmt.Errorf("scenario %q: %w", sc.ID, ErrConflict)
	}
	m.scenarioRev++
	sc.Rev = m.scenarioRev
	sc.Data = slices.Clone(sc.Data)
	m.scenarios[sc.ID] = sc
	return nil
}

func (m *Memory) GetScenario(ctx context.Context, id string) (*StoredScenario, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	sc, ok := m.scenarios[id]
	if !ok {
		return nil, fmt.Errorf("scenario %q: %w", id, ErrNotFound)
	}
	sc.Data = slices.Clone(sc.Data)
	return &sc, nil
}

func (m *Memory) ListScenarios(ctx context.Context) ([]StoredScenario, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]StoredScenario, 0, len(m.scenarios))
	for _, sc := range m.scenarios {
		sc.Data = nil
		out = append(out, sc)
	}
	slices.SortFunc(out, func(a, b StoredScenario) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *Memory) DeleteScenario(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.scenarios[id]; !ok {
		return fmt.Errorf("scenario %q: %w", id, ErrNotFound)
	}
	delete(m.scenarios, id)
	return nil
}

func (m *Memory) CountScenarios(ctx context.Context, owner string) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, sc := range m.scenarios {
		if sc.Owner == owner {
			n++
		}
	}
	return n, nil
}
