package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

// newClusterNode starts a node of a cluster on rdb under prefix, sharing
// st, closed when the test ends.
func newClusterNode(t *testing.T, st store.Store, rdb redis.UniversalClient, prefix, node string) (*Server, *httptest.Server) {
	t.Helper()
	// No admission by load: on a busy machine the measured turn cost of
	// a -race build would refuse the tests' fast stories.
	return newClusterNodeWith(t, st, rdb, prefix, node, Config{MaxLoad: -1})
}

// newClusterNodeWith is newClusterNode with cfg's limits.
func newClusterNodeWith(t *testing.T, st store.Store, rdb redis.UniversalClient, prefix, node string, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	auth, err := NewAuth([]byte("0123456789abcdef"), nil, "novel-engine", "novel-engine", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Auth, cfg.Node, cfg.GuestAuth = st, auth, node, true
	cfg.Cluster = &cluster.Config{Redis: rdb, Prefix: prefix, LeaseTTL: time.Second}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		hs.Close()
	})
	return s, hs
}

// storyOnOtherNode starts two nodes on PostgreSQL and Redis and an
// endless story on one of them; it returns the story, a player's token,
// the URL of the node that does not run the story, and the store.
func storyOnOtherNode(t *testing.T, ctx context.Context) (sim SimulationView, tok, other string, st store.Store) {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	st = pgtest.Store(t, postgres.Options{})
	s1, hs1 := newClusterNode(t, st, rdb, prefix, "n1")
	_, hs2 := newClusterNode(t, st, rdb, prefix, "n2")
	tok, _, err := s1.auth.Issue(User{ID: "u1", Name: "Ada", Role: RolePlayer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", hs1.URL+"/v1/simulations", strings.NewReader(`{"scenario":`+endlessScenario+`,"turn_interval_ms":20,"max_turns":100000}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&sim)
	resp.Body.Close()
	var owner string
	poll.Until(t, 10*time.Second, "the story to have an owner", func() bool {
		rec, err := st.GetSimulation(ctx, sim.ID)
		owner = rec.Owner
		return err == nil && owner != ""
	})
	other = hs2.URL
	if owner == "n2" {
		other = hs1.URL
	}
	return sim, tok, other, st
}

// TestAcceptedBeforeTurnAcrossNodes: a player on a node that does not
// run the story hears "accepted" before the turn that plays the action,
// every time, though the answer and the turn reach that node by
// different ways.
func TestAcceptedBeforeTurnAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two nodes on PostgreSQL and Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sim, tok, other, _ := storyOnOtherNode(t, ctx)
	c, _, err := websocket.Dial(ctx, strings.Replace(other, "http", "ws", 1)+"/v1/ws?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	send := func(m string) {
		if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	type msg struct {
		Type, ID string
		Seq      int64
		Turn     json.RawMessage // a number in accepted, an object in turn
	}
	read := func() msg {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m msg
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	send(fmt.Sprintf(`{"type":"subscribe","id":"s","sim":%q,"since":0}`, sim.ID))
	send(fmt.Sprintf(`{"type":"claim","id":"c","sim":%q,"character":"ona"}`, sim.ID))
	var seen int64 // the newest turn read
	for m := read(); m.ID != "c"; m = read() {
		seen = max(seen, m.Seq)
	}
	for round := range 20 {
		text := fmt.Sprintf("Round %d.", round)
		send(fmt.Sprintf(`{"type":"act","id":"a%d","sim":%q,"character":"ona","action":{"kind":"speak","text":%q}}`, round, sim.ID, text))
		var accepted msg
		for accepted = read(); accepted.ID != fmt.Sprintf("a%d", round); accepted = read() {
			if accepted.Type == "turn" {
				seen = max(seen, accepted.Seq)
			}
		}
		var turn int64
		if accepted.Type != "accepted" || json.Unmarshal(accepted.Turn, &turn) != nil {
			t.Fatalf("round %d: %s %s", round, accepted.Type, accepted.Turn)
		}
		if seen >= turn {
			t.Fatalf("round %d: turn %d arrived before the action was accepted for turn %d", round, seen, turn)
		}
		m := read()
		for ; m.Type != "turn" || m.Seq < turn; m = read() {
		}
		if m.Seq != turn || !strings.Contains(string(m.Turn), text) {
			t.Fatalf("round %d: turn %d, accepted for %d, lacks the action: %s", round, m.Seq, turn, m.Turn)
		}
		seen = turn
	}
}

// TestSeatHeldAcrossNodes: a character claimed through a node that does
// not run its story holds its ground from the next turns on: the owner
// hears of the claim at once.
func TestSeatHeldAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two nodes on PostgreSQL and Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sim, tok, other, st := storyOnOtherNode(t, ctx)
	c, _, err := websocket.Dial(ctx, strings.Replace(other, "http", "ws", 1)+"/v1/ws?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	await := func(id string) map[string]any {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			json.Unmarshal(data, &m)
			if m["id"] == id {
				return m
			}
		}
	}
	c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"type":"claim","id":"c","sim":%q,"character":"ona"}`, sim.ID)))
	if m := await("c"); m["type"] != "claimed" || m["ai_fill"] != false {
		t.Fatalf("claim: %v", m)
	}
	// Messages are handled in order: by the pong, the owner has heard.
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","id":"p"}`))
	await("p")
	rec, err := st.GetSimulation(ctx, sim.ID)
	if err != nil {
		t.Fatal(err)
	}
	from := rec.Head + 2 // a turn being played meanwhile may not know yet
	poll.Until(t, 20*time.Second, "ten more turns", func() bool {
		rec, err := st.GetSimulation(ctx, sim.ID)
		return err == nil && rec.Head >= from+10
	})
	turns, err := st.ListTurns(ctx, sim.ID, from-1, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range turns {
		var body struct {
			Events []engine.Event `json:"events"`
		}
		json.Unmarshal(tr.Body, &body)
		for _, e := range body.Events {
			if e.Actor == "ona" && (e.Kind != engine.ActWait || e.Source != engine.SourcePlayer) {
				t.Fatalf("turn %d: seated ona did %s (source %s), want her player's wait", tr.Seq, e.Kind, e.Source)
			}
		}
	}
}
