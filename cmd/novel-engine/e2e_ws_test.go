package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestTour follows the README's tour: sign in, create a story, watch
// turns stream, read it back over REST.
func TestTour(t *testing.T) {
	n := startNode(t, nil)
	tok := n.guest(t, "Ada")
	sim := n.create(t, tok, map[string]any{"seed": 7, "turn_interval_ms": 100, "max_turns": 40})
	if sim.Status != "running" || sim.Head != 0 || len(sim.Characters) == 0 || len(sim.Locations) == 0 {
		t.Fatalf("created %+v", sim)
	}
	w := n.dial(t, "")
	r := w.call(map[string]any{"type": "subscribe", "sim": sim.ID})
	if r["type"] != "subscribed" || r["recovered"] != false {
		t.Fatalf("subscribe reply %v", r)
	}
	snap := w.expect("snapshot")
	head := seqOf(snap)
	seqs := w.readTurns(head + 3)
	checkContiguous(t, seqs, head+1)

	var got simView
	if code := n.api(t, "GET", "/v1/simulations/"+sim.ID, "", nil, &got); code != 200 || got.Head < head+3 {
		t.Fatalf("get simulation: %d %+v", code, got)
	}
	var turns struct {
		Turns []struct {
			Sim       string `json:"sim"`
			Seq       int64  `json:"seq"`
			At        string `json:"at"`
			Narrative string `json:"narrative"`
			StateHash string `json:"state_hash"`
		} `json:"turns"`
		Head int64 `json:"head"`
	}
	if code := n.api(t, "GET", "/v1/simulations/"+sim.ID+"/turns?since=1&limit=2", "", nil, &turns); code != 200 {
		t.Fatalf("turns: %d", code)
	}
	if len(turns.Turns) != 2 || turns.Turns[0].Seq != 2 || turns.Turns[1].Seq != 3 || turns.Turns[0].Sim != sim.ID ||
		turns.Turns[0].Narrative == "" || len(turns.Turns[0].StateHash) != 64 || turns.Head < 3 {
		t.Fatalf("turns page %+v", turns)
	}
	if _, err := time.Parse(time.RFC3339Nano, turns.Turns[0].At); err != nil {
		t.Fatalf("at %q: %v", turns.Turns[0].At, err)
	}
	resp, err := http.Get(n.URL + "/v1/simulations/" + sim.ID + "/story")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/markdown") || len(md) < 200 {
		t.Fatalf("story: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), md)
	}
	var list struct {
		Simulations []simView `json:"simulations"`
		NextCursor  string    `json:"next_cursor"`
	}
	if code := n.api(t, "GET", "/v1/simulations?status=running&limit=10", "", nil, &list); code != 200 {
		t.Fatalf("list: %d", code)
	}
	var ready map[string]any
	if code := n.api(t, "GET", "/readyz", "", nil, &ready); code != 200 || ready["status"] != "ready" {
		t.Fatalf("readyz: %d %v", code, ready)
	}
	resp, err = http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "novel_turns_total") {
		t.Fatalf("metrics lack novel_turns_total")
	}
	// Every published turn's broadcast is timed.
	if !regexp.MustCompile(`(?m)^novel_turn_broadcast_seconds_count [1-9]`).Match(metrics) {
		t.Fatalf("metrics time no turn's broadcast")
	}
}

// TestWebSocketMessages covers every client message and its reply, and
// the unprompted status and presence messages.
func TestWebSocketMessages(t *testing.T) {
	n := startNode(t, nil)
	tok := n.guest(t, "Ada")
	sim := n.create(t, tok, map[string]any{"scenario": endless, "seed": 3, "turn_interval_ms": 200, "max_turns": 1000})
	w := n.dial(t, tok)

	if r := w.call(map[string]any{"type": "ping"}); r["type"] != "pong" {
		t.Fatalf("ping: %v", r)
	}
	if r := w.call(map[string]any{"type": "subscribe", "sim": sim.ID, "since": 0}); r["type"] != "subscribed" || r["recovered"] != true {
		t.Fatalf("subscribe: %v", r)
	}
	// Claim the first character, and see the seat in presence.
	char := sim.Characters[0].ID
	if r := w.call(map[string]any{"type": "claim", "sim": sim.ID, "character": char}); r["type"] != "claimed" || r["character"] != char {
		t.Fatalf("claim: %v", r)
	}
	for {
		m := w.next(10 * time.Second)
		if m["type"] == "presence" {
			seats, _ := m["seats"].(map[string]any)
			if seats[char] == "Ada" && m["watchers"].(float64) >= 1 {
				break
			}
		}
	}
	// Act: wait, which every character can do; it is played in the turn the reply names.
	r := w.call(map[string]any{"type": "act", "sim": sim.ID, "character": char, "action": map[string]any{"kind": "wait"}})
	if r["type"] != "accepted" {
		t.Fatalf("act: %v", r)
	}
	turn := int64(r["turn"].(float64))
	for {
		m := w.next(10 * time.Second)
		if m["type"] != "turn" || seqOf(m) < turn {
			continue
		}
		if seqOf(m) != turn {
			t.Fatalf("action for turn %d not seen before turn %d", turn, seqOf(m))
		}
		found := false
		for _, e := range m["turn"].(map[string]any)["events"].([]any) {
			ev := e.(map[string]any)
			if ev["actor"] == char && ev["source"] == "player" && ev["kind"] == "wait" {
				found = true
			}
		}
		if !found {
			t.Fatalf("turn %d has no player event of %s: %v", turn, char, m)
		}
		break
	}
	if r := w.call(map[string]any{"type": "release", "sim": sim.ID, "character": char}); r["type"] != "released" {
		t.Fatalf("release: %v", r)
	}
	// Status messages for pause, resume and stop.
	for _, op := range []string{"pause", "resume", "stop"} {
		var v simView
		if code := n.api(t, "POST", "/v1/simulations/"+sim.ID+"/"+op, tok, nil, &v); code != 200 {
			t.Fatalf("%s: %d", op, code)
		}
		want := map[string]string{"pause": "paused", "resume": "running", "stop": "finished"}[op]
		for {
			m := w.next(10 * time.Second)
			if m["type"] == "status" {
				if m["status"] != want {
					t.Fatalf("%s: status %v", op, m)
				}
				break
			}
		}
	}
	if r := w.call(map[string]any{"type": "unsubscribe", "sim": sim.ID}); r["type"] != "unsubscribed" {
		t.Fatalf("unsubscribe: %v", r)
	}
	if r := w.call(map[string]any{"type": "unsubscribe", "sim": sim.ID}); errCode(r) != "not_found" {
		t.Fatalf("second unsubscribe: %v", r)
	}
}

// TestWebSocketErrors covers the error codes a client can cause, each
// leaving the connection open.
func TestWebSocketErrors(t *testing.T) {
	n := startNode(t, map[string]string{"NOVEL_JWT_SECRET": "0123456789abcdef0123456789abcdef"})
	ada, bo := n.guest(t, "Ada"), n.guest(t, "Bo")
	sim := n.create(t, ada, map[string]any{"scenario": endless, "seed": 5, "turn_interval_ms": 500, "max_turns": 1000})
	char := sim.Characters[0].ID
	anon := n.dial(t, "")
	wa, wb := n.dial(t, ada), n.dial(t, bo)

	var viewer strings.Builder
	if err := run(context.Background(), []string{"token", "--sub", "v1", "--role", "viewer"},
		func(k string) string {
			return map[string]string{"NOVEL_JWT_SECRET": "0123456789abcdef0123456789abcdef"}[k]
		}, &viewer, io.Discard); err != nil {
		t.Fatal(err)
	}
	wv := n.dial(t, strings.TrimSpace(viewer.String()))

	cases := []struct {
		name string
		w    *wsClient
		msg  any
		code string
	}{
		{"malformed JSON", anon, `{"type":`, "bad_request"},
		{"not an object", anon, `[1,2]`, "bad_request"},
		{"unknown type", anon, map[string]any{"type": "dance"}, "bad_request"},
		{"no type", anon, map[string]any{"sim": sim.ID}, "bad_request"},
		{"too deep", anon, strings.Repeat("[", 40) + strings.Repeat("]", 40), "bad_request"},
		{"long id", anon, map[string]any{"type": "ping", "id": strings.Repeat("x", 65)}, "bad_request"},
		{"subscribe without sim", anon, map[string]any{"type": "subscribe"}, "bad_request"},
		{"subscribe unknown", anon, map[string]any{"type": "subscribe", "sim": "nope"}, "not_found"},
		{"anonymous claim", anon, map[string]any{"type": "claim", "sim": sim.ID, "character": char}, "unauthorized"},
		{"anonymous act", anon, map[string]any{"type": "act", "sim": sim.ID, "character": char, "action": map[string]any{"kind": "wait"}}, "unauthorized"},
		{"viewer claim", wv, map[string]any{"type": "claim", "sim": sim.ID, "character": char}, "forbidden"},
		{"claim unknown character", wa, map[string]any{"type": "claim", "sim": sim.ID, "character": "nobody"}, "not_found"},
		{"act without seat", wa, map[string]any{"type": "act", "sim": sim.ID, "character": char, "action": map[string]any{"kind": "wait"}}, "forbidden"},
		{"claim", wa, map[string]any{"type": "claim", "sim": sim.ID, "character": char}, ""},
		{"claim conflict", wb, map[string]any{"type": "claim", "sim": sim.ID, "character": char}, "conflict"},
		{"act for another's seat", wb, map[string]any{"type": "act", "sim": sim.ID, "character": char, "action": map[string]any{"kind": "wait"}}, "forbidden"},
		{"release another's seat", wb, map[string]any{"type": "release", "sim": sim.ID, "character": char}, "forbidden"},
		{"text too long", wa, map[string]any{"type": "act", "sim": sim.ID, "character": char, "action": map[string]any{"kind": "speak", "text": strings.Repeat("a", 501)}}, "too_large"},
		{"move nowhere", wa, map[string]any{"type": "act", "sim": sim.ID, "character": char, "action": map[string]any{"kind": "move", "target": "the-moon"}}, "bad_request"},
		{"unknown action", wa, map[string]any{"type": "act", "sim": sim.ID, "character": char, "action": map[string]any{"kind": "fly"}}, "bad_request"},
		{"act without action", wa, map[string]any{"type": "act", "sim": sim.ID, "character": char}, "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.w.t = t
			var r map[string]any
			if m, ok := tc.msg.(map[string]any); ok && m["id"] == nil {
				r = tc.w.call(m)
			} else {
				tc.w.send(tc.msg)
				r = tc.w.expect("error")
			}
			if errCode(r) != tc.code {
				t.Fatalf("reply %v, want code %q", r, tc.code)
			}
			if r["type"] == "error" && (r["message"] == nil || r["message"] == "") {
				t.Fatalf("error without a message: %v", r)
			}
			// The connection stays open.
			if p := tc.w.call(map[string]any{"type": "ping"}); p["type"] != "pong" {
				t.Fatalf("after error: %v", p)
			}
		})
	}

	t.Run("rate_limited then 4029", func(t *testing.T) {
		w := n.dial(t, "")
		for i := 0; i < 300; i++ {
			if err := w.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
				break // closed under us: fine
			}
		}
		sawLimited := false
		for {
			select {
			case m, ok := <-w.msgs:
				if !ok {
					if code := websocket.CloseStatus(<-w.err); code != 4029 {
						t.Fatalf("closed with %d, want 4029", code)
					}
					if !sawLimited {
						t.Fatal("no rate_limited error before 4029")
					}
					return
				}
				<-w.raw
				if errCode(m) == "rate_limited" {
					sawLimited = true
				}
			case <-time.After(10 * time.Second):
				t.Fatal("flood was not closed")
			}
		}
	})
}

// TestCloseCodes covers 1000, 1008, 1009 and 4001; 1001, 4000 and 4029
// have their own tests.
func TestCloseCodes(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	n := startNode(t, map[string]string{"NOVEL_JWT_SECRET": secret})

	t.Run("1000 normal", func(t *testing.T) {
		c, err := n.dialRaw("")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(context.Background()); err != nil { // welcome
			t.Fatal(err)
		}
		if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("close handshake: %v", err)
		}
	})
	t.Run("1008 binary frame", func(t *testing.T) {
		w := n.dial(t, "")
		w.c.Write(context.Background(), websocket.MessageBinary, []byte("hi"))
		if code := w.closed(10 * time.Second); code != websocket.StatusPolicyViolation {
			t.Fatalf("closed with %d", code)
		}
	})
	t.Run("1009 frame too large", func(t *testing.T) {
		w := n.dial(t, "")
		big := `{"type":"ping","pad":"` + strings.Repeat("x", 70<<10) + `"}`
		w.c.Write(context.Background(), websocket.MessageText, []byte(big))
		if code := w.closed(10 * time.Second); code != websocket.StatusMessageTooBig {
			t.Fatalf("closed with %d", code)
		}
	})
	t.Run("4001 token expired", func(t *testing.T) {
		var out strings.Builder
		err := run(context.Background(), []string{"token", "--sub", "u9", "--ttl", "2s"}, func(k string) string {
			return map[string]string{"NOVEL_JWT_SECRET": secret}[k]
		}, &out, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		w := n.dial(t, strings.TrimSpace(out.String()))
		if code := w.closed(10 * time.Second); code != 4001 {
			t.Fatalf("closed with %d", code)
		}
	})
	t.Run("401 before upgrade", func(t *testing.T) {
		if _, err := n.dialRaw("not-a-token"); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("dial with a bad token: %v", err)
		}
	})
	t.Run("foreign origin refused", func(t *testing.T) {
		req, _ := http.NewRequest("GET", n.URL+"/v1/ws", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Origin", "http://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("foreign origin: %d", resp.StatusCode)
		}
	})
}

// TestShutdownCloses1001 drains a node: its sockets close with 1001 and
// run returns nil.
func TestShutdownCloses1001(t *testing.T) {
	n := startNode(t, nil)
	tok := n.guest(t, "Ada")
	sim := n.create(t, tok, map[string]any{"scenario": endless, "seed": 1, "turn_interval_ms": 20, "max_turns": 100000})
	w := n.dial(t, "")
	w.call(map[string]any{"type": "subscribe", "sim": sim.ID})
	w.readTurns(seqOf(w.expect("snapshot")) + 2)
	n.cancel()
	if code := w.closed(20 * time.Second); code != websocket.StatusGoingAway {
		t.Fatalf("closed with %d, want 1001", code)
	}
	if err := <-n.done; err != nil {
		t.Fatalf("run: %v", err)
	}
	n.done <- nil
}

// TestResumeSince reconnects 200 times while turns come every 10 ms: each
// time the client resumes with since and must see every turn once.
func TestResumeSince(t *testing.T) {
	n := startNode(t, nil)
	tok := n.guest(t, "Ada")
	newSim := func() string {
		return n.create(t, tok, map[string]any{"seed": rand.Int64N(1000), "turn_interval_ms": 10, "max_turns": 100000}).ID
	}
	sim, last := newSim(), int64(0)
	for i := 0; i < 200; i++ {
		// Stay away a little, so turns pile up while the client is gone.
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		c, err := n.dialRaw("")
		if err != nil {
			t.Fatal(err)
		}
		w := startReading(t, c)
		r := w.call(map[string]any{"type": "subscribe", "sim": sim, "since": last})
		if r["type"] != "subscribed" || r["recovered"] != true {
			t.Fatalf("iteration %d: %v", i, r)
		}
		head := int64(r["head"].(float64))
		// Everything missed, then at least one live turn, unless it ended.
		var seqs []int64
		finished := false
		for !finished {
			m := w.next(10 * time.Second)
			switch m["type"] {
			case "turn":
				seqs = append(seqs, seqOf(m))
				finished = m["turn"].(map[string]any)["finished"] == true
			case "status":
				finished = m["status"] == "finished" || m["status"] == "failed"
			}
			if len(seqs) > 0 && seqs[len(seqs)-1] > head {
				break
			}
		}
		checkContiguous(t, seqs, last+1)
		last = seqs[len(seqs)-1]
		c.Close(websocket.StatusNormalClosure, "")
		if finished {
			sim, last = newSim(), 0
		}
	}
}

// endless is a scenario with no goals and no end, so a story lasts as
// long as a test needs.
var endless = map[string]any{
	"id": "endless-test", "title": "The Long Night", "genre": "test", "length": 10000,
	"premise": "Two watchmen pace the walls of a town that is never attacked.",
	"locations": []map[string]any{
		{"id": "gate", "name": "the gate", "exits": []string{"tower"}},
		{"id": "tower", "name": "the tower", "exits": []string{"gate"}},
	},
	"characters": []map[string]any{
		{"id": "ona", "name": "Ona", "role": "watchman", "start": "gate"},
		{"id": "bel", "name": "Bel", "role": "watchman", "start": "tower"},
	},
}

var slowRe = regexp.MustCompile(`novel_ws_slow_closed_total (\d+)`)

// TestSlowWatcher: one watcher stops reading; the others keep receiving
// every turn, and the stuck one is cut with 4000.
func TestSlowWatcher(t *testing.T) {
	n := startNode(t, map[string]string{"NOVEL_WS_QUEUE_BYTES": "65536"})
	tok := n.guest(t, "Ada")
	var sims []string
	create := func(seed int) {
		sims = append(sims, n.create(t, tok, map[string]any{"scenario": endless, "seed": seed, "turn_interval_ms": 10, "max_turns": 100000}).ID)
	}
	// The fast watchers subscribe from the first turn as soon as their
	// story starts: the history they are sent at once stays well inside
	// their queue however slowly the other stories are created.
	create(0)
	var fast []*wsClient
	for i := 0; i < 5; i++ {
		w := n.dial(t, "")
		w.call(map[string]any{"type": "subscribe", "sim": sims[0], "since": 0})
		fast = append(fast, w)
	}
	for i := 1; i < 20; i++ {
		create(i)
	}
	// The stuck watcher subscribes to everything and never reads again.
	stuck, err := n.dialRaw("")
	if err != nil {
		t.Fatal(err)
	}
	for i, sim := range sims {
		stuck.Write(context.Background(), websocket.MessageText, []byte(fmt.Sprintf(`{"type":"subscribe","sim":%q,"id":"s%d"}`, sim, i)))
	}
	metric := func() int {
		resp, err := http.Get(n.URL + "/metrics")
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := slowRe.FindSubmatch(b)
		if m == nil {
			return 0
		}
		v, _ := strconv.Atoi(string(m[1]))
		return v
	}
	// While the stuck one fills up, the fast ones keep up.
	progress := make([]int64, len(fast))
	for metric() == 0 {
		for i, w := range fast {
			seqs := w.readTurns(progress[i] + 5)
			checkContiguous(t, seqs, progress[i]+1)
			progress[i] = seqs[len(seqs)-1]
		}
		if progress[0] > 3000 {
			t.Fatal("the stuck watcher was never cut")
		}
	}
	// Cut: it sees 4000 once it reads what was already on the wire, which
	// may be megabytes of socket buffers: a loaded machine takes a while.
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_, _, err := stuck.Read(ctx)
		cancel()
		if err != nil {
			if code := websocket.CloseStatus(err); code != 4000 {
				t.Fatalf("stuck watcher ended with %v, want close 4000", err)
			}
			break
		}
	}
	// And the others still receive every turn.
	for i, w := range fast {
		seqs := w.readTurns(progress[i] + 20)
		checkContiguous(t, seqs, progress[i]+1)
	}
}

// TestWaitForPlayers: a story that waits for players holds each turn
// until every seated player has acted, then plays their actions.
func TestWaitForPlayers(t *testing.T) {
	n := startNode(t, map[string]string{"NOVEL_PLAYER_WAIT": "1h"})
	tok := n.guest(t, "Ada")
	sim := n.create(t, tok, map[string]any{"scenario": endless, "seed": 2, "turn_interval_ms": 10, "max_turns": 100000, "wait_for_players": true})
	w := n.dial(t, tok)
	w.call(map[string]any{"type": "subscribe", "sim": sim.ID, "since": 0})
	if r := w.call(map[string]any{"type": "claim", "sim": sim.ID, "character": "ona"}); r["type"] != "claimed" {
		t.Fatalf("claim: %v", r)
	}
	for round := 0; round < 5; round++ {
		r := w.call(map[string]any{"type": "act", "sim": sim.ID, "character": "ona", "action": map[string]any{"kind": "speak", "text": fmt.Sprintf("Round %d.", round)}})
		if r["type"] != "accepted" {
			t.Fatalf("act: %v", r)
		}
		want := int64(r["turn"].(float64))
		// Turns before the one named may still arrive (played before the
		// claim took effect); the named one must carry the action.
		for {
			m := w.next(10 * time.Second)
			if m["type"] != "turn" || seqOf(m) < want {
				continue
			}
			if seqOf(m) != want {
				t.Fatalf("turn %d arrived, want %d first", seqOf(m), want)
			}
			found := false
			for _, e := range m["turn"].(map[string]any)["events"].([]any) {
				ev := e.(map[string]any)
				found = found || (ev["actor"] == "ona" && ev["source"] == "player")
			}
			if !found {
				t.Fatalf("turn %d lacks the player's action: %v", want, m)
			}
			break
		}
		// The story now waits: ten intervals pass without a turn.
		quiet := time.After(100 * time.Millisecond)
	waiting:
		for {
			select {
			case m := <-w.msgs:
				<-w.raw
				if m["type"] == "turn" {
					t.Fatalf("turn %v played without the seated player", m["seq"])
				}
			case <-quiet:
				break waiting
			}
		}
	}
	var v simView
	n.api(t, "GET", "/v1/simulations/"+sim.ID, "", nil, &v)
	if seat := v.Characters[0].Seat; seat == nil || seat.UserName != "Ada" {
		t.Fatalf("ona's seat after the rounds: %+v", v.Characters[0])
	}
}

// TestHelpPrintsNoSecret: -h shows flag defaults, which must not be the
// credentials the environment holds.
func TestHelpPrintsNoSecret(t *testing.T) {
	env := map[string]string{
		"NOVEL_JWT_SECRET":   "zq7k-jwt-0123456789",
		"NOVEL_DATABASE_URL": "postgres://u:zq7k-db@127.0.0.1/x",
		"NOVEL_REDIS_URL":    "redis://:zq7k-redis@127.0.0.1:6379",
		"NOVEL_LLM_API_KEY":  "zq7k-llm",
	}
	for _, cmd := range []string{"serve", "token", "migrate"} {
		var out strings.Builder
		run(context.Background(), []string{cmd, "-h"}, func(k string) string { return env[k] }, &out, &out)
		if strings.Contains(out.String(), "zq7k") {
			t.Errorf("%s -h prints a secret:\n%s", cmd, out.String())
		}
	}
}
