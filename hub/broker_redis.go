package hub

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
)

// RedisOptions configure a RedisBroker. The zero value works.
type RedisOptions struct {
	// Prefix starts every key and channel the broker uses, so several
	// deployments (or tests) can share one Redis. Defaults to "novel:".
	Prefix string
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

// RedisBroker carries publications between nodes through Redis pub/sub.
// Each turn is also appended to a capped per-simulation history stream,
// atomically with its publication (one script), so a node that missed a
// turn can fill the gap from Redis before going to the store.
//
// A node subscribes to a simulation's channel only while it has watchers
// of it. One pub/sub connection carries every channel; a goroutine per
// subscribed simulation delivers its publications to the handler in the
// order Redis sent them. When the connection drops, go-redis reconnects
// and resubscribes; the broker then asks the hub to recover, from history,
// each subscribed simulation's turns it may have missed meanwhile.
type RedisBroker struct {
	// set at construction
	rdb     redis.UniversalClient
	opts    RedisOptions
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
	handler func(context.Context, Publication)
	recover func(context.Context, string)
	sims    map[string]*simQueue
	workers sync.WaitGroup
}

// simQueue holds one subscribed simulation's publications until its
// worker delivers them.
type simQueue struct {
	sim    string
	refs   int // Subscribe calls not yet undone; guarded by the broker's mu
	ch     chan Publication
	wake   chan struct{} // capacity 1
	stop   chan struct{}
	resync atomic.Bool // recover from history before the next delivery
}

var _ Broker = (*RedisBroker)(nil)

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

// NewRedisBroker returns a broker on rdb. Call SetHandler (and
// SetRecoverHandler) before the first Subscribe, and Close when done.
// It does not fail when Redis is unreachable: it connects when Redis
// comes back.
func NewRedisBroker(rdb redis.UniversalClient, opts RedisOptions) *RedisBroker {
	if opts.Prefix == "" {
		opts.Prefix = "novel:"
	}
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
	b := &RedisBroker{
		rdb: rdb, opts: opts, log: opts.Logger, done: make(chan struct{}),
		control: opts.Prefix + "broker",
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

// SetHandler sets where publications go (normally Hub.Deliver).
func (b *RedisBroker) SetHandler(fn func(context.Context, Publication)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handler = fn
}

// SetRecoverHandler sets what is called for each subscribed simulation
// after the broker reconnected to Redis (normally Hub.Recover), so turns
// published while it was away reach the watchers.
func (b *RedisBroker) SetRecoverHandler(fn func(context.Context, string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recover = fn
}

func (b *RedisBroker) channel(sim string) string { return b.opts.Prefix + "turns:" + sim }

// The history and the epoch of a simulation share a hash tag, so the
// publish script's keys live in one slot of a Redis Cluster.
func (b *RedisBroker) history(sim string) string  { return b.opts.Prefix + "history:{" + sim + "}" }
func (b *RedisBroker) epochKey(sim string) string { return b.opts.Prefix + "epoch:{" + sim + "}" }

// Publish appends a turn to history and publishes it, atomically; other
// publications (seq 0) are only published.
func (b *RedisBroker) Publish(ctx context.Context, pub Publication) error {
	msg := make([]byte, 0, len(pub.Data)+24)
	msg = strconv.AppendInt(msg, pub.Seq, 10)
	msg = append(msg, ' ')
	msg = append(msg, pub.Data...)
	err := publishScript.Run(ctx, b.rdb,
		[]string{b.history(pub.Sim), b.epochKey(pub.Sim)},
		b.channel(pub.Sim), pub.Seq, msg, b.opts.HistoryLen, newEpoch(), b.opts.HistoryTTL.Milliseconds(), pub.Data,
	).Err()
	if err != nil {
		return fmt.Errorf("publish %q seq %d: %w", pub.Sim, pub.Seq, err)
	}
	return nil
}

// Epoch returns the identifier of sim's history in Redis. It changes when
// that history was lost, so a client can tell that what it holds may not
// line up with what the server now has.
func (b *RedisBroker) Epoch(ctx context.Context, sim string) (string, error) {
	e, err := epochScript.Run(ctx, b.rdb, []string{b.epochKey(sim)},
		newEpoch(), b.opts.HistoryTTL.Milliseconds()).Text()
	if err != nil {
		return "", fmt.Errorf("epoch of %q: %w", sim, err)
	}
	return e, nil
}

// History returns up to limit of sim's turns with seq > since, in order,
// as far as Redis still has them. The first may come after since+1 when
// older turns were trimmed or lost: the caller checks.
func (b *RedisBroker) History(ctx context.Context, sim string, since int64, limit int) ([]Publication, error) {
	msgs, err := b.rdb.XRangeN(ctx, b.history(sim), strconv.FormatInt(since+1, 10)+"-0", "+", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("history of %q after %d: %w", sim, since, err)
	}
	out := make([]Publication, 0, len(msgs))
	for _, m := range msgs {
		seqStr, _, _ := strings.Cut(m.ID, "-")
		seq, err := strconv.ParseInt(seqStr, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("history of %q: entry id %q", sim, m.ID)
		}
		data, _ := m.Values["d"].(string)
		out = append(out, Publication{Sim: sim, Seq: seq, Data: []byte(data)})
	}
	return out, nil
}

// Ping reports whether Redis answers (for /readyz).
func (b *RedisBroker) Ping(ctx context.Context) error {
	return b.rdb.Ping(ctx).Err()
}

// Subscribe starts delivery of sim's publications to this node. When
// Redis is away it still succeeds: the channel is subscribed as the
// connection comes back, and what was missed is recovered.
//
// Calls are counted: the hub may subscribe a simulation again (a new first
// watcher) before its Unsubscribe of the last one reached the broker, and
// the channel must stay subscribed then.
func (b *RedisBroker) Subscribe(ctx context.Context, sim string) error {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	if q, ok := b.sims[sim]; ok {
		q.refs++
		b.mu.Unlock()
		return nil
	}
	q := &simQueue{sim: sim, refs: 1, ch: make(chan Publication, b.opts.QueueLen), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	b.sims[sim] = q
	b.workers.Add(1)
	b.mu.Unlock()
	go b.work(q)
	if err := b.ps.Subscribe(ctx, b.channel(sim)); err != nil {
		// go-redis keeps the channel and subscribes it on reconnect.
		b.log.Warn("redis broker: subscribe (will retry on reconnect)", "sim", sim, "err", err)
		q.resync.Store(true)
	}
	return nil
}

// Unsubscribe stops delivery of sim's publications to this node.
func (b *RedisBroker) Unsubscribe(ctx context.Context, sim string) error {
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
	close(q.stop)
	b.mu.Unlock()
	if err := b.ps.Unsubscribe(ctx, b.channel(sim)); err != nil {
		return fmt.Errorf("unsubscribe %q: %w", sim, err)
	}
	return nil
}

// Reconnects counts how often the subscription connection came back
// after losing Redis.
func (b *RedisBroker) Reconnects() int64 { return b.reconnects.Load() }

// Dropped counts publications dropped because a simulation's delivery
// queue was full (each recovered from history).
func (b *RedisBroker) Dropped() int64 { return b.dropped.Load() }

// Close stops receiving and delivering. It does not close rdb.
func (b *RedisBroker) Close() error {
	b.cancel()
	err := b.ps.Close()
	<-b.done
	b.mu.Lock()
	for sim, q := range b.sims {
		close(q.stop)
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
func (b *RedisBroker) receive() {
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
func (b *RedisBroker) route(m *redis.Message) {
	sim, ok := strings.CutPrefix(m.Channel, b.opts.Prefix+"turns:")
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
	select {
	case q.ch <- Publication{Sim: sim, Seq: seq, Data: []byte(data)}:
	default:
		// The hub is not keeping up with this simulation: drop, and let
		// recovery fetch it from history.
		b.dropped.Add(1)
		q.resync.Store(true)
		signalQueue(q.wake)
	}
}

func (b *RedisBroker) resyncAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range b.sims {
		q.resync.Store(true)
		signalQueue(q.wake)
	}
}

func signalQueue(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// work delivers one simulation's publications in order until it is
// unsubscribed.
func (b *RedisBroker) work(q *simQueue) {
	defer b.workers.Done()
	for {
		select {
		case <-q.stop:
			return
		case p := <-q.ch:
			b.mu.Lock()
			fn := b.handler
			b.mu.Unlock()
			if fn != nil {
				fn(b.ctx, p)
			}
		case <-q.wake:
		}
		if q.resync.Swap(false) {
			b.mu.Lock()
			fn := b.recover
			b.mu.Unlock()
			if fn != nil {
				fn(b.ctx, q.sim)
			}
		}
	}
}

func newEpoch() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
