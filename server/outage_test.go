package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

// endlessScenario has no goals and no end, so a story runs as long as a
// test needs.
const endlessScenario = `{"id":"endless-test","title":"The Long Night","genre":"test","length":10000,
"premise":"Two watchmen pace the walls of a town that is never attacked.",
"locations":[{"id":"gate","name":"the gate","exits":["tower"]},{"id":"tower","name":"the tower","exits":["gate"]}],
"characters":[{"id":"ona","name":"Ona","role":"watchman","start":"gate"},{"id":"bel","name":"Bel","role":"watchman","start":"tower"}]}`

// TestDatabaseOutage stops a throwaway PostgreSQL under a running story:
// the node reports 503, publishes no turn it could not store, and carries
// on by itself when the database returns.
func TestDatabaseOutage(t *testing.T) {
	pg := pgtest.StartServer(t)
	ctx := context.Background()
	if _, err := postgres.Migrate(ctx, pg.URL()); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(ctx, pg.URL(), postgres.Options{ConnectTimeout: time.Second, StatementTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, hs := newTestServer(t, st, Config{RetryInterval: 50 * time.Millisecond})

	tok, _, err := s.auth.Issue(User{ID: "u1", Name: "Ada", Role: RolePlayer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", hs.URL+"/v1/simulations", strings.NewReader(`{"scenario":`+endlessScenario+`,"turn_interval_ms":20,"max_turns":100000}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sim SimulationView
	json.NewDecoder(resp.Body).Decode(&sim)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d", resp.StatusCode)
	}

	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(wctx, strings.Replace(hs.URL, "http", "ws", 1)+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	c.Write(wctx, websocket.MessageText, []byte(fmt.Sprintf(`{"type":"subscribe","sim":%q,"since":0}`, sim.ID)))
	turns := map[int64]string{}
	var last int64
	readTurn := func() {
		t.Helper()
		for {
			_, data, err := c.Read(wctx)
			if err != nil {
				t.Fatalf("read: %v", err)
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
				t.Fatalf("turn %d after %d", m.Seq, last)
			}
			last = m.Seq
			turns[m.Seq] = string(m.Turn)
			return
		}
	}
	for last < 5 {
		readTurn()
	}

	pg.Stop()
	poll.Until(t, 30*time.Second, "readyz to fail", func() bool {
		code, _, _ := getJSON(t, hs.URL+"/readyz")
		return code == 503
	})
	if code, _, body := getJSON(t, hs.URL+"/v1/simulations/"+sim.ID); code != 503 || body["error"].(map[string]any)["code"] != "unavailable" {
		t.Fatalf("while down: %d %v", code, body)
	}
	pg.Start()
	poll.Until(t, 30*time.Second, "readyz to recover", func() bool {
		code, _, _ := getJSON(t, hs.URL+"/readyz")
		return code == 200
	})
	// Turns resume by themselves, and every turn sent was stored, byte for byte.
	target := last + 10
	for last < target {
		readTurn()
	}
	var stored struct {
		Turns []json.RawMessage `json:"turns"`
	}
	code := func() int {
		resp, err := http.Get(fmt.Sprintf("%s/v1/simulations/%s/turns?limit=500", hs.URL, sim.ID))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&stored)
		return resp.StatusCode
	}()
	if code != 200 || int64(len(stored.Turns)) < last {
		t.Fatalf("stored %d turns (status %d), sent %d", len(stored.Turns), code, last)
	}
	for i := int64(1); i <= last; i++ {
		if string(stored.Turns[i-1]) != turns[i] {
			t.Fatalf("turn %d sent differs from the one stored", i)
		}
	}
}
