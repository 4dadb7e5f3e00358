package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

// restClient calls one node's REST API with a token.
type restClient struct {
	t     *testing.T
	base  string
	token string
}

func (c restClient) do(method, path, body string, out any) int {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// storedTurns is every stored turn of a story.
func storedTurns(t *testing.T, st store.Store, id string) []store.Turn {
	t.Helper()
	turns, err := st.ListTurns(context.Background(), id, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return turns
}

func hashOf(t *testing.T, body []byte) string {
	var v struct {
		StateHash string `json:"state_hash"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v.StateHash
}

// waitEnded waits for a story to end and returns its record.
func waitEnded(t *testing.T, st store.Store, id string) *store.Simulation {
	t.Helper()
	var rec *store.Simulation
	poll.Until(t, 60*time.Second, "story "+id+" to end", func() bool {
		var err error
		rec, err = st.GetSimulation(context.Background(), id)
		return err == nil && rec.Status == store.StatusFinished
	})
	return rec
}

// checkWorlds checks the world served at every turn of a story against
// the state hash the turn recorded.
func checkWorlds(t *testing.T, c restClient, st store.Store, id string) {
	t.Helper()
	for _, tu := range storedTurns(t, st, id) {
		var w WorldAt
		if code := c.do("GET", fmt.Sprintf("/v1/simulations/%s/world?at=%d", id, tu.Seq), "", &w); code != 200 {
			t.Fatalf("world of %s at %d: %d", id, tu.Seq, code)
		}
		if w.At != tu.Seq || w.StateHash != hashOf(t, tu.Body) {
			t.Fatalf("world of %s at %d has hash %.12s, the turn recorded %.12s", id, tu.Seq, w.StateHash, hashOf(t, tu.Body))
		}
	}
}

// sameHistory checks that fork's first n turns are parent's, byte for
// byte but for the story they belong to.
func sameHistory(t *testing.T, st store.Store, parent, fork string, n int) {
	t.Helper()
	pt, ft := storedTurns(t, st, parent), storedTurns(t, st, fork)
	if len(pt) < n || len(ft) < n {
		t.Fatalf("%d and %d turns, want %d in both", len(pt), len(ft), n)
	}
	for i := range n {
		want := bytes.Replace(pt[i].Body, []byte(`{"sim":"`+parent+`"`), []byte(`{"sim":"`+fork+`"`), 1)
		if !bytes.Equal(ft[i].Body, want) || !ft[i].At.Equal(pt[i].At) {
			t.Fatalf("turn %d of fork %s:\n%s\nof %s:\n%s", i+1, fork, ft[i].Body, parent, pt[i].Body)
		}
	}
}

// TestForkAndScrub plays a story with a player in it, scrubs through every
// turn, forks it, forks the fork, and checks the refusals.
func TestForkAndScrub(t *testing.T) {
	st := store.NewMemory()
	s, hs := newTestServer(t, st, Config{RequestRate: 1000, RequestBurst: 1000})
	tok, _, err := s.auth.Issue(User{ID: "u1", Name: "Ada", Role: RolePlayer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := restClient{t: t, base: hs.URL, token: tok}
	var parent SimulationView
	if code := c.do("POST", "/v1/simulations", `{"scenario":"hollin","seed":5,"max_turns":40,"turn_interval_ms":30}`, &parent); code != 201 {
		t.Fatalf("create: %d", code)
	}
	who := parent.Characters[0].ID

	// A player speaks without words now and then: what the turn's event
	// shows then is a line the teller drew, so only the recorded input
	// lets a replay play the turn again.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(hs.URL, "http", "ws", 1)+"/v1/ws?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"claim","id":"c","sim":%q,"character":%q}`, parent.ID, who))
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(`"claimed"`)) {
			break
		}
	}
	ws.CloseRead(ctx)
	for i := 0; ; i++ {
		rec, _ := st.GetSimulation(ctx, parent.ID)
		if rec.Status == store.StatusFinished {
			break
		}
		kinds := []string{`{"kind":"speak"}`, `{"kind":"wait"}`, `{"kind":"speak","text":"Hold."}`}
		c.do("POST", "/v1/simulations/"+parent.ID+"/actions", fmt.Sprintf(`{"character":%q,"action":%s}`, who, kinds[i%3]), nil)
		time.Sleep(45 * time.Millisecond) // pacing the player, not waiting for a result
	}
	rec := waitEnded(t, st, parent.ID)
	if rec.Head < 20 {
		t.Fatalf("the story ended at turn %d; too short to fork", rec.Head)
	}
	withInputs := 0
	for _, tu := range storedTurns(t, st, parent.ID) {
		if bytes.Contains(tu.Body, []byte(`"inputs":{`)) {
			withInputs++
		}
	}
	if withInputs == 0 {
		t.Fatal("no turn recorded the player's actions")
	}
	checkWorlds(t, c, st, parent.ID)

	// Scrub refusals.
	for _, tc := range []struct {
		at   string
		code int
	}{{fmt.Sprint(rec.Head + 1), 404}, {"-1", 400}, {"soon", 400}, {"", 200}, {"0", 200}} {
		var w map[string]any
		if code := c.do("GET", "/v1/simulations/"+parent.ID+"/world?at="+tc.at, "", &w); code != tc.code {
			t.Errorf("world at %q: %d %v, want %d", tc.at, code, w, tc.code)
		}
	}

	// A fork at n, with the parent's seed: its first n turns are the
	// parent's; it goes on by itself to its own end.
	n := rec.Head / 2
	var fork SimulationView
	if code := c.do("POST", "/v1/simulations/"+parent.ID+"/fork", fmt.Sprintf(`{"at":%d,"turn_interval_ms":10}`, n), &fork); code != 201 {
		t.Fatalf("fork: %d %+v", code, fork)
	}
	if fork.Parent != parent.ID || fork.ForkedAt != n || fork.Head < n || fork.Seed != parent.Seed || fork.MaxTurns != 40 {
		t.Fatalf("fork = %+v", fork)
	}
	waitEnded(t, st, fork.ID)
	sameHistory(t, st, parent.ID, fork.ID, int(n))
	checkWorlds(t, c, st, fork.ID)

	// A fork of the fork, later than the first fork's start, with a new
	// seed: it inherits turns played with two seeds, and replays them.
	m := n + 5
	var fork2 SimulationView
	if code := c.do("POST", "/v1/simulations/"+fork.ID+"/fork", fmt.Sprintf(`{"at":%d,"seed":12345,"title":"What if","turn_interval_ms":10,"max_turns":60}`, m), &fork2); code != 201 {
		t.Fatalf("fork of fork: %d", code)
	}
	if fork2.Parent != fork.ID || fork2.ForkedAt != m || fork2.Title != "What if" || fork2.Seed != 12345 {
		t.Fatalf("fork of fork = %+v", fork2)
	}
	waitEnded(t, st, fork2.ID)
	sameHistory(t, st, fork.ID, fork2.ID, int(m))
	sameHistory(t, st, parent.ID, fork2.ID, int(n))
	checkWorlds(t, c, st, fork2.ID)

	var forks struct{ Forks []SimulationView }
	if code := c.do("GET", "/v1/simulations/"+parent.ID+"/forks", "", &forks); code != 200 || len(forks.Forks) != 1 || forks.Forks[0].ID != fork.ID {
		t.Fatalf("forks of parent: %d %+v", code, forks)
	}
	if c.do("GET", "/v1/simulations/"+fork.ID+"/forks", "", &forks); len(forks.Forks) != 1 || forks.Forks[0].ID != fork2.ID {
		t.Fatalf("forks of fork: %+v", forks)
	}

	// Refusals.
	anon := restClient{t: t, base: hs.URL}
	for _, tc := range []struct {
		who  restClient
		path string
		body string
		code int
		msg  string
	}{
		{c, parent.ID, `{"at":0}`, 400, "1 or more"},
		{c, parent.ID, `{"at":-3}`, 400, "1 or more"},
		{c, parent.ID, `{}`, 400, "at is required"},
		{c, parent.ID, fmt.Sprintf(`{"at":%d}`, rec.Head+1), 404, "no turn"},
		{c, "nosuchstory", `{"at":1}`, 404, "does not exist"},
		{c, parent.ID, `{"at":1,"max_turns":1}`, 400, "max_turns"},
		{c, parent.ID, `{"at":1,"colour":"red"}`, 400, "colour"},
		{anon, parent.ID, `{"at":1}`, 401, "sign in"},
	} {
		var e struct{ Error Error }
		if code := tc.who.do("POST", "/v1/simulations/"+tc.path+"/fork", tc.body, &e); code != tc.code || !strings.Contains(e.Error.Message, tc.msg) {
			t.Errorf("fork %s %s: %d %+v, want %d with %q", tc.path, tc.body, code, e, tc.code, tc.msg)
		}
	}
}

// TestForkOnCluster: any node of a cluster forks a story another runs; the
// fork is placed like any new story, plays on from the parent's turn, and
// every node serves its world.
func TestForkOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two nodes on PostgreSQL and Redis")
	}
	rdb, prefix := redistest.Client(t)
	st := pgtest.Store(t, postgres.Options{})
	s1, hs1 := newClusterNode(t, st, rdb, prefix, "n1")
	_, hs2 := newClusterNode(t, st, rdb, prefix, "n2")
	tok, _, err := s1.auth.Issue(User{ID: "u1", Name: "Ada", Role: RolePlayer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c1 := restClient{t: t, base: hs1.URL, token: tok}
	c2 := restClient{t: t, base: hs2.URL, token: tok}
	var parent SimulationView
	if code := c1.do("POST", "/v1/simulations", `{"scenario":"coldwater","seed":3,"max_turns":12,"turn_interval_ms":20}`, &parent); code != 201 {
		t.Fatalf("create: %d", code)
	}
	rec := waitEnded(t, st, parent.ID)
	var fork SimulationView
	if code := c2.do("POST", "/v1/simulations/"+parent.ID+"/fork", `{"at":6,"seed":99,"max_turns":16,"turn_interval_ms":20}`, &fork); code != 201 {
		t.Fatalf("fork on the other node: %d", code)
	}
	poll.Until(t, 20*time.Second, "the fork to have an owner", func() bool {
		r, err := st.GetSimulation(context.Background(), fork.ID)
		return err == nil && r.Owner != ""
	})
	waitEnded(t, st, fork.ID)
	sameHistory(t, st, parent.ID, fork.ID, 6)
	checkWorlds(t, c1, st, fork.ID)
	checkWorlds(t, c2, st, parent.ID)
	if rec.Head < 6 {
		t.Fatalf("parent ended at %d", rec.Head)
	}

	// With its parent gone, the fork is still whole: its turns read, its
	// worlds replay (with the seeds it keeps), and it can be forked.
	if _, err := st.Pool().Exec(context.Background(), `delete from simulations where id = $1`, parent.ID); err != nil {
		t.Fatal(err)
	}
	if code := c2.do("GET", "/v1/simulations/"+parent.ID, "", nil); code != 404 {
		t.Fatalf("the deleted parent: %d", code)
	}
	var page struct{ Turns []json.RawMessage }
	if code := c2.do("GET", "/v1/simulations/"+fork.ID+"/turns?limit=500", "", &page); code != 200 || len(page.Turns) < 6 {
		t.Fatalf("the fork's turns without its parent: %d, %d turns", code, len(page.Turns))
	}
	checkWorlds(t, c2, st, fork.ID)
	var again SimulationView
	if code := c1.do("POST", "/v1/simulations/"+fork.ID+"/fork", `{"at":3,"autostart":false}`, &again); code != 201 || again.Parent != fork.ID {
		t.Fatalf("fork of an orphan at an inherited turn: %d %+v", code, again)
	}
}
