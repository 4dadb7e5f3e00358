package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// client makes the API calls. The default transport keeps two idle
// connections a host: with more calls in flight, each further one would
// open (and leave in TIME_WAIT) a connection of its own.
var client = &http.Client{Transport: &http.Transport{
	Proxy:               http.ProxyFromEnvironment,
	MaxIdleConnsPerHost: 256,
	IdleConnTimeout:     90 * time.Second,
}}

// forEach calls do(i) for every i in [0, n), at most inFlight at a time,
// and returns how many failed. Every `every`, and once when all are done,
// it calls report with how many are done and how many of them failed, so
// that long work shows its progress. One at a time, each call waits out
// the round trips of the one before; in parallel, the work is bounded by
// the cores instead.
func forEach(n, inFlight int, every time.Duration, report func(done, failed int), do func(i int) error) int {
	inFlight = max(1, min(inFlight, n))
	var next, done, failed atomic.Int64
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if do(i) != nil {
					failed.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	finished := make(chan struct{})
	ticking := make(chan struct{})
	go func() {
		defer close(ticking)
		if report == nil || every <= 0 {
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-finished:
				return
			case <-t.C:
				report(int(done.Load()), int(failed.Load()))
			}
		}
	}()
	wg.Wait()
	close(finished)
	<-ticking
	if report != nil {
		report(n, int(failed.Load()))
	}
	return int(failed.Load())
}

// progress returns a report for forEach that prints how far the work
// (what, n items, begun at start) has come, and at what rate.
func progress(out io.Writer, what string, n int, start time.Time) func(done, failed int) {
	return func(done, failed int) {
		el := time.Since(start)
		fmt.Fprintf(out, "%s: %d/%d in %v (%.0f/s), %d failed\n", what, done, n,
			el.Round(100*time.Millisecond), float64(done)/max(el.Seconds(), 1e-3), failed)
	}
}

// spread returns the time at which the i-th of n stories is started so
// that their turns, every interval, are spread over the interval as those
// of stories started at different times are.
func spread(start time.Time, i, n int, interval time.Duration) time.Time {
	return start.Add(interval * time.Duration(i) / time.Duration(max(n, 1)))
}

// timings describes how long each of a batch of operations took (zero:
// not done), as the median, the 99th percentile and the longest.
func timings(d []time.Duration) string {
	var s []time.Duration
	for _, x := range d {
		if x > 0 {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	slices.Sort(s)
	q := func(p float64) time.Duration {
		return s[min(len(s)-1, int(p*float64(len(s))))].Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %v  p99 %v  max %v", q(0.5), q(0.99), s[len(s)-1].Round(100*time.Microsecond))
}
