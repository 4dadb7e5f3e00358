// Package stats holds the arithmetic of the load generators: percentiles
// of latencies, medians of repeated runs, and the check of a watcher's
// sequence of turns for gaps and duplicates.
package stats

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the nearest-rank p-th quantile (0 < p <= 1) of sorted:
// the smallest sample that at least p of the samples do not exceed. It is
// 0 for no samples; p <= 0 gives the smallest.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none. xs is not changed.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Seq follows one watcher's turn numbers. Turns must come as consecutive
// integers: a number past the next one is a gap (Gaps counts the numbers
// skipped), a number not past the last one is a duplicate.
type Seq struct {
	last    int64
	started bool
	Gaps    int64
	Dups    int64
}

// From sets the number of the last turn the watcher already has (from a
// snapshot); the next one must follow it.
func (s *Seq) From(n int64) {
	s.last, s.started = n, true
}

// Next records turn n and reports whether it was new (not a duplicate).
// The first turn seen without From sets the start.
func (s *Seq) Next(n int64) bool {
	switch {
	case !s.started:
		s.started = true
	case n <= s.last:
		s.Dups++
		return false
	case n > s.last+1:
		s.Gaps += n - s.last - 1
	}
	s.last = n
	return true
}
