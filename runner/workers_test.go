package runner

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

// TestInlineTurns plays a story with InlineTurns: its turns are stored
// and published in order, an action is played in the turn its answer
// named, and the story is the one jobs play (same states, turn by turn).
func TestInlineTurns(t *testing.T) {
	ctx := context.Background()
	play := func(inline bool) (*store.Memory, *recorder) {
		st := store.NewMemory()
		rec := newSim(t, st, "s", store.StatusPaused, 10)
		r, pub := newRunner(t, st, "n1", Config{InlineTurns: inline})
		if err := r.Start(ctx, rec); err != nil {
			t.Fatal(err)
		}
		// Acted while paused, so that both runs play it in the same turn.
		acc, err := r.Act(ctx, "s", "ona", "u1", speak("Inline."))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Control(ctx, "s", "resume"); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 10*time.Second, "turn 12", func() bool { return head(t, st, "s") >= 12 })
		r.Stop("s", false)
		poll.Until(t, 10*time.Second, "the story to stop", func() bool { return !r.Running("s") })
		if got := playedIn(t, st, "s", "ona", "Inline."); got != acc.Turn {
			t.Fatalf("inline %v: the action played in turn %d, want %d", inline, got, acc.Turn)
		}
		pub.mu.Lock()
		defer pub.mu.Unlock()
		n := head(t, st, "s")
		if want := seqs(1, n); !slices.Equal(pub.turns, want) {
			t.Fatalf("inline %v: published %v, want %v", inline, pub.turns, want)
		}
		return st, pub
	}
	inline, _ := play(true)
	jobs, _ := play(false)
	a, _ := inline.ListTurns(ctx, "s", 0, 1000)
	b, _ := jobs.ListTurns(ctx, "s", 0, 1000)
	for i := range min(len(a), len(b)) {
		// The bodies differ in the production time only; the events
		// and the state hash, which cover the world, must not.
		if !bytes.Equal(withoutAt(a[i].Body), withoutAt(b[i].Body)) {
			t.Fatalf("turn %d differs:\n%s\n%s", a[i].Seq, a[i].Body, b[i].Body)
		}
	}
}

func seqs(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// withoutAt blanks a stored turn's "at" value.
func withoutAt(body []byte) []byte {
	i := bytes.Index(body, []byte(`"at":"`))
	if i < 0 {
		return body
	}
	j := bytes.IndexByte(body[i+6:], '"')
	return slices.Concat(body[:i], body[i+6+j+1:])
}

// TestWorkersRunJobsAtOnce: jobs that wait for each other each get a
// goroutine, whether or not one lingers from an earlier job.
func TestWorkersRunJobsAtOnce(t *testing.T) {
	var w workers
	w.init()
	done := make(chan struct{})
	w.run(func() { close(done) })
	<-done // its goroutine now lingers
	a, b := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	w.run(func() { defer wg.Done(); close(a); <-b })
	w.run(func() { defer wg.Done(); <-a; close(b) })
	wg.Wait()
}

// TestWorkersEndWhenIdle: no goroutine is left once jobs stop coming.
func TestWorkersEndWhenIdle(t *testing.T) {
	before := runtime.NumGoroutine()
	var w workers
	w.init()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		w.run(wg.Done)
	}
	wg.Wait()
	poll.Until(t, 10*time.Second, "the workers to end", func() bool { return runtime.NumGoroutine() <= before })
}

// deep uses about n KiB of stack, as a turn's store and fan-out do.
//
//go:noinline
func deep(n int) int {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n%len(pad)])
}

// BenchmarkJob compares a job run on a new goroutine with one run on
// the runner's workers: per op, one job that uses 16 KiB of stack,
// handed over and waited for, as a turn's is.
func BenchmarkJob(b *testing.B) {
	done := make(chan int)
	job := func() { done <- deep(16) }
	b.Run("goroutine", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			go job()
			<-done
		}
	})
	b.Run("workers", func(b *testing.B) {
		var w workers
		w.init()
		b.ReportAllocs()
		for b.Loop() {
			w.run(job)
			<-done
		}
	})
}
