package main

import (
	"math/rand/v2"
	"time"
)

// retry is how a watcher waits before resuming on another node: as the
// browser client does (web/client.js), an exponential ceiling from
// initial, doubled at each failed attempt up to max, and a wait drawn
// uniformly below it (full jitter), so the watchers a dead node drops
// together come back spread over the window, not all every 100 ms.
var retry = struct{ initial, max time.Duration }{initial: 100 * time.Millisecond, max: 5 * time.Second}

// backoff counts a watcher's failed attempts since its last subscription
// answered.
type backoff struct {
	initial, max time.Duration
	attempt      int
	rand         func(n int64) int64 // uniform in [0, n); rand.Int64N unless a test sets it
}

func newBackoff() *backoff {
	return &backoff{initial: retry.initial, max: retry.max, rand: rand.Int64N}
}

// ceiling is the longest wait of the next attempt.
func (b *backoff) ceiling() time.Duration {
	c := b.initial
	for i := 0; i < b.attempt && c < b.max; i++ {
		c *= 2
	}
	return min(c, b.max)
}

// next returns the wait before the next attempt and counts it.
func (b *backoff) next() time.Duration {
	c := b.ceiling()
	b.attempt++
	return time.Duration(b.rand(int64(c) + 1))
}

// reset starts over after a subscription was answered.
func (b *backoff) reset() { b.attempt = 0 }
