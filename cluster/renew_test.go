package cluster

import (
	"context"
	"fmt"
	"sync"
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
