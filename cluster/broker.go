package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/hub"
)

// BrokerOptions configure a Broker. The zero value works.
type BrokerOptions struct {
	// HistoryLen caps each simulation's history stream (approximately,
	// MAXLEN ~). Defaults to 1000 turns.
	HistoryLen int
	// HistoryTTL is how long a simulation's history and epoch outlive its
	// last turn. Defaults to 24h.
	HistoryTTL time.Duration
	// QueueLen bounds the publications received for one simulation and
	// not yet delivered to the hub; beyond it they are dropped and
	// recovered from history. Defaults to 4096.
	QueueLen int
	// HealthCheck is how long the subscription connection may stay silent
	// before it is pinged. Defaults to 5s.
	HealthCheck time.Duration
	Logger      *slog.Logger
}

// Broker carries publications between nodes through Redis pub/sub.
// Each turn is also appended to a capped per-simulation history stream,
// atomically with its publication (one script), so a node that missed a
// turn can fill the gap from Redis before going to the store.
//
// A node subscribes to a simulation's channel only while it has watchers
// of it. One pub/sub connection carries every channel; a goroutine per
// subscribed simulation delivers its publications to the handler in the
// order Redis sent them, while it has any to deliver: a quiet simulation
// costs a small struct, no goroutine and no buffer. When the connection drops, go-redis reconnects
// and resubscribes; the broker then asks the hub to recover, from history,
// each subscribed simulation's turns it may have missed meanwhile.
type Broker struct {
	// set at construction
	rdb     redis.UniversalClient
	keys    keys
	opts    BrokerOptions
	log     *slog.Logger
	ps      *redis.PubSub
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the receive loop has returned
	control string        // the broker's own channel, so the connection is always in subscribe mode

	reconnects atomic.Int64
	dropped    atomic.Int64

	// subMu serializes Subscribe and Unsubscribe, so the commands reach
	// Redis in the order the hub made the calls.
	subMu sync.Mutex

	mu      sync.Mutex
	recv    hub.Receiver
	sims    map[string]*simQueue
	workers sync.WaitGroup
}

// simQueue holds one subscribed simulation's publications until its
// worker delivers them. The worker runs only while there is something to
// deliver or recover.
type simQueue struct {
	sim  string
	refs int // Subscribe calls not yet undone; guarded by the broker's mu

	mu      sync.Mutex // guards the fields below
	pubs    []hub.Publication
	resync  bool // recover from history after the deliveries queued
	running bool // a worker runs
	stopped bool // unsubscribed: nothing more is delivered
}

var _ hub.Broker = (*Broker)(nil)

// publishScript appends a turn to the simulation's history and publishes
// it, in one step. The history's epoch is created with the history: when
// Redis lost the history (a restart without persistence, or expiry), the
// next turn starts a new epoch.
//
// KEYS[1] history stream, KEYS[2] epoch
// ARGV[1] channel, ARGV[2] seq, ARGV[3] message, ARGV[4] history length,
// ARGV[5] a fresh epoch, ARGV[6] ttl in ms, ARGV[7] the turn's data
var publishScript = redis.NewScript(`
local seq = tonumber(ARGV[2])
if seq > 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[2], ARGV[5])
  end
  -- An error here means the seq is in history already (a repeated
  -- publication): the first one stays.
  redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], seq .. '-0', 'd', ARGV[7])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
return redis.call('PUBLISH', ARGV[1], ARGV[3])
`)

// epochScript returns a simulation's epoch, creating it when Redis has
// none (no history yet, or history lost).
//
// KEYS[1] epoch; ARGV[1] a fresh epoch, ARGV[2] ttl in ms
var epochScript = redis.NewScript(`
local e = redis.call('GET', KEYS[1])
if e then return e end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
`)

// NewBroker returns a broker on rdb, its keys and channels under prefix
// (empty: "novel:"). The hub binds itself to it; Close it when done. It
// does not fail when Redis is unreachable: it connects when Redis comes
// back.
func NewBroker(rdb redis.UniversalClient, prefix string, opts BrokerOptions) *Broker {
	if opts.HistoryLen <= 0 {
		opts.HistoryLen = 1000
	}
	if opts.HistoryTTL <= 0 {
		opts.HistoryTTL = 24 * time.Hour
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 4096
	}
	if opts.HealthCheck <= 0 {
		opts.HealthCheck = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	k := newKeys(prefix)
	b := &Broker{
		rdb: rdb, keys: k, opts: opts, log: opts.Logger, done: make(chan struct{}),
		control: k.brokerControl(),
		sims:    make(map[string]*simQueue),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	// Subscribing with no channel does not connect; the first Receive does.
	b.ps = rdb.Subscribe(b.ctx)
	sctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	if err := b.ps.Subscribe(sctx, b.control); err != nil {
		b.log.Warn("redis broker: subscribe (will retry)", "err", err)
	}
	cancel()
	go b.receive()
	return b
}

// Bind sets where publications go, and which simulations are recovered
// after the broker reconnected to Redis: the hub.
func (b *Broker) Bind(r hub.Receiver) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recv = r
}

func (b *Broker) receiver() hub.Receiver {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recv
}

// Publish appends a turn to history and publishes it, atomically; other
// publications (seq 0) are only published.
func (b *Broker) Publish(ctx context.Context, pub hub.Publication) error {
	msg := make([]byte, 0, len(pub.Data)+24)
	msg = strconv.AppendInt(msg, pub.Seq, 10)
	msg = append(msg, ' ')
	msg = append(msg, pub.Data...)
	err := publishScript.Run(ctx, b.rdb,
		[]string{b.keys.history(pub.Sim), b.keys.epoch(pub.Sim)},
		b.keys.turns(pub.Sim), pub.Seq, msg, b.opts.HistoryLen, newEpoch(), b.opts.HistoryTTL.Milliseconds(), pub.Data,
	).Err()
	if err != nil {
		return fmt.Errorf("publish %q seq %d: %w", pub.Sim, pub.Seq, err)
	}
	return nil
}

// Epoch returns the identifier of sim's history in Redis. It changes when
// that history was lost, so a client can tell that what it holds may not
// line up with what the server now has.
func (b *Broker) Epoch(ctx context.Context, sim string) (string, error) {
	e, err := epochScript.Run(ctx, b.rdb, []string{b.keys.epoch(sim)},
		newEpoch(), b.opts.HistoryTTL.Milliseconds()).Text()
	if err != nil {
		return "", fmt.Errorf("epoch of %q: %w", sim, err)
	}
	return e, nil
}

// History returns up to limit of sim's turns with seq > since, in order,
// as far as Redis still has them. The first may come after since+1 when
// older turns were trimmed or lost: the caller checks.
func (b *Broker) History(ctx context.Context, sim string, since int64, limit int) ([]hub.Publication, error) {
	msgs, err := b.rdb.XRangeN(ctx, b.keys.history(sim), strconv.FormatInt(since+1, 10)+"-0", "+", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("history of %q after %d: %w", sim, since, err)
	}
	out := make([]hub.Publication, 0, len(msgs))
	for _, m := range msgs {
		seqStr, _, _ := strings.Cut(m.ID, "-")
		seq, err := strconv.ParseInt(seqStr, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("history of %q: entry id %q", sim, m.ID)
		}
		data, _ := m.Values["d"].(string)
		out = append(out, hub.Publication{Sim: sim, Seq: seq, Data: []byte(data)})
	}
	return out, nil
}

// Ping reports whether Redis answers (for /readyz).
func (b *Broker) Ping(ctx context.Context) error {
	return b.rdb.Ping(ctx).Err()
}

// Subscribe starts delivery of sim's publications to this node. When
// Redis is away it still succeeds: the channel is subscribed as the
// connection comes back, and what was missed is recovered.
//
// Calls are counted: the hub may subscribe a simulation again (a new first
// watcher) before its Unsubscribe of the last one reached the broker, and
// the channel must stay subscribed then.
func (b *Broker) Subscribe(ctx context.Context, sim string) error {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	if q, ok := b.sims[sim]; ok {
		q.refs++
		b.mu.Unlock()
		return nil
	}
	q := &simQueue{sim: sim, refs: 1}
	b.sims[sim] = q
	b.mu.Unlock()
	if err := b.ps.Subscribe(ctx, b.keys.turns(sim)); err != nil {
		// go-redis keeps the channel and subscribes it on reconnect.
		b.log.Warn("redis broker: subscribe (will retry on reconnect)", "sim", sim, "err", err)
		q.mu.Lock()
		q.resync = true
		q.mu.Unlock()
	}
	return nil
}

// Unsubscribe stops delivery of sim's publications to this node.
func (b *Broker) Unsubscribe(ctx context.Context, sim string) error {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	q, ok := b.sims[sim]
	if !ok {
		b.mu.Unlock()
		return nil
	}
	if q.refs--; q.refs > 0 {
		b.mu.Unlock()
		return nil
	}
	delete(b.sims, sim)
	q.stop()
	b.mu.Unlock()
	if err := b.ps.Unsubscribe(ctx, b.keys.turns(sim)); err != nil {
		return fmt.Errorf("unsubscribe %q: %w", sim, err)
	}
	return nil
}

// Reconnects counts how often the subscription connection came back
// after losing Redis.
func (b *Broker) Reconnects() int64 { return b.reconnects.Load() }

// Dropped counts publications dropped because a simulation's delivery
// queue was full (each recovered from history).
func (b *Broker) Dropped() int64 { return b.dropped.Load() }

// Close stops receiving and delivering. It does not close rdb.
func (b *Broker) Close() error {
	b.cancel()
	err := b.ps.Close()
	<-b.done
	b.mu.Lock()
	for sim, q := range b.sims {
		q.stop()
		delete(b.sims, sim)
	}
	b.mu.Unlock()
	b.workers.Wait()
	return err
}

// receive reads the subscription connection until Close. go-redis
// reconnects and resubscribes when a read fails; the loop backs off
// between attempts and, once messages flow again, marks every subscribed
// simulation for recovery.
func (b *Broker) receive() {
	defer close(b.done)
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	lost := false
	for {
		msg, err := b.ps.ReceiveTimeout(b.ctx, b.opts.HealthCheck)
		if err != nil {
			if b.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Silence: make sure the connection is alive. A failed
				// ping drops it; the next read reconnects.
				pctx, cancel := context.WithTimeout(b.ctx, b.opts.HealthCheck)
				perr := b.ps.Ping(pctx)
				cancel()
				if perr == nil {
					continue
				}
				err = perr
			}
			if !lost {
				b.log.Warn("redis broker: connection lost; reconnecting", "err", err)
			}
			lost = true
			select {
			case <-time.After(backoff):
			case <-b.ctx.Done():
				return
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		if lost {
			lost = false
			b.reconnects.Add(1)
			b.log.Info("redis broker: reconnected; recovering missed turns")
			b.resyncAll()
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // subscription confirmations and pongs
		}
		b.route(m)
	}
}

// route queues a message for its simulation's worker.
func (b *Broker) route(m *redis.Message) {
	sim, ok := b.keys.turnsSim(m.Channel)
	if !ok {
		return
	}
	seqStr, data, ok := strings.Cut(m.Payload, " ")
	if !ok {
		b.log.Warn("redis broker: malformed message", "channel", m.Channel)
		return
	}
	seq, err := strconv.ParseInt(seqStr, 10, 64)
	if err != nil {
		b.log.Warn("redis broker: malformed message", "channel", m.Channel)
		return
	}
	b.mu.Lock()
	q := b.sims[sim]
	b.mu.Unlock()
	if q == nil {
		return // unsubscribed meanwhile
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	if len(q.pubs) >= b.opts.QueueLen {
		// The hub is not keeping up with this simulation: drop, and let
		// recovery fetch it from history.
		b.dropped.Add(1)
		q.resync = true
	} else {
		q.pubs = append(q.pubs, hub.Publication{Sim: sim, Seq: seq, Data: []byte(data)})
	}
	b.startLocked(q)
}

func (b *Broker) resyncAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range b.sims {
		q.mu.Lock()
		if !q.stopped {
			q.resync = true
			b.startLocked(q)
		}
		q.mu.Unlock()
	}
}

// startLocked starts q's worker unless one runs. Only the receive loop
// starts workers, and Close waits for it to return before waiting for
// them.
func (b *Broker) startLocked(q *simQueue) {
	if q.running {
		return
	}
	q.running = true
	b.workers.Add(1)
	go b.work(q)
}

// stop ends deliveries of q; its worker returns at the next publication.
func (q *simQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped, q.pubs = true, nil
}

func (q *simQueue) isStopped() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stopped
}

// work delivers one simulation's publications in order, and recovers
// when asked to, until there is nothing left to do or it is unsubscribed.
func (b *Broker) work(q *simQueue) {
	defer b.workers.Done()
	var spare []hub.Publication
	for {
		q.mu.Lock()
		if q.stopped || (len(q.pubs) == 0 && !q.resync) {
			q.running = false
			q.mu.Unlock()
			return
		}
		pubs, resync := q.pubs, q.resync
		q.pubs, q.resync = spare, false
		q.mu.Unlock()
		r := b.receiver()
		for i, p := range pubs {
			if r != nil && !q.isStopped() {
				r.Deliver(b.ctx, p)
			}
			pubs[i] = hub.Publication{}
		}
		if resync && r != nil && !q.isStopped() {
			r.Recover(b.ctx, q.sim)
		}
		// Keep the batch's array for the next one unless it grew large
		// (a burst): a quiet simulation should not hold it.
		spare = nil
		if cap(pubs) <= 64 {
			spare = pubs[:0]
		}
	}
}

func newEpoch() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
