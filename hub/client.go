package hub

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Close codes of the protocol beyond RFC 6455's.
const (
	StatusTooSlow          websocket.StatusCode = 4000
	StatusTokenExpired     websocket.StatusCode = 4001
	StatusTooManyMessages  websocket.StatusCode = 4029
	defaultWriteTimeout                         = 10 * time.Second
	defaultCloseReasonSlow                      = "too slow"
)

// Client is one WebSocket connection's outbound side: a queue bounded in
// bytes and the single writer that drains it. Anything may Enqueue; only
// WriteLoop writes to the connection.
type Client struct {
	// set at construction
	hub      *Hub
	conn     *websocket.Conn
	maxBytes int
	wake     chan struct{} // capacity 1: "the queue or the state changed"

	mu      sync.Mutex // guards the fields below
	queue   [][]byte
	spare   [][]byte // the writer's last batch, reused as the next queue
	queued  int      // bytes in queue and in the batch being written
	closing bool
	flush   bool // write what is queued before closing
	code    websocket.StatusCode
	reason  string
	subs    []string // simulations subscribed to
}

// NewClient returns the outbound side of conn, counted among the node's
// connections until Disconnect. conn may be nil in tests that only
// look at what is queued.
func (h *Hub) NewClient(conn *websocket.Conn) *Client {
	c := &Client{hub: h, conn: conn, maxBytes: h.opts.MaxQueueBytes, wake: make(chan struct{}, 1)}
	h.clientsMu.Lock()
	h.clients[c] = struct{}{}
	h.clientsMu.Unlock()
	return c
}

// Enqueue queues one message without blocking. A client whose queue would
// exceed its bound is cut with 4000 instead; Enqueue reports whether the
// message was queued.
func (c *Client) Enqueue(msg []byte) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if c.queued+len(msg) > c.maxBytes {
		c.closeLocked(StatusTooSlow, defaultCloseReasonSlow)
		c.mu.Unlock()
		c.hub.slowClosed.Add(1)
		return false
	}
	c.queue = append(c.queue, msg)
	c.queued += len(msg)
	c.mu.Unlock()
	c.signal()
	return true
}

// Queued returns the bytes waiting to be written.
func (c *Client) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close asks the writer to drop what is queued and close the connection
// with code. The first call wins.
func (c *Client) Close(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
	c.signal()
}

// CloseAfterQueued is Close, but what is already queued (replies that
// explain the close) is written first.
func (c *Client) CloseAfterQueued(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.flush, c.code, c.reason = true, true, code, reason
	}
	c.mu.Unlock()
	c.signal()
}

func (c *Client) closeLocked(code websocket.StatusCode, reason string) {
	if c.closing {
		return
	}
	c.closing, c.flush, c.code, c.reason = true, false, code, reason
	c.queue, c.queued = nil, 0
	c.signal()
}

// Closing reports whether the client is being closed.
func (c *Client) Closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// WriteLoop writes queued messages until ctx ends or the client is
// closed; then it closes the connection with the code given to Close.
// Each wake-up writes everything queued at that moment. Every
// pingInterval (if positive) it pings the peer, and gives up on a peer
// that does not answer within another interval: one goroutine per
// connection does both jobs.
func (c *Client) WriteLoop(ctx context.Context, writeTimeout, pingInterval time.Duration) error {
	if writeTimeout <= 0 {
		writeTimeout = defaultWriteTimeout
	}
	var tick <-chan time.Time
	if pingInterval > 0 {
		t := time.NewTicker(pingInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			pctx, cancel := context.WithTimeout(ctx, pingInterval)
			err := c.conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
			continue
		case <-c.wake:
		}
		c.mu.Lock()
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		closing, flush, code, reason := c.closing, c.flush, c.code, c.reason
		c.mu.Unlock()
		if closing && flush {
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			for _, msg := range batch {
				if c.conn.Write(wctx, websocket.MessageText, msg) != nil {
					break
				}
			}
			cancel()
		}
		if closing {
			return c.conn.Close(code, reason)
		}
		if len(batch) == 0 {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		for i, msg := range batch {
			if err := c.conn.Write(wctx, websocket.MessageText, msg); err != nil {
				cancel()
				return err
			}
			batch[i] = nil
			c.mu.Lock()
			if c.closing && !c.flush {
				// Close dropped the queue; stop writing what it dropped.
				c.mu.Unlock()
				c.signal()
				break
			}
			c.queued -= len(msg)
			c.mu.Unlock()
		}
		cancel()
		c.mu.Lock()
		if c.spare == nil && cap(batch) <= 1024 {
			clear(batch)
			c.spare = batch[:0]
		}
		c.mu.Unlock()
	}
}

func (c *Client) addSub(sim string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.subs, sim) {
		c.subs = append(c.subs, sim)
	}
}

func (c *Client) removeSub(sim string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.subs, sim); i >= 0 {
		c.subs = slices.Delete(c.subs, i, i+1)
	}
}

// Subs lists the simulations c is subscribed to.
func (c *Client) Subs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.subs)
}
