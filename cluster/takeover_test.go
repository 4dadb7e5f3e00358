package cluster

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// holdAll creates n running simulations, s00 on, in a memory store and
// starts node a of a cluster on rdb, which takes them all; it returns
// once a runs every one, with its loops (renewals) running. tune, if
// any, changes a's configuration before it starts.
func holdAll(t *testing.T, rdb redis.UniversalClient, prefix string, n int, tune ...func(*Config)) (*store.Memory, *Cluster) {
	t.Helper()
	mem := store.NewMemory()
	for i := range n {
		createSim(t, mem, simName(i))
	}
	a, ra := newNode(t, rdb, prefix, "a", mem, nil)
	a.cfg.ScanInterval = 50 * time.Millisecond
	for _, f := range tune {
		f(&a.cfg)
	}
	a.Start(a.deps)
	poll.Until(t, 20*time.Second, "a to run every simulation", func() bool { return ra.Count() == n })
	return mem, a
}

func simName(i int) string { return fmt.Sprintf("s%02d", i) }

// kill stops c's loops as if its process died: no release, no goodbye.
func kill(c *Cluster) {
	c.cancel()
	c.wg.Wait()
}

// resumeCounter counts the store's reads of simulations to run.
type resumeCounter struct {
	store.Store
	mu            sync.Mutex
	gets, resumes int
}

func (s *resumeCounter) GetSimulation(ctx context.Context, id string) (*store.Simulation, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Store.GetSimulation(ctx, id)
}

func (s *resumeCounter) Resumes(ctx context.Context, ids []string) (map[string]store.Resume, error) {
	s.mu.Lock()
	s.resumes++
	s.mu.Unlock()
	return s.Store.Resumes(ctx, ids)
}

// TestTakeOverInBatches: the stories of a dead node are read from the
// store many at a time, not one by one.
func TestTakeOverInBatches(t *testing.T) {
	forEachRedis(t, testTakeOverInBatches)
}

func testTakeOverInBatches(t *testing.T, rdb redis.UniversalClient, prefix string) {
	const n = 100
	mem, a := holdAll(t, rdb, prefix, n)
	// a dies. b starts once every lease has expired, so that its first
	// scan finds them all. a's last beat, still within the window when b
	// scans, records all n: a count from a beat taken while a was still
	// acquiring would leave a below an even share, preferred for some
	// orphans, and b would take those in a batch of their own after the
	// grace.
	kill(a)
	a.heartbeat(context.Background())
	poll.Until(t, 20*time.Second, "a's leases to expire", func() bool {
		for i := range n {
			if rdb.Exists(context.Background(), a.keys.lease(simName(i))).Val() != 0 {
				return false
			}
		}
		return true
	})

	cs := &resumeCounter{Store: mem}
	b, rb := newNode(t, rdb, prefix, "b", cs, nil)
	b.cfg.ScanInterval = 50 * time.Millisecond
	b.Start(b.deps)
	poll.Until(t, 20*time.Second, "b to take over a's simulations", func() bool { return rb.Count() == n })
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if batches := (n + acquireBatch - 1) / acquireBatch; cs.gets != 0 || cs.resumes != batches {
		t.Fatalf("%d simulations taken over with %d reads of one and %d of many; want 0 and %d", n, cs.gets, cs.resumes, batches)
	}
}

// TestTakeOverAtExpiry: the survivors of a dead node take its stories
// when their leases expire, not at their next periodic scan, and all of
// them at once, each survivor its share: none waits for the grace given
// to a story whose preferred node does not take it.
func TestTakeOverAtExpiry(t *testing.T) {
	forEachRedis(t, testTakeOverAtExpiry)
}

func testTakeOverAtExpiry(t *testing.T, rdb redis.UniversalClient, prefix string) {
	const n = 60
	// Periodic scans (and the grace of two of them) never come in this
	// test; beats come often enough that a dead node leaves the
	// placement well before its leases (1 s) expire.
	const beat = 100 * time.Millisecond
	mem, a := holdAll(t, rdb, prefix, n, func(c *Config) { c.HeartbeatInterval = beat })
	var runners []*fakeRunner
	var nodes []*Cluster
	for _, id := range []string{"b", "c"} {
		c, r := newNode(t, rdb, prefix, id, mem, nil)
		c.cfg.ScanInterval = time.Hour
		c.cfg.HeartbeatInterval = beat
		c.Start(c.deps)
		nodes, runners = append(nodes, c), append(runners, r)
	}
	poll.Until(t, 20*time.Second, "b and c to see all three nodes", func() bool {
		for _, c := range nodes {
			c.mu.Lock()
			live := len(c.live)
			c.mu.Unlock()
			if live != 3 {
				return false
			}
		}
		return true
	})
	if runners[0].Count()+runners[1].Count() != 0 {
		t.Fatal("b or c took a simulation a holds")
	}

	kill(a)
	// A last beat records all of a's stories: a count taken while a was
	// still acquiring would leave it below an even share, preferred for
	// some orphans if b or c scans while a is within the window.
	a.heartbeat(context.Background())
	poll.Until(t, 20*time.Second, "b and c to take over a's simulations", func() bool {
		return runners[0].Count()+runners[1].Count() == n
	})
	for i, r := range runners {
		if got := r.Count(); got < n/4 {
			t.Errorf("%s took %d of %d", nodes[i].node, got, n)
		}
	}
}

// TestPreferredWeighted: a node with more room is preferred for more of
// the simulations that need an owner, in proportion.
func TestPreferredWeighted(t *testing.T) {
	p := place("self", 100, []string{"a", "self"}, map[string]int{"a": 400}, 500)
	if p.target != 500 || p.room["self"] != 400 || p.room["a"] != 100 {
		t.Fatalf("placement %+v, want target 500, room self 400, a 100", p)
	}
	const sims = 5000
	per := map[string]int{}
	for i := range sims {
		per[p.preferred(fmt.Sprintf("sim-%d", i))]++
	}
	if share := float64(per["self"]) / sims; math.Abs(share-0.8) > 0.03 {
		t.Fatalf("self preferred for %v: share %.3f, want 0.8 (its room over all room)", per, share)
	}
}

// TestAcquireRace: two nodes acquiring the same orphans at once, in
// batches, each start a share of them, and no orphan on both.
func TestAcquireRace(t *testing.T) {
	forEachRedis(t, testAcquireRace)
}

func testAcquireRace(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	mem := store.NewMemory()
	const n = 3*acquireBatch + 5
	sims := make([]orphan, n)
	for i := range n {
		sims[i] = orphan{sim: createSim(t, mem, fmt.Sprintf("r%03d", i)).ID}
	}
	b, rb := newNode(t, rdb, prefix, "b", mem, nil)
	c, rc := newNode(t, rdb, prefix, "c", mem, nil)
	var wg sync.WaitGroup
	for _, node := range []*Cluster{b, c} {
		wg.Go(func() { node.acquireAll(ctx, sims, time.Now()) })
	}
	wg.Wait()
	for _, o := range sims {
		inB, inC := rb.Running(o.sim), rc.Running(o.sim)
		b.mu.Lock()
		_, leasedB := b.leases[o.sim]
		b.mu.Unlock()
		c.mu.Lock()
		_, leasedC := c.leases[o.sim]
		c.mu.Unlock()
		if inB == inC || inB != leasedB || inC != leasedC {
			t.Fatalf("%s: running on b %v, on c %v; leased by b %v, by c %v; want one node, running what it leased",
				o.sim, inB, inC, leasedB, leasedC)
		}
	}
	t.Logf("b took %d, c took %d", rb.Count(), rc.Count())
}

// TestTakeOverPaged: a dead node with more stories than one scan lists
// has them all taken over by scans that follow one another at once, not
// a page per scan interval or per lease expiry.
func TestTakeOverPaged(t *testing.T) {
	forEachRedis(t, testTakeOverPaged)
}

func testTakeOverPaged(t *testing.T, rdb redis.UniversalClient, prefix string) {
	const n = 60
	mem, a := holdAll(t, rdb, prefix, n)
	kill(a)
	poll.Until(t, 20*time.Second, "a's leases to expire", func() bool {
		for i := range n {
			if rdb.Exists(context.Background(), a.keys.lease(simName(i))).Val() != 0 {
				return false
			}
		}
		return true
	})
	// b lists 10 orphans a scan. Its periodic scans and its own leases'
	// expiry (what else wakes a scan) are an hour away: only scanning
	// again at once takes the other 50.
	b, rb := newNode(t, rdb, prefix, "b", mem, nil)
	b.maxOrphans = 10
	b.cfg.ScanInterval = time.Hour
	b.cfg.LeaseTTL, b.cfg.RenewInterval = time.Hour, 20*time.Minute
	b.Start(b.deps)
	poll.Until(t, 20*time.Second, "b to take over a's simulations", func() bool { return rb.Count() == n })
}

// heldResumes holds each read of many simulations until want of them are
// in flight together (or a while has passed), and records the most seen.
type heldResumes struct {
	store.Store
	want     int
	mu       sync.Mutex
	now, max int
	all      chan struct{}
}

func (s *heldResumes) Resumes(ctx context.Context, ids []string) (map[string]store.Resume, error) {
	s.mu.Lock()
	s.now++
	if s.now > s.max {
		s.max = s.now
		if s.max == s.want {
			close(s.all)
		}
	}
	s.mu.Unlock()
	select {
	case <-s.all:
	case <-time.After(5 * time.Second):
	}
	defer func() {
		s.mu.Lock()
		s.now--
		s.mu.Unlock()
	}()
	return s.Store.Resumes(ctx, ids)
}

// TestAcquireBatchesInFlight: a node with many orphans to take reads
// eight batches of them at once (a survivor of a dead node's 1,667
// stories waited for four at a time).
func TestAcquireBatchesInFlight(t *testing.T) {
	const inFlight = 8
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	mem := store.NewMemory()
	sims := make([]orphan, inFlight*acquireBatch)
	for i := range sims {
		sims[i] = orphan{sim: createSim(t, mem, fmt.Sprintf("w%04d", i)).ID}
	}
	held := &heldResumes{Store: mem, want: inFlight, all: make(chan struct{})}
	b, rb := newNode(t, rdb, prefix, "b", held, nil)
	b.acquireAll(ctx, sims, time.Now())
	if held.max != inFlight || rb.Count() != len(sims) {
		t.Fatalf("%d batches read at once, %d of %d started; want %d, all", held.max, rb.Count(), len(sims), inFlight)
	}
}
