package server

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/storetest"
)

// heldHistory holds each history read until want are in flight together
// (or a while has passed), and records the most seen.
type heldHistory struct {
	*store.Memory
	want int
	mu   sync.Mutex
	now  int
	most int
	all  chan struct{} // closed once want were in flight together
}

func (h *heldHistory) ListTurns(ctx context.Context, sim string, after int64, limit int) ([]store.Turn, error) {
	h.mu.Lock()
	h.now++
	if h.now > h.most {
		h.most = h.now
		if h.most == h.want {
			close(h.all)
		}
	}
	h.mu.Unlock()
	select {
	case <-h.all:
	case <-time.After(time.Second):
	}
	h.mu.Lock()
	h.now--
	h.mu.Unlock()
	return h.Memory.ListTurns(ctx, sim, after, limit)
}

// TestHistoryReadsBounded: a crowd of watchers resuming at once reads its
// history from the store a few at a time (in the fleet, 5,000 resumes on
// a survivor took every store connection from the takeover), and every
// one of them is answered.
func TestHistoryReadsBounded(t *testing.T) {
	const watchers, bound = 12, 3
	st := &heldHistory{Memory: store.NewMemory(), want: watchers, all: make(chan struct{})}
	rec := storetest.NewSim("s1")
	if err := st.CreateSimulation(context.Background(), rec, nil); err != nil {
		t.Fatal(err)
	}
	_, hs := newTestServer(t, st, Config{HistoryReads: bound, ConnRate: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, watchers)
	for range watchers {
		c, code := dial(t, hs.URL, "", "")
		if code != 101 {
			t.Fatalf("dial: %d", code)
		}
		wg.Go(func() {
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","sim":"s1","since":0}`)); err != nil {
				errs <- err
				return
			}
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					errs <- err
					return
				}
				if strings.Contains(string(data), `"subscribed"`) {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.most > bound {
		t.Fatalf("%d history reads in flight together, want at most %d", st.most, bound)
	}
}
