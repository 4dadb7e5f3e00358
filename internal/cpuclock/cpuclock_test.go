package cpuclock

import (
	"runtime"
	"testing"
	"time"
)

func haveClock(t testing.TB) {
	t.Helper()
	if _, ok := Thread(); !ok {
		t.Skip("no thread CPU clock on " + runtime.GOOS + ": the wall clock stands in")
	}
}

// Spin burns at least d of the calling thread's CPU time.
func Spin(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, _ := Thread()
	for {
		now, _ := Thread()
		if now-start >= d {
			return
		}
		for i := range 10000 {
			sink += i
		}
	}
}

var sink int

// TestBlockedIsNotCounted: work that waits uses next to no CPU, however
// long it waits (the wall clock would say 50 ms or more).
func TestBlockedIsNotCounted(t *testing.T) {
	haveClock(t)
	d := Measure(func() { <-time.After(50 * time.Millisecond) })
	if d >= 25*time.Millisecond {
		t.Fatalf("a 50 ms wait measured %v of CPU", d)
	}
}

// TestBurnIsCounted: CPU spent in the work is counted, all of it.
func TestBurnIsCounted(t *testing.T) {
	haveClock(t)
	if d := Measure(func() { Spin(20 * time.Millisecond) }); d < 20*time.Millisecond {
		t.Fatalf("20 ms of CPU measured as %v", d)
	}
}

// BenchmarkMeasure is what measuring adds to a turn: two readings of the
// thread's clock and a lock to the thread.
func BenchmarkMeasure(b *testing.B) {
	for b.Loop() {
		Measure(func() {})
	}
}

// BenchmarkThread is one reading of the thread's clock.
func BenchmarkThread(b *testing.B) {
	for b.Loop() {
		Thread()
	}
}
