// Command admission measures how many stories a node admits under its
// load bound (NOVEL_MAX_LOAD) before it refuses one, and how much CPU the
// stories it admitted then use, for one or more builds of the node, in
// interleaved rounds:
//
//	go run ./loadtest/cmd/admission -bin old=/tmp/old-novel-engine -bin new=bin/novel-engine
//
// Each run starts the node with its other limits lifted and a small load
// bound (-max-load cores), creates stories at one turn per -interval, one
// every -pause (time for their turns to be measured), until the node
// answers 503, then reads the node's CPU use (from /proc) for -window. A
// node that judges its load well fills up to about its bound; one that
// counts time its turns spend waiting for a core refuses early on a busy
// machine.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novel-engine/novel-engine/loadtest/internal/node"
)

type bins []string

func (b *bins) String() string     { return strings.Join(*b, ",") }
func (b *bins) Set(v string) error { *b = append(*b, v); return nil }

func main() {
	var builds bins
	flag.Var(&builds, "bin", "name=path of a node binary (repeat for each build)")
	rounds := flag.Int("rounds", 3, "rounds; each runs every build once, in alternating order")
	maxLoad := flag.Float64("max-load", 0.2, "NOVEL_MAX_LOAD of the node, in cores")
	interval := flag.Duration("interval", 20*time.Millisecond, "the stories' turn interval")
	pause := flag.Duration("pause", 300*time.Millisecond, "pause between two creates")
	limit := flag.Int("limit", 300, "stories created at most in one run")
	window := flag.Duration("window", 5*time.Second, "how long the node's CPU use is read after it refused")
	flag.Parse()
	if len(builds) == 0 {
		fmt.Fprintln(os.Stderr, "admission: give at least one -bin name=path")
		os.Exit(2)
	}
	admitted := map[string][]float64{}
	cores := map[string][]float64{}
	for round := range *rounds {
		order := slices.Clone(builds)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, b := range order {
			name, path, _ := strings.Cut(b, "=")
			n, c, err := run(path, *maxLoad, *interval, *pause, *limit, *window)
			if err != nil {
				fmt.Fprintln(os.Stderr, "admission:", name, err)
				os.Exit(1)
			}
			fmt.Printf("round %d %-6s admitted %3d stories, then used %.3f cores (bound %.2f)\n", round+1, name, n, c, *maxLoad)
			admitted[name] = append(admitted[name], float64(n))
			cores[name] = append(cores[name], c)
		}
	}
	for _, b := range builds {
		name, _, _ := strings.Cut(b, "=")
		fmt.Printf("median %-6s admitted %.0f stories, used %.3f cores\n", name, median(admitted[name]), median(cores[name]))
	}
}

// run fills one node and returns the stories it admitted and the cores
// they used.
func run(bin string, maxLoad float64, interval, pause time.Duration, limit int, window time.Duration) (int, float64, error) {
	p, err := node.Spawn(bin, []string{"NOVEL_MAX_LOAD=" + strconv.FormatFloat(maxLoad, 'f', -1, 64)}, os.Stderr)
	if err != nil {
		return 0, 0, err
	}
	defer p.Stop()
	tok, err := node.Guest(p.URL)
	if err != nil {
		return 0, 0, err
	}
	scenarios, err := node.EndlessScenarios(p.URL)
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for ; n < limit; n++ {
		body := fmt.Sprintf(`{"scenario":%s,"seed":%d,"turn_interval_ms":%d,"max_turns":100000}`, scenarios[n%len(scenarios)], n+1, interval.Milliseconds())
		req, _ := http.NewRequest("POST", p.URL+"/v1/simulations", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		var out struct {
			Error struct{ Code string } `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if resp.StatusCode != http.StatusCreated {
			return 0, 0, fmt.Errorf("create: %d %s", resp.StatusCode, out.Error.Code)
		}
		time.Sleep(pause)
	}
	before, err := cpuTime(p.Pid())
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	time.Sleep(window)
	after, err := cpuTime(p.Pid())
	if err != nil {
		return 0, 0, err
	}
	return n, (after - before).Seconds() / time.Since(start).Seconds(), nil
}

// cpuTime reads the user and system CPU time of process pid.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command's name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
