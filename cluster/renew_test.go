package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/store"
)

// inFlight is a hook that holds each pipeline until want of them are in
// flight together (or a while has passed), and records the most seen.
type inFlight struct {
	want int
	mu   sync.Mutex
	now  int
	most int
	all  chan struct{} // closed once want were in flight together
}

func (h *inFlight) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *inFlight) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *inFlight) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || cmds[0].Name() != "evalsha" {
			return next(ctx, cmds) // not a renewal (a new connection's handshake)
		}
		h.mu.Lock()
		h.now++
		if h.now > h.most {
			h.most = h.now
			if h.most == h.want {
				close(h.all)
			}
		}
		h.mu.Unlock()
		select {
		case <-h.all:
		case <-time.After(5 * time.Second):
		}
		err := next(ctx, cmds)
		h.mu.Lock()
		h.now--
		h.mu.Unlock()
		return err
	}
}

// TestRenewPipelinesAtOnce: a node holding more leases than one pipeline
// renews sends all its pipelines at once: on a busy machine, one after
// another passed the renewal's deadline before the last were sent, and
// those leases were lost.
func TestRenewPipelinesAtOnce(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	c, _ := newNode(t, rdb, prefix, "n1", store.NewMemory(), nil)
	const n = 2*renewBatch + 1 // three pipelines
	holdLeases(t, c, rdb, n)
	h := &inFlight{want: 3, all: make(chan struct{})}
	rdb.AddHook(h)
	c.renew(ctx)
	if h.most < 3 {
		t.Fatalf("at most %d renewal pipelines in flight together, want 3", h.most)
	}
	for i := range n {
		// Renewed: the TTL is the lease's (1 s), not the minute set above.
		if ttl := rdb.PTTL(ctx, c.keys.lease(fmt.Sprintf("r%04d", i))).Val(); ttl > c.cfg.LeaseTTL {
			t.Fatalf("lease %d not renewed: TTL %v", i, ttl)
		}
	}
}

// stall holds every command of a client until released or its context
// ends: a node's Redis traffic queued behind a crowd of resumes.
type stall struct {
	on      *atomic.Bool // off while the node is made (its broker subscribes)
	release chan struct{}
}

func (h stall) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h stall) wait(ctx context.Context) error {
	if !h.on.Load() {
		return nil
	}
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h stall) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := h.wait(ctx); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h stall) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := h.wait(ctx); err != nil {
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// TestRenewApartFromOtherTraffic: with a lease client of its own, a node
// renews its leases while every other command it sends to Redis is
// stalled (in the fleet, queued behind 10,000 watchers resuming at once).
func TestRenewApartFromOtherTraffic(t *testing.T) {
	c, _, h, leases := stalledMain(t, store.NewMemory())
	h.on.Store(true)
	renewHeld(t, c, leases)
	if lost := c.LeasesLost(); lost != 0 {
		t.Fatalf("%d leases lost", lost)
	}
}

// scriptLoads counts the SCRIPT commands a client sends.
type scriptLoads struct{ n atomic.Int64 }

func (h *scriptLoads) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *scriptLoads) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "script" {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *scriptLoads) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestRenewLoadsScriptOnlyWhenMissing: a renewal calls its script by hash
// and loads it only when Redis has lost it (loading it every round waits
// for every server of a Redis Cluster, replicas included); after Redis
// forgot it, the renewal still renews every lease.
func TestRenewLoadsScriptOnlyWhenMissing(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	c, _ := newNode(t, rdb, "t:", "n1", store.NewMemory(), nil)
	h := &scriptLoads{}
	rdb.AddHook(h)
	renewed := func() { t.Helper(); renewHeld(t, c, rdb) }
	renewed() // Redis has never seen the script: loaded once
	loads := h.n.Load()
	renewed()
	if more := h.n.Load() - loads; more != 0 {
		t.Fatalf("%d script loads in a renewal of a script Redis has", more)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	renewed() // forgotten (a restart): loaded again
	if lost := c.LeasesLost(); lost != 0 {
		t.Fatalf("%d leases lost", lost)
	}
}

// renewHeld gives node c (id n1) more leases than one pipeline renews,
// each with a TTL of a minute set through leases, renews them, and fails
// unless every one's TTL is back within the node's lease TTL.
func renewHeld(t *testing.T, c *Cluster, leases redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	const n = renewBatch + 1
	holdLeases(t, c, leases, n)
	c.renew(ctx)
	for i := range n {
		if ttl := leases.PTTL(ctx, c.keys.lease(fmt.Sprintf("r%04d", i))).Val(); ttl > c.cfg.LeaseTTL {
			t.Fatalf("lease %d not renewed: TTL %v", i, ttl)
		}
	}
}

// TestTakeOverApartFromOtherTraffic: a node takes a dead node's stories
// over while every command of its main Redis client is stalled (in the
// fleet, queued behind the dead node's watchers resuming on it). The
// scan's heartbeat forgets the dead node's load and capacity: on the main
// client, that waited for the crowd before any story was acquired.
func TestTakeOverApartFromOtherTraffic(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c, r, h, leases := stalledMain(t, st)
	// n0 died a while ago: its heartbeat is old, its load and capacity
	// still there, and its story's lease expired.
	rec := createSim(t, st, "s1")
	past := time.Now().Add(-time.Minute)
	pipe := leases.Pipeline()
	pipe.ZAdd(ctx, c.keys.nodes(), redis.Z{Score: float64(past.UnixMilli()), Member: "n0"})
	pipe.HSet(ctx, c.keys.loads(), "n0", 1)
	pipe.HSet(ctx, c.keys.capacity(), "n0", encodeCapacity(Capacity{Stories: 1}))
	pipe.ZAdd(ctx, c.keys.leaseIndex(), redis.Z{Score: float64(past.UnixMilli()), Member: rec.ID})
	pipe.Set(ctx, c.keys.indexSeeded(), "n0", 0)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	h.on.Store(true)
	// Bounded, so that a scan waiting for the stalled client fails rather
	// than hangs.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, _, err := c.takeOver(sctx); err != nil {
		t.Fatal(err)
	}
	if !r.Running(rec.ID) {
		t.Fatal("the dead node's story was not taken over while the main client was stalled")
	}
	if n, err := leases.HExists(ctx, c.keys.loads(), "n0").Result(); err != nil || n {
		t.Fatalf("the dead node's load is still listed (%v, %v)", n, err)
	}
}

// stalledMain returns node n1 on st with a lease client of its own and a
// main Redis client that stalls every command while h.on is set (until
// the test ends).
func stalledMain(t *testing.T, st store.Store) (c *Cluster, r *fakeRunner, h stall, leases *redis.Client) {
	t.Helper()
	leases, prefix := redistest.Client(t)
	opt, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	busy := redis.NewClient(opt)
	t.Cleanup(func() { busy.Close() })
	h = stall{on: new(atomic.Bool), release: make(chan struct{})}
	busy.AddHook(h)
	r = newFakeRunner()
	c = New(Config{Redis: busy, LeaseRedis: leases, Prefix: prefix, Node: "n1", LeaseTTL: time.Second})
	c.deps = Deps{Runner: r, Store: st}
	t.Cleanup(c.Stop)
	t.Cleanup(func() { close(h.release) }) // before the node stops
	return c, r, h, leases
}

// holdLeases gives node c (id n1) leases r0000 to r(n-1), each set in
// Redis through rdb with a TTL of a minute.
func holdLeases(t *testing.T, c *Cluster, rdb redis.UniversalClient, n int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	pipe := rdb.Pipeline()
	for i := range n {
		sim := fmt.Sprintf("r%04d", i)
		c.leases[sim] = now
		pipe.Set(ctx, c.keys.lease(sim), "n1", time.Minute)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}
