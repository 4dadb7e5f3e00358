package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
	// Observe, if set, is called for each turn after the hub fanned it
	// out to this node's watchers: received is when it came from Redis,
	// zero for a turn of this node's queued before it went to Redis (its
	// copy from Redis is not observed), delivered when the fan-out
	// returned. It tells where a turn's delay goes on its way to
	// watchers; it must be quick.
	Observe func(pub hub.Publication, received, delivered time.Time)
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
//
// A turn published by this node is queued for its own watchers before it
// goes to Redis (it is stored already: the runner publishes after the
// store took it), so they do not wait for the round trip; its copy from
// Redis follows and the hub, which keeps each watcher's newest seq, drops
// it. Messages that are not turns (statuses, votes) go through Redis only,
// and while one of this node's is on its way back, its turns do too, so
// that a status never arrives after a turn published after it.
type Broker struct {
	// set at construction
	rdb     redis.UniversalClient
	keys    keys
	opts    BrokerOptions
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	control string // the broker's own channel, so the connection is always in subscribe mode
	// sharded: Redis is a cluster, and story channels use sharded pub/sub
	// (SPUBLISH, SSUBSCRIBE) on a connection per bucket of channels.
	sharded bool
	main    *subConn // plain Redis: the one connection for every channel

	reconnects atomic.Int64
	dropped    atomic.Int64

	// subMu serializes Subscribe and Unsubscribe, so the commands reach
	// Redis in the order the hub made the calls.
	subMu sync.Mutex

	mu      sync.Mutex
	recv    hub.Receiver
	sims    map[string]*simQueue
	conns   map[string]*subConn // sharded: by bucket
	workers sync.WaitGroup
}

// subConn is one subscription connection and its receive loop.
type subConn struct {
	ps     *redis.PubSub
	bucket string // sharded: the bucket it serves; "" for the main connection
	sims   int    // sharded: simulations subscribed on it; guarded by the broker's mu
	cancel context.CancelFunc
	done   chan struct{} // closed when its receive loop has returned
}

// simQueue holds one subscribed simulation's publications until its
// worker delivers them. The worker runs only while there is something to
// deliver or recover.
type simQueue struct {
	sim  string
	conn *subConn // the connection its channel is subscribed on
	refs int      // Subscribe calls not yet undone; guarded by the broker's mu

	mu   sync.Mutex // guards the fields below
	pubs []queued
	// resync: recover from history after the first resyncAt of pubs,
	// the ones queued before the gap was noticed; those queued after it
	// are newer than the gap and go after the recovery.
	resync   bool
	resyncAt int
	running  bool // a worker runs
	stopped  bool // unsubscribed: nothing more is delivered
	// ownInFlight counts the messages other than turns this node
	// published whose copy has not come back from Redis: while there is
	// one, this node's turns are not delivered ahead of Redis.
	ownInFlight int
	// lastLocal is the newest turn queued here before it went to Redis,
	// so that its copy from Redis is not observed as one received.
	lastLocal int64
}

// queued is a publication waiting for its simulation's worker.
type queued struct {
	hub.Publication
	received time.Time // when it came from Redis (zero: this node's own)
	observe  bool      // a turn, to pass to Observe once delivered
}

var _ hub.Broker = (*Broker)(nil)

// publishScript appends a turn to the simulation's history and publishes
// it, in one step. The history's epoch is created with the history: when
// Redis lost the history (a restart without persistence, or expiry), the
// next turn starts a new epoch. The turn's data is sent once: the script
// makes the published message ("seq data") of it.
//
// KEYS[1] history stream, KEYS[2] epoch
// ARGV[1] channel, ARGV[2] seq, ARGV[3] the turn's data, ARGV[4] history
// length, ARGV[5] a fresh epoch, ARGV[6] ttl in ms.
// An empty channel only appends: on a Redis Cluster the channel lives in
// another slot, and the turn is published with SPUBLISH after.
var publishScript = redis.NewScript(`
local seq = tonumber(ARGV[2])
if seq > 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[2], ARGV[5])
  end
  -- An error here means the seq is in history already (a repeated
  -- publication): the first one stays.
  redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], seq .. '-0', 'd', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
if ARGV[1] == '' then return 0 end
return redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
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
	_, sharded := rdb.(*redis.ClusterClient)
	b := &Broker{
		rdb: rdb, keys: k, opts: opts, log: opts.Logger,
		control: k.brokerControl(),
		sharded: sharded,
		sims:    make(map[string]*simQueue),
		conns:   make(map[string]*subConn),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if !sharded {
		// Subscribing with no channel does not connect; the first Receive does.
		b.main = b.startConn(rdb.Subscribe(b.ctx), "")
		sctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		if err := b.main.ps.Subscribe(sctx, b.control); err != nil {
			b.log.Warn("redis broker: subscribe (will retry)", "err", err)
		}
		cancel()
	}
	return b
}

// startConn runs the receive loop of a subscription connection.
func (b *Broker) startConn(ps *redis.PubSub, bucket string) *subConn {
	ctx, cancel := context.WithCancel(b.ctx)
	sc := &subConn{ps: ps, bucket: bucket, cancel: cancel, done: make(chan struct{})}
	go b.receive(ctx, sc)
	return sc
}

// stopConn ends a subscription connection and waits for its loop.
func (b *Broker) stopConn(sc *subConn) error {
	sc.cancel()
	err := sc.ps.Close()
	<-sc.done
	return err
}

// channel is sim's channel: sharded on a Redis Cluster.
func (b *Broker) channel(sim string) string {
	if b.sharded {
		return b.keys.shardTurns(sim)
	}
	return b.keys.turns(sim)
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
	q := b.localFirst(pub)
	ch := b.keys.turns(pub.Sim)
	if b.sharded {
		ch = ""
	}
	err := publishScript.Run(ctx, b.rdb,
		[]string{b.keys.history(pub.Sim), b.keys.epoch(pub.Sim)},
		ch, pub.Seq, pub.Data, b.opts.HistoryLen, newEpoch(), b.opts.HistoryTTL.Milliseconds(),
	).Err()
	if err == nil && b.sharded {
		// In history first: a node that sees the turn, or a later one,
		// finds it there. Should this publication fail, the next turn's
		// gap is filled from history.
		msg := make([]byte, 0, len(pub.Data)+24)
		msg = strconv.AppendInt(msg, pub.Seq, 10)
		msg = append(msg, ' ')
		msg = append(msg, pub.Data...)
		err = b.rdb.SPublish(ctx, b.keys.shardTurns(pub.Sim), msg).Err()
	}
	if err != nil {
		if q != nil && pub.Seq == 0 {
			// Most likely never published: do not wait for its copy.
			q.mu.Lock()
			q.ownInFlight = max(0, q.ownInFlight-1)
			q.mu.Unlock()
		}
		return fmt.Errorf("publish %q seq %d: %w", pub.Sim, pub.Seq, err)
	}
	return nil
}

// localFirst queues a turn for this node's watchers of its simulation,
// if any, ahead of Redis, unless a message of this node that is not a
// turn is on its way back (or the queue is full: Redis's copy, or
// history, brings it). A message that is not a turn is counted as on its
// way. It returns the simulation's queue, nil when not subscribed here.
func (b *Broker) localFirst(pub hub.Publication) *simQueue {
	b.mu.Lock()
	q := b.sims[pub.Sim]
	b.mu.Unlock()
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.stopped:
		// Unsubscribed, or the broker closed: Close has stopped every
		// queue before it waits for the workers, so none starts after.
	case pub.Seq == 0:
		q.ownInFlight++
	case q.ownInFlight == 0 && len(q.pubs) < b.opts.QueueLen:
		q.pubs = append(q.pubs, queued{Publication: pub, observe: b.opts.Observe != nil})
		q.lastLocal = max(q.lastLocal, pub.Seq)
		b.startLocked(q)
	}
	return q
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
	q.conn = b.main
	var sc *subConn
	if b.sharded {
		sc = b.conns[bucket(sim)]
		if sc != nil {
			sc.sims++
			q.conn = sc
		}
	}
	b.sims[sim] = q
	b.mu.Unlock()
	var err error
	switch {
	case b.sharded && sc == nil && b.ctx.Err() != nil:
		// Closed meanwhile: no new connection.
	case b.sharded && sc == nil:
		// The bucket's first channel: the connection is made to the
		// primary of its slot (go-redis keeps the channel, and makes it
		// again there, when this fails).
		ps := b.rdb.SSubscribe(ctx)
		err = ps.SSubscribe(ctx, b.channel(sim))
		sc = b.startConn(ps, bucket(sim))
		sc.sims = 1
		b.mu.Lock()
		q.conn = sc
		b.conns[sc.bucket] = sc
		b.mu.Unlock()
	case b.sharded:
		err = sc.ps.SSubscribe(ctx, b.channel(sim))
	default:
		err = q.conn.ps.Subscribe(ctx, b.channel(sim))
	}
	if err != nil {
		// go-redis keeps the channel and subscribes it on reconnect.
		b.log.Warn("redis broker: subscribe (will retry on reconnect)", "sim", sim, "err", err)
		q.mu.Lock()
		q.markResyncLocked()
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
	sc := q.conn
	last := false
	if b.sharded && sc != nil {
		sc.sims--
		if last = sc.sims == 0; last {
			delete(b.conns, sc.bucket)
		}
	}
	b.mu.Unlock()
	if sc == nil {
		return nil // subscribed while the broker closed
	}
	if last {
		// Nothing left on it: close it rather than leave a connection
		// out of subscribe mode.
		b.stopConn(sc)
		return nil
	}
	var err error
	if b.sharded {
		err = sc.ps.SUnsubscribe(ctx, b.channel(sim))
	} else {
		err = sc.ps.Unsubscribe(ctx, b.channel(sim))
	}
	if err != nil {
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
	var err error
	if b.main != nil {
		err = b.stopConn(b.main)
	}
	b.mu.Lock()
	conns := make([]*subConn, 0, len(b.conns))
	for bk, sc := range b.conns {
		conns = append(conns, sc)
		delete(b.conns, bk)
	}
	b.mu.Unlock()
	for _, sc := range conns {
		b.stopConn(sc)
	}
	b.mu.Lock()
	for sim, q := range b.sims {
		q.stop()
		delete(b.sims, sim)
	}
	b.mu.Unlock()
	b.workers.Wait()
	return err
}

// readOnlyBytes returns the bytes of s without copying them. A
// publication's Data is never written (the same bytes are queued to every
// watcher), so the message go-redis read can be delivered as it is,
// rather than copied once more per turn per node.
func readOnlyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func newEpoch() string {
	var b [8]byte
	var h [16]byte
	rand.Read(b[:])
	hex.Encode(h[:], b[:])
	return string(h[:])
}
