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
