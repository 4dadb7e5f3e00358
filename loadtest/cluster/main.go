// Command cluster measures turn delivery across the nodes of a cluster:
// it starts stories through the load balancer, spreads watchers over the
// nodes (through the balancer, round robin), and reports how long each
// turn took from being produced (the turn's "at") to reaching a watcher,
// with gaps and duplicates counted.
//
//	deploy/local-cluster.sh &
//	go run ./loadtest/cluster -url http://127.0.0.1:8080 -stories 30 -watchers 3000 -duration 60s
//
// One process holds an open file per watcher. For more watchers than that
// allows, the stories are created once (-create ids), several processes
// each watch them with a share of the watchers (-ids ids -first i
// -watchers n -start go -out rN.json, started together by creating the
// file go once all are connected), and -merge r1.json,r2.json -ids ids
// prints their report as one (deploy/fleet.sh does this).
//
// Watchers connect -dials at a time and the API calls (creating, counting
// and stopping the stories) run -calls at a time, with their progress
// printed every -progress.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

func main() {
	urls := flag.String("url", "http://127.0.0.1:8080", "the balancer's base URL; several, comma-separated, share the watchers (the first also takes the API calls)")
	stories := flag.Int("stories", 30, "stories to run")
	watchers := flag.Int("watchers", 3000, "watchers, spread evenly over the stories")
	interval := flag.Int("interval-ms", 1000, "turn interval of each story")
	duration := flag.Duration("duration", 60*time.Second, "measurement time after the warm-up")
	warmup := flag.Duration("warmup", 5*time.Second, "time after the last watcher connected before measuring")
	create := flag.String("create", "", "only create the stories, write their ids to this file (one a line) and exit")
	ids := flag.String("ids", "", "watch the stories in this file (from -create) instead of creating them; they are left running")
	first := flag.Int("first", 0, "with -ids: the index of this process's first watcher among all the processes' watchers")
	startFile := flag.String("start", "", "once connected, wait until this file exists before warming up (to line up several processes)")
	out := flag.String("out", "", "write the raw results (JSON) to this file instead of printing the report")
	merge := flag.String("merge", "", "comma-separated -out files: print their report as one; with -ids, count the stories that ended and stop them (with the token -create kept beside the ids)")
	flag.IntVar(&par.dials, "dials", par.dials, "watchers connecting at once")
	flag.IntVar(&par.calls, "calls", par.calls, "API calls (create, status, stop) in flight at once")
	flag.DurationVar(&par.every, "progress", par.every, "how often long work (creating, connecting) prints its progress")
	flag.Parse()
	o := options{urls: splitList(*urls), stories: *stories, watchers: *watchers, intervalMS: *interval,
		duration: *duration, warmup: *warmup, first: *first, startFile: *startFile, out: *out}
	var err error
	switch {
	case *merge != "":
		err = mergeReport(o.urls[0], splitList(*merge), *ids)
	case *create != "":
		err = createOnly(o, *create)
	default:
		if *ids != "" {
			o.sims, err = readIDs(*ids)
		}
		if err == nil {
			err = run(o)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster load:", err)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var l []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			l = append(l, x)
		}
	}
	return l
}

// par bounds the work in flight: set by the flags.
var par = struct {
	dials, calls int
	every        time.Duration
}{dials: 16, calls: 16, every: 5 * time.Second}

type options struct {
	urls              []string
	stories, watchers int
	intervalMS        int
	duration, warmup  time.Duration
	sims              []string // given (-ids): not created, not stopped
	first             int
	startFile, out    string
}

func api(method, url, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// write is api for a call that changes something (creating a story,
// stopping one): those are rate limited per client address, so a 429 is
// waited out and tried again.
func write(method, url, token string, body, out any) error {
	for {
		err := api(method, url, token, body, out)
		if err == nil || !strings.Contains(err.Error(), ": 429 ") {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sample is one turn's delivery to one watcher.
type sample struct {
	latency time.Duration
	node    string
}

type watcher struct {
	node       string
	samples    []sample
	gaps       int
	last       int64
	reconnects int
	why        map[string]int // what ended each connection: an error code, or "closed"
}

// signIn returns a guest's token, for creating and stopping stories.
func signIn(base string) (string, error) {
	var guest struct{ Token string }
	err := api("POST", base+"/v1/auth/guest", "", map[string]string{"name": "load"}, &guest)
	return guest.Token, err
}

// newStories starts the stories: the first scenario, made endless.
func newStories(base, token string, nStories, intervalMS int) ([]string, error) {
	var list struct{ Scenarios []struct{ ID string } }
	if err := api("GET", base+"/v1/scenarios", "", nil, &list); err != nil {
		return nil, err
	}
	var scenario map[string]any
	if err := api("GET", base+"/v1/scenarios/"+list.Scenarios[0].ID, "", nil, &scenario); err != nil {
		return nil, err
	}
	delete(scenario, "end")
	scenario["id"] = fmt.Sprint(scenario["id"], "-endless")
	scenario["length"] = 10000
	return startStories(base, token, scenario, nStories, intervalMS)
}

func stopStories(base, token string, sims []string) {
	forEach(len(sims), par.calls, par.every, progress(os.Stderr, "stopping stories", len(sims), time.Now()), func(i int) error {
		return write("POST", base+"/v1/simulations/"+sims[i]+"/stop", token, nil, nil)
	})
}

// createOnly creates the stories for several load processes (-ids).
func createOnly(o options, path string) error {
	token, err := signIn(o.urls[0])
	if err != nil {
		return err
	}
	start := time.Now()
	sims, err := newStories(o.urls[0], token, o.stories, o.intervalMS)
	if err != nil {
		return err
	}
	fmt.Printf("%d stories created in %v (%d at once)\n", len(sims), time.Since(start).Round(time.Millisecond), par.calls)
	if err := writeIDs(path, sims); err != nil {
		return err
	}
	// Only the creator (or an admin) may stop a story: -merge stops them
	// with this token.
	return os.WriteFile(tokenPath(path), []byte(token+"\n"), 0o600)
}

// tokenPath is where -create keeps the token of the guest who created the
// stories listed in ids.
func tokenPath(ids string) string { return ids + ".token" }

// mergeReport prints the report of several processes' results; with the
// stories' ids it also counts those that ended and stops them all, as a
// single process does with its own.
func mergeReport(base string, paths []string, idsPath string) error {
	r, err := mergeFiles(paths)
	if err != nil {
		return err
	}
	ended := -1
	if idsPath != "" {
		sims, err := readIDs(idsPath)
		if err != nil {
			return err
		}
		ended = countEnded(base, sims)
		if token, err := os.ReadFile(tokenPath(idsPath)); err == nil {
			stopStories(base, strings.TrimSpace(string(token)), sims)
		} else {
			fmt.Fprintln(os.Stderr, "stories not stopped: no token of their creator:", err)
		}
	}
	return r.print(os.Stdout, ended)
}

// countEnded asks for each story's status and counts those not running.
func countEnded(base string, sims []string) int {
	var ended atomic.Int64
	forEach(len(sims), par.calls, par.every, progress(os.Stderr, "reading the stories' status", len(sims), time.Now()), func(i int) error {
		var v struct{ Status string }
		err := api("GET", base+"/v1/simulations/"+sims[i], "", nil, &v)
		if err == nil && v.Status != "running" {
			ended.Add(1)
		}
		return err
	})
	return int(ended.Load())
}

// assign gives watcher i (counted over all processes) its story and its
// balancer: three consecutive watchers watch one story through one
// balancer, whose round robin puts them on different nodes, so each story
// has watchers on every node.
func assign(i int, sims, urls []string) (sim, base string) {
	return sims[(i/3)%len(sims)], urls[(i/3)%len(urls)]
}

func run(o options) error {
	sims := o.sims
	if sims == nil {
		token, err := signIn(o.urls[0])
		if err != nil {
			return err
		}
		if sims, err = newStories(o.urls[0], token, o.stories, o.intervalMS); err != nil {
			return err
		}
		defer stopStories(o.urls[0], token, sims)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var measuring atomic.Bool
	ws := make([]*watcher, o.watchers)
	var wg sync.WaitGroup
	// Each watcher's dial (the balancer's upgrade, its dial of a node, the
	// node's accept) and subscription, until the node's answer, timed.
	took := make([]time.Duration, o.watchers)
	start := time.Now()
	dialFailed := forEach(o.watchers, par.dials, par.every, progress(os.Stderr, "connecting watchers", o.watchers, start), func(i int) error {
		w := &watcher{}
		ws[i] = w
		sim, base := assign(o.first+i, sims, o.urls)
		wsURL := strings.Replace(base, "http://", "ws://", 1) + "/v1/ws"
		t0 := time.Now()
		conn, err := connect(ctx, wsURL, fmt.Sprintf(`{"type":"subscribe","sim":%q}`, sim))
		if err != nil {
			return err
		}
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		err = w.subscribed(sctx, conn, &measuring)
		scancel()
		if err != nil {
			conn.CloseNow()
			ws[i] = &watcher{} // counted as never connected
			return err
		}
		took[i] = time.Since(t0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.watch(ctx, conn, wsURL, sim, &measuring)
		}()
		return nil
	})
	fmt.Printf("%d watchers connected in %v (%d failed; %d at once, each: %s); warming up %v\n", o.watchers-dialFailed,
		time.Since(start).Round(time.Millisecond), dialFailed, par.dials, timings(took), o.warmup)
	if o.startFile != "" {
		for {
			if _, err := os.Stat(o.startFile); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(o.warmup)
	measuring.Store(true)
	time.Sleep(o.duration)
	measuring.Store(false)
	cancel()
	wg.Wait()

	r := collect(ws, len(sims), o.intervalMS, o.duration, dialFailed)
	if o.out != "" {
		return writeResults(o.out, r)
	}
	ended := -1
	if o.sims == nil {
		ended = countEnded(o.urls[0], sims)
	}
	return r.print(os.Stdout, ended)
}

// watch reads conn until ctx ends; when the node goes away (killed, or
// drained) it resumes through the balancer from the last turn seen, as a
// client does, waiting longer after each attempt that did not get its
// subscription answered (backoff).
func (w *watcher) watch(ctx context.Context, conn *websocket.Conn, wsURL, sim string, measuring *atomic.Bool) {
	b := newBackoff()
	for {
		why, answered := w.read(ctx, conn, measuring)
		conn.CloseNow()
		if answered {
			b.reset()
		}
		if ctx.Err() == nil {
			if w.why == nil {
				w.why = map[string]int{}
			}
			w.why[why]++
		}
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(b.next()):
			}
			c, err := connect(ctx, wsURL, fmt.Sprintf(`{"type":"subscribe","sim":%q,"since":%d}`, sim, w.last))
			if err != nil {
				continue
			}
			w.reconnects++
			conn = c
			break
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// connect dials a node through wsURL and sends msg, a subscription.
func connect(ctx context.Context, wsURL, msg string) (*websocket.Conn, error) {
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	c, _, err := websocket.Dial(dctx, wsURL, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 22)
	if err := c.Write(dctx, websocket.MessageText, []byte(msg)); err != nil {
		c.CloseNow()
		return nil, err
	}
	return c, nil
}

// startStories starts n stories of scenario, -calls at a time, the i-th
// not before its share of the interval has passed, so that their turns
// are spread over the interval as those of stories started at different
// times are.
func startStories(base, token string, scenario map[string]any, nStories, intervalMS int) ([]string, error) {
	sims := make([]string, nStories)
	errs := make([]error, nStories)
	start := time.Now()
	interval := time.Duration(intervalMS) * time.Millisecond
	failed := forEach(nStories, par.calls, par.every, progress(os.Stderr, "creating stories", nStories, start), func(i int) error {
		time.Sleep(time.Until(spread(start, i, nStories, interval)))
		var v struct{ ID string }
		err := write("POST", base+"/v1/simulations", token, map[string]any{
			"scenario": scenario, "seed": i + 1, "max_turns": 100000, "turn_interval_ms": intervalMS,
		}, &v)
		sims[i], errs[i] = v.ID, err
		return err
	})
	if failed > 0 {
		// The ones made are left running, as they were when a creation
		// failed one at a time; the first error says why.
		i := slices.IndexFunc(errs, func(err error) bool { return err != nil })
		return nil, fmt.Errorf("%d of %d stories not created; the first: %w", failed, nStories, errs[i])
	}
	return sims, nil
}

// read takes a connection's messages until it ends, and says why it
// ended (the code of an error message, or "closed") and whether its
// subscription was answered.
func (w *watcher) read(ctx context.Context, conn *websocket.Conn, measuring *atomic.Bool) (why string, answered bool) {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return "closed", answered
		}
		switch typ, code := w.take(data, time.Now(), measuring); typ {
		case "subscribed":
			answered = true
		case "error":
			return code, answered // a node going away mid-request: resume elsewhere
		}
	}
}

// subscribed reads conn until the node has answered the subscription, so
// that a watcher counts as connected once the node has done its part
// (the story's record, its recent turns) and not only accepted the socket.
func (w *watcher) subscribed(ctx context.Context, conn *websocket.Conn, measuring *atomic.Bool) error {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		switch typ, code := w.take(data, time.Now(), measuring); typ {
		case "subscribed":
			return nil
		case "error":
			return fmt.Errorf("subscribe: %s", code)
		}
	}
}

// take applies one message, read at now, to the watcher's figures, and
// returns its type and, for an error, its code.
func (w *watcher) take(data []byte, now time.Time, measuring *atomic.Bool) (typ, code string) {
	var m struct {
		Type string
		Node string
		Seq  int64
		Code string
		Turn struct {
			At time.Time `json:"at"`
		}
	}
	if json.Unmarshal(data, &m) != nil {
		return "", ""
	}
	switch m.Type {
	case "welcome":
		w.node = m.Node
	case "snapshot":
		w.last = m.Seq
	case "turn":
		if w.last > 0 && m.Seq != w.last+1 {
			w.gaps++
		}
		w.last = m.Seq
		if measuring.Load() {
			w.samples = append(w.samples, sample{latency: now.Sub(m.Turn.At), node: w.node})
		}
	}
	return m.Type, m.Code
}
