package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// pairedStore lets no read of a simulation through until a second one is
// in flight beside it: a node that acquires its orphans one at a time
// never gets past the first.
type pairedStore struct {
	store.Store
	mu   sync.Mutex
	n    int
	both chan struct{}
}

func (s *pairedStore) GetSimulation(ctx context.Context, id string) (*store.Simulation, error) {
	s.mu.Lock()
	if s.n++; s.n == 2 {
		close(s.both)
	}
	s.mu.Unlock()
	select {
	case <-s.both:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.GetSimulation(ctx, id)
}

// TestTakeOverInParallel: the stories of a dead node are acquired several
// at a time, not each waiting for the one before.
func TestTakeOverInParallel(t *testing.T) {
	forEachRedis(t, testTakeOverInParallel)
}

func testTakeOverInParallel(t *testing.T, rdb redis.UniversalClient, prefix string) {
	mem := store.NewMemory()
	const n = 8
	for i := range n {
		createSim(t, mem, fmt.Sprintf("s%02d", i))
	}
	a, ra := newNode(t, rdb, prefix, "a", mem, nil)
	a.cfg.ScanInterval = 50 * time.Millisecond
	a.Start(a.deps)
	poll.Until(t, 20*time.Second, "a to run every simulation", func() bool { return ra.Count() == n })
	// a dies: no release. b starts once every lease has expired, so that
	// its first scan finds them all.
	a.cancel()
	a.wg.Wait()
	poll.Until(t, 20*time.Second, "a's leases to expire", func() bool {
		for i := range n {
			if rdb.Exists(context.Background(), a.keys.lease(fmt.Sprintf("s%02d", i))).Val() != 0 {
				return false
			}
		}
		return true
	})

	b, rb := newNode(t, rdb, prefix, "b", &pairedStore{Store: mem, both: make(chan struct{})}, nil)
	b.cfg.ScanInterval = 50 * time.Millisecond
	b.Start(b.deps)
	poll.Until(t, 20*time.Second, "b to take over a's simulations", func() bool { return rb.Count() == n })
}
