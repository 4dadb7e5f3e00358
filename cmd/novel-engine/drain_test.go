package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

// TestDrainRestartKeepsHistory restarts a node on PostgreSQL three times
// under a running story: each drain closes the watcher with 1001, the
// watcher resumes with since on the next node, and every turn it received
// is the stored one, byte for byte, with no gap and no duplicate.
func TestDrainRestartKeepsHistory(t *testing.T) {
	env := map[string]string{
		"NOVEL_DATABASE_URL": pgtest.URL(t),
		"NOVEL_JWT_SECRET":   "drain-test-secret-0123456789",
	}
	n := startNode(t, env)
	env["NOVEL_ADDR"] = strings.TrimPrefix(n.URL, "http://")
	tok := n.guest(t, "Ada")
	sim := n.create(t, tok, map[string]any{"scenario": browserScenario, "seed": 7, "turn_interval_ms": 30, "max_turns": 5000}).ID

	got := map[int64]string{}
	var last int64
	follow := func(until int64) websocket.StatusCode {
		c, err := n.dialRaw("")
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"type":"subscribe","sim":%q,"since":%d}`, sim, last)))
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return websocket.CloseStatus(err)
			}
			var m struct {
				Type string          `json:"type"`
				Seq  int64           `json:"seq"`
				Turn json.RawMessage `json:"turn"`
			}
			json.Unmarshal(data, &m)
			if m.Type != "turn" {
				continue
			}
			if m.Seq != last+1 {
				t.Errorf("turn %d after %d", m.Seq, last)
				return -1
			}
			last = m.Seq
			got[m.Seq] = string(m.Turn)
			if until > 0 && last >= until {
				return 0
			}
		}
	}
	follow(5)
	for round := 0; round < 3; round++ {
		from := last
		done := make(chan websocket.StatusCode, 1)
		go func() { done <- follow(0) }()
		// Let some turns through, then drain the node under the watcher.
		poll.Until(t, 10*time.Second, "turns to flow", func() bool {
			var v simView
			n.api(t, "GET", "/v1/simulations/"+sim, "", nil, &v)
			return v.Head > from+3
		})
		n.stop(t)
		if code := <-done; code != websocket.StatusGoingAway {
			t.Fatalf("round %d: watcher closed with %d, want 1001", round, code)
		}
		n = startNode(t, env)
	}
	follow(last + 5)

	var stored struct {
		Turns []json.RawMessage `json:"turns"`
	}
	n.api(t, "GET", fmt.Sprintf("/v1/simulations/%s/turns?limit=500", sim), "", nil, &stored)
	if int64(len(stored.Turns)) < last {
		t.Fatalf("%d turns stored, %d received", len(stored.Turns), last)
	}
	for i := int64(1); i <= last; i++ {
		if string(stored.Turns[i-1]) != got[i] {
			t.Fatalf("turn %d received differs from the one stored:\n got %s\nwant %s", i, got[i], stored.Turns[i-1])
		}
	}
}
