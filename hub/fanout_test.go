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
	if n := h.fan.shards(standing); n < 2 {
		t.Fatalf("%d watchers make %d shard", standing, n)
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

// TestFanoutShards: small audiences are not split; large ones are split
// into as many shards as helpers can take, plus the publisher's own.
func TestFanoutShards(t *testing.T) {
	var f fanout
	f.init(0)
	if n := f.shards(1000); n != 1 {
		t.Fatalf("without helpers: %d shards", n)
	}
	f.init(1)
	for _, tc := range []struct{ subs, want int }{{0, 1}, {minShardSubs*2 - 1, 1}, {minShardSubs * 2, 2}, {1000, 2}} {
		if n := f.shards(tc.subs); n != tc.want {
			t.Errorf("one helper, %d watchers: %d shards, want %d", tc.subs, n, tc.want)
		}
	}
	f.init(100)
	if n := f.shards(100000); n != maxShards {
		t.Fatalf("many helpers: %d shards, want %d", n, maxShards)
	}
}
