package hub

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// Buffer sizes of an accepted connection. coder/websocket keeps the
// buffered reader and writer that Hijack hands it for the connection's
// life; net/http's are 4 KiB each. Messages from clients are small and a
// large one is read past the buffer, and the library writes only control
// frames (the batch writer below frames messages), so small buffers cost
// only a few more copies.
const (
	readBufferSize  = 512
	writeBufferSize = 256 // a control frame (at most 129 bytes) in one piece
	maxBatchWrite   = 64 << 10
)

// Accept upgrades the request to a WebSocket connection, as
// websocket.Accept does, and returns it with its outbound side. The
// client's writer sends each batch of queued messages with one system
// call, framing them itself (coder/websocket writes and flushes each
// frame on its own); the library still reads, and writes the control
// frames. Unless opts' PingInterval is zero, the client pings
// every interval.
func (h *Hub) Accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*websocket.Conn, *Client, error) {
	hw := &hijackWriter{ResponseWriter: w, timeout: h.opts.WriteTimeout}
	// The batch writer frames messages uncompressed, so permessage-deflate
	// is never negotiated, whatever opts ask: a peer that had agreed to it
	// could take a plain frame for a compressed one.
	var o websocket.AcceptOptions
	if opts != nil {
		o = *opts
	}
	o.CompressionMode = websocket.CompressionDisabled
	conn, err := websocket.Accept(hw, r, &o)
	if err != nil {
		return nil, nil, err
	}
	c := h.newClient(conn, hw.out)
	if h.opts.PingInterval > 0 {
		h.ka.add(c)
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
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.out.raw, w.out.rawWrite = raw, w.out.writeOnce
		}
	}
	// coder/websocket reads from the conn returned here (it resets rd to
	// read from it), so that is where the reads are counted.
	hc := &heardConn{Conn: nc, n: &w.out.reads}
	return hc, bufio.NewReadWriter(rd, bufio.NewWriterSize(w.out, writeBufferSize)), nil
}

// batchBuffers gather a batch's frames, taken for the batch only, so an
// idle connection holds none.
var batchBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// batchWriter is what coder/websocket's buffered writer writes to, and
// what the client's writer writes its messages to. The library writes
// only control frames here (pings, pongs, a close), each whole in one
// Write, since its buffer holds the largest of them. The client's
// messages are framed here instead of by the library: a server's text
// frame is a header of 2 to 10 bytes and the payload as is (unmasked,
// uncompressed, as the library would write it with compression off),
// and doing it here saves the library's locks, its per-frame checks and
// a copy through its buffer, and lets a batch go out in one write. Every
// write to the network has a deadline of timeout.
type batchWriter struct {
	conn    net.Conn
	raw     syscall.RawConn // conn's socket, nil if conn has none (TLS)
	timeout time.Duration
	// b.writeOnce, made once rather than a closure per write
	rawWrite func(fd uintptr) bool

	// The keepalive's state (keepalive.go): reads counts the reads that
	// brought bytes from the peer, readsAtPing what it was when the last
	// ping went out.
	reads       atomic.Uint32
	ping        atomic.Uint32 // pingIdle, pingDue or pingOut
	readsAtPing atomic.Uint32

	mu       sync.Mutex
	closed   bool // a close frame went out: nothing may follow it
	deadline time.Time
	rawBuf   []byte // writeOnce's argument and result
	rawN     int
	// rest is what tryWriteText left of a frame it wrote in part: it
	// goes before any other byte, the library's control frames too.
	rest     []byte
	restDone int // bytes of rest written by Write, not yet reported
}

// Write writes one of the library's frames.
func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, net.ErrClosed
	}
	if len(p) > 0 && p[0]&0x0f == opClose {
		b.closed = true
	}
	if b.rest != nil {
		if _, err := b.writeLocked(b.rest); err != nil {
			return 0, err
		}
		b.restDone += len(b.rest)
		b.rest = nil
	}
	return b.writeLocked(p)
}

// tryWriteText writes msg as a text frame if the socket takes it at
// once, without waiting for the socket or for a write in progress (a
// write to a slow peer may hold b for a while). done reports that all of
// it went; rest is how many bytes are left of a frame written in part (b
// keeps them, to write before anything else), 0 if none of it was
// written.
func (b *batchWriter) tryWriteText(msg []byte) (done bool, rest int) {
	if b.raw == nil || !b.mu.TryLock() {
		return false, 0
	}
	defer b.mu.Unlock()
	if b.closed || b.rest != nil {
		return false, 0 // the writer will find it closed, or goes first
	}
	// The runtime refuses any write past the deadline, even one that
	// does not wait.
	if err := b.extendDeadlineLocked(); err != nil {
		return false, 0
	}
	bp := batchBuffers.Get().(*[]byte)
	buf, pinged := b.appendPingLocked((*bp)[:0])
	buf = append(appendTextHeader(buf, len(msg)), msg...)
	// The runtime may refuse before writeOnce runs (a closed socket).
	b.rawBuf, b.rawN = buf, 0
	b.raw.Write(b.rawWrite)
	n := b.rawN
	b.rawBuf = nil
	switch {
	case n == len(buf):
		done = true
	case n > 0:
		b.rest = bytes.Clone(buf[n:])
		rest = len(b.rest)
	case pinged:
		b.ping.Store(pingDue) // it did not go
	}
	if cap(buf) <= maxBatchWrite*2 {
		*bp = buf[:0]
		batchBuffers.Put(bp)
	}
	return done, rest
}

// writeOnce is rawWrite's function: one write(2) of rawBuf, which never
// waits (the writer goroutine does that).
func (b *batchWriter) writeOnce(fd uintptr) bool {
	b.rawN, _ = syscall.Write(int(fd), b.rawBuf)
	return true
}

const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	finBit  = 0x80
)

// The keepalive's states of a connection.
const (
	pingIdle = iota // no ping due or awaited
	pingDue         // to go out with the next write
	pingOut         // written; a read since says the peer lives
)

// pingRound is the keepalive's visit, once per interval: it reports
// whether the peer is alive (something was read since the last ping
// went out), and makes the next ping due.
func (b *batchWriter) pingRound() bool {
	switch b.ping.Load() {
	case pingDue:
		return false // not written in a whole interval
	case pingOut:
		if b.reads.Load() == b.readsAtPing.Load() {
			return false
		}
	}
	// Only the keepalive makes a ping due, and writers only take a due
	// one, so nothing changed since the Load.
	b.ping.Store(pingDue)
	return true
}

func (b *batchWriter) pingDue() bool { return b.ping.Load() == pingDue }

// appendPingLocked appends a ping frame (empty payload) if one is due,
// and reports whether it did. Called with b.mu held, just before a write.
func (b *batchWriter) appendPingLocked(buf []byte) ([]byte, bool) {
	if b.ping.Load() != pingDue {
		return buf, false
	}
	// Before the write: the pong cannot come before it.
	b.readsAtPing.Store(b.reads.Load())
	b.ping.Store(pingOut)
	return append(buf, finBit|opPing, 0), true
}

// heardConn counts the reads that brought bytes from the peer: to the
// keepalive, a sign of life as good as a pong.
type heardConn struct {
	net.Conn
	n *atomic.Uint32
}

func (h *heardConn) Read(p []byte) (int, error) {
	n, err := h.Conn.Read(p)
	if n > 0 {
		h.n.Add(1)
	}
	return n, err
}

// writeText writes the rest of a frame begun by tryWriteText, if any,
// and msgs as text frames, gathered in writes of up to maxBatchWrite
// bytes (one for a usual batch), and returns the bytes of that rest and
// of the messages written.
func (b *batchWriter) writeText(msgs [][]byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, net.ErrClosed
	}
	bp := batchBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxBatchWrite*2 {
			*bp = (*bp)[:0]
			batchBuffers.Put(bp)
		}
	}()
	// The rest first: it ends a frame.
	buf, _ := b.appendPingLocked(append((*bp)[:0], b.rest...))
	n, pending := b.restDone, len(b.rest)
	b.rest, b.restDone = nil, 0
	for _, msg := range msgs {
		buf = appendTextHeader(buf, len(msg))
		buf = append(buf, msg...)
		pending += len(msg)
		if len(buf) >= maxBatchWrite {
			if _, err := b.writeLocked(buf); err != nil {
				return n, err
			}
			buf, n, pending = buf[:0], n+pending, 0
		}
	}
	*bp = buf
	if len(buf) > 0 {
		if _, err := b.writeLocked(buf); err != nil {
			return n, err
		}
	}
	return n + pending, nil
}

// appendTextHeader appends the header of a final, unmasked text frame
// of n bytes (RFC 6455, section 5.2).
func appendTextHeader(buf []byte, n int) []byte {
	switch {
	case n < 126:
		return append(buf, finBit|opText, byte(n))
	case n <= 0xffff:
		return append(buf, finBit|opText, 126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(buf, finBit|opText, 127), uint64(n))
	}
}

// writeLocked writes p with a deadline. Setting one costs a timer update,
// so it is set half a timeout further than needed and moved forward only
// when less than the timeout is left: a write gets between one and one
// and a half timeouts, and the deadline is set at most every half
// timeout rather than per write.
func (b *batchWriter) writeLocked(p []byte) (int, error) {
	if err := b.extendDeadlineLocked(); err != nil {
		return 0, err
	}
	return b.conn.Write(p)
}

func (b *batchWriter) extendDeadlineLocked() error {
	now := time.Now()
	if b.deadline.Sub(now) < b.timeout {
		b.deadline = now.Add(b.timeout * 3 / 2)
		return b.conn.SetWriteDeadline(b.deadline)
	}
	return nil
}
