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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
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
		url, stop, err := spawn(ctx, c.spawn)
		if err != nil {
			return err
		}
		defer stop()
		c.url = url
	}
	if !strings.HasPrefix(c.url, "http://127.") && !strings.HasPrefix(c.url, "http://localhost") && !strings.HasPrefix(c.url, "http://[::1]") {
		return fmt.Errorf("-url %s: only addresses on this machine may be load-tested", c.url)
	}
	return measure(ctx, c, out)
}

var listenRe = regexp.MustCompile(`listening on (http://\S+)`)

// spawn starts a node on a free loopback port and returns its URL.
func spawn(ctx context.Context, bin string) (string, func(), error) {
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(), "NOVEL_ADDR=127.0.0.1:0", "NOVEL_LOG_LEVEL=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return u, stop, nil
	case <-time.After(10 * time.Second):
		stop()
		return "", nil, errors.New("the spawned node did not start listening")
	}
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

func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func measure(ctx context.Context, c config, out io.Writer) error {
	tok, err := guest(c.url)
	if err != nil {
		return err
	}
	scenarios, err := endlessScenarios(c.url)
	if err != nil {
		return err
	}
	// Stories start spread over one interval, as stories started by
	// different people at different times are, rather than all ticking
	// in the same millisecond.
	sims := make([]string, c.sims)
	for i := range sims {
		if sims[i], err = create(c.url, tok, scenarios[i%len(scenarios)], i, c.interval); err != nil {
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
		p99 := pct(lat, 0.99)
		fmt.Fprintf(out, "%9d %10d %9v %9v %9v %9v %8d %12s\n", n, len(lat),
			pct(lat, 0.5).Round(100*time.Microsecond), pct(lat, 0.9).Round(100*time.Microsecond),
			p99.Round(100*time.Microsecond), pct(lat, 1).Round(100*time.Microsecond), rec.errs.Load()-errsBefore, perConn)
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
		seq, at, ok := turnSeqAt(data)
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

var (
	seqKey = []byte(`"seq":`)
	atKey  = []byte(`"at":"`)
)

// turnSeqAt reads a turn message's seq and at without decoding it all.
func turnSeqAt(b []byte) (int64, time.Time, bool) {
	i := bytes.Index(b, seqKey)
	if i < 0 {
		return 0, time.Time{}, false
	}
	j := i + len(seqKey)
	k := j
	for k < len(b) && b[k] >= '0' && b[k] <= '9' {
		k++
	}
	seq, err := strconv.ParseInt(string(b[j:k]), 10, 64)
	if err != nil {
		return 0, time.Time{}, false
	}
	i = bytes.Index(b, atKey)
	if i < 0 {
		return 0, time.Time{}, false
	}
	j = i + len(atKey)
	k = bytes.IndexByte(b[j:], '"')
	if k < 0 {
		return 0, time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, string(b[j:j+k]))
	return seq, at, err == nil
}

func guest(base string) (string, error) {
	resp, err := http.Post(base+"/v1/auth/guest", "application/json", strings.NewReader(`{"name":"loadgen"}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("guest sign-in: %d %v", resp.StatusCode, err)
	}
	return out.Token, nil
}

// endlessScenarios returns the built-in scenarios without their end
// conditions and with a long planned length, so that stories keep going
// for as long as a measurement takes, with realistic turns.
func endlessScenarios(base string) ([]json.RawMessage, error) {
	var list struct {
		Scenarios []struct {
			ID string `json:"id"`
		} `json:"scenarios"`
	}
	if err := getJSON(base+"/v1/scenarios", &list); err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for _, s := range list.Scenarios {
		var sc map[string]any
		if err := getJSON(base+"/v1/scenarios/"+s.ID, &sc); err != nil {
			return nil, err
		}
		delete(sc, "end")
		sc["id"] = s.ID + "-endless"
		sc["length"] = 10000
		b, _ := json.Marshal(sc)
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, errors.New("the node has no scenarios")
	}
	return out, nil
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func create(base, tok string, scenario json.RawMessage, seed int, interval time.Duration) (string, error) {
	body := fmt.Sprintf(`{"scenario":%s,"seed":%d,"turn_interval_ms":%d,"max_turns":100000}`, scenario, seed, interval.Milliseconds())
	req, _ := http.NewRequest("POST", base+"/v1/simulations", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var sim struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&sim); err != nil || sim.ID == "" {
		return "", fmt.Errorf("create simulation: %d %v", resp.StatusCode, err)
	}
	return sim.ID, nil
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
