package hub

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/internal/poll"
)

// TestPingRidesWithMessage: a due ping goes out in the same write as the
// next message, and the peer reads both.
func TestPingRidesWithMessage(t *testing.T) {
	// An interval of an hour: the wheel makes no round during the test,
	// the test makes them.
	h, _ := newTestHub(t, nil, Options{PingInterval: time.Hour})
	p := newWSPair(t, h)
	var pings atomic.Int64
	conn, c := p.dial(t, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pings.Add(1)
		return true
	}})
	if !c.out.pingRound() {
		t.Fatal("a new connection found dead")
	}
	writes := p.ln.writes.Load()
	c.Enqueue([]byte("turn"))
	if got := readN(t, conn, 1); got[0] != "turn" {
		t.Fatalf("read %q", got[0])
	}
	if n := pings.Load(); n != 1 {
		t.Fatalf("%d pings read before the message, want 1", n)
	}
	if n := p.ln.writes.Load() - writes; n != 1 {
		t.Fatalf("%d writes for a ping and a message, want 1", n)
	}
}

// TestPingRound: a round finds a peer alive when something was read from
// it since its ping went out, its pong or any frame, and dead otherwise.
func TestPingRound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pong   bool
		speaks bool // sends a message after the ping
		alive  bool
	}{
		{"pong", true, false, true},
		{"a message, no pong", false, true, true},
		{"silent", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHub(t, nil, Options{PingInterval: time.Hour})
			p := newWSPair(t, h)
			conn, c := p.dial(t, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
				return tc.pong
			}})
			c.out.pingRound()
			c.Enqueue([]byte("turn"))
			readN(t, conn, 1)
			if c.out.ping.Load() != pingOut {
				t.Fatal("the ping did not go out with the message")
			}
			if tc.speaks {
				if err := conn.Write(context.Background(), websocket.MessageText, []byte("hi")); err != nil {
					t.Fatal(err)
				}
			}
			if tc.alive {
				poll.Until(t, 10*time.Second, "the server to read", func() bool {
					return c.out.reads.Load() != c.out.readsAtPing.Load()
				})
			}
			if got := c.out.pingRound(); got != tc.alive {
				t.Fatalf("round: alive %v, want %v", got, tc.alive)
			}
		})
	}
}

// TestPingNotWrittenIsDead: a ping due for a whole interval, never
// written (the peer took nothing), means a dead peer at the next round.
func TestPingNotWrittenIsDead(t *testing.T) {
	b := &batchWriter{}
	if !b.pingRound() {
		t.Fatal("first round: dead")
	}
	if b.pingRound() {
		t.Fatal("a ping never written: alive")
	}
}

// TestKeepaliveWheelEnds: the wheel's goroutine runs only while some
// connection is on it.
func TestKeepaliveWheelEnds(t *testing.T) {
	h, _ := newTestHub(t, nil, Options{PingInterval: time.Hour})
	p := newWSPair(t, h)
	conn, c := p.dial(t, nil)
	h.ka.mu.Lock()
	running := h.ka.running
	h.ka.mu.Unlock()
	if !running {
		t.Fatal("no wheel with a connection on it")
	}
	conn.CloseNow()
	<-c.Done()
	poll.Until(t, 10*time.Second, "the wheel to stop", func() bool {
		h.ka.mu.Lock()
		defer h.ka.mu.Unlock()
		return !h.ka.running
	})
}
