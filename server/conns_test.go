package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// TestFloodStrikes: a flood held above the rate runs out of strikes and
// is closed, though some of its messages are allowed; a client that
// stays under the rate, or bursts once and calms down, is never closed.
func TestFloodStrikes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := func(perSecond int, d time.Duration) (allowed int, closedAt time.Duration) {
		f := newFlood(20, 50, newIPLimiter(1000, 1000), "u")
		step := time.Second / time.Duration(perSecond)
		for at := time.Duration(0); at < d; at += step {
			ok, closeConn := f.check(t0.Add(at))
			if ok {
				allowed++
			}
			if closeConn {
				return allowed, at
			}
		}
		return allowed, -1
	}
	for _, rate := range []int{40, 300} {
		allowed, closed := run(rate, time.Minute)
		if closed < 0 || allowed == 0 {
			t.Errorf("a steady flood of %d/s: %d allowed, closed at %v; want closed", rate, allowed, closed)
		}
	}
	if _, closed := run(19, 10*time.Minute); closed >= 0 {
		t.Errorf("19/s, under the rate of 20/s, closed at %v", closed)
	}
	// A burst of 60 at once, then quiet: 10 over, 10 strikes of 20.
	f := newFlood(20, 50, newIPLimiter(1000, 1000), "u")
	for i := range 60 {
		if _, closeConn := f.check(t0); closeConn {
			t.Fatalf("closed at message %d of one burst", i)
		}
	}
	// The user's bucket is shared by its connections.
	user := newIPLimiter(1, 2)
	a, b := newFlood(100, 100, user, "u"), newFlood(100, 100, user, "u")
	a.check(t0)
	b.check(t0)
	if ok, _ := a.check(t0); ok {
		t.Fatal("the user's third message allowed past its burst of 2 over two connections")
	}
}

// dial opens a WebSocket with optional token and X-Forwarded-For, and
// returns the HTTP status of a refusal.
func dial(t *testing.T, base, token, xff string) (*websocket.Conn, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}
	c, resp, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, 101
}

// TestConnectionLimits: sockets per address, per user and per node, and
// new sockets per second, are refused before the upgrade with a status
// that says why; a closed socket frees its place.
func TestConnectionLimits(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	_, hs := newTestServer(t, store.NewMemory(), Config{MaxConnsPerAddr: 2, MaxConnsPerUser: 2, MaxConns: 5, ConnRate: -1, TrustedProxies: loopback})
	first, _ := dial(t, hs.URL, "", "203.0.113.1")
	dial(t, hs.URL, "", "203.0.113.1")
	if _, code := dial(t, hs.URL, "", "203.0.113.1"); code != 429 {
		t.Fatalf("third socket of an address: %d, want 429", code)
	}
	first.Close(websocket.StatusNormalClosure, "")
	// Once the server has seen the close, the place is free again.
	poll.Until(t, 10*time.Second, "a socket after one closed", func() bool {
		_, code := dial(t, hs.URL, "", "203.0.113.1")
		return code == 101
	})
	tok := guestToken(t, hs.URL, "")
	dial(t, hs.URL, tok, "203.0.113.2")
	dial(t, hs.URL, tok, "203.0.113.3")
	if _, code := dial(t, hs.URL, tok, "203.0.113.4"); code != 429 {
		t.Fatalf("third socket of a user: %d, want 429", code)
	}
	dial(t, hs.URL, "", "203.0.113.5") // the node's fifth
	if _, code := dial(t, hs.URL, "", "203.0.113.6"); code != 503 {
		t.Fatalf("sixth socket of a node of five: %d, want 503", code)
	}

	_, hs = newTestServer(t, store.NewMemory(), Config{ConnRate: 1, ConnBurst: 2})
	for range 2 {
		c, _ := dial(t, hs.URL, "", "")
		c.Close(websocket.StatusNormalClosure, "")
	}
	if _, code := dial(t, hs.URL, "", ""); code != 429 {
		t.Fatalf("third new socket in a burst of 2: %d, want 429", code)
	}
}

// readUntilClose reads until the socket closes and returns the close code.
func readUntilClose(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// TestWebSocketFloodClosed: a client that keeps sending over its rate is
// closed with 4029.
func TestWebSocketFloodClosed(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{MessageRate: 1, MessageBurst: 1})
	c, _ := dial(t, hs.URL, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		for i := 0; i < 500; i++ {
			if c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)) != nil {
				return
			}
		}
	}()
	if code := readUntilClose(t, c); code != hub.StatusTooManyMessages {
		t.Fatalf("closed with %d, want 4029", code)
	}
}

// TestInvalidUTF8Closed: a text frame that is not UTF-8 closes with 1007.
func TestInvalidUTF8Closed(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{})
	c, _ := dial(t, hs.URL, "", "")
	c.Write(context.Background(), websocket.MessageText, []byte("{\"type\":\"ping\",\"id\":\"\xff\"}"))
	if code := readUntilClose(t, c); code != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("closed with %d, want 1007", code)
	}
}

// TestSubscriptionLimit: one connection holds at most MaxSubscriptions.
func TestSubscriptionLimit(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{MaxSubscriptions: 1})
	tok := guestToken(t, hs.URL, "")
	var ids []string
	for range 2 {
		_, _, out := createStory(t, hs.URL, tok, "")
		ids = append(ids, out["id"].(string))
	}
	c, _ := dial(t, hs.URL, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply := func(msg, want string) string {
		c.Write(ctx, websocket.MessageText, []byte(msg))
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), want) {
				return string(data)
			}
		}
	}
	reply(`{"type":"subscribe","id":"1","sim":"`+ids[0]+`"}`, `"subscribed"`)
	reply(`{"type":"subscribe","id":"2","sim":"`+ids[0]+`"}`, `"subscribed"`) // the same again is fine
	if got := reply(`{"type":"subscribe","id":"3","sim":"`+ids[1]+`"}`, `"id":"3"`); !strings.Contains(got, CodeQuotaExceeded) {
		t.Fatalf("a second subscription: %s", got)
	}
}

// TestAnonymousIdleClosed: an anonymous socket subscribed to nothing is
// closed with 4008; one that watches a story, or a signed-in one, stays.
func TestAnonymousIdleClosed(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{AnonymousIdle: 50 * time.Millisecond})
	tok := guestToken(t, hs.URL, "")
	_, _, out := createStory(t, hs.URL, tok, "")
	idle, _ := dial(t, hs.URL, "", "")
	watching, _ := dial(t, hs.URL, "", "")
	signedIn, _ := dial(t, hs.URL, tok, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	watching.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","sim":"`+out["id"].(string)+`"}`))
	if code := readUntilClose(t, idle); code != StatusIdle {
		t.Fatalf("idle anonymous socket closed with %d, want %d", code, StatusIdle)
	}
	// Several idle periods later the others still answer.
	time.Sleep(200 * time.Millisecond)
	for _, c := range []*websocket.Conn{watching, signedIn} {
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","id":"p"}`))
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("closed: %v", err)
			}
			if strings.Contains(string(data), `"pong"`) {
				break
			}
		}
	}
}

// TestHTTPTimeouts: a request body that trickles is cut by the read
// timeout; an open WebSocket outlives both timeouts.
func TestHTTPTimeouts(t *testing.T) {
	s, hs := newTestServer(t, store.NewMemory(), Config{HTTPReadTimeout: 100 * time.Millisecond, HTTPWriteTimeout: 100 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.HTTPServer(nil)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_ = hs
	base := "http://" + ln.Addr().String()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /v1/auth/guest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ne net.Error
	if _, err := io.ReadAll(conn); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a trickling body held the connection for 10s")
	}

	c, _ := dial(t, base, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.Read(ctx) // welcome
	time.Sleep(300 * time.Millisecond)
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","id":"p"}`))
	if _, data, err := c.Read(ctx); err != nil || !strings.Contains(string(data), "pong") {
		t.Fatalf("a WebSocket past the HTTP timeouts: %s %v", data, err)
	}
}

// TestReadsLimited: REST reads are limited per address.
func TestReadsLimited(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{ReadRate: 1, ReadBurst: 3})
	var code int
	var hdr http.Header
	for range 4 {
		code, hdr, _ = call(t, "GET", hs.URL+"/v1/scenarios", "", "", "")
	}
	if code != 429 || hdr.Get("Retry-After") == "" {
		t.Fatalf("fourth read in a burst of 3: %d %v", code, hdr)
	}
}
