package hub

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Buffer sizes of an accepted connection. coder/websocket keeps the
// buffered reader and writer that Hijack hands it for the connection's
// life; net/http's are 4 KiB each. Messages from clients are small and a
// large one is read past the buffer, and outgoing frames are gathered by
// the batch writer below, so small buffers cost only a few more copies.
const (
	readBufferSize  = 512
	writeBufferSize = 256 // a control frame (at most 127 bytes) in one piece
	maxHeld         = 64 << 10
)

// Accept upgrades the request to a WebSocket connection, as
// websocket.Accept does, and returns it with its outbound side. The
// client's writer sends each batch of queued messages with one system
// call: coder/websocket flushes every frame, so the connection it writes
// to holds those flushes while a batch is written (the frames are still
// the library's). Unless opts' PingInterval is zero, the client pings
// every interval.
func (h *Hub) Accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*websocket.Conn, *Client, error) {
	hw := &hijackWriter{ResponseWriter: w, timeout: h.opts.WriteTimeout}
	conn, err := websocket.Accept(hw, r, opts)
	if err != nil {
		return nil, nil, err
	}
	c := h.newClient(conn, hw.out)
	if h.opts.PingInterval > 0 {
		c.keepalive(h.opts.PingInterval)
	}
	return conn, c, nil
}

// hijackWriter gives coder/websocket small buffers and a batch writer
// when it hijacks the connection.
type hijackWriter struct {
	http.ResponseWriter
	timeout time.Duration
	out     *batchWriter
}

func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	rd := brw.Reader
	if rd.Buffered() == 0 {
		rd = bufio.NewReaderSize(nc, readBufferSize)
	}
	// Else the client sent frames right behind its request and net/http
	// has read some of them: keep its reader (coder/websocket resumes
	// from what that one holds).
	w.out = &batchWriter{conn: nc, timeout: w.timeout}
	return nc, bufio.NewReadWriter(rd, bufio.NewWriterSize(w.out, writeBufferSize)), nil
}

// heldBuffers are the batch writers' buffers, taken for a batch only, so
// an idle connection holds none.
var heldBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// batchWriter is what coder/websocket's buffered writer writes to. While
// a batch is held, writes are gathered and go out together on release;
// otherwise (a pong, a close frame) they go straight out. Every write to
// the network has a deadline of timeout.
type batchWriter struct {
	conn    net.Conn
	timeout time.Duration

	mu       sync.Mutex
	held     *[]byte // nil: not holding
	deadline time.Time
}

func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held == nil {
		return b.writeLocked(p)
	}
	*b.held = append(*b.held, p...)
	if len(*b.held) >= maxHeld {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// hold starts gathering writes.
func (b *batchWriter) hold() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held == nil {
		b.held = heldBuffers.Get().(*[]byte)
	}
}

// release writes what was gathered and stops gathering.
func (b *batchWriter) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held == nil {
		return nil
	}
	err := b.flushLocked()
	if cap(*b.held) <= maxHeld*2 {
		heldBuffers.Put(b.held)
	}
	b.held = nil
	return err
}

func (b *batchWriter) flushLocked() error {
	if len(*b.held) == 0 {
		return nil
	}
	_, err := b.writeLocked(*b.held)
	*b.held = (*b.held)[:0]
	return err
}

// writeLocked writes p with a deadline. Setting one costs a timer update,
// so it is set half a timeout further than needed and moved forward only
// when less than the timeout is left: a write gets between one and one
// and a half timeouts, and the deadline is set at most every half
// timeout rather than per write.
func (b *batchWriter) writeLocked(p []byte) (int, error) {
	now := time.Now()
	if b.deadline.Sub(now) < b.timeout {
		b.deadline = now.Add(b.timeout * 3 / 2)
		if err := b.conn.SetWriteDeadline(b.deadline); err != nil {
			return 0, err
		}
	}
	return b.conn.Write(p)
}
