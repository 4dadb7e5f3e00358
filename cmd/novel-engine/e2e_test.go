package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/internal/poll"
)

// node is a server started with run() on a free port.
type node struct {
	URL    string // http://127.0.0.1:port
	cancel context.CancelFunc
	done   chan error
	out    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenRe = regexp.MustCompile(`listening on (http://\S+)`)

// startNode runs the server as main does, with env on top of an empty
// environment, and stops it when the test ends.
func startNode(t testing.TB, env map[string]string, args ...string) *node {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["NOVEL_ADDR"]; !ok {
		env["NOVEL_ADDR"] = "127.0.0.1:0"
	}
	if _, ok := env["NOVEL_LOG_LEVEL"]; !ok {
		env["NOVEL_LOG_LEVEL"] = "warn"
	}
	// The tests play many clients from one address on a busy machine:
	// the per-client quotas and the node's admission control are lifted
	// unless a test sets them.
	for _, k := range []string{"NOVEL_MAX_USER_STORIES", "NOVEL_MAX_GUEST_ADDR_STORIES", "NOVEL_MAX_LOAD",
		"NOVEL_GUEST_SIGNINS_PER_HOUR", "NOVEL_READ_RATE", "NOVEL_CONN_RATE", "NOVEL_MAX_CONNS_PER_ADDR", "NOVEL_MAX_CONNS_PER_USER"} {
		if _, ok := env[k]; !ok {
			env[k] = "0"
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{cancel: cancel, done: make(chan error, 1), out: &syncBuffer{}}
	errOut := &syncBuffer{}
	go func() {
		n.done <- run(ctx, append([]string{"serve"}, args...), func(k string) string { return env[k] }, n.out, errOut)
	}()
	poll.Until(t, 10*time.Second, "server to listen", func() bool {
		select {
		case err := <-n.done:
			t.Fatalf("server exited: %v\n%s", err, errOut.String())
		default:
		}
		m := listenRe.FindStringSubmatch(n.out.String())
		if m == nil {
			return false
		}
		n.URL = m[1]
		return true
	})
	poll.Until(t, 10*time.Second, "healthz", func() bool {
		resp, err := http.Get(n.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop drains the node as SIGTERM would and waits for run to return.
func (n *node) stop(t testing.TB) {
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
		n.done <- err
	case <-time.After(30 * time.Second):
		t.Errorf("server did not stop")
	}
}

// api calls the REST API and decodes the answer into out (if not nil).
func (n *node) api(t testing.TB, method, path, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, n.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

func (n *node) guest(t testing.TB, name string) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	if code := n.api(t, "POST", "/v1/auth/guest", "", map[string]string{"name": name}, &out); code != 201 {
		t.Fatalf("guest sign-in: %d", code)
	}
	return out.Token
}

type simView struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Head       int64  `json:"head"`
	Characters []struct {
		ID       string `json:"id"`
		Location string `json:"location"`
		Alive    bool   `json:"alive"`
		Seat     *struct {
			UserID   string `json:"user_id"`
			UserName string `json:"user_name"`
			AIFill   bool   `json:"ai_fill"`
		} `json:"seat"`
	} `json:"characters"`
	Locations []struct {
		ID    string   `json:"id"`
		Exits []string `json:"exits"`
	} `json:"locations"`
}

func (n *node) create(t testing.TB, token string, req map[string]any) simView {
	t.Helper()
	if _, ok := req["scenario"]; !ok {
		req["scenario"] = firstScenario(t, n)
	}
	var v simView
	if code := n.api(t, "POST", "/v1/simulations", token, req, &v); code != 201 {
		t.Fatalf("create: %d %+v", code, v)
	}
	return v
}

func firstScenario(t testing.TB, n *node) string {
	var out struct {
		Scenarios []struct {
			ID string `json:"id"`
		} `json:"scenarios"`
	}
	if code := n.api(t, "GET", "/v1/scenarios", "", nil, &out); code != 200 || len(out.Scenarios) == 0 {
		t.Fatalf("scenarios: %d %+v", code, out)
	}
	return out.Scenarios[0].ID
}

// wsClient is a test WebSocket client that reads in the background.
type wsClient struct {
	t    testing.TB
	c    *websocket.Conn
	msgs chan map[string]any
	raw  chan []byte
	err  chan error // the read error that ended the connection
}

func (n *node) dial(t testing.TB, token string) *wsClient {
	t.Helper()
	c, err := n.dialRaw(token)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return startReading(t, c)
}

func (n *node) dialRaw(token string) (*websocket.Conn, error) {
	u := strings.Replace(n.URL, "http://", "ws://", 1) + "/v1/ws"
	if token != "" {
		u += "?token=" + token
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"novel.v1"}})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 24)
	return c, nil
}

func startReading(t testing.TB, c *websocket.Conn) *wsClient {
	w := &wsClient{t: t, c: c, msgs: make(chan map[string]any, 100000), raw: make(chan []byte, 100000), err: make(chan error, 1)}
	go func() {
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				w.err <- err
				close(w.msgs)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				w.err <- fmt.Errorf("server sent invalid JSON %q: %w", data, err)
				close(w.msgs)
				return
			}
			w.raw <- data
			w.msgs <- m
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	w.expect("welcome")
	return w
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	var data []byte
	switch b := v.(type) {
	case string:
		data = []byte(b)
	default:
		data, _ = json.Marshal(v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, data); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// next returns the next message, failing after timeout.
func (w *wsClient) next(timeout time.Duration) map[string]any {
	w.t.Helper()
	select {
	case m, ok := <-w.msgs:
		if !ok {
			w.t.Fatalf("connection ended: %v", <-w.err)
		}
		<-w.raw
		return m
	case <-time.After(timeout):
		w.t.Fatalf("no message within %v", timeout)
	}
	return nil
}

// expect skips presence messages and returns the next message, which must
// be of type typ.
func (w *wsClient) expect(typ string) map[string]any {
	w.t.Helper()
	for {
		m := w.next(10 * time.Second)
		if m["type"] == "presence" && typ != "presence" {
			continue
		}
		if m["type"] != typ {
			w.t.Fatalf("got %v, want a %s message", m, typ)
		}
		return m
	}
}

// call sends a request with an id and returns the reply with that id,
// skipping unrelated messages.
func (w *wsClient) call(msg map[string]any) map[string]any {
	w.t.Helper()
	id := fmt.Sprintf("r%d", time.Now().UnixNano())
	msg["id"] = id
	w.send(msg)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-w.msgs:
			if !ok {
				w.t.Fatalf("connection ended: %v", <-w.err)
			}
			<-w.raw
			if m["id"] == id {
				return m
			}
		case <-deadline:
			w.t.Fatalf("no reply to %v", msg)
		}
	}
}

// closed waits for the connection to end and returns its close code.
func (w *wsClient) closed(timeout time.Duration) websocket.StatusCode {
	w.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-w.msgs:
			if !ok {
				return websocket.CloseStatus(<-w.err)
			}
			<-w.raw
		case <-deadline:
			w.t.Fatalf("connection still open after %v", timeout)
		}
	}
}

func errCode(m map[string]any) string {
	if m["type"] != "error" {
		return ""
	}
	s, _ := m["code"].(string)
	return s
}

func seqOf(m map[string]any) int64 {
	f, _ := m["seq"].(float64)
	return int64(f)
}

// readTurns reads turn messages until one has seq >= upTo and returns
// their seqs, ignoring other messages.
func (w *wsClient) readTurns(upTo int64) []int64 {
	w.t.Helper()
	var seqs []int64
	for {
		m := w.next(10 * time.Second)
		if m["type"] != "turn" {
			continue
		}
		s := seqOf(m)
		seqs = append(seqs, s)
		if s >= upTo {
			return seqs
		}
	}
}

func checkContiguous(t testing.TB, seqs []int64, from int64) {
	t.Helper()
	for i, s := range seqs {
		if s != from+int64(i) {
			t.Fatalf("seqs %v: want contiguous from %d (gap or duplicate at index %d)", seqs, from, i)
		}
	}
}
