// Package poll is the one way tests wait for something to become true:
// they poll a condition instead of sleeping for a guessed time.
package poll

import (
	"testing"
	"time"
)

// Every is the pause between two looks at a condition.
const Every = 10 * time.Millisecond

// Until checks cond every few milliseconds until it holds, and fails the
// test, naming what it waited for, when it still does not after timeout.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(Every)
	}
}
