package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// results is what one load process measured, raw: several processes (each
// with a share of the watchers, as one process's open files allow) write
// theirs with -out, and -merge reads them back into one report. The
// latencies are kept whole, not as percentiles, so that the merged
// percentiles are those of all the deliveries together.
type results struct {
	Stories    int           `json:"stories"`
	Watchers   int           `json:"watchers"`
	IntervalMS int           `json:"interval_ms"`
	Duration   time.Duration `json:"duration_ns"`
	DialFailed int           `json:"dial_failed"`
	Gaps       int           `json:"gaps"`
	Reconnects int           `json:"reconnects"`
	// PerNode counts the watchers by the node their last connection was
	// on ("" for a watcher that never connected).
	PerNode map[string]int `json:"per_node"`
	// Why counts what ended each connection: an error code, or "closed".
	Why map[string]int `json:"why"`
	// Latencies holds each delivery's latency in microseconds, by the node
	// that delivered it.
	Latencies map[string][]int64 `json:"latencies_us"`
}

// collect gathers the watchers' figures.
func collect(ws []*watcher, nStories, intervalMS int, duration time.Duration, dialFailed int) *results {
	r := &results{Stories: nStories, Watchers: len(ws), IntervalMS: intervalMS, Duration: duration,
		DialFailed: dialFailed, PerNode: map[string]int{}, Why: map[string]int{}, Latencies: map[string][]int64{}}
	for _, w := range ws {
		r.Gaps += w.gaps
		r.Reconnects += w.reconnects
		for k, n := range w.why {
			r.Why[k] += n
		}
		r.PerNode[w.node]++
		for _, s := range w.samples {
			r.Latencies[s.node] = append(r.Latencies[s.node], s.latency.Microseconds())
		}
	}
	return r
}

// add merges o into r: counts summed, latencies joined. The stories,
// interval and duration are the same in every process of one run.
func (r *results) add(o *results) {
	r.Stories, r.IntervalMS, r.Duration = max(r.Stories, o.Stories), max(r.IntervalMS, o.IntervalMS), max(r.Duration, o.Duration)
	r.Watchers += o.Watchers
	r.DialFailed += o.DialFailed
	r.Gaps += o.Gaps
	r.Reconnects += o.Reconnects
	for _, m := range []*map[string]int{&r.PerNode, &r.Why} {
		if *m == nil {
			*m = map[string]int{}
		}
	}
	for k, n := range o.PerNode {
		r.PerNode[k] += n
	}
	for k, n := range o.Why {
		r.Why[k] += n
	}
	if r.Latencies == nil {
		r.Latencies = map[string][]int64{}
	}
	for k, l := range o.Latencies {
		r.Latencies[k] = append(r.Latencies[k], l...)
	}
}

func writeResults(path string, r *results) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// mergeFiles reads the results of several processes into one.
func mergeFiles(paths []string) (*results, error) {
	all := &results{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r results
		if err := json.Unmarshal(data, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		all.add(&r)
	}
	return all, nil
}

// print writes the report; ended is the number of stories that ended by
// themselves (-1: not counted).
func (r *results) print(out io.Writer, ended int) error {
	var all []time.Duration
	nodes := make([]string, 0, len(r.Latencies))
	perNode := map[string][]time.Duration{}
	for n, l := range r.Latencies {
		nodes = append(nodes, n)
		for _, us := range l {
			d := time.Duration(us) * time.Microsecond
			all = append(all, d)
			perNode[n] = append(perNode[n], d)
		}
	}
	if len(all) == 0 {
		return fmt.Errorf("no turn delivered")
	}
	fmt.Fprintf(out, "stories %d, watchers %d, turn interval %dms, measured %v\n", r.Stories, r.Watchers, r.IntervalMS, r.Duration)
	fmt.Fprintf(out, "deliveries %d, gaps or duplicates %d, reconnections %d, watchers per node %v",
		len(all), r.Gaps, r.Reconnects, r.PerNode)
	if ended >= 0 {
		fmt.Fprintf(out, ", stories that ended by themselves %d", ended)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "connections ended by: %v (\"closed\": the connection broke; else the error code the node sent)\n", r.Why)
	fmt.Fprintf(out, "delivery latency (turn produced → watcher): %s\n", summary(all))
	slices.Sort(nodes)
	for _, n := range nodes {
		fmt.Fprintf(out, "  via %-10s %s\n", n, summary(perNode[n]))
	}
	return nil
}

func summary(d []time.Duration) string {
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return fmt.Sprintf("p50 %v  p90 %v  p99 %v  max %v  (n=%d)",
		q(0.50).Round(100*time.Microsecond), q(0.90).Round(100*time.Microsecond),
		q(0.99).Round(100*time.Microsecond), d[len(d)-1].Round(100*time.Microsecond), len(d))
}

// writeIDs and readIDs keep the stories' ids, one a line, so that the
// stories are created once and watched by several processes.
func writeIDs(path string, ids []string) error {
	return os.WriteFile(path, []byte(strings.Join(ids, "\n")+"\n"), 0o644)
}

func readIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" {
			ids = append(ids, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no story ids", path)
	}
	return ids, nil
}
