package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeRunner is a Runner that runs nothing but remembers what it runs.
type fakeRunner struct {
	mu      sync.Mutex
	running map[string]bool
	stops   []string // "sim lost" or "sim"
}

func newFakeRunner() *fakeRunner { return &fakeRunner{running: map[string]bool{}} }

func (r *fakeRunner) Start(ctx context.Context, rec *store.Simulation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running[rec.ID] = true
	return nil
}

func (r *fakeRunner) StartAll(ctx context.Context, runs []store.Resume) map[string]error {
	for _, run := range runs {
		r.Start(ctx, run.Sim)
	}
	return nil
}

func (r *fakeRunner) Stop(sim string, lost bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.running, sim)
	if lost {
		sim += " lost"
	}
	r.stops = append(r.stops, sim)
}

func (r *fakeRunner) Running(sim string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[sim]
}

func (r *fakeRunner) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

func (r *fakeRunner) stopped() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.stops...)
}

// handlerFunc is a Handler.
type handlerFunc func(sim string, req Request, deadline time.Time, done func(Reply, bool))

func (f handlerFunc) Handle(sim string, req Request, deadline time.Time, done func(Reply, bool)) {
	f(sim, req, deadline, done)
}

// newNode returns a node of a cluster on rdb under prefix, not started,
// stopped when the test ends.
func newNode(t *testing.T, rdb redis.UniversalClient, prefix, node string, st Store, h Handler) (*Cluster, *fakeRunner) {
	t.Helper()
	r := newFakeRunner()
	c := New(Config{Redis: rdb, Prefix: prefix, Node: node, LeaseTTL: time.Second, RemoteTimeout: 10 * time.Second})
	c.deps = Deps{Runner: r, Store: st, Handler: h}
	t.Cleanup(c.Stop)
	return c, r
}

func createSim(t *testing.T, st store.Store, id string) *store.Simulation {
	t.Helper()
	rec := storetest.NewSim(id)
	rec.Status = store.StatusRunning
	if err := st.CreateSimulation(context.Background(), rec, nil); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestLeaseLost: a lease another node took stops the simulation here at
// once; one Redis lost is taken again; one that cannot be renewed for a
// whole TTL (Redis unreachable from here) stops the simulation, since
// another node may have taken it, but not before.
func TestLeaseLost(t *testing.T) {
	ctx := context.Background()
	t.Run("taken", func(t *testing.T) {
		rdb, prefix := redistest.Client(t)
		st := store.NewMemory()
		c, r := newNode(t, rdb, prefix, "n1", st, nil)
		rec := createSim(t, st, "s1")
		if !c.acquire(ctx, rec.ID) || !r.Running("s1") {
			t.Fatal("not acquired")
		}
		// Redis lost it (a restart): renewing takes it again.
		rdb.Del(ctx, c.keys.lease("s1"))
		c.renew(ctx)
		if holder, _ := rdb.Get(ctx, c.keys.lease("s1")).Result(); holder != "n1" || !r.Running("s1") {
			t.Fatalf("after Redis lost the lease: holder %q, running %v", holder, r.Running("s1"))
		}
		// Another node holds it now (this one was away too long).
		rdb.Set(ctx, c.keys.lease("s1"), "n2", time.Minute)
		c.renew(ctx)
		if got := r.stopped(); len(got) != 1 || got[0] != "s1 lost" || c.LeasesLost() != 1 {
			t.Fatalf("stops %v, leases lost %d; want [s1 lost], 1", got, c.LeasesLost())
		}
		// The runner's word that it stopped: the lease stays the other's.
		c.Stopped("s1", true)
		if holder, _ := rdb.Get(ctx, c.keys.lease("s1")).Result(); holder != "n2" {
			t.Fatalf("holder %q after a lost stop, want n2", holder)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := redistest.StartServer(t)
		// One dial a try: the renewal's pipeline dials afresh, and five
		// dials with their backoff would outlast the 1 s lease here.
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, DialerRetries: 1})
		t.Cleanup(func() { rdb.Close() })
		st := store.NewMemory()
		c, r := newNode(t, rdb, "u:", "n1", st, nil)
		rec := createSim(t, st, "s1")
		if !c.acquire(ctx, rec.ID) {
			t.Fatal("not acquired")
		}
		srv.Stop()
		c.renew(ctx) // renewed a moment ago: keep running
		if got := r.stopped(); len(got) != 0 {
			t.Fatalf("stopped %v within the lease's TTL", got)
		}
		c.mu.Lock()
		c.leases["s1"] = time.Now().Add(-2 * c.cfg.LeaseTTL) // last renewed longer ago than the TTL
		c.mu.Unlock()
		c.renew(ctx)
		if got := r.stopped(); len(got) != 1 || got[0] != "s1 lost" {
			t.Fatalf("stops %v after a TTL without renewal, want [s1 lost]", got)
		}
	})
}

// TestRequests: an action sent from one node is answered by the node
// holding the simulation; one simulation that does not answer delays no
// other's requests; a request the owner leaves (the simulation stopped
// there) is taken by the next owner.
func TestRequests(t *testing.T) {
	forEachRedis(t, testRequests)
}

// forEachRedis runs test on the shared Redis and on a Redis Cluster of
// three shards.
func forEachRedis(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient, prefix string)) {
	t.Run("redis", func(t *testing.T) {
		rdb, prefix := redistest.Client(t)
		test(t, rdb, prefix)
	})
	t.Run("cluster", func(t *testing.T) {
		rc := redistest.StartCluster(t, 3, 0)
		rdb := NewClusterClient(rc.Options())
		t.Cleanup(func() { rdb.Close() })
		test(t, rdb, "c:")
	})
}

func testRequests(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	st := store.NewMemory()
	var (
		mu   sync.Mutex
		held []func(Reply, bool) // answers the slow simulation owes
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, done := range held {
			done(Reply{Code: "unavailable"}, true)
		}
	})
	owner, ownerRunner := newNode(t, rdb, prefix, "owner", st, handlerFunc(func(sim string, req Request, deadline time.Time, done func(Reply, bool)) {
		switch sim {
		case "slow":
			mu.Lock()
			held = append(held, done)
			mu.Unlock()
		case "gone":
			done(Reply{}, false) // stopped running here meanwhile
		default:
			done(Reply{Turn: 7, Message: req.Character}, true)
		}
	}))
	for _, id := range []string{"fast", "slow", "gone"} {
		if !owner.acquire(ctx, createSim(t, st, id).ID) {
			t.Fatalf("%s not acquired", id)
		}
	}
	owner.Start(owner.deps)
	sender, _ := newNode(t, rdb, prefix, "sender", st, nil)
	sender.leaving = true // it only sends: it takes no simulation
	sender.Start(sender.deps)

	slowDone := make(chan error, 1)
	go func() {
		_, err := sender.Call(ctx, "slow", Request{Kind: "act", Character: "ada"})
		slowDone <- err
	}()
	poll.Until(t, 10*time.Second, "the slow simulation to hold a request", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(held) == 1
	})
	rep, err := sender.Call(ctx, "fast", Request{Kind: "act", Character: "bo"})
	if err != nil || rep.Turn != 7 || rep.Message != "bo" {
		t.Fatalf("fast call while the slow one waits: %+v %v", rep, err)
	}
	if acts, _ := sender.RemoteRequests(); acts != 2 {
		t.Fatalf("%d remote acts counted, want 2", acts)
	}
	mu.Lock()
	for _, done := range held {
		done(Reply{Turn: 9}, true)
	}
	held = nil
	mu.Unlock()
	if err := <-slowDone; err != nil {
		t.Fatalf("slow call: %v", err)
	}

	// "gone" stopped on its owner: the request stays in the stream, and
	// the next owner answers it.
	goneDone := make(chan Reply, 1)
	go func() {
		rep, err := sender.Call(ctx, "gone", Request{Kind: "control", Op: "pause"})
		if err != nil {
			t.Error(err)
		}
		goneDone <- rep
	}()
	poll.Until(t, 10*time.Second, "the request to reach the owner", func() bool {
		n, _ := rdb.XPending(ctx, owner.keys.actions("gone"), actionsGroup).Result()
		return n != nil && n.Count == 1
	})
	owner.Leave(ctx) // so that it does not take "gone" again
	ownerRunner.Stop("gone", false)
	owner.Stopped("gone", false)
	next, _ := newNode(t, rdb, prefix, "next", st, handlerFunc(func(sim string, req Request, deadline time.Time, done func(Reply, bool)) {
		done(Reply{Message: "next " + req.Op}, true)
	}))
	rec, _ := st.GetSimulation(ctx, "gone")
	if !next.acquire(ctx, rec.ID) {
		t.Fatal("next owner did not acquire")
	}
	next.Start(next.deps)
	if rep := <-goneDone; rep.Message != "next pause" {
		t.Fatalf("request left by the owner answered %+v, want the next owner's", rep)
	}
}

// countingStore counts the store's reads of simulations.
type countingStore struct {
	store.Store
	mu          sync.Mutex
	lists, gets int
}

func (s *countingStore) ListSimulations(ctx context.Context, opts store.ListOptions) ([]*store.Simulation, string, error) {
	s.mu.Lock()
	s.lists++
	s.mu.Unlock()
	return s.Store.ListSimulations(ctx, opts)
}

func (s *countingStore) GetSimulation(ctx context.Context, id string) (*store.Simulation, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Store.GetSimulation(ctx, id)
}

func (s *countingStore) reads() (lists, gets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists, s.gets
}

// TestTakeOverOrphans: a node's scans for simulations without an owner
// read nothing of the simulations other live nodes hold; when a node
// dies, its simulations, and only they, are read and taken over.
func TestTakeOverOrphans(t *testing.T) {
	forEachRedis(t, testTakeOverOrphans)
}

func testTakeOverOrphans(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	const n = 60
	// a holds them all, with its loops running (renewals).
	mem, a := holdAll(t, rdb, prefix, n)

	// b joins, with a store that counts its reads.
	cs := &countingStore{Store: mem}
	b, rb := newNode(t, rdb, prefix, "b", cs, nil)
	b.cfg.ScanInterval = 50 * time.Millisecond
	b.Start(b.deps)
	poll.Until(t, 10*time.Second, "b to see a", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.live) == 2
	})
	l0, g0 := cs.reads()
	for range 10 {
		if _, _, err := b.takeOver(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if l, g := cs.reads(); l != l0 || g != g0 || rb.Count() != 0 {
		t.Fatalf("10 scans with every simulation held by a live node: %d lists, %d gets, %d taken; want none",
			l-l0, g-g0, rb.Count())
	}

	// a dies: no release, its leases expire.
	kill(a)
	poll.Until(t, 20*time.Second, "b to take over a's simulations", func() bool { return rb.Count() == n })
	if l, _ := cs.reads(); l != l0 {
		t.Fatalf("takeover listed simulations %d times; want only the orphans read", l-l0)
	}
}
