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
// bytes and the writer that drains it. Anything may Enqueue; only the
// writer writes messages to the connection. The writer is a goroutine
// that runs while something is queued and ends when the queue is empty,
// so an idle connection has none.
type Client struct {
	// set at construction
	hub      *Hub
	conn     *websocket.Conn
	out      *batchWriter // nil: each message is flushed on its own
	maxBytes int
	done     chan struct{} // closed when the connection has been closed

	mu      sync.Mutex // guards the fields below
	queue   [][]byte
	spare   [][]byte // the writer's last batch, reused as the next queue
	partial bool     // out holds the rest of a frame Enqueue wrote in part
	queued  int      // bytes in queue, that rest and the batch being written
	writing bool     // a writer runs, or the connection is closed
	ended   bool     // the connection is closed; nothing more starts
	closing bool
	flush   bool // write what is queued before closing
	code    websocket.StatusCode
	reason  string
	subs    []string // simulations subscribed to
	running sync.WaitGroup

	kaSlot, kaIdx int // place on the hub's keepalive wheel; slot -1: none (guarded by its mu)
}

// NewClient returns the outbound side of conn, counted among the node's
// connections until Disconnect. Each message is written and flushed on
// its own, and no keepalive is sent (Accept's clients batch and ping).
// conn may be nil in tests that only look at what is queued: nothing is
// written then.
func (h *Hub) NewClient(conn *websocket.Conn) *Client {
	return h.newClient(conn, nil)
}

func (h *Hub) newClient(conn *websocket.Conn, out *batchWriter) *Client {
	c := &Client{hub: h, conn: conn, out: out, maxBytes: h.opts.MaxQueueBytes, done: make(chan struct{}), kaSlot: -1}
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
	if !c.writing && c.out != nil {
		c.writeNow(msg)
		return true
	}
	c.queue = append(c.queue, msg)
	c.queued += len(msg)
	c.startLocked()
	c.mu.Unlock()
	return true
}

// writeNow writes msg from the caller's goroutine when nothing is queued
// and the socket takes it at once: no writer goroutine is started and
// scheduled for a connection that keeps up, which is most of them. What
// the socket does not take is left to the writer. Called with c.mu held
// and no writer running; unlocks it.
func (c *Client) writeNow(msg []byte) {
	c.writing = true // Enqueues meanwhile queue behind msg
	c.mu.Unlock()
	done, rest := c.out.tryWriteText(msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	switch {
	case rest > 0:
		// Part of the frame is out: out writes the rest before anything
		// else, even if the connection is closed meanwhile, so that
		// frames stay whole.
		c.partial = true
		c.queued += rest
	case !done && (!c.closing || c.flush):
		c.queue = slices.Insert(c.queue, 0, msg)
		c.queued += len(msg)
	}
	c.writing = false
	if len(c.queue) > 0 || c.partial || c.closing {
		c.startLocked()
	}
}

// startLocked starts the writer unless one runs or the connection is
// closed.
func (c *Client) startLocked() {
	if c.writing || c.conn == nil {
		return
	}
	c.writing = true
	c.running.Add(1)
	go c.write()
}

// Queued returns the bytes waiting to be written.
func (c *Client) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}

// Close asks the writer to drop what is queued and close the connection
// with code. The first call wins.
func (c *Client) Close(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

// CloseAfterQueued is Close, but what is already queued (replies that
// explain the close) is written first.
func (c *Client) CloseAfterQueued(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.flush, c.code, c.reason = true, true, code, reason
		c.startLocked()
	}
	c.mu.Unlock()
}

func (c *Client) closeLocked(code websocket.StatusCode, reason string) {
	if c.closing {
		return
	}
	c.closing, c.flush, c.code, c.reason = true, false, code, reason
	c.queue, c.queued = nil, 0
	c.startLocked()
}

// Closing reports whether the client is being closed.
func (c *Client) Closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// Done is closed once the connection has been closed: by the writer,
// after Close, or because a write or a keepalive ping failed.
func (c *Client) Done() <-chan struct{} { return c.done }

// write is the writer: it writes what is queued, a batch at a time, and
// returns when the queue is empty; or it closes the connection, when
// asked to or when a write fails.
func (c *Client) write() {
	defer c.running.Done()
	for {
		c.mu.Lock()
		batch, partial := c.queue, c.partial
		c.queue, c.spare, c.partial = c.spare[:0], nil, false
		closing, flush, code, reason := c.closing, c.flush, c.code, c.reason
		if len(batch) == 0 && !partial && !closing {
			// A keepalive ping due and no message to go with it: it
			// goes alone.
			if c.out == nil || !c.out.pingDue() {
				c.writing = false
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		if closing {
			if !flush {
				batch = nil
			}
			if len(batch) > 0 || partial {
				c.writeBatch(batch)
			}
			c.conn.Close(code, reason)
			c.end()
			return
		}
		n, err := c.writeBatch(batch)
		if err != nil {
			c.conn.CloseNow()
			c.end()
			return
		}
		c.mu.Lock()
		if !c.closing {
			// Close dropped the queue and its count meanwhile.
			c.queued -= n
		}
		if c.spare == nil && cap(batch) <= 1024 {
			clear(batch)
			c.spare = batch[:0]
		}
		c.mu.Unlock()
	}
}

// writeBatch writes msgs, after the rest of a frame begun by Enqueue if
// there is one, with one write to the network when the client batches,
// and returns the bytes written.
func (c *Client) writeBatch(msgs [][]byte) (int, error) {
	if c.out != nil {
		return c.out.writeText(msgs)
	}
	n := 0
	for _, msg := range msgs {
		// A context without Done: the library then arms no timer per
		// frame.
		if err := c.conn.Write(context.Background(), websocket.MessageText, msg); err != nil {
			return n, err
		}
		n += len(msg)
	}
	return n, nil
}

// end marks the connection closed: nothing more is queued or written.
func (c *Client) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	c.ended, c.writing, c.closing = true, true, true
	c.queue, c.queued = nil, 0
	c.hub.ka.remove(c)
	close(c.done)
}

// flushPing starts the writer, unless one runs, to write a keepalive
// ping that found no message to ride with: an idle connection's.
func (c *Client) flushPing() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startLocked()
}

// stop closes the connection at once, unless it is closed already, and
// waits for the writer to return.
func (c *Client) stop() {
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if c.conn != nil && !ended {
		c.conn.CloseNow()
	}
	c.end()
	c.running.Wait()
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
