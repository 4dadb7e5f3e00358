package runner

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// TestOnStoredBeforePublish: OnStored is called for each turn once the
// store holds it and before it is published, with the production time
// the stored turn carries.
func TestOnStoredBeforePublish(t *testing.T) {
	st := store.NewMemory()
	type call struct {
		seq       int64
		at        time.Time
		published int
		stored    bool
	}
	var mu sync.Mutex
	var calls []call
	var pub *recorder
	r, pub := newRunner(t, st, "n1", Config{OnStored: func(sim string, seq int64, at time.Time) {
		turns, _ := st.ListTurns(context.Background(), sim, seq-1, 1)
		c := call{seq: seq, at: at, published: pub.published(), stored: len(turns) == 1}
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
	}})
	if err := r.Start(context.Background(), newSim(t, st, "s1", store.StatusRunning, 10)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "turns", func() bool { return pub.published() >= 3 })
	turns, err := st.ListTurns(context.Background(), "s1", 0, 3)
	if err != nil || len(turns) != 3 {
		t.Fatalf("%d turns stored: %v", len(turns), err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, tr := range turns {
		var body storedTurn
		if err := json.Unmarshal(tr.Body, &body); err != nil {
			t.Fatal(err)
		}
		c := calls[i]
		if c.seq != tr.Seq || !c.at.Equal(body.At) || !c.stored || c.published != i {
			t.Fatalf("call %d: %+v; want seq %d at %v, stored and %d published before it", i, c, tr.Seq, body.At, i)
		}
	}
}

// TestSlotKeepsPhase: a story's turns count from slots on its own grid
// (creation time plus whole intervals), so two stories started at the
// same moment keep their creation phases, and a late start does not
// move the next turn; a story waiting for players counts from the start.
func TestSlotKeepsPhase(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	a := &story{interval: time.Second, anchor: t0}
	b := &story{interval: time.Second, anchor: t0.Add(ms(300))}
	now := t0.Add(ms(10_050)) // both started by one scan, at once
	for _, c := range []struct {
		st   *story
		now  time.Time
		want time.Time
	}{
		{a, now, t0.Add(ms(10_000))}, // 50 ms late: its slot
		{b, now, t0.Add(ms(10_300))}, // 750 ms after its slot: the next one
		{a, t0.Add(ms(11_400)), t0.Add(ms(11_000))},
		{a, t0.Add(ms(11_600)), t0.Add(ms(12_000))},
		{&story{interval: time.Second}, now, now},                                // no creation time
		{&story{interval: time.Second, anchor: t0, waitPlayers: true}, now, now}, // players
		{&story{anchor: t0}, now, now},                                           // no interval
	} {
		if got := c.st.slot(c.now); !got.Equal(c.want) {
			t.Errorf("anchor %v, start %v: slot %v, want %v", c.st.anchor.Sub(t0), c.now.Sub(t0), got.Sub(t0), c.want.Sub(t0))
		}
	}
	// The next turns are due a whole interval after each slot: a's at
	// 11.0 s, b's at 11.3 s, 300 ms apart as created.
	if da, db := a.slot(now).Add(a.interval), b.slot(now).Add(b.interval); db.Sub(da) != ms(300) {
		t.Errorf("next turns due %v and %v", da.Sub(t0), db.Sub(t0))
	}
}
