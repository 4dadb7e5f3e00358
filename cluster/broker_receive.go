package cluster

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/hub"
)

// The receiving side of the broker: each subscription connection's loop,
// and each simulation's queue and worker.

// receive reads a subscription connection until it is stopped. go-redis
// reconnects and resubscribes when a read fails (on a Redis Cluster, to
// the slot's primary of now); the loop backs off between attempts and,
// once messages flow again, marks every simulation subscribed on it for
// recovery.
func (b *Broker) receive(ctx context.Context, sc *subConn) {
	defer close(sc.done)
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	lost := false
	for {
		msg, err := sc.ps.ReceiveTimeout(ctx, b.opts.HealthCheck)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Silence: make sure the connection is alive. A failed
				// ping drops it; the next read reconnects.
				pctx, cancel := context.WithTimeout(ctx, b.opts.HealthCheck)
				perr := sc.ps.Ping(pctx)
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
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		if lost {
			lost = false
			b.reconnects.Add(1)
			b.log.Info("redis broker: reconnected; recovering missed turns", "bucket", sc.bucket)
			b.resyncAll(sc)
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
	if b.sharded {
		sim, ok = b.keys.shardTurnsSim(m.Channel)
	}
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
	if seq == 0 && q.ownInFlight > 0 {
		// This node's, or another's: either way one fewer to wait for
		// (a copy that never comes only holds this node's turns back to
		// Redis's pace until the next reconnection).
		q.ownInFlight--
	}
	if len(q.pubs) >= b.opts.QueueLen {
		// The hub is not keeping up with this simulation: drop, and let
		// recovery fetch it from history.
		b.dropped.Add(1)
		q.markResyncLocked()
	} else {
		pub := queued{Publication: hub.Publication{Sim: sim, Seq: seq, Data: readOnlyBytes(data)}}
		if b.opts.Observe != nil && seq > q.lastLocal {
			pub.received, pub.observe = time.Now(), true
		}
		q.pubs = append(q.pubs, pub)
	}
	b.startLocked(q)
}

// resyncAll marks the simulations subscribed on sc for recovery.
func (b *Broker) resyncAll(sc *subConn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, q := range b.sims {
		if q.conn != sc {
			continue
		}
		q.mu.Lock()
		if !q.stopped {
			q.markResyncLocked()
			q.ownInFlight = 0 // lost with the connection, if still on their way
			b.startLocked(q)
		}
		q.mu.Unlock()
	}
}

// startLocked starts q's worker unless one runs. The receive loops and
// localFirst start workers: Close waits for the loops to return, and
// stops every queue (which localFirst checks), before waiting for them.
func (b *Broker) startLocked(q *simQueue) {
	if q.running {
		return
	}
	q.running = true
	b.workers.Add(1)
	go b.work(q)
}

// markResyncLocked asks q's worker to recover from history once it has
// delivered what is queued now. A later mark before the recovery adds
// nothing: the recovery reads up to the newest turn in history.
func (q *simQueue) markResyncLocked() {
	if !q.resync {
		q.resync, q.resyncAt = true, len(q.pubs)
	}
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
	var spare []queued
	for {
		q.mu.Lock()
		if q.stopped || (len(q.pubs) == 0 && !q.resync) {
			q.running = false
			q.mu.Unlock()
			return
		}
		pubs, resync, at := q.pubs, q.resync, q.resyncAt
		q.pubs, q.resync, q.resyncAt = spare, false, 0
		q.mu.Unlock()
		r := b.receiver()
		if !resync {
			at = len(pubs)
		}
		b.deliver(q, r, pubs[:at])
		if resync && r != nil && !q.isStopped() {
			// Before the publications that came after the gap was
			// noticed: a receiver that has one of those would not look
			// further back than it.
			r.Recover(b.ctx, q.sim)
		}
		b.deliver(q, r, pubs[at:])
		clear(pubs)
		// Keep the batch's array for the next one unless it grew large
		// (a burst): a quiet simulation should not hold it.
		spare = nil
		if cap(pubs) <= 64 {
			spare = pubs[:0]
		}
	}
}

// deliver hands pubs to r, in order, unless q was stopped.
func (b *Broker) deliver(q *simQueue, r hub.Receiver, pubs []queued) {
	if r == nil {
		return
	}
	for _, p := range pubs {
		if q.isStopped() {
			return
		}
		r.Deliver(b.ctx, p.Publication)
		if p.observe {
			b.opts.Observe(p.Publication, p.received, time.Now())
		}
	}
}
