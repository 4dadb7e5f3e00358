package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/internal/votetest"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

// voteOption and votedTurn are what the tests read of votes and turns.
type voteOption struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

type wsMsg struct {
	Type     string          `json:"type"`
	ID       string          `json:"id"`
	Sim      string          `json:"sim"`
	Seq      int64           `json:"seq"`
	Code     string          `json:"code"`
	Message  string          `json:"message"`
	Options  []voteOption    `json:"options"`
	ClosesAt time.Time       `json:"closes_at"`
	Replaced bool            `json:"replaced"`
	Raw      json.RawMessage `json:"turn"` // a number in voted and vote, an object in turn
}

type votedTurn struct {
	Seq  int64 `json:"seq"`
	Vote *struct {
		Counts  map[string]int `json:"counts"`
		Ballots int            `json:"ballots"`
		Chosen  string         `json:"chosen"`
	} `json:"vote"`
	Inputs map[string]engine.Action `json:"inputs"`
}

// voteWatcher is one WebSocket client of a node.
type voteWatcher struct {
	t    *testing.T
	ctx  context.Context
	c    *websocket.Conn
	last int64 // the newest turn read: turns must come in order, with no gap
}

func dialWatcher(t *testing.T, ctx context.Context, base, token string) *voteWatcher {
	t.Helper()
	url := strings.Replace(base, "http", "ws", 1) + "/v1/ws"
	if token != "" {
		url += "?token=" + token
	}
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &voteWatcher{t: t, ctx: ctx, c: c}
}

func (w *voteWatcher) send(format string, args ...any) {
	w.t.Helper()
	if err := w.c.Write(w.ctx, websocket.MessageText, []byte(fmt.Sprintf(format, args...))); err != nil {
		w.t.Fatal(err)
	}
}

// until reads messages until one satisfies ok, and returns it.
func (w *voteWatcher) until(what string, ok func(wsMsg) bool) wsMsg {
	w.t.Helper()
	for {
		_, data, err := w.c.Read(w.ctx)
		if err != nil {
			w.t.Fatalf("waiting for %s: %v", what, err)
		}
		var m wsMsg
		if err := json.Unmarshal(data, &m); err != nil {
			w.t.Fatal(err)
		}
		if m.Type == "turn" {
			if w.last > 0 && m.Seq != w.last+1 {
				w.t.Fatalf("turn %d after turn %d", m.Seq, w.last)
			}
			w.last = m.Seq
		}
		if ok(m) {
			return m
		}
	}
}

func (w *voteWatcher) reply(id string) wsMsg {
	w.t.Helper()
	return w.until("reply "+id, func(m wsMsg) bool { return m.ID == id })
}

func turnOf(t *testing.T, m wsMsg) int64 {
	t.Helper()
	var n int64
	if err := json.Unmarshal(m.Raw, &n); err != nil {
		t.Fatalf("%s has no turn number: %s", m.Type, m.Raw)
	}
	return n
}

func votedScenarioJSON(t *testing.T) string {
	return string(votetest.Scenario(t, fmt.Sprintf("votes-%d", time.Now().UnixNano())))
}

// TestVoteOnThreeNodes: a vote reaches the watchers on every node of a
// cluster (and one who arrives while it is open), ballots sent to any node
// are counted by the story's owner, the last of a voter's counts, bad
// ballots get clear errors, and the turn that plays the result records it
// and replays to the world it recorded.
func TestVoteOnThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three nodes on PostgreSQL and Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rdb, prefix := redistest.Client(t)
	st := pgtest.Store(t, postgres.Options{})
	var nodes []*httptest.Server
	var tokens []string
	for i := range 3 {
		s, hs := newClusterNode(t, st, rdb, prefix, fmt.Sprintf("n%d", i+1))
		tok, _, err := s.auth.Issue(User{ID: fmt.Sprintf("u%d", i+1), Name: "Voter", Role: RolePlayer}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		nodes, tokens = append(nodes, hs), append(tokens, tok)
	}
	c1 := restClient{t: t, base: nodes[0].URL, token: tokens[0]}
	var sim SimulationView
	body := `{"scenario":` + votedScenarioJSON(t) + `,"seed":3,"max_turns":30,"turn_interval_ms":20,"autostart":false,
		"audience_votes":true,"anonymous_votes":true,"vote_window_ms":8000}`
	if code := c1.do("POST", "/v1/simulations", body, &sim); code != 201 || !sim.AudienceVotes || !sim.AnonymousVotes || sim.VoteWindowMS != 8000 {
		t.Fatalf("create: %d %+v", code, sim)
	}
	var ws []*voteWatcher
	for i, hs := range nodes {
		w := dialWatcher(t, ctx, hs.URL, tokens[i])
		w.send(`{"type":"subscribe","id":"s","sim":%q,"since":0}`, sim.ID)
		w.reply("s")
		ws = append(ws, w)
	}
	poll.Until(t, 20*time.Second, "the story to have an owner", func() bool {
		rec, err := st.GetSimulation(ctx, sim.ID)
		return err == nil && rec.Owner != ""
	})
	if code := c1.do("POST", "/v1/simulations/"+sim.ID+"/resume", "", nil); code != 200 {
		t.Fatalf("resume: %d", code)
	}
	var votes []wsMsg
	for _, w := range ws {
		votes = append(votes, w.until("a vote", func(m wsMsg) bool { return m.Type == "vote" }))
	}
	v := votes[0]
	turn := turnOf(t, v)
	for i, o := range votes {
		if turnOf(t, o) != turn || len(o.Options) != len(v.Options) || o.Sim != sim.ID || !o.ClosesAt.Equal(v.ClosesAt) {
			t.Fatalf("watcher %d saw vote %+v, watcher 1 %+v", i+1, o, v)
		}
	}
	if len(v.Options) < 2 || len(v.Options) > 3 || v.Options[0].Label == "" {
		t.Fatalf("options %+v", v.Options)
	}
	// A watcher arriving while the vote is open is shown it, after a
	// snapshot or after the turns it asked for.
	anon := dialWatcher(t, ctx, nodes[1].URL, "")
	anon.send(`{"type":"subscribe","id":"s","sim":%q}`, sim.ID)
	if late := anon.until("the open vote", func(m wsMsg) bool { return m.Type == "vote" }); turnOf(t, late) != turn {
		t.Fatalf("the late watcher was shown the vote for turn %d, want %d", turnOf(t, late), turn)
	}
	resumer := dialWatcher(t, ctx, nodes[2].URL, "")
	resumer.send(`{"type":"subscribe","id":"s","sim":%q,"since":0}`, sim.ID)
	if late := resumer.until("the open vote", func(m wsMsg) bool { return m.Type == "vote" }); turnOf(t, late) != turn || resumer.last != turn-1 {
		t.Fatalf("the resuming watcher was shown the vote for turn %d after turn %d, want %d after %d", turnOf(t, late), resumer.last, turn, turn-1)
	}

	first, last := v.Options[0].ID, v.Options[len(v.Options)-1].ID
	ballot := func(w *voteWatcher, id, option string) wsMsg {
		w.send(`{"type":"ballot","id":%q,"sim":%q,"turn":%d,"option":%q}`, id, sim.ID, turn, option)
		return w.reply(id)
	}
	for i, b := range []struct {
		w        *voteWatcher
		option   string
		replaced bool
	}{{ws[0], last, false}, {ws[1], last, false}, {ws[2], first, false}, {ws[2], last, true}, {anon, first, false}} {
		if m := ballot(b.w, fmt.Sprintf("b%d", i), b.option); m.Type != "voted" || turnOf(t, m) != turn || m.Replaced != b.replaced {
			t.Fatalf("ballot %d: %+v", i, m)
		}
	}
	if m := ballot(ws[1], "bad", "no-such-option"); m.Type != "error" || m.Code != CodeBadRequest || !strings.Contains(m.Message, "no option") {
		t.Fatalf("a ballot for an unknown option: %+v", m)
	}

	for i, w := range ws {
		m := w.until("the voted turn", func(m wsMsg) bool { return m.Type == "turn" && m.Seq == turn })
		var tu votedTurn
		if err := json.Unmarshal(m.Raw, &tu); err != nil {
			t.Fatal(err)
		}
		if tu.Vote == nil || tu.Vote.Chosen != last || tu.Vote.Counts[last] != 3 || tu.Vote.Counts[first] != 1 || tu.Vote.Ballots != 4 {
			t.Fatalf("watcher %d: turn %d's vote %+v, want %s by 3 to 1", i+1, turn, tu.Vote, last)
		}
		if in := tu.Inputs[engine.DirectorInput]; in.Kind != engine.ActTwist || in.Target != last {
			t.Fatalf("watcher %d: turn %d's inputs %+v", i+1, turn, tu.Inputs)
		}
	}
	if m := ballot(ws[0], "late", last); m.Type != "error" || m.Code != CodeConflict || !strings.Contains(m.Message, "closed") {
		t.Fatalf("a ballot after the close: %+v", m)
	}
	// The turn replays to the world it recorded, on any node.
	c3 := restClient{t: t, base: nodes[2].URL, token: tokens[2]}
	if code := c3.do("GET", fmt.Sprintf("/v1/simulations/%s/world?at=%d", sim.ID, turn), "", nil); code != 200 {
		t.Fatalf("world at the voted turn: %d", code)
	}
	// A fork from it replays it too (a fork is refused unless the replay
	// gives the recorded world), and keeps its parent's vote settings
	// unless told otherwise.
	var fork, quiet SimulationView
	if code := c3.do("POST", "/v1/simulations/"+sim.ID+"/fork", fmt.Sprintf(`{"at":%d,"autostart":false}`, turn), &fork); code != 201 ||
		!fork.AudienceVotes || !fork.AnonymousVotes || fork.VoteWindowMS != 8000 {
		t.Fatalf("fork at the voted turn: %d %+v", code, fork)
	}
	if code := c3.do("POST", "/v1/simulations/"+sim.ID+"/fork", fmt.Sprintf(`{"at":%d,"autostart":false,"audience_votes":false}`, turn), &quiet); code != 201 || quiet.AudienceVotes {
		t.Fatalf("fork without votes: %d %+v", code, quiet)
	}
	sameHistory(t, st, sim.ID, fork.ID, int(turn))
}

// TestBallotRefusals: ballots a story cannot take get clear errors.
func TestBallotRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, hs := newTestServer(t, store.NewMemory(), Config{})
	tok := guestToken(t, hs.URL, "")
	c := restClient{t: t, base: hs.URL, token: tok}
	if code := c.do("POST", "/v1/simulations", `{"scenario":"hollin","audience_votes":true,"vote_window_ms":5}`, nil); code != 400 {
		t.Errorf("a vote window of 5ms: %d, want 400", code)
	}
	var plain, voted SimulationView
	if code := c.do("POST", "/v1/simulations", `{"scenario":`+endlessScenario+`,"turn_interval_ms":1000}`, &plain); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := c.do("POST", "/v1/simulations", `{"scenario":`+votedScenarioJSON(t)+`,"turn_interval_ms":3600000,"audience_votes":true}`, &voted); code != 201 {
		t.Fatalf("create: %d", code)
	}
	w := dialWatcher(t, ctx, hs.URL, tok)
	anon := dialWatcher(t, ctx, hs.URL, "")
	for _, tc := range []struct {
		name string
		w    *voteWatcher
		msg  string
		code string
		says string
	}{
		{"no votes", w, fmt.Sprintf(`{"type":"ballot","id":"x","sim":%q,"turn":2,"option":"omen"}`, plain.ID), CodeBadRequest, "takes no votes"},
		{"no turn", w, fmt.Sprintf(`{"type":"ballot","id":"x","sim":%q,"option":"omen"}`, voted.ID), CodeBadRequest, "turn is required"},
		{"no option", w, fmt.Sprintf(`{"type":"ballot","id":"x","sim":%q,"turn":2}`, voted.ID), CodeBadRequest, "option"},
		{"no vote open", w, fmt.Sprintf(`{"type":"ballot","id":"x","sim":%q,"turn":7,"option":"omen"}`, voted.ID), CodeConflict, "no vote is open"},
		{"missing story", w, `{"type":"ballot","id":"x","sim":"nope","turn":2,"option":"omen"}`, CodeNotFound, "does not exist"},
		{"anonymous", anon, fmt.Sprintf(`{"type":"ballot","id":"x","sim":%q,"turn":2,"option":"omen"}`, voted.ID), CodeUnauthorized, "sign in"},
	} {
		tc.w.send("%s", tc.msg)
		if m := tc.w.reply("x"); m.Type != "error" || m.Code != tc.code || !strings.Contains(m.Message, tc.says) {
			t.Errorf("%s: %+v, want %s saying %q", tc.name, m, tc.code, tc.says)
		}
	}
}
