package stats

import (
	"math"
	"testing"
	"time"
)

func ms(xs ...int) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	cases := []struct {
		name string
		s    []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{"median of even is the lower", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 100", hundred, 0.99, 99 * time.Millisecond},
		{"p50 of 100", hundred, 0.5, 50 * time.Millisecond},
		{"max", hundred, 1, 100 * time.Millisecond},
		{"p0 is the min", hundred, 0, 1 * time.Millisecond},
		{"p99 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
	}
	for _, c := range cases {
		if got := Percentile(c.s, c.p); got != c.want {
			t.Errorf("%s: Percentile(p=%v) = %v, want %v", c.name, c.p, got, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
	xs := []float64{5, 1, 3}
	if got := Median(xs); got != 3 {
		t.Errorf("Median(5,1,3) = %v", got)
	}
	if xs[0] != 5 {
		t.Error("Median sorted its argument")
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median(4,1,3,2) = %v", got)
	}
}

func TestSeq(t *testing.T) {
	var s Seq
	for _, n := range []int64{5, 6, 7} {
		if !s.Next(n) {
			t.Fatalf("turn %d counted as a duplicate", n)
		}
	}
	if s.Gaps != 0 || s.Dups != 0 {
		t.Fatalf("consecutive turns: gaps %d dups %d", s.Gaps, s.Dups)
	}
	s.Next(10) // 8 and 9 missing
	if s.Gaps != 2 {
		t.Fatalf("gaps = %d, want 2", s.Gaps)
	}
	if s.Next(9) || s.Next(10) {
		t.Fatal("a turn at or before the last was taken as new")
	}
	if s.Dups != 2 {
		t.Fatalf("dups = %d, want 2", s.Dups)
	}
	s.Next(11)
	if s.Gaps != 2 || s.Dups != 2 {
		t.Fatalf("after a late turn the next one is not a gap: gaps %d dups %d", s.Gaps, s.Dups)
	}
}

func TestSeqFromSnapshot(t *testing.T) {
	var s Seq
	s.From(20)
	s.Next(20)
	s.Next(22)
	if s.Dups != 1 || s.Gaps != 1 {
		t.Fatalf("after a snapshot at 20, turns 20 and 22: dups %d gaps %d, want 1 and 1", s.Dups, s.Gaps)
	}
	var z Seq
	z.From(0) // a story with no turn yet: the first must be 1
	z.Next(2)
	if z.Gaps != 1 {
		t.Fatalf("snapshot at 0 then turn 2: gaps %d, want 1", z.Gaps)
	}
}
