// Package hub fans publications out to the WebSocket connections of one
// node: subscriptions per simulation, a bounded queue and one writer per
// connection, and the broker that carries publications between nodes.
package hub

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Publication is one message for the watchers of a simulation. Data is the
// complete server message, encoded once by the publisher and queued as the
// same bytes to every watcher on every node.
type Publication struct {
	Sim  string
	Seq  int64 // the turn's seq; 0 for messages that are not turns
	Data []byte
}

// Broker carries publications to every node that has watchers of a
// simulation. Implementations deliver a simulation's publications to the
// handler in publish order, one at a time.
type Broker interface {
	Publish(ctx context.Context, pub Publication) error
	// Subscribe starts delivery of sim's publications to this node;
	// Unsubscribe stops it. The hub calls them as its first watcher of a
	// simulation arrives and its last one leaves.
	Subscribe(ctx context.Context, sim string) error
	Unsubscribe(ctx context.Context, sim string) error
}

// FillFunc returns the turn publications of sim with seq > since, in order,
// as far as history has them. The hub uses it to close gaps.
type FillFunc func(ctx context.Context, sim string, since int64) ([]Publication, error)

// Options configure a Hub. The zero value works.
type Options struct {
	// MaxQueueBytes bounds each connection's queue. Defaults to 1 MiB.
	MaxQueueBytes int
	// MaxBuffered bounds the publications held for a subscription while it
	// recovers history. Defaults to 1024.
	MaxBuffered int
	Logger      *slog.Logger
}

// Hub is the per-node fan-out.
type Hub struct {
	// set at construction
	opts   Options
	broker Broker
	fill   FillFunc
	log    *slog.Logger

	slowClosed atomic.Int64 // connections cut for being slow

	mu    sync.RWMutex
	chans map[string]*channel
}

type channel struct {
	mu   sync.Mutex
	subs map[*Client]*Sub
	last int64 // newest turn seq delivered on this node
}

// Sub is one connection's subscription to one simulation.
type Sub struct {
	// set at construction
	client *Client
	sim    string

	// guarded by the channel's mu
	live     bool
	last     int64 // newest turn seq queued to the client
	buf      []Publication
	overflow bool
}

// New returns a hub that publishes through broker. The broker's deliveries
// must be passed to Deliver. fill closes gaps in turn seqs (nil: none).
func New(broker Broker, fill FillFunc, opts Options) *Hub {
	if opts.MaxQueueBytes <= 0 {
		opts.MaxQueueBytes = 1 << 20
	}
	if opts.MaxBuffered <= 0 {
		opts.MaxBuffered = 1024
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{opts: opts, broker: broker, fill: fill, log: opts.Logger, chans: make(map[string]*channel)}
}

// Publish sends pub to every node's watchers of pub.Sim.
func (h *Hub) Publish(ctx context.Context, pub Publication) error {
	return h.broker.Publish(ctx, pub)
}

// SlowClosed counts connections cut because they did not keep up.
func (h *Hub) SlowClosed() int64 { return h.slowClosed.Load() }

// Subscribe adds c as a watcher of sim, replacing an earlier subscription
// of c to sim. Publications arriving from now on are held until Activate,
// so the caller can first queue history without a gap or a duplicate.
func (h *Hub) Subscribe(ctx context.Context, c *Client, sim string) (*Sub, error) {
	h.Unsubscribe(ctx, c, sim)
	s := &Sub{client: c, sim: sim}
	h.mu.Lock()
	ch, ok := h.chans[sim]
	if !ok {
		ch = &channel{subs: make(map[*Client]*Sub)}
		h.chans[sim] = ch
	}
	ch.mu.Lock()
	ch.subs[c] = s
	ch.mu.Unlock()
	h.mu.Unlock()
	if !ok {
		if err := h.broker.Subscribe(ctx, sim); err != nil {
			h.Unsubscribe(ctx, c, sim)
			return nil, fmt.Errorf("subscribe to %q: %w", sim, err)
		}
	}
	c.addSub(sim)
	return s, nil
}

// Unsubscribe removes c's subscription to sim, if any. It reports whether
// there was one.
func (h *Hub) Unsubscribe(ctx context.Context, c *Client, sim string) bool {
	h.mu.Lock()
	ch, ok := h.chans[sim]
	if !ok {
		h.mu.Unlock()
		return false
	}
	ch.mu.Lock()
	_, had := ch.subs[c]
	delete(ch.subs, c)
	empty := len(ch.subs) == 0
	ch.mu.Unlock()
	if empty {
		delete(h.chans, sim)
	}
	h.mu.Unlock()
	c.removeSub(sim)
	if empty {
		if err := h.broker.Unsubscribe(ctx, sim); err != nil {
			h.log.Warn("broker unsubscribe failed", "sim", sim, "err", err)
		}
	}
	return had
}

// UnsubscribeAll removes every subscription of c (when it disconnects).
func (h *Hub) UnsubscribeAll(ctx context.Context, c *Client) {
	for _, sim := range c.Subs() {
		h.Unsubscribe(ctx, c, sim)
	}
}

// Watchers returns the number of this node's watchers of sim.
func (h *Hub) Watchers(sim string) int {
	h.mu.RLock()
	ch, ok := h.chans[sim]
	h.mu.RUnlock()
	if !ok {
		return 0
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.subs)
}

// Sims lists the simulations this node has watchers of.
func (h *Hub) Sims() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.chans))
	for sim := range h.chans {
		out = append(out, sim)
	}
	return out
}

// Deliver fans pub out to this node's watchers of pub.Sim. Brokers call it
// for every publication, in order per simulation. It never blocks on a
// connection: a watcher that cannot keep up is cut. A turn whose seq skips
// ahead of the last one seen (a broker lost something) is preceded by the
// missing turns from history, so no watcher sees a gap.
func (h *Hub) Deliver(ctx context.Context, pub Publication) {
	h.mu.RLock()
	ch, ok := h.chans[pub.Sim]
	h.mu.RUnlock()
	if !ok {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if pub.Seq > 0 && ch.last > 0 && pub.Seq > ch.last+1 && h.fill != nil {
		from := ch.last
		ch.mu.Unlock()
		missing, err := h.fill(ctx, pub.Sim, from)
		ch.mu.Lock()
		if err != nil {
			h.log.Warn("fill gap", "sim", pub.Sim, "after", from, "err", err)
		}
		for _, m := range missing {
			if m.Seq > ch.last && m.Seq < pub.Seq {
				ch.deliverLocked(m, h.opts.MaxBuffered)
			}
		}
	}
	ch.deliverLocked(pub, h.opts.MaxBuffered)
}

func (ch *channel) deliverLocked(pub Publication, maxBuffered int) {
	if pub.Seq > ch.last {
		ch.last = pub.Seq
	}
	for _, s := range ch.subs {
		if !s.live {
			if len(s.buf) >= maxBuffered {
				s.overflow = true
				continue
			}
			s.buf = append(s.buf, pub)
			continue
		}
		if pub.Seq > 0 {
			if pub.Seq <= s.last {
				continue // the client has it already
			}
			s.last = pub.Seq
		}
		s.client.Enqueue(pub.Data)
	}
}

// Activate makes s live. last is the newest turn seq the caller queued to
// the client. Publications held since Subscribe are queued in order, turns
// the client has skipped and gaps filled from history; from then on
// publications go straight to the client.
func (h *Hub) Activate(ctx context.Context, s *Sub, last int64) error {
	h.mu.RLock()
	ch, ok := h.chans[s.sim]
	h.mu.RUnlock()
	if !ok {
		return nil // unsubscribed meanwhile
	}
	for {
		ch.mu.Lock()
		if ch.subs[s.client] != s {
			ch.mu.Unlock()
			return nil
		}
		gap := s.overflow
		if gap {
			s.buf, s.overflow = nil, false
		}
		i := 0
		for ; !gap && i < len(s.buf); i++ {
			p := s.buf[i]
			switch {
			case p.Seq == 0:
				s.client.Enqueue(p.Data)
			case p.Seq == last+1:
				s.client.Enqueue(p.Data)
				last = p.Seq
			case p.Seq > last+1:
				gap = true
			}
			if gap {
				break
			}
		}
		if !gap {
			s.buf, s.live, s.last = nil, true, last
			// The node has now seen up to last: a later skip is a gap.
			ch.last = max(ch.last, last)
			ch.mu.Unlock()
			return nil
		}
		s.buf = s.buf[i:]
		ch.mu.Unlock()

		// Turns are missing between what was queued and what is held:
		// fetch them without the lock (the subscription is not live, so
		// nothing else queues to the client for it), then look again.
		if h.fill == nil {
			return fmt.Errorf("gap after seq %d of %q and no history to fill it", last, s.sim)
		}
		pubs, err := h.fill(ctx, s.sim, last)
		if err != nil {
			return fmt.Errorf("fill %q after %d: %w", s.sim, last, err)
		}
		progressed := false
		for _, p := range pubs {
			if p.Seq == last+1 {
				s.client.Enqueue(p.Data)
				last = p.Seq
				progressed = true
			}
		}
		if !progressed {
			return fmt.Errorf("history of %q has nothing after %d", s.sim, last)
		}
	}
}

// Recover delivers the turns of sim that this node's watchers may have
// missed while the broker was away: every turn in history after the
// newest one delivered. Brokers that can lose publications (a dropped
// connection) call it once they are back; a turn missed with no later
// turn to reveal the gap is recovered this way.
func (h *Hub) Recover(ctx context.Context, sim string) {
	if h.fill == nil {
		return
	}
	h.mu.RLock()
	ch, ok := h.chans[sim]
	h.mu.RUnlock()
	if !ok {
		return
	}
	for {
		ch.mu.Lock()
		from := ch.last
		ch.mu.Unlock()
		pubs, err := h.fill(ctx, sim, from)
		if err != nil {
			h.log.Warn("recover after reconnect", "sim", sim, "after", from, "err", err)
			return
		}
		progressed := false
		ch.mu.Lock()
		for _, p := range pubs {
			if p.Seq == ch.last+1 {
				ch.deliverLocked(p, h.opts.MaxBuffered)
				progressed = true
			}
		}
		ch.mu.Unlock()
		if !progressed {
			return
		}
	}
}
