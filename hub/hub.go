// Package hub fans publications out to the WebSocket connections of one
// node: subscriptions per simulation, a bounded queue and one writer per
// connection, and the broker interface that carries publications between
// nodes, with its in-process implementation.
package hub

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Publication is one message for the watchers of a simulation. Data is the
// complete server message, encoded once by the publisher and queued as the
// same bytes to every watcher on every node.
type Publication struct {
	Sim  string
	Seq  int64 // the turn's seq; 0 for messages that are not turns
	Data []byte
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
	// FillLimit is the most turns asked of history at once. Defaults to 500.
	FillLimit int
	// WriteTimeout bounds each write to a connection made by Accept.
	// Defaults to 10s.
	WriteTimeout time.Duration
	// PingInterval is how often Accept's connections are pinged; a peer
	// that does not answer within another interval is cut. Zero: never.
	PingInterval time.Duration
	// FanoutHelpers is how many goroutines at most help the publisher
	// write one publication to its watchers' sockets (fanout.go). Zero:
	// the publisher writes alone; negative: GOMAXPROCS-1.
	FanoutHelpers int
	Logger        *slog.Logger
}

// Hub is the per-node fan-out, and the registry of the node's connections.
type Hub struct {
	// set at construction
	opts   Options
	broker Broker
	store  FillFunc // history beyond the broker's; nil: none
	log    *slog.Logger

	slowClosed atomic.Int64 // connections cut for being slow
	gapClosed  atomic.Int64 // connections cut for a gap that could not be filled
	fan        fanout
	ka         keepalive

	mu    sync.RWMutex
	chans map[string]*channel

	clientsMu sync.Mutex
	clients   map[*Client]struct{}
}

type channel struct {
	mu   sync.Mutex
	subs map[*Client]*Sub
	list []*Sub // subs' values, in the order a publication goes out
	live int    // live subscriptions
	low  int64  // newest turn seq every live subscription has: a later turn past low+1 is a gap for one of them
	fan  fanState
}

// Sub is one connection's subscription to one simulation.
type Sub struct {
	// set at construction
	client *Client
	sim    string

	// guarded by the channel's mu
	idx      int // in the channel's list
	live     bool
	last     int64 // newest turn seq queued to the client
	buf      []Publication
	overflow bool
}

// New returns a hub that publishes through broker and binds itself to
// the broker as its receiver. Gaps in turn seqs are closed from the
// broker's history, then from store (nil: nothing more).
func New(broker Broker, store FillFunc, opts Options) *Hub {
	if opts.MaxQueueBytes <= 0 {
		opts.MaxQueueBytes = 1 << 20
	}
	if opts.MaxBuffered <= 0 {
		opts.MaxBuffered = 1024
	}
	if opts.FillLimit <= 0 {
		opts.FillLimit = 500
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FanoutHelpers < 0 {
		opts.FanoutHelpers = runtime.GOMAXPROCS(0) - 1
	}
	h := &Hub{
		opts: opts, broker: broker, store: store, log: opts.Logger,
		chans: make(map[string]*channel), clients: make(map[*Client]struct{}),
	}
	h.fan.init(opts.FanoutHelpers)
	if opts.PingInterval > 0 {
		h.ka.init(opts.PingInterval)
	}
	broker.Bind(h)
	return h
}

// Publish sends pub to every node's watchers of pub.Sim.
func (h *Hub) Publish(ctx context.Context, pub Publication) error {
	return h.broker.Publish(ctx, pub)
}

// fill returns the turns of sim after since: from the broker's history
// when it has them from since+1 on, else from the store.
func (h *Hub) fill(ctx context.Context, sim string, since int64) ([]Publication, error) {
	pubs, err := h.broker.History(ctx, sim, since, h.opts.FillLimit)
	if err == nil && len(pubs) > 0 && pubs[0].Seq == since+1 {
		return pubs, nil
	}
	if h.store == nil {
		return pubs, err
	}
	return h.store(ctx, sim, since)
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
	ch.putLocked(s)
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
	s, had := ch.subs[c]
	if had {
		if s.live {
			ch.live--
		}
		ch.removeLocked(s)
	}
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

// UnsubscribeAll removes every subscription of c.
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
// ahead of what a watcher has (a broker lost something, or an owner died
// between storing a turn and publishing it) is preceded by the missing
// turns from history, so no watcher sees a gap.
func (h *Hub) Deliver(ctx context.Context, pub Publication) {
	ch := h.channel(pub.Sim)
	if ch == nil {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if pub.Seq > 0 && ch.live > 0 && pub.Seq > ch.low+1 {
		from := ch.low
		ch.mu.Unlock()
		missing, err := h.fill(ctx, pub.Sim, from)
		ch.mu.Lock()
		if err != nil {
			h.log.Warn("fill gap", "sim", pub.Sim, "after", from, "err", err)
		}
		for _, m := range missing {
			if m.Seq < pub.Seq {
				ch.deliverLocked(&h.fan, m, h.opts.MaxBuffered)
			}
		}
		// The history and the store could not give every missing turn
		// (the store down, say): a watcher still short of them would see
		// a gap. It is cut instead, to reconnect and resume with since,
		// which reads the turns once they can be read; what it was sent goes
		// first.
		for _, s := range ch.list {
			if s.live && s.last < pub.Seq-1 {
				s.client.CloseAfterQueued(StatusTooSlow, closeReasonMissed)
				h.gapClosed.Add(1)
			}
		}
	}
	ch.deliverLocked(&h.fan, pub, h.opts.MaxBuffered)
}

// closeReasonMissed is the close reason of a watcher cut because turns it
// missed could not be read to fill the gap.
const closeReasonMissed = "missed turns; reconnect and resume"

// GapClosed counts watchers cut because a gap in their turns could not be
// filled.
func (h *Hub) GapClosed() int64 { return h.gapClosed.Load() }

func (h *Hub) channel(sim string) *channel {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.chans[sim]
}

// putLocked adds s to the channel, in place of c's earlier subscription
// if there is one.
func (ch *channel) putLocked(s *Sub) {
	if old, ok := ch.subs[s.client]; ok {
		if old.live {
			ch.live--
		}
		s.idx = old.idx
		ch.list[s.idx] = s
	} else {
		s.idx = len(ch.list)
		ch.list = append(ch.list, s)
	}
	ch.subs[s.client] = s
}

// removeLocked removes s, which is in the channel.
func (ch *channel) removeLocked(s *Sub) {
	last := ch.list[len(ch.list)-1]
	ch.list[s.idx], last.idx = last, s.idx
	ch.list[len(ch.list)-1] = nil
	ch.list = ch.list[:len(ch.list)-1]
	delete(ch.subs, s.client)
}

// Activate makes s live. last is the newest turn seq the caller queued to
// the client. Publications held since Subscribe are queued in order, turns
// the client has skipped and gaps filled from history; from then on
// publications go straight to the client.
func (h *Hub) Activate(ctx context.Context, s *Sub, last int64) error {
	ch := h.channel(s.sim)
	if ch == nil {
		return nil // unsubscribed meanwhile
	}
	for {
		ch.mu.Lock()
		if ch.subs[s.client] != s {
			ch.mu.Unlock()
			return nil
		}
		var gap, dropped bool
		last, gap, dropped = s.drainLocked(last)
		if !gap {
			s.buf, s.live, s.last = nil, true, last
			// Its watcher may have turns the others lack (read from the
			// store): the lowest seq any live one has is what gaps are
			// measured from.
			if ch.live == 0 || last < ch.low {
				ch.low = last
			}
			ch.live++
			ch.mu.Unlock()
			return nil
		}
		ch.mu.Unlock()

		// Turns are missing between what was queued and what is held:
		// fetch them without the lock (the subscription is not live, so
		// nothing else queues to the client for it), then look again.
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
			if dropped {
				// What the overflow dropped was all at or before last
				// (the caller read it from the store): nothing is
				// missing. Look at what was held since.
				continue
			}
			return fmt.Errorf("history of %q has nothing after %d", s.sim, last)
		}
	}
}

// drainLocked queues the held publications that follow last, in order,
// and returns the newest turn queued; gap tells that a held turn skips
// ahead (the publications from it on stay held), or that all were
// dropped after an overflow (dropped).
func (s *Sub) drainLocked(last int64) (newest int64, gap, dropped bool) {
	if s.overflow {
		s.buf, s.overflow = nil, false
		return last, true, true
	}
	for i, p := range s.buf {
		switch {
		case p.Seq == 0:
			s.client.Enqueue(p.Data)
		case p.Seq == last+1:
			s.client.Enqueue(p.Data)
			last = p.Seq
		case p.Seq > last+1:
			s.buf = s.buf[i:]
			return last, true, false
		}
	}
	s.buf = nil
	return last, false, false
}

// Hold holds the publications of sim for c until release is called, so
// that a reply queued meanwhile reaches the client before them: an
// action's "accepted" before the turn that plays it, whichever node runs
// the simulation and whatever order the answer and the turn arrive in.
// It does nothing when c does not watch sim. If the held publications
// cannot be put in order at release (history lost), the client is cut
// with 4000 so that it resumes.
func (h *Hub) Hold(c *Client, sim string) (release func(context.Context)) {
	ch := h.channel(sim)
	if ch == nil {
		return func(context.Context) {}
	}
	ch.mu.Lock()
	s := ch.subs[c]
	if s == nil || !s.live {
		ch.mu.Unlock()
		return func(context.Context) {}
	}
	s.live = false
	ch.live--
	last := s.last
	ch.mu.Unlock()
	return func(ctx context.Context) {
		if err := h.Activate(ctx, s, last); err != nil {
			h.log.Warn("release held turns", "sim", sim, "err", err)
			c.Close(StatusTooSlow, defaultCloseReasonSlow)
		}
	}
}

// Recover delivers the turns of sim that this node's watchers may have
// missed while the broker was away: every turn in history after the
// newest one they all have. Brokers that can lose publications (a dropped
// connection) call it once they are back; a turn missed with no later
// turn to reveal the gap is recovered this way.
func (h *Hub) Recover(ctx context.Context, sim string) {
	ch := h.channel(sim)
	if ch == nil {
		return
	}
	for {
		ch.mu.Lock()
		from, live := ch.low, ch.live
		ch.mu.Unlock()
		if live == 0 {
			return // held subscriptions recover as they activate
		}
		pubs, err := h.fill(ctx, sim, from)
		if err != nil {
			h.log.Warn("recover after reconnect", "sim", sim, "after", from, "err", err)
			return
		}
		progressed := false
		ch.mu.Lock()
		for _, p := range pubs {
			if p.Seq == ch.low+1 {
				ch.deliverLocked(&h.fan, p, h.opts.MaxBuffered)
				progressed = true
			}
		}
		ch.mu.Unlock()
		if !progressed {
			return
		}
	}
}

// Disconnect removes every subscription of c and forgets it, when its
// connection has ended: the connection is closed now if it is not
// already, and Disconnect returns once nothing writes to it any more.
func (h *Hub) Disconnect(ctx context.Context, c *Client) {
	h.UnsubscribeAll(ctx, c)
	c.stop()
	h.clientsMu.Lock()
	delete(h.clients, c)
	h.clientsMu.Unlock()
}

// Connections counts the clients made by NewClient and not disconnected.
func (h *Hub) Connections() int {
	h.clientsMu.Lock()
	defer h.clientsMu.Unlock()
	return len(h.clients)
}

// CloseAll closes every connection of this node with code.
func (h *Hub) CloseAll(code websocket.StatusCode, reason string) {
	for _, c := range h.clientList() {
		c.Close(code, reason)
	}
}

// Abort closes every connection of this node at once, without a close
// handshake: for a shutdown whose time is up.
func (h *Hub) Abort() {
	for _, c := range h.clientList() {
		if c.conn != nil {
			c.conn.CloseNow()
		}
	}
}

func (h *Hub) clientList() []*Client {
	h.clientsMu.Lock()
	defer h.clientsMu.Unlock()
	clients := make([]*Client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	return clients
}
