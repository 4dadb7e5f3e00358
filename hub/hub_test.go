package hub

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

func newTestHub(t testing.TB, fill FillFunc, opts Options) (*Hub, *MemoryBroker) {
	t.Helper()
	b := NewMemoryBroker()
	return New(b, fill, opts), b
}

func turn(sim string, seq int64) Publication {
	return Publication{Sim: sim, Seq: seq, Data: []byte(strconv.FormatInt(seq, 10))}
}

// drain returns what is queued for c, as the writer would take it.
func drain(c *Client) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.queue))
	for i, m := range c.queue {
		out[i] = string(m)
	}
	c.queue, c.queued = nil, 0
	return out
}

func TestDeliverSharesBytes(t *testing.T) {
	h, b := newTestHub(t, nil, Options{})
	ctx := context.Background()
	a, c := h.NewClient(nil), h.NewClient(nil)
	for _, cl := range []*Client{a, c} {
		s, err := h.Subscribe(ctx, cl, "sim")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Activate(ctx, s, 0); err != nil {
			t.Fatal(err)
		}
	}
	pub := turn("sim", 1)
	b.Publish(ctx, pub)
	b.Publish(ctx, turn("other", 1))
	if &a.queue[0][0] != &pub.Data[0] || &c.queue[0][0] != &pub.Data[0] {
		t.Fatal("watchers do not share the publication's bytes")
	}
	if got := drain(a); len(got) != 1 {
		t.Fatalf("a got %v", got)
	}
	if h.Watchers("sim") != 2 || h.Watchers("other") != 0 {
		t.Fatalf("watchers %d %d", h.Watchers("sim"), h.Watchers("other"))
	}
}

// TestActivateMergesHistory: publications held during recovery are merged
// with what the caller sent, by seq, with no gap and no duplicate.
func TestActivateMergesHistory(t *testing.T) {
	history := map[int64]Publication{}
	for i := int64(1); i <= 10; i++ {
		history[i] = turn("sim", i)
	}
	fill := func(ctx context.Context, sim string, since int64) ([]Publication, error) {
		var out []Publication
		for i := since + 1; ; i++ {
			p, ok := history[i]
			if !ok {
				break
			}
			out = append(out, p)
		}
		return out, nil
	}
	tests := []struct {
		name string
		sent int64   // what the caller queued from history
		held []int64 // publications that arrived meanwhile
		want string
		live string // what publishing turn 11 then queues
	}{
		{"overlap", 5, []int64{4, 5, 6, 7}, "6,7", "8,9,10,11"},
		{"gap filled", 3, []int64{7, 8}, "4,5,6,7,8,9,10", "11"},
		{"nothing held", 5, nil, "", "6,7,8,9,10,11"},
		{"all old", 8, []int64{6, 7}, "", "9,10,11"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, b := newTestHub(t, fill, Options{})
			ctx := context.Background()
			c := h.NewClient(nil)
			s, _ := h.Subscribe(ctx, c, "sim")
			for _, seq := range tc.held {
				b.Publish(ctx, turn("sim", seq))
			}
			if err := h.Activate(ctx, s, tc.sent); err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(drain(c))
			if want := fmt.Sprint(splitOrEmpty(tc.want)); got != want {
				t.Fatalf("queued %s, want %s", got, want)
			}
			// Live from here: turn 11 arrives after whatever it skipped,
			// and a stale turn is dropped.
			history[11] = turn("sim", 11)
			b.Publish(ctx, turn("sim", 11))
			b.Publish(ctx, turn("sim", 10))
			if got, want := fmt.Sprint(drain(c)), fmt.Sprint(splitOrEmpty(tc.live)); got != want {
				t.Fatalf("live: %s, want %s", got, want)
			}
			delete(history, 11)
		})
	}
}

func splitOrEmpty(s string) []string {
	if s == "" {
		return []string{}
	}
	return splitComma(s)
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// TestDeliverFillsBrokerGap: a turn that skips ahead of the last one the
// node saw is preceded by the missing turns from history.
func TestDeliverFillsBrokerGap(t *testing.T) {
	fill := func(ctx context.Context, sim string, since int64) ([]Publication, error) {
		var out []Publication
		for i := since + 1; i <= 5; i++ {
			out = append(out, turn(sim, i))
		}
		return out, nil
	}
	h, _ := newTestHub(t, fill, Options{})
	ctx := context.Background()
	c := h.NewClient(nil)
	s, _ := h.Subscribe(ctx, c, "sim")
	h.Activate(ctx, s, 0)
	h.Deliver(ctx, turn("sim", 1))
	h.Deliver(ctx, turn("sim", 5)) // 2..4 lost by the broker
	if got := fmt.Sprint(drain(c)); got != "[1 2 3 4 5]" {
		t.Fatalf("got %s", got)
	}
}

// TestUnfilledGapCuts: when the missing turns cannot be read (the store
// down), a watcher short of them is cut to resume, not sent a gap; one
// that has them is not.
func TestUnfilledGapCuts(t *testing.T) {
	fill := func(ctx context.Context, sim string, since int64) ([]Publication, error) {
		var out []Publication
		for i := since + 1; i <= 3; i++ { // 4 cannot be read
			out = append(out, turn(sim, i))
		}
		return out, errors.New("store unavailable")
	}
	h, _ := newTestHub(t, fill, Options{})
	ctx := context.Background()
	c, late := h.NewClient(nil), h.NewClient(nil)
	s, _ := h.Subscribe(ctx, c, "sim")
	h.Activate(ctx, s, 0)
	h.Deliver(ctx, turn("sim", 1))
	s, _ = h.Subscribe(ctx, late, "sim")
	h.Activate(ctx, s, 4)          // it read 1-4 before it joined
	h.Deliver(ctx, turn("sim", 5)) // 2..4 lost by the broker
	if got := fmt.Sprint(drain(c)); got != "[1 2 3]" {
		t.Fatalf("got %s, want [1 2 3] and then the cut", got)
	}
	if !c.Closing() || c.code != StatusTooSlow {
		t.Fatalf("watcher with a gap not cut: closing=%v code=%d", c.Closing(), c.code)
	}
	if got := fmt.Sprint(drain(late)); late.Closing() || got != "[5]" {
		t.Fatalf("watcher without a gap: closing=%v got %s", late.Closing(), got)
	}
	if h.GapClosed() != 1 {
		t.Fatalf("GapClosed = %d", h.GapClosed())
	}
}

func TestSlowClientIsCut(t *testing.T) {
	h, b := newTestHub(t, nil, Options{MaxQueueBytes: 100})
	ctx := context.Background()
	slow, ok := h.NewClient(nil), h.NewClient(nil)
	for _, cl := range []*Client{slow, ok} {
		s, _ := h.Subscribe(ctx, cl, "sim")
		h.Activate(ctx, s, 0)
	}
	for i := int64(1); i <= 20; i++ {
		b.Publish(ctx, Publication{Sim: "sim", Seq: i, Data: make([]byte, 30)})
		drain(ok) // this one keeps up
	}
	if !slow.Closing() || slow.code != StatusTooSlow {
		t.Fatalf("slow client not cut: closing=%v code=%d", slow.Closing(), slow.code)
	}
	if ok.Closing() {
		t.Fatal("a client that kept up was cut")
	}
	if h.SlowClosed() != 1 {
		t.Fatalf("SlowClosed = %d", h.SlowClosed())
	}
	if slow.Enqueue([]byte("x")) {
		t.Fatal("a closed client accepted a message")
	}
}

func TestUnsubscribeAll(t *testing.T) {
	h, b := newTestHub(t, nil, Options{})
	ctx := context.Background()
	c := h.NewClient(nil)
	for _, sim := range []string{"a", "b"} {
		s, _ := h.Subscribe(ctx, c, sim)
		h.Activate(ctx, s, 0)
	}
	if len(c.Subs()) != 2 || len(h.Sims()) != 2 {
		t.Fatalf("subs %v sims %v", c.Subs(), h.Sims())
	}
	h.UnsubscribeAll(ctx, c)
	if len(c.Subs()) != 0 || len(h.Sims()) != 0 {
		t.Fatalf("after UnsubscribeAll: %v %v", c.Subs(), h.Sims())
	}
	// A watcher arriving after the last one left is served again.
	d := h.NewClient(nil)
	s, _ := h.Subscribe(ctx, d, "a")
	h.Activate(ctx, s, 0)
	b.Publish(ctx, turn("a", 1))
	if got := drain(d); len(got) != 1 {
		t.Fatalf("resubscribed watcher got %v", got)
	}
}

// history is a simulation's stored turns, written before they are
// published, as the runner does.
type history struct {
	mu    sync.Mutex
	turns []Publication // turns[i].Seq == i+1
}

func (h *history) store(p Publication) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.turns = append(h.turns, p)
}

func (h *history) head() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.turns))
}

func (h *history) fill(ctx context.Context, sim string, since int64) ([]Publication, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if since >= int64(len(h.turns)) {
		return nil, nil
	}
	return append([]Publication(nil), h.turns[since:]...), nil
}

// seqs returns the turn seqs queued for c (the test's turns carry their
// seq as data; other messages are skipped).
func seqs(c *Client) []int64 {
	var out []int64
	for _, m := range drain(c) {
		if n, err := strconv.ParseInt(m, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func contiguous(got []int64, from int64) error {
	for i, seq := range got {
		if seq != from+int64(i) {
			return fmt.Errorf("seq %d at position %d, want %d: %v", seq, i, from+int64(i), got)
		}
	}
	return nil
}

// TestConcurrentDeliverSubscribe: watchers arrive and leave while turns
// are stored and published, some of them stored but never published (an
// owner killed between the two); each watcher, having read history up to
// the head, receives every later turn once and in order.
func TestConcurrentDeliverSubscribe(t *testing.T) {
	hist := &history{}
	h, b := newTestHub(t, hist.fill, Options{MaxQueueBytes: 1 << 30})
	ctx := context.Background()
	const turns, watchers = 2000, 200
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := int64(1); i <= turns; i++ {
			p := turn("sim", i)
			hist.store(p)
			if i%97 != 0 {
				b.Publish(ctx, p)
			}
		}
	})
	errs := make(chan error, watchers)
	for range 2 {
		wg.Go(func() {
			for range watchers / 2 {
				c := h.NewClient(nil)
				s, err := h.Subscribe(ctx, c, "sim")
				if err != nil {
					errs <- err
					return
				}
				since := hist.head() // what the caller read from the store and queued
				if err := h.Activate(ctx, s, since); err != nil {
					errs <- err
					return
				}
				runtime.Gosched()
				h.Disconnect(ctx, c)
				if err := contiguous(seqs(c), since+1); err != nil {
					errs <- fmt.Errorf("watcher from %d: %w", since, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if h.Connections() != 0 {
		t.Fatalf("%d connections left after every watcher left", h.Connections())
	}
}

// TestGapAfterNewerWatcher: a turn stored but never published (its owner
// died) is filled for a watcher that lacks it even when another watcher,
// arriving later, read it from the store: each watcher's gaps are its own.
func TestGapAfterNewerWatcher(t *testing.T) {
	hist := &history{}
	h, b := newTestHub(t, hist.fill, Options{})
	ctx := context.Background()
	old := h.NewClient(nil)
	s, _ := h.Subscribe(ctx, old, "sim")
	h.Activate(ctx, s, 0)
	for i := int64(1); i <= 17; i++ {
		hist.store(turn("sim", i))
		b.Publish(ctx, turn("sim", i))
	}
	hist.store(turn("sim", 18)) // stored, never published
	late := h.NewClient(nil)
	s, _ = h.Subscribe(ctx, late, "sim")
	h.Activate(ctx, s, 18) // it read 1-18 from the store
	hist.store(turn("sim", 19))
	b.Publish(ctx, turn("sim", 19)) // the new owner's first turn
	if err := contiguous(seqs(old), 1); err != nil {
		t.Fatalf("older watcher: %v", err)
	}
	if got := seqs(late); len(got) != 1 || got[0] != 19 {
		t.Fatalf("newer watcher got %v, want [19]", got)
	}
}

// TestHold: publications for a held watcher wait until release, behind
// what was queued meanwhile, in order, with nothing lost or repeated;
// other watchers are not held.
func TestHold(t *testing.T) {
	hist := &history{}
	h, b := newTestHub(t, hist.fill, Options{})
	ctx := context.Background()
	held, other := h.NewClient(nil), h.NewClient(nil)
	for _, c := range []*Client{held, other} {
		s, _ := h.Subscribe(ctx, c, "sim")
		h.Activate(ctx, s, 0)
	}
	publish := func(from, to int64) {
		for i := from; i <= to; i++ {
			hist.store(turn("sim", i))
			b.Publish(ctx, turn("sim", i))
		}
	}
	publish(1, 2)
	release := h.Hold(held, "sim")
	publish(3, 4)
	held.Enqueue([]byte("accepted"))
	if got := fmt.Sprint(drain(held)); got != "[1 2 accepted]" {
		t.Fatalf("held watcher's queue %s", got)
	}
	release(ctx)
	publish(5, 5)
	if got := fmt.Sprint(drain(held)); got != "[3 4 5]" {
		t.Fatalf("after release %s, want [3 4 5]", got)
	}
	if got := fmt.Sprint(drain(other)); got != "[1 2 3 4 5]" {
		t.Fatalf("other watcher %s", got)
	}
	// Holding a simulation not watched is harmless.
	h.Hold(held, "elsewhere")(ctx)
}

// TestRecoverFromLowest: after a broker outage, recovery fills from the
// oldest turn any watcher lacks.
func TestRecoverFromLowest(t *testing.T) {
	hist := &history{}
	h, b := newTestHub(t, hist.fill, Options{})
	ctx := context.Background()
	a := h.NewClient(nil)
	s, _ := h.Subscribe(ctx, a, "sim")
	h.Activate(ctx, s, 0)
	hist.store(turn("sim", 1))
	b.Publish(ctx, turn("sim", 1))
	for i := int64(2); i <= 4; i++ {
		hist.store(turn("sim", i)) // published while the broker was away
	}
	c := h.NewClient(nil)
	s, _ = h.Subscribe(ctx, c, "sim")
	h.Activate(ctx, s, 3)
	h.Recover(ctx, "sim")
	if got := fmt.Sprint(seqs(a)); got != "[1 2 3 4]" {
		t.Fatalf("first watcher %s", got)
	}
	if got := fmt.Sprint(seqs(c)); got != "[4]" {
		t.Fatalf("second watcher %s", got)
	}
}

// TestCloseAll: the hub knows the node's connections until they leave.
func TestCloseAll(t *testing.T) {
	h, _ := newTestHub(t, nil, Options{})
	a, c := h.NewClient(nil), h.NewClient(nil)
	h.Disconnect(context.Background(), c)
	if h.Connections() != 1 {
		t.Fatalf("%d connections, want 1", h.Connections())
	}
	h.CloseAll(1001, "bye")
	if !a.Closing() || a.code != 1001 || c.code == 1001 {
		t.Fatalf("close codes: connected %d, disconnected %d", a.code, c.code)
	}
}

// BenchmarkFanout1000 measures one turn reaching 1,000 local watchers:
// the message is encoded once and the same bytes are queued to each.
func BenchmarkFanout1000(b *testing.B) {
	h, br := newTestHub(b, nil, Options{MaxQueueBytes: 1 << 30})
	ctx := context.Background()
	clients := make([]*Client, 1000)
	for i := range clients {
		clients[i] = h.NewClient(nil)
		s, _ := h.Subscribe(ctx, clients[i], "sim")
		h.Activate(ctx, s, 0)
	}
	body := make([]byte, 1500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		seq := int64(i + 1)
		data := append([]byte(`{"type":"turn","sim":"sim","seq":`+strconv.FormatInt(seq, 10)+`,"turn":`), body...)
		br.Publish(ctx, Publication{Sim: "sim", Seq: seq, Data: data})
		if i%64 == 63 {
			// What the writers would take; cheap next to the fan-out, so
			// it stays in the timing rather than stopping the clock often.
			for _, c := range clients {
				c.mu.Lock()
				clear(c.queue)
				c.queue, c.queued = c.queue[:0], 0
				c.mu.Unlock()
			}
		}
	}
}

// TestOverflowOfTurnsAlreadyRead: the publications held for a watcher
// overflow while it reads the story from the store, and that read already
// has all of them. Nothing is missing, so activation succeeds and the
// turns after it follow.
func TestOverflowOfTurnsAlreadyRead(t *testing.T) {
	hist := &history{}
	h, b := newTestHub(t, hist.fill, Options{MaxBuffered: 4})
	ctx := context.Background()
	c := h.NewClient(nil)
	s, err := h.Subscribe(ctx, c, "sim")
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 10; i++ {
		hist.store(turn("sim", i))
		b.Publish(ctx, turn("sim", i))
	}
	if err := h.Activate(ctx, s, 10); err != nil {
		t.Fatalf("activate after an overflow of turns the watcher read: %v", err)
	}
	hist.store(turn("sim", 11))
	b.Publish(ctx, turn("sim", 11))
	if err := contiguous(seqs(c), 11); err != nil {
		t.Fatal(err)
	}
}
