package hub

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// TestShardedFanout: with helpers sharing each publication's watchers,
// several simulations publish at once while watchers arrive, are held
// and leave, some turns stored but never published; every watcher
// receives each turn after the ones it had once and in order.
func TestShardedFanout(t *testing.T) {
	const sims, standing, churners, turns = 4, 70, 40, 400
	hists := make(map[string]*history)
	for i := range sims {
		hists[fmt.Sprint("sim", i)] = &history{}
	}
	fill := func(ctx context.Context, sim string, since int64) ([]Publication, error) {
		return hists[sim].fill(ctx, sim, since)
	}
	h, b := newTestHub(t, fill, Options{MaxQueueBytes: 1 << 30})
	h.fan.init(3) // whatever GOMAXPROCS is here
	if n, _ := h.fan.pieces(standing); n < 2 {
		t.Fatalf("%d watchers make %d piece", standing, n)
	}
	ctx := context.Background()
	errs := make(chan error, sims*(standing+churners))
	kept := make(map[string][]*Client)
	for sim := range hists {
		for range standing {
			c := h.NewClient(nil)
			s, err := h.Subscribe(ctx, c, sim)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Activate(ctx, s, 0); err != nil {
				t.Fatal(err)
			}
			kept[sim] = append(kept[sim], c)
		}
	}
	var wg sync.WaitGroup
	for sim, hist := range hists {
		wg.Go(func() {
			for i := int64(1); i <= turns; i++ {
				p := turn(sim, i)
				hist.store(p)
				if i%97 != 0 {
					b.Publish(ctx, p)
				}
			}
		})
		wg.Go(func() {
			for range churners {
				since := hist.head()
				c := h.NewClient(nil)
				s, err := h.Subscribe(ctx, c, sim)
				if err != nil {
					errs <- err
					return
				}
				if err := h.Activate(ctx, s, since); err != nil {
					errs <- err
					return
				}
				runtime.Gosched()
				h.Disconnect(ctx, c)
				if err := contiguous(seqs(c), since+1); err != nil {
					errs <- fmt.Errorf("%s watcher from %d: %w", sim, since, err)
				}
			}
		})
		// One standing watcher is held now and then, as an action's reply
		// holds it.
		wg.Go(func() {
			c := kept[sim][standing/2]
			for range 20 {
				release := h.Hold(c, sim)
				runtime.Gosched()
				release(ctx)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for sim, cs := range kept {
		// The last turn may be one that was only stored: publish one more.
		p := turn(sim, turns+1)
		hists[sim].store(p)
		b.Publish(ctx, p)
		for i, c := range cs {
			got := seqs(c)
			if err := contiguous(got, 1); err != nil || len(got) != turns+1 {
				t.Fatalf("%s watcher %d: %d turns, %v", sim, i, len(got), err)
			}
		}
	}
}

// TestFanoutPieces: small audiences, or any without helpers, are not
// split; large ones are cut into pieces of pieceSubs watchers, fewer when
// the piece count would not fit.
func TestFanoutPieces(t *testing.T) {
	var f fanout
	f.init(0)
	if n, size := f.pieces(1000); n != 1 || size != 1000 {
		t.Fatalf("without helpers: %d pieces of %d", n, size)
	}
	f.init(1)
	for _, tc := range []struct{ subs, n, size int }{
		{0, 1, 0}, {2*pieceSubs - 1, 1, 2*pieceSubs - 1}, {2 * pieceSubs, 2, pieceSubs},
		{2*pieceSubs + 1, 3, pieceSubs}, {0xffff * pieceSubs, 0xffff, pieceSubs}, {0xffff*pieceSubs + 1, 58254, pieceSubs + 1},
	} {
		if n, size := f.pieces(tc.subs); n != tc.n || size != tc.size || (n-1)*size >= max(tc.subs, 1) || n*size < tc.subs {
			t.Errorf("%d watchers: %d pieces of %d, want %d of %d", tc.subs, n, size, tc.n, tc.size)
		}
	}
}

// TestFanoutHelpersOption: no helpers unless asked for; -1 asks for one
// fewer than GOMAXPROCS.
func TestFanoutHelpersOption(t *testing.T) {
	if h, _ := newTestHub(t, nil, Options{}); h.fan.helpers != 0 {
		t.Fatalf("by default: %d helpers", h.fan.helpers)
	}
	h, _ := newTestHub(t, nil, Options{FanoutHelpers: -1})
	if want := int32(min(runtime.GOMAXPROCS(0)-1, maxHelpers)); h.fan.helpers != want {
		t.Fatalf("FanoutHelpers -1: %d helpers, want %d", h.fan.helpers, want)
	}
}
