package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func latencies(node string, n int, d time.Duration) []sample {
	s := make([]sample, n)
	for i := range s {
		s[i] = sample{latency: d, node: node}
	}
	return s
}

// The merged report's percentiles are those of all the deliveries
// together, not an average of each process's percentiles, and its counts
// are the sums.
func TestMergeResults(t *testing.T) {
	dir := t.TempDir()
	a := collect([]*watcher{
		{node: "n1", samples: append(latencies("n1", 90, time.Millisecond), latencies("n1", 10, time.Second)...), gaps: 1, reconnects: 2, why: map[string]int{"closed": 2}},
		{node: ""},
	}, 4, 2000, time.Minute, 1)
	b := collect([]*watcher{{node: "n2", samples: latencies("n2", 100, 2*time.Millisecond), reconnects: 1, why: map[string]int{"closed": 1}}},
		4, 2000, time.Minute, 0)
	var paths []string
	for i, r := range []*results{a, b} {
		p := filepath.Join(dir, string(rune('a'+i))+".json")
		if err := writeResults(p, r); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	m, err := mergeFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	if m.Watchers != 3 || m.DialFailed != 1 || m.Gaps != 1 || m.Reconnects != 3 || m.Why["closed"] != 3 ||
		m.PerNode["n1"] != 1 || m.PerNode["n2"] != 1 || m.PerNode[""] != 1 {
		t.Fatalf("merged counts: %+v", m)
	}
	var out bytes.Buffer
	if err := m.print(&out, 0); err != nil {
		t.Fatal(err)
	}
	// 90 at 1 ms, 100 at 2 ms, 10 at 1 s: the p50 is 2 ms (the mean of the
	// processes' p50s would be 1.5 ms) and the p99 1 s.
	for _, want := range []string{
		"stories 4, watchers 3, turn interval 2000ms, measured 1m0s",
		"deliveries 200, gaps or duplicates 1, reconnections 3",
		"stories that ended by themselves 0",
		"delivery latency (turn produced → watcher): p50 2ms  p90 2ms  p99 1s  max 1s  (n=200)",
		"via n1         p50 1ms  p90 1s  p99 1s  max 1s  (n=100)",
		"via n2         p50 2ms",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMergeNothingDelivered(t *testing.T) {
	r := collect([]*watcher{{node: "n1"}}, 1, 1000, time.Second, 0)
	if err := r.print(&bytes.Buffer{}, -1); err == nil {
		t.Fatal("a report with no delivery: no error")
	}
	if _, err := mergeFiles([]string{filepath.Join(t.TempDir(), "none.json")}); err == nil {
		t.Fatal("a missing file merged")
	}
}

func TestIDsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ids")
	if err := writeIDs(p, []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	ids, err := readIDs(p)
	if err != nil || strings.Join(ids, ",") != "a,b,c" {
		t.Fatalf("read back %v, %v", ids, err)
	}
	os.WriteFile(p, []byte("\n"), 0o644)
	if _, err := readIDs(p); err == nil {
		t.Fatal("an empty ids file: no error")
	}
}

// Split over processes by -first, the watchers get the stories and the
// balancers one process would give them: three consecutive watchers on one
// story through one balancer, the balancers evenly loaded.
func TestAssign(t *testing.T) {
	sims, urls := []string{"s1", "s2", "s3", "s4", "s5"}, []string{"u1", "u2"}
	perURL := map[string]int{}
	perSim := map[string]map[string]bool{}
	for i := range 60 {
		sim, url := assign(i, sims, urls)
		if s0, u0 := assign(i-i%3, sims, urls); s0 != sim || u0 != url {
			t.Fatalf("watcher %d: %s via %s, its group's first %s via %s", i, sim, url, s0, u0)
		}
		perURL[url]++
		if perSim[sim] == nil {
			perSim[sim] = map[string]bool{}
		}
		perSim[sim][url] = true
	}
	if perURL["u1"] != 30 || perURL["u2"] != 30 || len(perSim) != 5 {
		t.Fatalf("per balancer %v, stories %d", perURL, len(perSim))
	}
}
