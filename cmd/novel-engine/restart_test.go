package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

// TestRestartDurability runs the real binary on PostgreSQL with a story
// running, kills it with SIGKILL, and serves again: the story goes on from
// its last stored turn with the same seq sequence and its history intact,
// and a watcher that resubscribes with since sees no gap and no duplicate.
func TestRestartDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL := pgtest.URL(t)
	bin := nodeBinary(t)
	addr := rsFreeAddr(t)
	base := "http://" + addr
	env := append(os.Environ(),
		"NOVEL_ADDR="+addr,
		"NOVEL_DATABASE_URL="+dbURL,
		"NOVEL_JWT_SECRET=restart-test-secret-0123456789abcdef",
		"NOVEL_LOG_LEVEL=warn",
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	node := rsStartNode(t, bin, env, base)

	// A guest starts a story with a fast pace.
	var guest struct{ Token string }
	rsJSON(t, ctx, "POST", base+"/v1/auth/guest", "", `{"name":"Ada"}`, http.StatusCreated, &guest)
	var scenarios struct{ Scenarios []struct{ ID string } }
	rsJSON(t, ctx, "GET", base+"/v1/scenarios", "", "", http.StatusOK, &scenarios)
	if len(scenarios.Scenarios) == 0 {
		t.Fatal("no built-in scenario")
	}
	// The built-in scenario without its end conditions, so that the story
	// runs as long as the test needs.
	var scenario map[string]any
	rsJSON(t, ctx, "GET", base+"/v1/scenarios/"+scenarios.Scenarios[0].ID, "", "", http.StatusOK, &scenario)
	delete(scenario, "end")
	create, _ := json.Marshal(map[string]any{
		"scenario": scenario, "seed": 7, "max_turns": 100000, "turn_interval_ms": 20, "autostart": true,
	})
	var sim struct{ ID string }
	rsJSON(t, ctx, "POST", base+"/v1/simulations", guest.Token, string(create), http.StatusCreated, &sim)

	// A watcher follows it from the start until the node dies under it.
	w1 := rsWatch(t, ctx, base, sim.ID, 0)
	w1.waitFor(t, 10)
	node.kill(t)
	seen := w1.stop()
	if len(seen) < 10 {
		t.Fatalf("watcher saw %d turns before the kill", len(seen))
	}
	rsContiguous(t, "before the kill", seen, 1)
	last := seen[len(seen)-1].Seq

	// Serve again on the same database: the story resumes by itself, and a
	// watcher resuming from the last seq it had misses nothing.
	rsStartNode(t, bin, env, base)
	w2 := rsWatch(t, ctx, base, sim.ID, last)
	w2.waitFor(t, last+20)
	after := w2.stop()
	rsContiguous(t, "after the restart", after, last+1)

	// History: every stored turn, 1 to head, and the first watcher's turns
	// are the ones stored.
	var page struct {
		Turns []json.RawMessage
		Head  int64
	}
	rsJSON(t, ctx, "GET", fmt.Sprintf("%s/v1/simulations/%s/turns?since=0&limit=500", base, sim.ID), "", "", http.StatusOK, &page)
	stored := make([]rsTurn, len(page.Turns))
	for i, raw := range page.Turns {
		stored[i] = rsTurn{Seq: rsTurnSeq(t, raw), Turn: raw}
	}
	rsContiguous(t, "stored history", stored, 1)
	if int64(len(stored)) < last+20 {
		t.Fatalf("%d turns stored, want at least %d", len(stored), last+20)
	}
	for _, s := range append(seen, after...) {
		if s.Seq > int64(len(stored)) {
			continue
		}
		if !rsSameJSON(s.Turn, stored[s.Seq-1].Turn) {
			t.Fatalf("turn %d as watched:\n%s\nas stored:\n%s", s.Seq, s.Turn, stored[s.Seq-1].Turn)
		}
	}
}

func rsFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type rsNode struct {
	cmd    *exec.Cmd
	output *bytes.Buffer
	done   chan struct{}
}

// rsStartNode runs `novel-engine serve` and waits until it is ready; it is
// killed when the test ends if still running.
func rsStartNode(t *testing.T, bin string, env []string, base string) *rsNode {
	t.Helper()
	n := &rsNode{cmd: exec.Command(bin, "serve"), output: &bytes.Buffer{}, done: make(chan struct{})}
	n.cmd.Env = env
	n.cmd.Stdout, n.cmd.Stderr = &rsSyncWriter{w: n.output}, &rsSyncWriter{w: n.output}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		n.cmd.Process.Kill()
		<-n.done
		if t.Failed() {
			t.Logf("node output:\n%s", n.output.String())
		}
	})
	poll.Until(t, 30*time.Second, "the node to be ready", func() bool {
		select {
		case <-n.done:
			t.Fatalf("node exited: %v\n%s", n.cmd.ProcessState, n.output.String())
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return n
}

func (n *rsNode) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-n.done
}

type rsSyncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *rsSyncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func rsJSON(t *testing.T, ctx context.Context, method, url, token, body string, wantStatus int, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, data, wantStatus)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("%s %s: %v in %s", method, url, err, data)
	}
}

type rsTurn struct {
	Seq  int64
	Turn json.RawMessage
}

// rsWatcher is a WebSocket client subscribed to one simulation, recording
// the turns it receives until its connection ends or stop is called.
type rsWatcher struct {
	conn   *websocket.Conn
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	turns []rsTurn
	err   error
}

func rsWatch(t *testing.T, ctx context.Context, base, sim string, since int64) *rsWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	conn, _, err := websocket.Dial(ctx, "ws"+base[len("http"):]+"/v1/ws", nil)
	if err != nil {
		cancel()
		t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	sub := fmt.Sprintf(`{"type":"subscribe","id":"s1","sim":%q,"since":%d}`, sim, since)
	if err := conn.Write(ctx, websocket.MessageText, []byte(sub)); err != nil {
		cancel()
		t.Fatalf("subscribe: %v", err)
	}
	w := &rsWatcher{conn: conn, cancel: cancel, done: make(chan struct{})}
	go w.read(ctx)
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *rsWatcher) read(ctx context.Context) {
	defer close(w.done)
	for {
		_, data, err := w.conn.Read(ctx)
		if err != nil {
			return // the node died, or stop
		}
		var msg struct {
			Type      string
			Seq       int64
			Turn      json.RawMessage
			Recovered *bool
			Code      string
			Message   string
		}
		if err := json.Unmarshal(data, &msg); err != nil {
			w.fail(fmt.Errorf("bad message %s: %v", data, err))
			return
		}
		switch msg.Type {
		case "turn":
			w.mu.Lock()
			w.turns = append(w.turns, rsTurn{Seq: msg.Seq, Turn: msg.Turn})
			w.mu.Unlock()
		case "subscribed":
			if msg.Recovered != nil && !*msg.Recovered {
				w.fail(fmt.Errorf("subscription not recovered: %s", data))
			}
		case "snapshot":
			w.fail(fmt.Errorf("got a snapshot, not the turns since: %.200s", data))
		case "error":
			w.fail(fmt.Errorf("error: %s %s", msg.Code, msg.Message))
		}
	}
}

func (w *rsWatcher) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// waitFor waits until the watcher has seen the turn with seq.
func (w *rsWatcher) waitFor(t *testing.T, seq int64) {
	t.Helper()
	poll.Until(t, 60*time.Second, fmt.Sprintf("the watcher to reach seq %d", seq), func() bool {
		w.mu.Lock()
		n, err := len(w.turns), w.err
		var last int64
		if n > 0 {
			last = w.turns[n-1].Seq
		}
		w.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if last >= seq {
			return true
		}
		select {
		case <-w.done:
			t.Fatalf("watcher disconnected at seq %d, waiting for %d", last, seq)
		default:
		}
		return false
	})
}

// stop closes the connection and returns what the watcher saw.
func (w *rsWatcher) stop() []rsTurn {
	w.cancel()
	<-w.done
	w.conn.CloseNow()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.turns
}

func rsContiguous(t *testing.T, what string, turns []rsTurn, first int64) {
	t.Helper()
	for i, s := range turns {
		if want := first + int64(i); s.Seq != want {
			t.Fatalf("%s: turn %d has seq %d, want %d (a gap or a duplicate)", what, i, s.Seq, want)
		}
	}
}

func rsTurnSeq(t *testing.T, raw json.RawMessage) int64 {
	t.Helper()
	var v struct {
		Seq json.Number
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("turn %s: %v", raw, err)
	}
	n, err := strconv.ParseInt(v.Seq.String(), 10, 64)
	if err != nil {
		t.Fatalf("turn seq in %s: %v", raw, err)
	}
	return n
}

func rsSameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
