// Command compare measures turn delivery on a Novel Engine node and on
// Centrifugo side by side, with the same load generator, on this machine:
// the same number of channels publishing at the same rates and phases,
// the same payload size and the same watchers. It prints one table of
// medians over repeated runs, with the ratios of ours to Centrifugo's.
//
//	make compare
//	go run ./loadtest/cmd/compare -novel bin/novel-engine -centrifugo bin/centrifugo
//	go run ./loadtest/cmd/compare -scale 0.05 -duration 10s -repeats 1   # a quick check
//	go run ./loadtest/cmd/compare -cluster 3   # three nodes of each on a Redis of their own
//
// It installs Centrifugo (go install) into the -centrifugo path when that
// is missing or another version. See docs/benchmarks.md for the method.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

type config struct {
	novelBin      string
	novels        []namedBin // -novel, parsed
	cfBin         string
	cfVersion     string
	install       bool
	workloads     []workload
	servers       []string
	repeats       int
	duration      time.Duration
	warmup        time.Duration
	dialRate      int
	payloadBytes  int
	profileDir    string
	selfProfile   string
	logDir        string
	connectWithin time.Duration
	nodes         int         // nodes of each system
	cluster       *clusterEnv // with nodes > 1
}

// A workload is a number of channels (stories) publishing at one interval,
// each watched by the same number of connections.
type workload struct {
	Name     string
	Stories  int
	Interval time.Duration
	Watchers int // per story
}

func (w workload) conns() int { return w.Stories * w.Watchers }

// rate is the deliveries per second the workload asks for.
func (w workload) rate() float64 {
	return float64(w.conns()) / w.Interval.Seconds()
}

// The workloads of the comparison: many quiet stories with a modest
// audience each, a few busy ones with a large audience, and the cluster's
// (its watchers spread over the nodes).
var workloads = map[string]workload{
	"A":  {Name: "A", Stories: 100, Interval: time.Second, Watchers: 100},
	"B'": {Name: "B'", Stories: 20, Interval: 200 * time.Millisecond, Watchers: 300},
	"C":  {Name: "C", Stories: 30, Interval: time.Second, Watchers: 100},
}

// parseWorkloads reads -workloads and applies -scale to the watchers per
// story (at least one).
func parseWorkloads(list string, scale float64) ([]workload, error) {
	if scale <= 0 || math.IsNaN(scale) {
		return nil, fmt.Errorf("-scale %v: must be more than 0", scale)
	}
	var out []workload
	for _, name := range strings.Split(list, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		if name == "B" {
			name = "B'"
		}
		w, ok := workloads[name]
		if !ok {
			return nil, fmt.Errorf("-workloads: no workload %q (A, B', C)", name)
		}
		w.Watchers = max(1, int(math.Round(float64(w.Watchers)*scale)))
		out = append(out, w)
	}
	return out, nil
}

const (
	serverNovel      = "novel"
	serverCentrifugo = "centrifugo"
)

func run(ctx context.Context, args []string, out io.Writer) error {
	var c config
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.StringVar(&c.novelBin, "novel", "bin/novel-engine", "the novel-engine binary to measure (make build); or several, named, to measure in turn with the others: old=path1,new=path2")
	fs.StringVar(&c.cfBin, "centrifugo", "bin/centrifugo", "the centrifugo binary; installed here with go install when missing or of another version")
	fs.StringVar(&c.cfVersion, "centrifugo-version", "v6.9.1", "the Centrifugo version to compare with")
	fs.BoolVar(&c.install, "install", true, "install Centrifugo when -centrifugo is missing or another version")
	wl := fs.String("workloads", "", "workloads to run, in order: A (100 stories × 1 turn/s × 100 watchers), B' (20 × 5 turns/s × 300), C (30 × 1 turn/s × 100); empty: A,B' on one node, C with -cluster")
	scale := fs.Float64("scale", 1, "multiplies the watchers per story, e.g. 0.05 for a quick check")
	servers := fs.String("servers", "novel,centrifugo", "servers to measure: novel, centrifugo or both")
	fs.IntVar(&c.repeats, "repeats", 3, "runs of each workload on each server, alternating which goes first")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "measurement window of each run (keepalive pings come every 25 s: keep it longer)")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "settling time after the last watcher subscribed, before the window")
	fs.IntVar(&c.dialRate, "dial-rate", 2000, "new connections per second")
	fs.IntVar(&c.payloadBytes, "payload-bytes", 0, "size of each message Centrifugo delivers; 0: the mean size of the turns ours delivered in this workload's last run (1,500 until there is one)")
	fs.StringVar(&c.profileDir, "profile", "", "directory to write each run's CPU profile (over the window), execution trace (its first 5 s), heap and goroutine profiles (after connecting) into; profiling costs CPU, so do not mix such runs with the table's")
	fs.StringVar(&c.selfProfile, "self-profile", "", "file to write this load generator's own CPU profile into, over all runs (is the client keeping up?)")
	fs.StringVar(&c.logDir, "logs", "", "directory for the servers' logs and Centrifugo's config; empty: a new temporary directory")
	fs.DurationVar(&c.connectWithin, "connect-timeout", 2*time.Minute, "longest wait for every watcher to be subscribed")
	fs.IntVar(&c.nodes, "cluster", 1, "nodes of each system; more than one: both on a Redis of their own (redis-server), ours with a PostgreSQL database of its own, watchers spread evenly over the nodes")
	env := clusterEnv{}
	fs.StringVar(&env.redisBin, "redis-server", "redis-server", "with -cluster: the redis-server binary (6.2 or later)")
	fs.IntVar(&env.redisPort, "redis-port", 0, "with -cluster: the port of the run's Redis; 0: a free port")
	fs.StringVar(&env.pgAdmin, "pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "with -cluster: a PostgreSQL server (any database of it) on which each run of ours creates a database of its own and drops it after")
	fs.StringVar(&env.pgBin, "pg-bin", "", "with -cluster: a directory of PostgreSQL's programs (initdb, postgres, pg_ctl), e.g. /usr/lib/postgresql/15/bin: each run of ours then starts a server of its own, with initdb's settings, instead of using -pg's")
	fs.IntVar(&env.pgPort, "pg-port", 0, "with -pg-bin: the port of the run's PostgreSQL; 0: a free port")
	fs.StringVar(&env.pgUser, "pg-user", "postgres", "with -pg-bin, when run as root: the system user the server runs as")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.nodes < 1 {
		return errors.New("-cluster must be at least 1")
	}
	if c.nodes > 1 {
		c.cluster = &env
		if _, err := exec.LookPath(env.redisBin); err != nil {
			return fmt.Errorf("-redis-server: %w", err)
		}
	}
	if *wl == "" {
		*wl = "A,B'"
		if c.nodes > 1 {
			*wl = "C"
		}
	}
	var err error
	if c.workloads, err = parseWorkloads(*wl, *scale); err != nil {
		return err
	}
	if c.novels, err = parseBins(c.novelBin); err != nil {
		return err
	}
	for _, s := range strings.Split(*servers, ",") {
		switch s = strings.TrimSpace(s); s {
		case serverNovel:
			for _, b := range c.novels {
				c.servers = append(c.servers, b.server())
			}
		case serverCentrifugo:
			c.servers = append(c.servers, s)
		default:
			return fmt.Errorf("-servers: %q is neither novel nor centrifugo", s)
		}
	}
	if c.repeats < 1 || c.duration <= 0 || c.dialRate < 1 {
		return errors.New("-repeats, -duration and -dial-rate must be positive")
	}
	need := 0
	for _, w := range c.workloads {
		need = max(need, w.conns())
	}
	if err := raiseFileLimit(out, need); err != nil {
		return err
	}
	if c.logDir == "" {
		if c.logDir, err = os.MkdirTemp("", "compare-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(c.logDir, 0o755); err != nil {
		return err
	}
	if c.profileDir != "" {
		if err := os.MkdirAll(c.profileDir, 0o755); err != nil {
			return err
		}
	}
	for _, s := range c.servers {
		switch s {
		case serverCentrifugo:
			if err := ensureCentrifugo(ctx, c.cfBin, c.cfVersion, c.install, out); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(out, "servers' logs in %s\n", c.logDir)
	if c.selfProfile != "" {
		f, err := os.Create(c.selfProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return compare(ctx, c, out)
}

// raiseFileLimit lifts this process's soft limit on open files to the hard
// limit (and the hard one too where allowed), so that the watchers fit.
// The servers started from here inherit it.
func raiseFileLimit(out io.Writer, conns int) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	want := uint64(conns) + 1024
	if l.Max < want {
		// Only a privileged process may raise its hard limit; try.
		raised := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			l = raised
		}
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return fmt.Errorf("raise the open-file limit: %w", err)
		}
	}
	fmt.Fprintf(out, "open-file limit raised to %d (soft = hard) for this process and the servers it starts\n", l.Cur)
	if l.Cur < want {
		return fmt.Errorf("the open-file limit %d is below the %d this run needs; lower -scale", l.Cur, want)
	}
	return nil
}

// compare runs every workload on every server, repeats times, alternating
// which server goes first, and prints each run, then the table.
func compare(ctx context.Context, c config, out io.Writer) error {
	var all []result
	for _, w := range c.workloads {
		fmt.Fprintf(out, "\nworkload %s: %d stories × one turn per %v × %d watchers = %d connections, %.0f deliveries/s, on %d node(s) of each system\n",
			w.Name, w.Stories, w.Interval, w.Watchers, w.conns(), w.rate(), c.nodes)
		payload := c.payloadBytes
		for rep := range c.repeats {
			order := c.servers
			if rep%2 == 1 {
				order = reversed(order)
			}
			for _, s := range order {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				var srv server
				ours := s != serverCentrifugo
				if ours {
					b := c.binFor(s)
					srv = &novel{bin: b.path, label: b.label, n: c.nodes, cluster: c.cluster}
				} else {
					p := payload
					if p == 0 {
						p = 1500
					}
					srv = &centrifugo{bin: c.cfBin, payload: p, n: c.nodes, cluster: c.cluster}
				}
				tag := fmt.Sprintf("%s-%s-run%d", strings.ReplaceAll(w.Name, "'", "p"), strings.ReplaceAll(s, ":", "-"), rep+1)
				r, err := measureRun(ctx, c, w, srv, tag, out)
				if err != nil {
					return fmt.Errorf("workload %s, %s, run %d: %w", w.Name, s, rep+1, err)
				}
				r.run = rep + 1
				all = append(all, r)
				fmt.Fprintf(out, "  run %d %-12s %s\n", rep+1, srv.name(), r.line())
				if ours && c.payloadBytes == 0 && r.deliveries > 0 {
					payload = int(math.Round(r.bytesPerDelivery()))
				}
			}
		}
	}
	fmt.Fprintf(out, "\nmedians of %d runs per row; gaps, duplicates and failed connections summed over the runs\n\n", c.repeats)
	printTable(out, all, c.workloads)
	if c.profileDir != "" {
		abs, _ := filepath.Abs(c.profileDir)
		fmt.Fprintf(out, "\nprofiles in %s\n", abs)
	}
	return nil
}

// namedBin is a novel-engine binary to measure, named when there are
// several.
type namedBin struct{ label, path string }

// server is the entry of -servers that stands for it.
func (b namedBin) server() string {
	if b.label == "" {
		return serverNovel
	}
	return serverNovel + ":" + b.label
}

func (c config) binFor(server string) namedBin {
	for _, b := range c.novels {
		if b.server() == server {
			return b
		}
	}
	return namedBin{}
}

// parseBins reads -novel: one path, or name=path pairs separated by
// commas. Each binary must exist.
func parseBins(v string) ([]namedBin, error) {
	var out []namedBin
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		label, path, named := strings.Cut(part, "=")
		if !named {
			label, path = "", part
		}
		if named && (label == "" || strings.ContainsAny(label, ":/ ")) {
			return nil, fmt.Errorf("-novel: %q: a name is letters and digits", part)
		}
		if seen[label] {
			return nil, fmt.Errorf("-novel: %q named twice, or unnamed among several", label)
		}
		seen[label] = true
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("-novel: %w (make build)", err)
		}
		out = append(out, namedBin{label: label, path: path})
	}
	if len(out) > 1 && seen[""] {
		return nil, errors.New("-novel: name each of several binaries, name=path")
	}
	return out, nil
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
