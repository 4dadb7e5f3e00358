// Command attack plays an attacker against one node with its default
// limits, while an honest watcher and an honest player use it, and
// reports what each got:
//
//	go run ./loadtest/cmd/attack -spawn bin/novel-engine
//
// The node runs behind a pretend proxy (NOVEL_TRUSTED_PROXIES=127.0.0.1),
// so the attacker's requests say they come from 198.51.100.7 and the
// honest users' from 203.0.113.x, all from this machine. The attacker,
// at once: opens sockets from its address until refused (up to -sockets),
// has one guest start stories without end, floods one socket with
// messages, and sends junk HTTP methods. Only addresses on this machine
// should be targeted.
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

	"github.com/novel-engine/novel-engine/loadtest/internal/node"
	"github.com/novel-engine/novel-engine/loadtest/internal/stats"
)

const attacker = "198.51.100.7"

func main() {
	spawn := flag.String("spawn", "bin/novel-engine", "node binary to start")
	sockets := flag.Int("sockets", 3000, "sockets the attacker tries to open")
	duration := flag.Duration("duration", 30*time.Second, "how long the attack lasts")
	flag.Parse()
	// The defaults, not the load tools' lifted limits: the point is to
	// see them hold.
	env := []string{"NOVEL_TRUSTED_PROXIES=127.0.0.1", "NOVEL_MAX_USER_STORIES=10", "NOVEL_MAX_GUEST_ADDR_STORIES=20",
		"NOVEL_MAX_STORIES=1000", "NOVEL_MAX_LOAD=-1", "NOVEL_GUEST_SIGNINS_PER_HOUR=30", "NOVEL_READ_RATE=50",
		"NOVEL_WS_USER_RATE=40", "NOVEL_MAX_CONNS_PER_ADDR=100", "NOVEL_MAX_CONNS_PER_USER=20", "NOVEL_MAX_CONNS=20000",
		"NOVEL_CONN_RATE=10", "NOVEL_MAX_SUBSCRIPTIONS=50"}
	p, err := node.Spawn(*spawn, env, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(1)
	}
	defer p.Stop()
	if err := run(p.URL, *sockets, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(1)
	}
}

// do makes a request as from addr.
func do(method, url, addr, tok, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Forwarded-For", addr)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

func guest(base, addr string) (string, error) {
	code, b, err := do("POST", base+"/v1/auth/guest", addr, "", `{"name":"x"}`)
	if err != nil || code != 201 {
		return "", fmt.Errorf("guest sign-in from %s: %d %v", addr, code, err)
	}
	var out struct{ Token string }
	json.Unmarshal(b, &out)
	return out.Token, nil
}

func dial(ctx context.Context, base, addr, tok string) (*websocket.Conn, int, error) {
	h := http.Header{"X-Forwarded-For": {addr}}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	c, resp, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode, err
		}
		return nil, 0, err
	}
	c.SetReadLimit(1 << 20)
	return c, 101, nil
}

func run(base string, sockets int, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()

	// The honest ones: a host's story at 10 turns a second, a watcher,
	// and a player acting every second in a story of its own.
	host, err := guest(base, "203.0.113.1")
	if err != nil {
		return err
	}
	code, b, err := do("POST", base+"/v1/simulations", "203.0.113.1", host, `{"scenario":"`+firstScenario(base)+`","turn_interval_ms":100,"max_turns":100000}`)
	if err != nil || code != 201 {
		return fmt.Errorf("honest create: %d %s %v", code, b, err)
	}
	var sim struct {
		ID         string `json:"id"`
		Characters []struct {
			ID string `json:"id"`
		} `json:"characters"`
	}
	json.Unmarshal(b, &sim)
	defer do("POST", base+"/v1/simulations/"+sim.ID+"/stop", "203.0.113.1", host, "")

	var (
		wg                          sync.WaitGroup
		mu                          sync.Mutex
		delays                      []time.Duration
		acted, accepted             atomic.Int64
		socketsOK, socketsNo        atomic.Int64
		storiesOK, storiesNo        atomic.Int64
		floodSent                   atomic.Int64
		floodClosed                 atomic.Int32
		junkSent                    atomic.Int64
		watcherErr, playerErr       error
		metricsBefore, metricsAfter int
	)
	metricsSize := func() int {
		_, b, _ := do("GET", base+"/metrics", "127.0.0.1", "", "")
		return len(b)
	}
	metricsBefore = metricsSize()

	wg.Go(func() { // watcher
		c, _, err := dial(ctx, base, "203.0.113.2", "")
		if err != nil {
			watcherErr = err
			return
		}
		defer c.CloseNow()
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","sim":"`+sim.ID+`"}`))
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				if ctx.Err() == nil {
					watcherErr = err
				}
				return
			}
			if _, at, ok := node.TurnSeqAt(data); ok {
				mu.Lock()
				delays = append(delays, time.Since(at))
				mu.Unlock()
			}
		}
	})
	wg.Go(func() { // player
		tok, err := guest(base, "203.0.113.3")
		if err != nil {
			playerErr = err
			return
		}
		c, _, err := dial(ctx, base, "203.0.113.3", tok)
		if err != nil {
			playerErr = err
			return
		}
		defer c.CloseNow()
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"claim","id":"c","sim":"`+sim.ID+`","character":"`+sim.Characters[0].ID+`"}`))
		go func() {
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					return
				}
				if bytes.Contains(data, []byte(`"type":"accepted"`)) {
					accepted.Add(1)
				}
			}
		}()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			acted.Add(1)
			c.Write(ctx, websocket.MessageText, []byte(`{"type":"act","id":"a","sim":"`+sim.ID+`","character":"`+sim.Characters[0].ID+`","action":{"kind":"wait"}}`))
		}
	})

	// The attacker.
	wg.Go(func() { // sockets from one address
		var held []*websocket.Conn
		defer func() {
			for _, c := range held {
				c.CloseNow()
			}
		}()
		for i := 0; i < sockets && ctx.Err() == nil; i++ {
			c, _, err := dial(ctx, base, attacker, "")
			if err != nil {
				socketsNo.Add(1)
				continue
			}
			socketsOK.Add(1)
			held = append(held, c)
		}
		<-ctx.Done()
	})
	wg.Go(func() { // stories without end
		tok, err := guest(base, attacker)
		if err != nil {
			return
		}
		for ctx.Err() == nil {
			code, _, err := do("POST", base+"/v1/simulations", attacker, tok, `{"scenario":"`+firstScenario(base)+`","turn_interval_ms":10,"max_turns":100000}`)
			switch {
			case err != nil:
			case code == 201:
				storiesOK.Add(1)
			default:
				storiesNo.Add(1)
			}
		}
	})
	wg.Go(func() { // a message flood
		c, _, err := dial(ctx, base, "198.51.100.8", "")
		if err != nil {
			return
		}
		defer c.CloseNow()
		go func() {
			for {
				if _, _, err := c.Read(ctx); err != nil {
					if websocket.CloseStatus(err) == 4029 {
						floodClosed.Store(1)
					}
					return
				}
			}
		}()
		t := time.NewTicker(time.Second / 300)
		defer t.Stop()
		for ctx.Err() == nil {
			<-t.C
			if c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)) != nil {
				return
			}
			floodSent.Add(1)
		}
	})
	wg.Go(func() { // junk methods and paths
		for i := 0; ctx.Err() == nil && i < 1000; i++ {
			do(fmt.Sprintf("JUNK%d", i), fmt.Sprintf("%s/v1/junk/%d", base, i), "198.51.100.9", "", "")
			junkSent.Add(1)
		}
	})
	wg.Wait()
	metricsAfter = metricsSize()

	slices.Sort(delays)
	fmt.Printf("attacker: sockets from one address: %d accepted, %d refused\n", socketsOK.Load(), socketsNo.Load())
	fmt.Printf("attacker: stories by one guest: %d started, %d refused\n", storiesOK.Load(), storiesNo.Load())
	fmt.Printf("attacker: message flood at 300/s: %d sent, closed with 4029: %v\n", floodSent.Load(), floodClosed.Load() == 1)
	fmt.Printf("attacker: junk methods: %d sent; /metrics %d bytes before, %d after\n", junkSent.Load(), metricsBefore, metricsAfter)
	fmt.Printf("honest watcher: %d turns, delivery p50 %v, p99 %v, max %v (err %v)\n", len(delays),
		stats.Percentile(delays, 0.5), stats.Percentile(delays, 0.99), stats.Percentile(delays, 1), watcherErr)
	fmt.Printf("honest player: %d actions sent, %d accepted (err %v)\n", acted.Load(), accepted.Load(), playerErr)
	return nil
}

func firstScenario(base string) string {
	var list struct {
		Scenarios []struct {
			ID string `json:"id"`
		} `json:"scenarios"`
	}
	node.GetJSON(base+"/v1/scenarios", &list)
	if len(list.Scenarios) == 0 {
		return ""
	}
	return list.Scenarios[0].ID
}
