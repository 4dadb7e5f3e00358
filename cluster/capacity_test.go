package cluster

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// TestCapacityAdmits: a story is admitted while the node's load with it
// stays within the bound and its stories below theirs; a node with no
// bound admits every story.
func TestCapacityAdmits(t *testing.T) {
	c := Capacity{Stories: 2, Load: 0.5, MaxLoad: 0.7, TurnCost: 2 * time.Millisecond}
	// A new story at 10ms adds 0.2.
	if !c.Admits(10 * time.Millisecond) {
		t.Fatal("refused at exactly the bound")
	}
	if c.MaxLoad = 0.69; c.Admits(10 * time.Millisecond) {
		t.Fatal("admitted past the bound")
	}
	if !c.HasRoom() {
		t.Fatal("no room below the bound")
	}
	if c.MaxLoad = 0; !c.Admits(time.Millisecond) {
		t.Fatal("no bound, and a story was refused")
	}
	if c.MaxStories = 2; c.Admits(time.Hour) || c.HasRoom() {
		t.Fatal("admitted past MaxStories")
	}
	fresh := Capacity{MaxLoad: 1e-9}
	if !fresh.Admits(10*time.Millisecond) || !fresh.HasRoom() {
		t.Fatal("a node that has measured nothing refused a story")
	}
	if got := decodeCapacity(encodeCapacity(c)); got != c {
		t.Fatalf("advertised %+v, read %+v", c, got)
	}
	if got := decodeCapacity("garbage"); !got.Admits(time.Millisecond) {
		t.Fatalf("an unreadable capacity %+v refuses stories", got)
	}
}

// withCapacity gives a test node a bound of one core and turns of 100 ms,
// at the load the test sets (0 unless set): at 0.95 it has room, but not
// for a story with a turn a second; at 1 it is full.
func withCapacity(c *Cluster) *atomic.Value {
	load := new(atomic.Value)
	load.Store(0.0)
	c.deps.Capacity = func() Capacity {
		return Capacity{Stories: c.deps.Runner.Count(), Load: load.Load().(float64), MaxLoad: 1, TurnCost: 100 * time.Millisecond}
	}
	return load
}

// TestPlaceByCapacity: a new story goes to a node whose capacity admits
// it, whichever node it was created on and whichever the hash prefers,
// though the node it was created on has room for slower ones; the
// cluster admits it while one node does, and not when none does.
func TestPlaceByCapacity(t *testing.T) {
	forEachRedis(t, testPlaceByCapacity)
}

func testPlaceByCapacity(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := context.Background()
	st := store.NewMemory()
	a, ra := newNode(t, rdb, prefix, "a", st, nil)
	b, rb := newNode(t, rdb, prefix, "b", st, nil)
	aLoad, bLoad := withCapacity(a), withCapacity(b)
	aLoad.Store(0.95)
	a.Start(a.deps)
	b.Start(b.deps)
	poll.Until(t, 10*time.Second, "a to see b alive", func() bool {
		a.heartbeat(ctx)
		return len(a.fitting(Capacity.HasRoom)) == 2
	})
	if !a.Admits(ctx, time.Second) {
		t.Fatal("the cluster refused a story while b has room")
	}
	// Enough stories that the hash prefers a for some: all go to b.
	const n = 8
	for i := range n {
		rec := createSim(t, st, fmt.Sprintf("s%d", i))
		a.Place(ctx, rec)
	}
	poll.Until(t, 20*time.Second, "b to run every story placed", func() bool { return rb.Count() == n })
	if ra.Count() != 0 {
		t.Fatalf("a, without room for these stories, runs %d", ra.Count())
	}
	bLoad.Store(1.0)
	b.heartbeat(ctx) // others see a node's capacity as of its last heartbeat
	if a.Admits(ctx, time.Second) || b.Admits(ctx, time.Second) {
		t.Fatal("the cluster admitted a story that no node has room for")
	}
	if !b.Admits(ctx, time.Minute) {
		t.Fatal("the cluster refused a slow story that a has room for")
	}
}

// TestTakeOverByCapacity: a node at its bound leaves the stories without
// an owner to a node with room, also after the grace in which their
// preferred node should have taken them; with every node full, it takes
// them all the same: an admitted story runs somewhere.
func TestTakeOverByCapacity(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	st := store.NewMemory()
	const n = 6
	for i := range n {
		createSim(t, st, fmt.Sprintf("s%d", i))
	}
	a, ra := newNode(t, rdb, prefix, "a", st, nil)
	b, _ := newNode(t, rdb, prefix, "b", st, nil)
	aLoad, bLoad := withCapacity(a), withCapacity(b)
	aLoad.Store(1.0)
	b.heartbeat(ctx) // alive, with room, and not taking anything
	if _, _, err := a.takeOver(ctx); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	for sim := range a.unowned {
		a.unowned[sim] = time.Now().Add(-time.Hour) // long past the grace
	}
	waiting := len(a.unowned)
	a.mu.Unlock()
	if waiting != n {
		t.Fatalf("%d stories seen without an owner, want %d", waiting, n)
	}
	if _, _, err := a.takeOver(ctx); err != nil {
		t.Fatal(err)
	}
	if ra.Count() != 0 {
		t.Fatalf("a, full, took %d stories while b has room", ra.Count())
	}
	bLoad.Store(1.0)
	b.heartbeat(ctx)
	if _, _, err := a.takeOver(ctx); err != nil {
		t.Fatal(err)
	}
	if ra.Count() != n {
		t.Fatalf("with every node full, a took %d of %d stories", ra.Count(), n)
	}
}
