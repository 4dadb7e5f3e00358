// Command cluster measures turn delivery across the nodes of a cluster:
// it starts stories through the load balancer, spreads watchers over the
// nodes (through the balancer, round robin), and reports how long each
// turn took from being produced (the turn's "at") to reaching a watcher,
// with gaps and duplicates counted.
//
//	deploy/local-cluster.sh &
//	go run ./loadtest/cluster -url http://127.0.0.1:8080 -stories 30 -watchers 3000 -duration 60s
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
	base := flag.String("url", "http://127.0.0.1:8080", "the balancer's base URL")
	stories := flag.Int("stories", 30, "stories to run")
	watchers := flag.Int("watchers", 3000, "watchers, spread evenly over the stories")
	interval := flag.Int("interval-ms", 1000, "turn interval of each story")
	duration := flag.Duration("duration", 60*time.Second, "measurement time after the warm-up")
	warmup := flag.Duration("warmup", 5*time.Second, "time after the last watcher connected before measuring")
	flag.Parse()
	if err := run(*base, *stories, *watchers, *interval, *duration, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "cluster load:", err)
		os.Exit(1)
	}
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
	resp, err := http.DefaultClient.Do(req)
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

func run(base string, nStories, nWatchers, intervalMS int, duration, warmup time.Duration) error {
	var guest struct{ Token string }
	if err := api("POST", base+"/v1/auth/guest", "", map[string]string{"name": "load"}, &guest); err != nil {
		return err
	}
	var list struct{ Scenarios []struct{ ID string } }
	if err := api("GET", base+"/v1/scenarios", "", nil, &list); err != nil {
		return err
	}
	var scenario map[string]any
	if err := api("GET", base+"/v1/scenarios/"+list.Scenarios[0].ID, "", nil, &scenario); err != nil {
		return err
	}
	delete(scenario, "end")
	scenario["id"] = fmt.Sprint(scenario["id"], "-endless")
	scenario["length"] = 10000
	sims, err := startStories(base, guest.Token, scenario, nStories, intervalMS)
	if err != nil {
		return err
	}
	defer func() {
		for _, id := range sims {
			api("POST", base+"/v1/simulations/"+id+"/stop", guest.Token, nil, nil)
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var measuring atomic.Bool
	ws := make([]*watcher, nWatchers)
	var wg sync.WaitGroup
	var dialFailed atomic.Int64
	sem := make(chan struct{}, 64)
	wsURL := strings.Replace(base, "http://", "ws://", 1) + "/v1/ws"
	start := time.Now()
	for i := range nWatchers {
		w := &watcher{}
		ws[i] = w
		sem <- struct{}{}
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		conn, _, err := websocket.Dial(dctx, wsURL, nil)
		dcancel()
		<-sem
		if err != nil {
			dialFailed.Add(1)
			continue
		}
		conn.SetReadLimit(1 << 22)
		// Consecutive watchers reach different nodes (round robin), so
		// each story has watchers on every node.
		sim := sims[(i/3)%len(sims)]
		conn.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"type":"subscribe","sim":%q}`, sim)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				why := w.read(ctx, conn, &measuring)
				conn.CloseNow()
				if ctx.Err() == nil {
					if w.why == nil {
						w.why = map[string]int{}
					}
					w.why[why]++
				}
				// The node went away (killed, or drained): resume through
				// the balancer from the last turn seen, as a client does.
				for ctx.Err() == nil {
					select {
					case <-ctx.Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
					dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
					c, _, err := websocket.Dial(dctx, wsURL, nil)
					dcancel()
					if err != nil {
						continue
					}
					c.SetReadLimit(1 << 22)
					w.reconnects++
					sub := fmt.Sprintf(`{"type":"subscribe","sim":%q,"since":%d}`, sim, w.last)
					if c.Write(ctx, websocket.MessageText, []byte(sub)) != nil {
						c.CloseNow()
						continue
					}
					conn = c
					break
				}
				if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	fmt.Printf("%d watchers connected in %v (%d failed); warming up %v\n", nWatchers-int(dialFailed.Load()), time.Since(start).Round(time.Millisecond), dialFailed.Load(), warmup)
	time.Sleep(warmup)
	measuring.Store(true)
	time.Sleep(duration)
	measuring.Store(false)
	cancel()
	wg.Wait()

	return report(base, ws, sims, nStories, nWatchers, intervalMS, duration)
}

// startStories starts n stories of scenario, their turns spread over the
// interval as stories started at different times are.
func startStories(base, token string, scenario map[string]any, nStories, intervalMS int) ([]string, error) {
	var sims []string
	for i := range nStories {
		var v struct{ ID string }
		var err error
		for {
			err = api("POST", base+"/v1/simulations", token, map[string]any{
				"scenario": scenario, "seed": i + 1, "max_turns": 100000, "turn_interval_ms": intervalMS,
			}, &v)
			// Creating is rate limited per client address: wait as told.
			if err == nil || !strings.Contains(err.Error(), ": 429 ") {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			return nil, err
		}
		sims = append(sims, v.ID)
		// Spread the stories' turns over the interval, as stories started
		// at different times are.
		time.Sleep(time.Duration(intervalMS) * time.Millisecond / time.Duration(nStories))
	}
	return sims, nil
}

// report prints the delivery figures the watchers gathered.
func report(base string, ws []*watcher, sims []string, nStories, nWatchers, intervalMS int, duration time.Duration) error {
	var all []time.Duration
	perNode := map[string][]time.Duration{}
	gaps, reconnects, conns, why := 0, 0, map[string]int{}, map[string]int{}
	for _, w := range ws {
		gaps += w.gaps
		reconnects += w.reconnects
		for k, n := range w.why {
			why[k] += n
		}
		conns[w.node]++
		for _, s := range w.samples {
			all = append(all, s.latency)
			perNode[s.node] = append(perNode[s.node], s.latency)
		}
	}
	if len(all) == 0 {
		return fmt.Errorf("no turn delivered")
	}
	fmt.Printf("stories %d, watchers %d, turn interval %dms, measured %v\n", nStories, nWatchers, intervalMS, duration)
	ended := 0
	for _, id := range sims {
		var v struct{ Status string }
		if api("GET", base+"/v1/simulations/"+id, "", nil, &v) == nil && v.Status != "running" {
			ended++
		}
	}
	fmt.Printf("deliveries %d, gaps or duplicates %d, reconnections %d, watchers per node %v, stories that ended by themselves %d\n", len(all), gaps, reconnects, conns, ended)
	fmt.Printf("connections ended by: %v (\"closed\": the connection broke; else the error code the node sent)\n", why)
	fmt.Printf("delivery latency (turn produced → watcher): %s\n", summary(all))
	nodes := make([]string, 0, len(perNode))
	for n := range perNode {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		fmt.Printf("  via %-10s %s\n", n, summary(perNode[n]))
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

// read takes a connection's messages until it ends, and says why it
// ended: the code of an error message, or "closed".
func (w *watcher) read(ctx context.Context, conn *websocket.Conn, measuring *atomic.Bool) string {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return "closed"
		}
		now := time.Now()
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
			continue
		}
		switch m.Type {
		case "welcome":
			w.node = m.Node
		case "snapshot":
			w.last = m.Seq
		case "error":
			return m.Code // a node going away mid-request: resume elsewhere
		case "turn":
			if w.last > 0 && m.Seq != w.last+1 {
				w.gaps++
			}
			w.last = m.Seq
			if measuring.Load() {
				w.samples = append(w.samples, sample{latency: now.Sub(m.Turn.At), node: w.node})
			}
		}
	}
}
