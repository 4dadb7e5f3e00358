package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The wait before each attempt is drawn below a ceiling that doubles from
// the initial wait up to the longest, and starts over once a subscription
// is answered.
func TestBackoff(t *testing.T) {
	var asked []int64
	b := &backoff{initial: 100 * time.Millisecond, max: 5 * time.Second, rand: func(n int64) int64 {
		asked = append(asked, n)
		return n - 1
	}}
	var got []time.Duration
	for range 8 {
		got = append(got, b.next())
	}
	b.reset()
	got = append(got, b.next())
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5000 * ms, 5000 * ms, 100 * ms}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	for i, n := range asked {
		if n != int64(want[i])+1 {
			t.Errorf("attempt %d drew below %d, want %d (full jitter: 0 up to the ceiling)", i, n, int64(want[i])+1)
		}
	}
}

// A watcher whose node goes away resumes with since at the last turn it
// saw, through refusals (each a longer wait), and its sequence has no gap
// across the nodes.
func TestWatchResumes(t *testing.T) {
	defer func(old struct{ initial, max time.Duration }) { retry = old }(retry)
	retry.initial, retry.max = time.Millisecond, 4*time.Millisecond
	turn := func(seq int) string {
		return fmt.Sprintf(`{"type":"turn","seq":%d,"turn":{"at":%q}}`, seq, time.Now().Format(time.RFC3339Nano))
	}
	var dials atomic.Int32
	var mu sync.Mutex
	var since []string
	done := make(chan struct{})
	var doneOnce sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := dials.Add(1)
		if n >= 2 && n <= 4 { // the balancer finds no node for a while
			http.Error(w, "no node ready", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, data, err := c.Read(r.Context())
		if err != nil {
			return
		}
		var m struct{ Since *int64 }
		json.Unmarshal(data, &m)
		mu.Lock()
		if m.Since != nil {
			since = append(since, fmt.Sprint(*m.Since))
		}
		mu.Unlock()
		send := func(msgs ...string) {
			for _, s := range msgs {
				c.Write(r.Context(), websocket.MessageText, []byte(s))
			}
		}
		switch n {
		case 1: // the first node: turns 1 to 3, then it dies
			send(`{"type":"welcome","node":"n1"}`, `{"type":"subscribed"}`, turn(1), turn(2), turn(3))
		case 5: // the next: from since, then it drains
			send(`{"type":"welcome","node":"n2"}`, `{"type":"subscribed","recovered":true}`, turn(4), turn(5), turn(6),
				`{"type":"error","code":"unavailable"}`)
		default:
			send(`{"type":"welcome","node":"n3"}`, `{"type":"subscribed","recovered":true}`)
			doneOnce.Do(func() { close(done) })
			c.Read(context.Background()) // until the watcher leaves
		}
	}))
	defer srv.Close()
	wsURL := strings.Replace(srv.URL, "http://", "ws://", 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := connect(ctx, wsURL, `{"type":"subscribe","sim":"a"}`)
	if err != nil {
		t.Fatal(err)
	}
	var measuring atomic.Bool
	w := &watcher{}
	if err := w.subscribed(ctx, conn, &measuring); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		w.watch(ctx, conn, wsURL, "a", &measuring)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the watcher never came back a second time")
	}
	cancel()
	<-stopped
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(since) != "[3 6]" || w.last != 6 || w.gaps != 0 || w.reconnects != 2 ||
		w.why["closed"] != 1 || w.why["unavailable"] != 1 || dials.Load() != 6 {
		t.Errorf("resumed with since %v; watcher at %d, %d gaps, %d reconnections, ended by %v, %d dials",
			since, w.last, w.gaps, w.reconnects, w.why, dials.Load())
	}
}
