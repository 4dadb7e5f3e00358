package postgres_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: the
// append flushers end with Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
