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

// attack is one run: who takes part, and what each saw.
type attack struct {
	base    string
	sockets int
	sim     string // the honest story
	char    string // the honest player's character

	mu         sync.Mutex
	delays     []time.Duration
	watcherErr error
	playerErr  error

	acted, accepted      atomic.Int64
	socketsOK, socketsNo atomic.Int64
	storiesOK, storiesNo atomic.Int64
	floodSent, junkSent  atomic.Int64
	floodClosed          atomic.Bool
}

func run(base string, sockets int, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	a := &attack{base: base, sockets: sockets}
	// The honest ones: a host's story at 10 turns a second (one that does
	// not end before the attack does), a watcher, and a player acting
	// every second.
	host, err := guest(base, "203.0.113.1")
	if err != nil {
		return err
	}
	if err := a.startStory(host); err != nil {
		return err
	}
	defer do("POST", base+"/v1/simulations/"+a.sim+"/stop", "203.0.113.1", host, "")
	metricsBefore := a.metricsSize()
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){a.watch, a.play, a.openSockets, a.startStories, a.flood, a.junk} {
		wg.Go(func() { f(ctx) })
	}
	wg.Wait()
	metricsAfter := a.metricsSize()

	slices.Sort(a.delays)
	fmt.Printf("attacker: sockets from one address: %d accepted, %d refused\n", a.socketsOK.Load(), a.socketsNo.Load())
	fmt.Printf("attacker: stories by one guest: %d started, %d refused\n", a.storiesOK.Load(), a.storiesNo.Load())
	fmt.Printf("attacker: message flood at 300/s: %d sent, closed with 4029: %v\n", a.floodSent.Load(), a.floodClosed.Load())
	fmt.Printf("attacker: junk methods: %d sent; /metrics %d bytes before, %d after\n", a.junkSent.Load(), metricsBefore, metricsAfter)
	fmt.Printf("honest watcher: %d turns, delivery p50 %v, p99 %v, max %v (err %v)\n", len(a.delays),
		stats.Percentile(a.delays, 0.5), stats.Percentile(a.delays, 0.99), stats.Percentile(a.delays, 1), a.watcherErr)
	fmt.Printf("honest player: %d actions sent, %d accepted (err %v)\n", a.acted.Load(), a.accepted.Load(), a.playerErr)
	return nil
}

// startStory starts the honest story: the first built-in scenario without
// its end conditions, so that it outlives the attack.
func (a *attack) startStory(host string) error {
	var sc map[string]any
	if err := node.GetJSON(a.base+"/v1/scenarios/"+firstScenario(a.base), &sc); err != nil {
		return fmt.Errorf("honest scenario: %w", err)
	}
	delete(sc, "end")
	sc["id"] = fmt.Sprint(sc["id"], "-endless")
	sc["length"] = 10000
	body, _ := json.Marshal(map[string]any{"scenario": sc, "turn_interval_ms": 100, "max_turns": 100000})
	code, b, err := do("POST", a.base+"/v1/simulations", "203.0.113.1", host, string(body))
	if err != nil || code != 201 {
		return fmt.Errorf("honest create: %d %s %v", code, b, err)
	}
	var sim struct {
		ID         string `json:"id"`
		Characters []struct {
			ID string `json:"id"`
		} `json:"characters"`
	}
	if err := json.Unmarshal(b, &sim); err != nil || len(sim.Characters) == 0 {
		return fmt.Errorf("honest create: %s %v", b, err)
	}
	a.sim, a.char = sim.ID, sim.Characters[0].ID
	return nil
}

func (a *attack) metricsSize() int {
	_, b, _ := do("GET", a.base+"/metrics", "127.0.0.1", "", "")
	return len(b)
}

// watch is the honest watcher: the delay of every turn it reads.
func (a *attack) watch(ctx context.Context) {
	c, _, err := dial(ctx, a.base, "203.0.113.2", "")
	if err != nil {
		a.watcherErr = err
		return
	}
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","sim":"`+a.sim+`"}`))
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				a.watcherErr = err
			}
			return
		}
		if _, at, ok := node.TurnSeqAt(data); ok {
			a.mu.Lock()
			a.delays = append(a.delays, time.Since(at))
			a.mu.Unlock()
		}
	}
}

// play is the honest player: a seat, and an action every second.
func (a *attack) play(ctx context.Context) {
	tok, err := guest(a.base, "203.0.113.3")
	if err != nil {
		a.playerErr = err
		return
	}
	c, _, err := dial(ctx, a.base, "203.0.113.3", tok)
	if err != nil {
		a.playerErr = err
		return
	}
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"claim","id":"c","sim":"`+a.sim+`","character":"`+a.char+`"}`))
	go func() { // ends when the socket closes, as this function returns
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if bytes.Contains(data, []byte(`"type":"accepted"`)) {
				a.accepted.Add(1)
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
		a.acted.Add(1)
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"act","id":"a","sim":"`+a.sim+`","character":"`+a.char+`","action":{"kind":"wait"}}`))
	}
}

// openSockets opens sockets from the attacker's address until told no,
// and holds them.
func (a *attack) openSockets(ctx context.Context) {
	var held []*websocket.Conn
	defer func() {
		for _, c := range held {
			c.CloseNow()
		}
	}()
	for i := 0; i < a.sockets && ctx.Err() == nil; i++ {
		c, _, err := dial(ctx, a.base, attacker, "")
		if err != nil {
			a.socketsNo.Add(1)
			continue
		}
		a.socketsOK.Add(1)
		held = append(held, c)
	}
	<-ctx.Done()
}

// startStories has one guest start stories without end.
func (a *attack) startStories(ctx context.Context) {
	tok, err := guest(a.base, attacker)
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		code, _, err := do("POST", a.base+"/v1/simulations", attacker, tok, `{"scenario":"`+firstScenario(a.base)+`","turn_interval_ms":10,"max_turns":100000}`)
		switch {
		case err != nil:
		case code == 201:
			a.storiesOK.Add(1)
		default:
			a.storiesNo.Add(1)
		}
	}
}

// flood sends 300 messages a second on one socket.
func (a *attack) flood(ctx context.Context) {
	c, _, err := dial(ctx, a.base, "198.51.100.8", "")
	if err != nil {
		return
	}
	defer c.CloseNow()
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				if websocket.CloseStatus(err) == 4029 {
					a.floodClosed.Store(true)
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
		a.floodSent.Add(1)
	}
}

// junk sends HTTP requests with made-up methods and paths.
func (a *attack) junk(ctx context.Context) {
	for i := 0; ctx.Err() == nil && i < 1000; i++ {
		do(fmt.Sprintf("JUNK%d", i), fmt.Sprintf("%s/v1/junk/%d", a.base, i), "198.51.100.9", "", "")
		a.junkSent.Add(1)
	}
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
