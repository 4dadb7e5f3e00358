// Command loadgen measures turn delivery on a Novel Engine node: it starts
// simulations, opens watchers over WebSockets in steps, and reports the
// delivery latency (from a turn's "at" to its arrival at a watcher) and
// the node's memory per connection at each step.
//
//	go run ./loadtest/cmd/loadgen -spawn bin/novel-engine
//	go run ./loadtest/cmd/loadgen -url http://127.0.0.1:8080
//
// Only addresses on this machine should be targeted.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/loadtest/internal/node"
	"github.com/novel-engine/novel-engine/loadtest/internal/stats"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type config struct {
	url      string
	spawn    string
	sims     int
	interval time.Duration
	steps    []int
	hold     time.Duration
	warmup   time.Duration
	dialRate int
	target   time.Duration
	idle     int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", "", "base URL of a running node (127.0.0.1 only)")
	fs.StringVar(&c.spawn, "spawn", "", "path of a novel-engine binary to start for the run instead of -url")
	fs.IntVar(&c.sims, "sims", 100, "simulations to run")
	fs.DurationVar(&c.interval, "interval", time.Second, "turn interval of each simulation")
	steps := fs.String("watchers", "1000,2000,4000,8000,12000,18000", "watcher counts to measure, in order")
	fs.DurationVar(&c.hold, "hold", 15*time.Second, "how long to measure each step")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "settling time after each step's connections are open")
	fs.IntVar(&c.dialRate, "dial-rate", 2000, "new connections per second")
	fs.DurationVar(&c.target, "p99", 50*time.Millisecond, "the p99 a step must stay under to count as held")
	fs.IntVar(&c.idle, "idle", 2000, "idle connections to open first, to measure the node's memory per idle connection (0: skip)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(*steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-watchers: %q is not a count", s)
		}
		c.steps = append(c.steps, n)
	}
	if (c.url == "") == (c.spawn == "") {
		return errors.New("give exactly one of -url and -spawn")
	}
	if c.spawn != "" {
		p, err := node.Spawn(c.spawn, nil, os.Stderr)
		if err != nil {
			return err
		}
		defer p.Stop()
		c.url = p.URL
	}
	if !strings.HasPrefix(c.url, "http://127.") && !strings.HasPrefix(c.url, "http://localhost") && !strings.HasPrefix(c.url, "http://[::1]") {
		return fmt.Errorf("-url %s: only addresses on this machine may be load-tested", c.url)
	}
	return measure(ctx, c, out)
}

type recorder struct {
	mu   sync.Mutex
	lat  []time.Duration
	on   bool
	errs atomic.Int64
	gaps atomic.Int64
	seen atomic.Int64
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	if r.on {
		r.lat = append(r.lat, d)
	}
	r.mu.Unlock()
}

func (r *recorder) start() {
	r.mu.Lock()
	r.on, r.lat = true, r.lat[:0]
	r.mu.Unlock()
}

func (r *recorder) stop() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	out := slices.Clone(r.lat)
	slices.Sort(out)
	return out
}

func measure(ctx context.Context, c config, out io.Writer) error {
	tok, err := node.Guest(c.url)
	if err != nil {
		return err
	}
	scenarios, err := node.EndlessScenarios(c.url)
	if err != nil {
		return err
	}
	// Stories start spread over one interval, as stories started by
	// different people at different times are, rather than all ticking
	// in the same millisecond.
	sims := make([]string, c.sims)
	for i := range sims {
		if sims[i], err = node.Create(c.url, tok, scenarios[i%len(scenarios)], i, c.interval); err != nil {
			return err
		}
		time.Sleep(c.interval / time.Duration(len(sims)))
	}
	fmt.Fprintf(out, "node %s: %d simulations at one turn per %v\n", c.url, c.sims, c.interval)
	if c.idle > 0 {
		if err := measureIdle(ctx, c, out); err != nil {
			return err
		}
	}
	rssBefore := rss(c.url)

	rec := &recorder{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	open := 0
	held := 0
	fmt.Fprintf(out, "%9s %10s %9s %9s %9s %9s %8s %12s\n", "watchers", "turns", "p50", "p90", "p99", "max", "errors", "rss/conn")
	for _, n := range c.steps {
		tick := time.NewTicker(time.Second / time.Duration(max(1, c.dialRate)))
		for open < n {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
			sim := sims[open%len(sims)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				watch(ctx, c.url, sim, rec)
			}()
			open++
		}
		tick.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.warmup):
		}
		rec.start()
		errsBefore := rec.errs.Load()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.hold):
		}
		lat := rec.stop()
		perConn := "-"
		if rssBefore > 0 {
			if now := rss(c.url); now > rssBefore {
				perConn = fmt.Sprintf("%.1f KiB", float64(now-rssBefore)/float64(n)/1024)
			}
		}
		p99 := stats.Percentile(lat, 0.99)
		fmt.Fprintf(out, "%9d %10d %9v %9v %9v %9v %8d %12s\n", n, len(lat),
			stats.Percentile(lat, 0.5).Round(100*time.Microsecond), stats.Percentile(lat, 0.9).Round(100*time.Microsecond),
			p99.Round(100*time.Microsecond), stats.Percentile(lat, 1).Round(100*time.Microsecond), rec.errs.Load()-errsBefore, perConn)
		if p99 < c.target && len(lat) > 0 && rec.errs.Load() == errsBefore {
			held = n
		}
	}
	fmt.Fprintf(out, "held with p99 under %v: %d watchers (gaps seen: %d)\n", c.target, held, rec.gaps.Load())
	cancel()
	return nil
}

// measureIdle opens c.idle connections that subscribe to nothing and
// reports the node's resident memory per connection.
func measureIdle(ctx context.Context, c config, out io.Writer) error {
	before := rss(c.url)
	u := strings.Replace(c.url, "http://", "ws://", 1) + "/v1/ws"
	conns := make([]*websocket.Conn, 0, c.idle)
	defer func() {
		for _, conn := range conns {
			conn.CloseNow()
		}
	}()
	for len(conns) < c.idle {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, _, err := websocket.Dial(dctx, u, nil)
		if err == nil {
			_, _, err = conn.Read(dctx) // welcome
		}
		cancel()
		if err != nil {
			return fmt.Errorf("idle connection %d: %w", len(conns), err)
		}
		conns = append(conns, conn)
	}
	// Let the node's heap settle before reading its memory.
	time.Sleep(2 * time.Second)
	after := rss(c.url)
	if before > 0 && after > before {
		fmt.Fprintf(out, "%d idle connections: %.1f KiB resident memory each\n", c.idle, float64(after-before)/float64(c.idle)/1024)
	}
	return nil
}

// watch subscribes to sim and records each turn's delivery latency until
// ctx ends.
func watch(ctx context.Context, base, sim string, rec *recorder) {
	u := strings.Replace(base, "http://", "ws://", 1) + "/v1/ws"
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, _, err := websocket.Dial(dctx, u, nil)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			rec.errs.Add(1)
		}
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 22)
	msg := fmt.Sprintf(`{"type":"subscribe","sim":%q}`, sim)
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		rec.errs.Add(1)
		return
	}
	var last int64
	for {
		_, data, err := c.Read(ctx)
		now := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				rec.errs.Add(1)
			}
			return
		}
		if !bytes.HasPrefix(data, []byte(`{"type":"turn"`)) {
			if bytes.HasPrefix(data, []byte(`{"type":"snapshot"`)) {
				var s struct {
					Seq int64 `json:"seq"`
				}
				json.Unmarshal(data, &s)
				last = s.Seq
			}
			continue
		}
		seq, at, ok := node.TurnSeqAt(data)
		if !ok {
			rec.errs.Add(1)
			continue
		}
		if last > 0 && seq != last+1 {
			rec.gaps.Add(1)
		}
		last = seq
		rec.seen.Add(1)
		rec.add(now.Sub(at))
	}
}

var rssRe = regexp.MustCompile(`(?m)^process_resident_memory_bytes (\S+)`)

// rss reads the node's resident memory from its metrics.
func rss(base string) int64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := rssRe.FindSubmatch(b)
	if m == nil {
		return 0
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return int64(f)
}
