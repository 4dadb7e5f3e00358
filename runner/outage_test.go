package runner

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// lossyStore loses the answer of one append as a database restarting at
// its commit does: the turn is stored, the caller hears that the store is
// away, and the store stays away for the reads that follow.
type lossyStore struct {
	store.Store
	mu       sync.Mutex
	seq      int64 // the turn whose answer is lost
	lost     bool  // its answer was lost
	failList int   // ListTurns calls still to fail
}

func (s *lossyStore) AppendTurn(ctx context.Context, sim string, t store.Turn, state []byte, status string, played []string) error {
	err := s.Store.AppendTurn(ctx, sim, t, state, status, played)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && t.Seq == s.seq && !s.lost {
		s.lost = true
		return fmt.Errorf("append turn %d: outcome unknown: %w", t.Seq, store.ErrUnavailable)
	}
	return err
}

func (s *lossyStore) ListTurns(ctx context.Context, sim string, since int64, limit int) ([]store.Turn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost && s.failList > 0 {
		s.failList--
		return nil, fmt.Errorf("list turns: %w", store.ErrUnavailable)
	}
	return s.Store.ListTurns(ctx, sim, since, limit)
}

// TestTurnStoredThoughItsAnswerWasLost: a turn the store took while
// telling the story it was away is the story's own. The story publishes
// it once, in order, and carries on, though the store is still away when
// the story first asks what it holds.
func TestTurnStoredThoughItsAnswerWasLost(t *testing.T) {
	ctx := context.Background()
	st := &lossyStore{Store: store.NewMemory(), seq: 3, failList: 3}
	stopped := make(chan bool, 1)
	r, pub := newRunner(t, st, "n1", Config{RetryInterval: 10 * time.Millisecond,
		OnStop: func(sim string, lost bool) { stopped <- lost }})
	rec := newSim(t, st, "s1", store.StatusRunning, 10)
	if err := r.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "turn 6 published", func() bool { return pub.published() >= 6 })
	select {
	case lost := <-stopped:
		t.Fatalf("the story stopped (lost %v) over its own stored turn", lost)
	default:
	}
	if !r.Running("s1") {
		t.Fatal("the story no longer runs here")
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	for i, seq := range pub.turns[:6] {
		if seq != int64(i+1) {
			t.Fatalf("published %v: want 1, 2, 3, ... each once", pub.turns)
		}
	}
}
