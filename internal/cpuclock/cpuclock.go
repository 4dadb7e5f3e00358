// Package cpuclock measures the CPU time a piece of work takes on the
// thread that runs it, so that a cost is what the work computed and not
// how long it waited: for a blocked or descheduled goroutine the wall
// clock runs on, the thread's CPU clock does not. Where no thread clock
// is available the wall clock stands in.
package cpuclock

import (
	"runtime"
	"time"
)

// Measure runs f locked to its OS thread and returns the CPU time the
// thread spent in it (the wall time where the thread's clock cannot be
// read). Work f hands to other goroutines is not counted.
func Measure(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := Thread()
	if !ok {
		t := time.Now()
		f()
		return time.Since(t)
	}
	f()
	end, ok := Thread()
	if !ok {
		return 0
	}
	return end - start
}

// Thread reads the CPU clock of the calling thread; false where there is
// none. Its readings mean something only while the goroutine stays on
// one thread (runtime.LockOSThread).
func Thread() (time.Duration, bool) { return threadClock() }
