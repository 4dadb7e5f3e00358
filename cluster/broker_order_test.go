package cluster

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/internal/poll"
)

// orderRecorder records what a broker's worker hands it, and holds the
// first delivery until released.
type orderRecorder struct {
	hold chan struct{}
	once sync.Once
	mu   sync.Mutex
	log  []string
}

func (r *orderRecorder) Deliver(ctx context.Context, p hub.Publication) {
	r.add(string(p.Data))
	r.once.Do(func() { <-r.hold })
}

func (r *orderRecorder) Recover(ctx context.Context, sim string) { r.add("recover") }

func (r *orderRecorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, s)
}

func (r *orderRecorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// TestResyncBeforeLaterTurns: a turn that arrives after the broker noticed
// a gap (here, its connection came back) is delivered after the recovery,
// not before it: a receiver that had it would recover from after it, and
// miss the gap.
func TestResyncBeforeLaterTurns(t *testing.T) {
	b := &Broker{keys: newKeys("order:"), opts: BrokerOptions{QueueLen: 16}, sims: map[string]*simQueue{}}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	defer b.cancel()
	rec := &orderRecorder{hold: make(chan struct{})}
	b.Bind(rec)
	sc := &subConn{}
	b.sims["s"] = &simQueue{sim: "s", conn: sc}
	msg := func(seq, data string) *redis.Message {
		return &redis.Message{Channel: b.keys.turns("s"), Payload: seq + " " + data}
	}
	b.route(msg("1", "turn 1"))
	poll.Until(t, 5*time.Second, "the worker holding turn 1", func() bool { return len(rec.got()) == 1 })
	b.route(msg("2", "turn 2")) // before the connection was lost
	b.resyncAll(sc)             // it came back
	b.route(msg("5", "turn 5")) // after it came back
	close(rec.hold)
	b.workers.Wait()
	want := []string{"turn 1", "turn 2", "recover", "turn 5"}
	if got := rec.got(); !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
}
