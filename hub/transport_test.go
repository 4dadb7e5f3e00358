package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/internal/poll"
)

// countingListener counts the writes made to the connections it accepts.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, writes: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// SyscallConn counts the writes made on the socket directly too.
func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	raw, err := c.Conn.(syscall.Conn).SyscallConn()
	return countingRawConn{RawConn: raw, writes: c.writes}, err
}

type countingRawConn struct {
	syscall.RawConn
	writes *atomic.Int64
}

func (r countingRawConn) Write(f func(uintptr) bool) error {
	r.writes.Add(1)
	return r.RawConn.Write(f)
}

// wsPair serves h.Accept on loopback and dials it, returning the server's
// client and the dialled connection.
type wsPair struct {
	srv     *httptest.Server
	ln      *countingListener
	clients chan *Client
}

func newWSPair(t testing.TB, h *Hub) *wsPair {
	t.Helper()
	p := &wsPair{clients: make(chan *Client, 16)}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, c, err := h.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		p.clients <- c
		// Read until the connection ends, as the server does: pongs are
		// read here.
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				h.Disconnect(context.Background(), c)
				return
			}
		}
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.ln = &countingListener{Listener: ln}
	p.srv.Listener = p.ln
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *wsPair) dial(t testing.TB, opts *websocket.DialOptions) (*websocket.Conn, *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.srv.URL, "http"), opts)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(-1)
	select {
	case c := <-p.clients:
		t.Cleanup(func() { conn.CloseNow() })
		return conn, c
	case <-ctx.Done():
		t.Fatal("the server did not accept")
		return nil, nil
	}
}

func readN(t testing.TB, conn *websocket.Conn, n int) []string {
	t.Helper()
	// Only against a hang: 20 MB under the race detector on a loaded
	// machine took more than 10 s.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := make([]string, 0, n)
	for range n {
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(out), err)
		}
		out = append(out, string(b))
	}
	return out
}

// enqueueBatch queues msgs so that the writer finds them all at once:
// once the last writer has ended, none starts until all are queued.
func enqueueBatch(c *Client, msgs ...string) {
	for {
		c.mu.Lock()
		if !c.writing {
			break
		}
		c.mu.Unlock()
		runtime.Gosched()
	}
	c.writing = true
	c.mu.Unlock()
	for _, m := range msgs {
		c.Enqueue([]byte(m))
	}
	c.mu.Lock()
	c.writing = false
	c.startLocked()
	c.mu.Unlock()
}

// TestBatchOneWrite: what is queued when the writer wakes goes to the
// network in one write, as frames the peer reads one by one.
func TestBatchOneWrite(t *testing.T) {
	h, _ := newTestHub(t, nil, Options{})
	p := newWSPair(t, h)
	conn, c := p.dial(t, nil)
	msgs := make([]string, 50)
	for i := range msgs {
		msgs[i] = fmt.Sprintf(`{"type":"turn","seq":%d,"pad":"%s"}`, i, strings.Repeat("x", i*40))
	}
	before := p.ln.writes.Load()
	enqueueBatch(c, msgs...)
	if got := readN(t, conn, len(msgs)); strings.Join(got, "\n") != strings.Join(msgs, "\n") {
		t.Fatalf("read other messages than were queued:\n%s", strings.Join(got, "\n"))
	}
	if w := p.ln.writes.Load() - before; w != 1 {
		t.Fatalf("%d writes for one batch of %d messages, want 1", w, len(msgs))
	}
}

// TestWriterOnlyWhileQueued: the writer goroutine ends once the queue is
// empty and comes back for the next message.
func TestWriterOnlyWhileQueued(t *testing.T) {
	h, _ := newTestHub(t, nil, Options{})
	p := newWSPair(t, h)
	conn, c := p.dial(t, nil)
	for i := range 3 {
		msg := fmt.Sprint("m", i)
		c.Enqueue([]byte(msg))
		if got := readN(t, conn, 1); got[0] != msg {
			t.Fatalf("read %q, want %q", got[0], msg)
		}
		poll.Until(t, 5*time.Second, "the writer to end", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return !c.writing
		})
	}
}

// TestKeepaliveDoesNotHoldTurns: while a ping waits for its pong, queued
// messages are still written. The peer here never answers pings, so it
// is cut once the ping's time is up, and not before its messages.
func TestKeepaliveDoesNotHoldTurns(t *testing.T) {
	h, _ := newTestHub(t, nil, Options{PingInterval: time.Second})
	p := newWSPair(t, h)
	var pinged atomic.Bool
	conn, c := p.dial(t, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pinged.Store(true)
		return false // no pong
	}})
	// The peer's reader must run for it to see the ping.
	got := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, b, err := conn.Read(context.Background())
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(b)
	}()
	poll.Until(t, 10*time.Second, "a ping", pinged.Load)
	c.Enqueue([]byte("turn while the ping waits"))
	if m := <-got; m != "turn while the ping waits" {
		t.Fatalf("read %q", m)
	}
	wg.Wait()
	// No pong came: the keepalive cuts the peer.
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("a peer that does not answer pings was not cut")
	}
}

// TestKeepaliveAnswered: a peer that answers pings stays connected
// through several of them.
func TestKeepaliveAnswered(t *testing.T) {
	h, _ := newTestHub(t, nil, Options{PingInterval: 20 * time.Millisecond})
	p := newWSPair(t, h)
	var pings atomic.Int64
	conn, c := p.dial(t, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pings.Add(1)
		return true
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn.Read(ctx)
	}()
	poll.Until(t, 20*time.Second, "five pings", func() bool { return pings.Load() >= 5 })
	select {
	case <-c.Done():
		t.Fatal("a peer that answers pings was cut")
	default:
	}
	conn.CloseNow()
	<-done
}

// BenchmarkWriter measures the writer: messages of 1.5 KB queued to one
// connection over loopback, in batches of 1 and 16, read by the peer.
func BenchmarkWriter(b *testing.B) {
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprint("batch", batch), func(b *testing.B) {
			h, _ := newTestHub(b, nil, Options{MaxQueueBytes: 1 << 30})
			p := newWSPair(b, h)
			conn, c := p.dial(b, nil)
			msg := []byte(`{"type":"turn","sim":"s","seq":1,"turn":` + strings.Repeat(`"x",`, 370) + `"x"}`)
			msgs := make([]string, batch)
			for i := range msgs {
				msgs[i] = string(msg)
			}
			ctx := context.Background()
			writes := p.ln.writes.Load()
			b.SetBytes(int64(len(msg) * batch))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				enqueueBatch(c, msgs...)
				for range batch {
					if _, _, err := conn.Read(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(p.ln.writes.Load()-writes)/float64(b.N*batch), "writes/msg")
		})
	}
}

// TestFrameBehindHandshake: a client that sends its first frame in the
// same packet as its upgrade request (net/http has read part of it by
// the time the connection is hijacked) is read from its first byte.
func TestFrameBehindHandshake(t *testing.T) {
	h, _ := newTestHub(t, nil, Options{})
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, c, err := h.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer h.Disconnect(context.Background(), c)
		_, b, err := conn.Read(context.Background())
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(b)
	}))
	defer srv.Close()
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	payload := `{"type":"subscribe","sim":"s"}`
	// A masked text frame with a zero mask key (the payload as is).
	frame := append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
	req := "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != payload {
			t.Fatalf("server read %q, want %q", m, payload)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server read nothing")
	}
}

// deadlineConn records the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	deadlines []time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.deadlines = append(c.deadlines, t)
	return nil
}

func (c *deadlineConn) Write(p []byte) (int, error) { return len(p), nil }

// TestWriteGetsTheWholeTimeout: the deadline is not set per write, yet
// every write has at least the write timeout to complete.
func TestWriteGetsTheWholeTimeout(t *testing.T) {
	const timeout = 10 * time.Second
	dc := &deadlineConn{}
	b := &batchWriter{conn: dc, timeout: timeout}
	check := func(what string) {
		t.Helper()
		start := time.Now()
		if _, err := b.writeText([][]byte{[]byte("x")}); err != nil {
			t.Fatal(err)
		}
		if left := b.deadline.Sub(start); left < timeout {
			t.Fatalf("%s: the write had %v, less than the timeout", what, left)
		}
	}
	check("first write")
	check("second write")
	if len(dc.deadlines) != 1 {
		t.Fatalf("%d deadlines set for two writes in a row, want 1", len(dc.deadlines))
	}
	// Time passes: less than the timeout is left of the deadline.
	b.deadline = time.Now().Add(timeout * 6 / 10)
	check("a later write")
}

// TestFrameLengths: messages framed by the batch writer are read back
// whole by the library, for each form of the length field and a batch
// larger than one write.
func TestFrameLengths(t *testing.T) {
	h, _ := newTestHub(t, nil, Options{MaxQueueBytes: 1 << 30})
	p := newWSPair(t, h)
	conn, c := p.dial(t, nil)
	var msgs []string
	for i, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000, 3} {
		msgs = append(msgs, strings.Repeat(string(rune('a'+i)), n))
	}
	enqueueBatch(c, msgs...)
	got := readN(t, conn, len(msgs))
	for i := range msgs {
		if got[i] != msgs[i] {
			t.Fatalf("message %d: read %d bytes, want %d of %q", i, len(got[i]), len(msgs[i]), msgs[i][:min(len(msgs[i]), 1)])
		}
	}
}

// TestNothingAfterClose: once the library has written a close frame, the
// batch writer writes no message behind it.
func TestNothingAfterClose(t *testing.T) {
	dc := &deadlineConn{}
	b := &batchWriter{conn: dc, timeout: time.Second}
	if _, err := b.writeText([][]byte{[]byte("before")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte{0x88, 0x02, 0x03, 0xe8}); err != nil { // close, 1000
		t.Fatal(err)
	}
	if _, err := b.writeText([][]byte{[]byte("after")}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a message after the close frame: %v, want net.ErrClosed", err)
	}
}

// TestWriteNowFillsTheSocket: messages written straight from Enqueue
// until the socket takes no more, some of them in part, then by the
// writer, reach a peer that reads late whole and in order.
func TestWriteNowFillsTheSocket(t *testing.T) {
	h, _ := newTestHub(t, nil, Options{MaxQueueBytes: 1 << 30})
	p := newWSPair(t, h)
	conn, c := p.dial(t, nil)
	var msgs []string
	for i := range 300 {
		msgs = append(msgs, fmt.Sprintf("%03d%s", i, strings.Repeat(string(rune('a'+i%26)), 64<<10+i)))
	}
	for _, m := range msgs {
		if !c.Enqueue([]byte(m)) {
			t.Fatal("not queued")
		}
	}
	if c.Queued() == 0 {
		t.Fatal("the socket took 20 MB without a reader: the test does not fill it")
	}
	got := readN(t, conn, len(msgs))
	for i := range msgs {
		if got[i] != msgs[i] {
			t.Fatalf("message %d: read %.10q (%d bytes), want %.10q (%d bytes)", i, got[i], len(got[i]), msgs[i], len(msgs[i]))
		}
	}
}

// TestNoCompressionNegotiated: the batch writer frames messages without
// compression, so Accept never agrees to permessage-deflate, even when
// the caller's options ask for it and the client offers it.
func TestNoCompressionNegotiated(t *testing.T) {
	h, br := newTestHub(t, nil, Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, c, err := h.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionContextTakeover})
		if err != nil {
			t.Error(err)
			return
		}
		s, err := h.Subscribe(r.Context(), c, "sim")
		if err == nil {
			err = h.Activate(r.Context(), s, 0)
		}
		if err != nil {
			t.Error(err)
			return
		}
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				h.Disconnect(context.Background(), c)
				return
			}
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("the server agreed to %q", ext)
	}
	msg := []byte(`{"type":"turn","sim":"sim","seq":1,"text":"` + strings.Repeat("the tide came in ", 64) + `"}`)
	poll.Until(t, 10*time.Second, "the watcher subscribed", func() bool { return h.Watchers("sim") == 1 })
	br.Publish(ctx, Publication{Sim: "sim", Seq: 1, Data: msg})
	_, got, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(msg) {
		t.Fatalf("read %d bytes, want the %d published", len(got), len(msg))
	}
}

// TestControlFrameAfterPartialFrame: a control frame the library writes
// while the rest of a frame written in part waits for the writer goes
// after that rest, not into the middle of the frame.
func TestControlFrameAfterPartialFrame(t *testing.T) {
	h, _ := newTestHub(t, nil, Options{MaxQueueBytes: 1 << 30})
	p := newWSPair(t, h)
	conn, c := p.dial(t, nil)
	var sent []string
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("the socket took 64 MB without a reader")
		}
		msg := fmt.Sprintf("%03d%s", i, strings.Repeat("x", 64<<10+i))
		done, rest := c.out.tryWriteText([]byte(msg))
		if done || rest > 0 {
			sent = append(sent, msg)
		}
		if rest > 0 {
			break
		}
		if !done {
			t.Fatal("the socket took none of a frame: no frame in part to test with")
		}
	}
	// An unsolicited pong, as the library writes one in answer to a
	// ping; it waits for the peer to read.
	wrote := make(chan error, 1)
	go func() {
		_, err := c.out.Write([]byte{finBit | 0xa, 0})
		wrote <- err
	}()
	got := readN(t, conn, len(sent))
	for i := range sent {
		if got[i] != sent[i] {
			t.Fatalf("message %d: read %.10q (%d bytes), want %.10q (%d bytes)", i, got[i], len(got[i]), sent[i], len(sent[i]))
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}
