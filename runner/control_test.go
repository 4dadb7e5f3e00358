package runner

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/store"
)

// stopRaceStore holds the append of one turn until the story's status is
// set (or, when the status waits for the turn, until the test lets it
// go), and notes any turn appended to a story already finished.
type stopRaceStore struct {
	store.Store
	seq       int64
	appending chan struct{} // closed when the held append starts
	release   chan struct{} // closed to let it go on
	once      sync.Once
	mu        sync.Mutex
	late      []int64 // turns appended after the story finished
}

func (s *stopRaceStore) let() { s.once.Do(func() { close(s.release) }) }

func (s *stopRaceStore) AppendTurn(ctx context.Context, sim string, t store.Turn, state []byte, status string, played []string) error {
	if t.Seq == s.seq {
		close(s.appending)
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if rec, err := s.Store.GetSimulation(ctx, sim); err == nil && rec.Status == store.StatusFinished {
		s.mu.Lock()
		s.late = append(s.late, t.Seq)
		s.mu.Unlock()
	}
	return s.Store.AppendTurn(ctx, sim, t, state, status, played)
}

func (s *stopRaceStore) SetStatus(ctx context.Context, id, status string) (*store.Simulation, error) {
	s.let()
	return s.Store.SetStatus(ctx, id, status)
}

// TestStopWaitsForTurnInFlight: a stop asked while a turn is being
// stored takes effect after that turn. The answer gives the final head,
// and no turn is stored or published after the story is told finished.
func TestStopWaitsForTurnInFlight(t *testing.T) {
	ctx := context.Background()
	st := &stopRaceStore{Store: store.NewMemory(), seq: 2, appending: make(chan struct{}), release: make(chan struct{})}
	r, pub := newRunner(t, st, "n1", Config{})
	rec := newSim(t, st, "s1", store.StatusRunning, 10)
	if err := r.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	within(t, st.appending, "turn 2 being stored")
	// Should the stop wait for the turn, as it must, nothing else lets
	// the held append go: let it go a little later.
	go func() {
		select {
		case <-time.After(200 * time.Millisecond):
			st.let()
		case <-st.release:
		}
	}()
	got, err := r.Control(ctx, "s1", "stop")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.Store.GetSimulation(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	// Head 2 unless a loaded machine let the held turn go before the
	// stop arrived and a later turn was under way by then.
	if got.Status != store.StatusFinished || got.Head != stored.Head || stored.Head < 2 {
		t.Fatalf("stop answered %s at head %d; the store holds head %d", got.Status, got.Head, stored.Head)
	}
	st.mu.Lock()
	late := st.late
	st.mu.Unlock()
	if len(late) > 0 {
		t.Fatalf("turns %v stored after the story was finished", late)
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if n := len(pub.statuses); n == 0 || pub.statuses[n-1] != store.StatusFinished || int64(len(pub.turns)) != stored.Head {
		t.Fatalf("published turns %v and statuses %v: want turns 1 to %d, then finished", pub.turns, pub.statuses, stored.Head)
	}
}
