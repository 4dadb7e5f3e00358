package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// barrier lets the first k callers of wait through only together: a
// caller that does things one at a time never gets past it. The test
// fails, rather than hangs, if they never all arrive.
type barrier struct {
	k       int64
	arrived atomic.Int64
	all     chan struct{}
	once    sync.Once
	t       *testing.T
}

func newBarrier(t *testing.T, k int) *barrier {
	return &barrier{k: int64(k), all: make(chan struct{}), t: t}
}

func (b *barrier) wait() {
	n := b.arrived.Add(1)
	if n == b.k {
		b.once.Do(func() { close(b.all) })
	}
	if n > b.k {
		return
	}
	select {
	case <-b.all:
	case <-time.After(30 * time.Second):
		// Let the rest through: one failure is enough.
		b.once.Do(func() {
			b.t.Errorf("only %d of %d calls were ever in flight together", b.arrived.Load(), b.k)
			close(b.all)
		})
	}
}

// maxGauge keeps the most that were in at once.
type maxGauge struct{ in, most atomic.Int64 }

func (g *maxGauge) enter() {
	n := g.in.Add(1)
	for {
		m := g.most.Load()
		if n <= m || g.most.CompareAndSwap(m, n) {
			return
		}
	}
}

func (g *maxGauge) leave() { g.in.Add(-1) }

// forEach does every item once, inFlight of them together but never
// more, counts the failures and reports the end.
func TestForEach(t *testing.T) {
	const n, inFlight = 100, 8
	var calls [n]atomic.Int64
	var g maxGauge
	b := newBarrier(t, inFlight)
	var reports []string
	var mu sync.Mutex
	failed := forEach(n, inFlight, time.Hour, func(done, failed int) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, fmt.Sprint(done, failed))
	}, func(i int) error {
		g.enter()
		defer g.leave()
		calls[i].Add(1)
		b.wait()
		if i%10 == 3 {
			return errors.New("refused")
		}
		return nil
	})
	if failed != 10 {
		t.Errorf("%d failed, want 10", failed)
	}
	for i := range calls {
		if c := calls[i].Load(); c != 1 {
			t.Errorf("item %d done %d times", i, c)
		}
	}
	if m := g.most.Load(); m != inFlight {
		t.Errorf("at most %d in flight, want %d", m, inFlight)
	}
	if len(reports) == 0 || reports[len(reports)-1] != "100 10" {
		t.Errorf("reports %v: the last should be 100 done, 10 failed", reports)
	}
}

func TestForEachEdges(t *testing.T) {
	var last string
	if f := forEach(0, 4, time.Hour, func(d, f int) { last = fmt.Sprint(d, f) }, func(int) error {
		t.Error("called with nothing to do")
		return nil
	}); f != 0 || last != "0 0" {
		t.Errorf("nothing to do: %d failed, report %q", f, last)
	}
	// inFlight 0 still makes progress, one at a time; no report is fine.
	var done atomic.Int64
	if f := forEach(5, 0, 0, nil, func(int) error { done.Add(1); return nil }); f != 0 || done.Load() != 5 {
		t.Errorf("inFlight 0: %d failed, %d done", f, done.Load())
	}
}

// The stories start within one interval, in order, each at its share.
func TestSpread(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := spread(start, 0, 4, 10*time.Second); !got.Equal(start) {
		t.Errorf("first at %v", got)
	}
	if got := spread(start, 3, 4, 10*time.Second); got.Sub(start) != 7500*time.Millisecond {
		t.Errorf("last of 4 at +%v, want +7.5s", got.Sub(start))
	}
	if got := spread(start, 0, 0, time.Second); !got.Equal(start) {
		t.Errorf("no stories: %v", got)
	}
}

func TestTimings(t *testing.T) {
	if got := timings([]time.Duration{0, 0}); got != "none" {
		t.Errorf("nothing timed: %q", got)
	}
	d := []time.Duration{0, 3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 0}
	if got := timings(d); got != "p50 2ms  p99 3ms  max 3ms" {
		t.Errorf("timings %q", got)
	}
}

// The stories are created -calls at a time; each gets its seed, a
// refusal for the rate is waited out, and the ids come back in order.
func TestStartStoriesInParallel(t *testing.T) {
	defer func(old int) { par.calls = old }(par.calls)
	par.calls = 6
	b := newBarrier(t, par.calls)
	var g maxGauge
	var refused atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.enter()
		defer g.leave()
		var body struct{ Seed int }
		if r.Method != "POST" || r.URL.Path != "/v1/simulations" || r.Header.Get("Authorization") != "Bearer tok" ||
			json.NewDecoder(r.Body).Decode(&body) != nil {
			http.Error(w, "bad request", 400)
			return
		}
		b.wait()
		if body.Seed == 5 && refused.CompareAndSwap(false, true) {
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		fmt.Fprintf(w, `{"id":"s%d"}`, body.Seed)
	}))
	defer srv.Close()
	sims, err := startStories(srv.URL, "tok", map[string]any{"id": "x"}, 20, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range sims {
		if id != fmt.Sprintf("s%d", i+1) {
			t.Fatalf("ids %v: not in order of their seeds", sims)
		}
	}
	if !refused.Load() || len(sims) != 20 {
		t.Errorf("refused %v, %d ids", refused.Load(), len(sims))
	}
	if m := g.most.Load(); m > int64(par.calls) {
		t.Errorf("%d calls in flight, over %d", m, par.calls)
	}
}

func TestStartStoriesFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	if _, err := startStories(srv.URL, "tok", map[string]any{}, 3, 0); err == nil || !strings.Contains(err.Error(), "3 of 3 stories not created") {
		t.Fatalf("err %v", err)
	}
}

// The watchers connect -dials at a time, none more, each subscribes to
// the story assign gives it, and counts as connected once the node has
// answered its subscription: those refused have failed.
func TestWatchersConnectInParallel(t *testing.T) {
	defer func(old int) { par.dials = old }(par.dials)
	par.dials = 8
	const n = 40
	b := newBarrier(t, par.dials)
	var g maxGauge
	var mu sync.Mutex
	subs := map[string]int{}
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		g.enter()
		b.wait()
		g.leave()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"welcome","node":"n1"}`))
		_, data, err := c.Read(context.Background())
		if err != nil {
			return
		}
		var m struct{ Type, Sim string }
		json.Unmarshal(data, &m)
		mu.Lock()
		subs[m.Type+" "+m.Sim]++
		mu.Unlock()
		reply := `{"type":"subscribed"}`
		if m.Sim == "b" {
			reply = `{"type":"error","code":"not_found"}`
		}
		c.Write(r.Context(), websocket.MessageText, []byte(reply))
		c.Read(context.Background()) // until the watcher leaves
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "r.json")
	err := run(options{urls: []string{srv.URL}, watchers: n, intervalMS: 1000, duration: time.Millisecond,
		sims: []string{"a", "b"}, first: 3, out: out})
	if err != nil {
		t.Fatal(err)
	}
	handlers.Wait()
	r, err := mergeFiles([]string{out})
	if err != nil {
		t.Fatal(err)
	}
	// Watchers 3..42 (first 3): by threes, "b" for 3..5, "a" for 6..8, ...
	want := map[string]int{}
	for i := range n {
		sim, _ := assign(3+i, []string{"a", "b"}, []string{srv.URL})
		want["subscribe "+sim]++
	}
	if a, b := want["subscribe a"], want["subscribe b"]; r.Watchers != n || r.DialFailed != b || r.PerNode["n1"] != a {
		t.Errorf("%d watchers, %d failed, per node %v; want %d, %d refused, %d on n1", r.Watchers, r.DialFailed, r.PerNode, n, b, a)
	}
	if fmt.Sprint(subs) != fmt.Sprint(want) {
		t.Errorf("subscriptions %v, want %v", subs, want)
	}
	if m := g.most.Load(); m > int64(par.dials) {
		t.Errorf("%d dials in flight, over %d", m, par.dials)
	}
}

// A watcher's figures from the messages: the node from the welcome, the
// position from the snapshot, a turn out of sequence as a gap, latencies
// only while measuring, and an error's code.
func TestTake(t *testing.T) {
	var measuring atomic.Bool
	w := &watcher{}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	turn := func(seq int) []byte {
		return []byte(fmt.Sprintf(`{"type":"turn","seq":%d,"turn":{"at":%q}}`, seq, at.Format(time.RFC3339Nano)))
	}
	w.take([]byte(`{"type":"welcome","node":"n2"}`), at, &measuring)
	w.take([]byte(`{"type":"snapshot","seq":7}`), at, &measuring)
	w.take(turn(8), at.Add(time.Second), &measuring)
	measuring.Store(true)
	w.take(turn(10), at.Add(5*time.Millisecond), &measuring)
	if typ, code := w.take([]byte(`{"type":"error","code":"unavailable"}`), at, &measuring); typ != "error" || code != "unavailable" {
		t.Errorf("error taken as %q %q", typ, code)
	}
	if typ, _ := w.take([]byte(`not json`), at, &measuring); typ != "" {
		t.Errorf("garbage taken as %q", typ)
	}
	if w.node != "n2" || w.last != 10 || w.gaps != 1 || len(w.samples) != 1 ||
		w.samples[0] != (sample{latency: 5 * time.Millisecond, node: "n2"}) {
		t.Errorf("watcher %+v", w)
	}
}
