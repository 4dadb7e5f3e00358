//go:build !linux

package cpuclock

import "time"

func threadClock() (time.Duration, bool) { return 0, false }
