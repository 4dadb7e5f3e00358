package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/cluster/redistest"
	"github.com/novel-engine/novel-engine/deploy/lb"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

// The cluster tests run three processes of the real binary on 127.0.0.1,
// on the test PostgreSQL and Redis, behind the round-robin load balancer
// of deploy/lb, and check the cluster semantics of DESIGN.md.

var (
	binDir    string
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "novel-engine-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// nodeBinary builds the binary once for every test that runs it as a
// separate process.
func nodeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtBin = filepath.Join(binDir, "novel-engine")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

type testCluster struct {
	t     *testing.T
	bin   string
	env   []string // shared by every node
	nodes []*clusterNode
	lbURL string
}

type clusterNode struct {
	id   string
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startCluster starts n nodes on dbURL and redisURL behind a balancer;
// env is added to every node's environment.
func startCluster(t *testing.T, n int, dbURL, redisURL string, env ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, bin: nodeBinary(t)}
	c.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"NOVEL_DATABASE_URL=" + dbURL,
		"NOVEL_REDIS_URL=" + redisURL,
		"NOVEL_REDIS_PREFIX=" + redistest.Prefix(t, redisURL),
		"NOVEL_JWT_SECRET=cluster-test-secret-0123456789abcdef",
		"NOVEL_GUEST_AUTH=true",
		"NOVEL_LOG_LEVEL=info",
		"NOVEL_SHUTDOWN_TIMEOUT=15s",
		// Many clients from one address on a busy machine: the
		// per-client quotas and admission control are lifted.
		"NOVEL_MAX_USER_STORIES=0", "NOVEL_MAX_GUEST_ADDR_STORIES=0", "NOVEL_MAX_LOAD=0",
		"NOVEL_GUEST_SIGNINS_PER_HOUR=0", "NOVEL_READ_RATE=0", "NOVEL_CONN_RATE=0",
		"NOVEL_MAX_CONNS_PER_ADDR=0", "NOVEL_MAX_CONNS_PER_USER=0",
	}
	c.env = append(c.env, env...)
	var targets []string
	for i := range n {
		node := &clusterNode{id: fmt.Sprintf("n%d", i+1), addr: freeAddr(t)}
		c.nodes = append(c.nodes, node)
		targets = append(targets, "http://"+node.addr)
		c.start(node)
	}
	bal, err := lb.New(targets, lb.Options{HealthInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go bal.Run(ctx)
	srv := httptest.NewServer(bal)
	t.Cleanup(func() { cancel(); srv.CloseClientConnections(); srv.Close() })
	c.lbURL = srv.URL
	t.Cleanup(func() {
		for _, node := range c.nodes {
			node.cmd.Process.Kill()
			<-node.done
		}
		if t.Failed() {
			for _, node := range c.nodes {
				t.Logf("node %s output (tail):\n%s", node.id, tail(node.out.String(), 6000))
			}
		}
	})
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs node (again) and waits until it is ready.
func (c *testCluster) start(node *clusterNode) {
	c.t.Helper()
	node.cmd = exec.Command(c.bin, "serve")
	node.cmd.Env = append(c.env[:len(c.env):len(c.env)], "NOVEL_ADDR="+node.addr, "NOVEL_NODE_ID="+node.id)
	if node.out == nil {
		node.out = &syncBuffer{}
	}
	node.cmd.Stdout, node.cmd.Stderr = node.out, node.out
	node.done = make(chan struct{})
	if err := node.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := node.done
	cmd := node.cmd
	go func() { cmd.Wait(); close(done) }()
	poll.Until(c.t, 30*time.Second, "node "+node.id+" ready", func() bool {
		select {
		case <-done:
			c.t.Fatalf("node %s exited: %v\n%s", node.id, cmd.ProcessState, node.out.String())
		default:
		}
		resp, err := http.Get("http://" + node.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (c *testCluster) node(id string) *clusterNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	c.t.Fatalf("no node %q", id)
	return nil
}

func (n *clusterNode) kill(t *testing.T) {
	t.Helper()
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// term sends SIGTERM and waits for a clean exit.
func (n *clusterNode) term(t *testing.T, within time.Duration) {
	t.Helper()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(within):
		t.Fatalf("node %s still running %v after SIGTERM", n.id, within)
	}
	if !n.cmd.ProcessState.Success() {
		t.Fatalf("node %s exited with %v after SIGTERM", n.id, n.cmd.ProcessState)
	}
}

// lb is the balancer as a node for the e2e helpers (REST and WebSocket).
func (c *testCluster) lb() *node { return &node{URL: c.lbURL} }

func (c *testCluster) sim(id string) (status, owner string, head int64) {
	c.t.Helper()
	var v struct {
		Status string `json:"status"`
		Owner  string `json:"owner"`
		Head   int64  `json:"head"`
	}
	c.lb().api(c.t, "GET", "/v1/simulations/"+id, "", nil, &v)
	return v.Status, v.Owner, v.Head
}

// endlessStory creates a fast story with no end conditions.
func (c *testCluster) endlessStory(token string, seed int64, intervalMS int) simView {
	c.t.Helper()
	var scenario map[string]any
	l := c.lb()
	if code := l.api(c.t, "GET", "/v1/scenarios/"+firstScenario(c.t, l), "", nil, &scenario); code != 200 {
		c.t.Fatalf("scenario: %d", code)
	}
	delete(scenario, "end")
	return l.create(c.t, token, map[string]any{
		"scenario": scenario, "seed": seed, "max_turns": 100000, "turn_interval_ms": intervalMS,
	})
}

// follower watches one simulation through the balancer for the whole
// test: when its connection ends (a node died or drained) it reconnects,
// to whichever node the balancer picks, and resubscribes with since. It
// records every turn and fails on a gap, a duplicate, or a lost recovery.
type follower struct {
	sim string
	url string

	mu         sync.Mutex
	seqs       []int64
	nodes      map[string]bool
	reconnects int
	epochs     map[string]bool // epochs named by subscribed
	watchers   int             // in the last presence message
	err        error

	cancel context.CancelFunc
	done   chan struct{}
}

func follow(t *testing.T, lbURL, sim string) *follower {
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{sim: sim, url: strings.Replace(lbURL, "http://", "ws://", 1) + "/v1/ws", nodes: map[string]bool{}, epochs: map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	go f.run(ctx)
	t.Cleanup(f.stop)
	return f
}

func (f *follower) stop() {
	f.cancel()
	<-f.done
}

func (f *follower) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *follower) last() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seqs) == 0 {
		return 0
	}
	return f.seqs[len(f.seqs)-1]
}

func (f *follower) run(ctx context.Context) {
	defer close(f.done)
	first := true
	for ctx.Err() == nil {
		if !first {
			f.mu.Lock()
			f.reconnects++
			f.mu.Unlock()
			select { // a node refusing connections is retried shortly, not in a spin
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
		first = false
		f.session(ctx)
	}
}

// session is one connection: welcome, subscribe with since, turns.
func (f *follower) session(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	conn, _, err := websocket.Dial(dctx, f.url, nil)
	cancel()
	if err != nil {
		return
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 24)
	since := f.last()
	sub := fmt.Sprintf(`{"type":"subscribe","id":"f","sim":%q,"since":%d}`, f.sim, since)
	if err := conn.Write(ctx, websocket.MessageText, []byte(sub)); err != nil {
		return
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var m struct {
			Type      string
			Node      string
			Seq       int64
			Epoch     string
			Watchers  int
			Recovered *bool
			Code      string
			Message   string
		}
		if err := json.Unmarshal(data, &m); err != nil {
			f.fail(fmt.Errorf("bad message %s", data))
			return
		}
		switch m.Type {
		case "welcome":
			f.mu.Lock()
			f.nodes[m.Node] = true
			f.mu.Unlock()
		case "subscribed":
			if m.Recovered == nil || !*m.Recovered {
				f.fail(fmt.Errorf("resubscription from %d not recovered: %s", since, data))
			}
			f.mu.Lock()
			f.epochs[m.Epoch] = true
			f.mu.Unlock()
		case "presence":
			f.mu.Lock()
			f.watchers = m.Watchers
			f.mu.Unlock()
		case "snapshot":
			f.fail(fmt.Errorf("snapshot instead of the turns after %d", since))
		case "error":
			// A node going away mid-request: reconnect and try again.
			return
		case "turn":
			f.mu.Lock()
			want := int64(1)
			if n := len(f.seqs); n > 0 {
				want = f.seqs[n-1] + 1
			}
			if m.Seq != want && f.err == nil {
				f.err = fmt.Errorf("sim %s: got seq %d after %d (gap or duplicate)", f.sim, m.Seq, want-1)
			}
			f.seqs = append(f.seqs, m.Seq)
			f.mu.Unlock()
		}
	}
}

// waitFollowers waits until every follower has seen seq upTo of its
// simulation, failing on the first follower error.
func waitFollowers(t *testing.T, timeout time.Duration, fs []*follower, upTo map[string]int64) {
	t.Helper()
	poll.Until(t, timeout, "followers to catch up", func() bool {
		for _, f := range fs {
			f.mu.Lock()
			err := f.err
			f.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range fs {
			if f.last() < upTo[f.sim] {
				return false
			}
		}
		return true
	})
}

func checkFollowers(t *testing.T, fs []*follower) {
	t.Helper()
	for _, f := range fs {
		f.mu.Lock()
		seqs, err := append([]int64(nil), f.seqs...), f.err
		f.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		checkContiguous(t, seqs, 1)
	}
}

// TestClusterFailover: watchers spread over three nodes receive every
// turn of every story in order; kill -9 of a story's owner moves it to
// another node within 5 s, an action accepted just before the kill is
// played, and every watcher, resuming through the balancer, ends with the
// complete sequence; SIGTERM of a node under load loses nothing and its
// stories move at once.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster of real processes")
	}
	dbURL := pgtest.URL(t)
	redisURL := redistest.URL(t)
	c := startCluster(t, 3, dbURL, redisURL)
	l := c.lb()
	token := l.guest(t, "Ada")

	const stories, perStory = 6, 4
	var sims []simView
	for i := range stories {
		sims = append(sims, c.endlessStory(token, int64(i+1), 100))
	}
	// New stories spread over the nodes.
	owners := map[string]string{}
	poll.Until(t, 10*time.Second, "every story to have an owner", func() bool {
		for _, s := range sims {
			_, owner, _ := c.sim(s.ID)
			if owner == "" {
				return false
			}
			owners[s.ID] = owner
		}
		return true
	})
	perNode := map[string]int{}
	for _, o := range owners {
		perNode[o]++
	}
	t.Logf("stories per node: %v", perNode)
	if len(perNode) != 3 {
		t.Fatalf("%d stories on nodes %v, want them spread over all three", stories, perNode)
	}

	var fs []*follower
	for _, s := range sims {
		for range perStory {
			fs = append(fs, follow(t, c.lbURL, s.ID))
		}
	}
	target := func(ahead int64) map[string]int64 {
		m := map[string]int64{}
		for _, s := range sims {
			_, _, head := c.sim(s.ID)
			m[s.ID] = head + ahead
		}
		return m
	}
	waitFollowers(t, 20*time.Second, fs, target(5))
	seen := map[string]bool{}
	for _, f := range fs {
		for n := range f.nodes {
			seen[n] = true
		}
	}
	if len(seen) != 3 {
		t.Fatalf("watchers reached nodes %v, want all three", seen)
	}
	// Presence counts the watchers of every node; subscribed names the
	// history's epoch, the same for every watcher of a story.
	poll.Until(t, 10*time.Second, "presence summed over the nodes", func() bool {
		for _, f := range fs {
			f.mu.Lock()
			n := f.watchers
			f.mu.Unlock()
			if n != perStory {
				return false
			}
		}
		return true
	})
	epochOf := map[string]string{}
	for _, f := range fs {
		f.mu.Lock()
		for e := range f.epochs {
			if e == "" || (epochOf[f.sim] != "" && epochOf[f.sim] != e) {
				t.Fatalf("story %s: epochs %v and %q", f.sim, f.epochs, epochOf[f.sim])
			}
			epochOf[f.sim] = e
		}
		f.mu.Unlock()
	}

	// The first story is paused from a node that does not run it; a
	// player on such a node claims a character and acts (both reach the
	// owner through Redis); then the owner is killed. The new owner must
	// play the accepted action when the story resumes.
	victim := sims[0]
	owner := owners[victim.ID]
	var other *node
	for _, n := range c.nodes {
		if n.id != owner {
			other = &node{URL: "http://" + n.addr}
			break
		}
	}
	var paused struct{ Status string }
	if code := other.api(t, "POST", "/v1/simulations/"+victim.ID+"/pause", token, nil, &paused); code != 200 || paused.Status != "paused" {
		t.Fatalf("pause through another node: %d %+v", code, paused)
	}
	player := other.dial(t, token)
	char := victim.Characters[0].ID
	if m := player.call(map[string]any{"type": "claim", "sim": victim.ID, "character": char}); m["type"] != "claimed" {
		t.Fatalf("claim: %v", m)
	}
	// The owner validates: a move to nowhere is refused, through Redis.
	if m := player.call(map[string]any{"type": "act", "sim": victim.ID, "character": char,
		"action": map[string]any{"kind": "move", "target": "nowhere-at-all"}}); errCode(m) != "bad_request" {
		t.Fatalf("invalid action from another node: %v", m)
	}
	const marker = "The lamps gutter; someone must speak now."
	acc := player.call(map[string]any{"type": "act", "sim": victim.ID, "character": char,
		"action": map[string]any{"kind": "speak", "text": marker}})
	if acc["type"] != "accepted" {
		t.Fatalf("act: %v", acc)
	}
	actTurn := int64(acc["turn"].(float64))
	if _, _, head := c.sim(victim.ID); actTurn != head+1 {
		t.Fatalf("accepted for turn %d, head is %d", actTurn, head)
	}

	// kill -9 of the owner: each story it ran goes on from another node,
	// within about the lease TTL.
	var orphans []string
	for id, o := range owners {
		if o == owner && id != victim.ID {
			orphans = append(orphans, id)
		}
	}
	heads := target(0)
	dead := c.node(owner)
	dead.kill(t)
	killedAt := time.Now()
	poll.Until(t, 30*time.Second, "the dead node's stories to go on from another node", func() bool {
		if _, o, _ := c.sim(victim.ID); o == "" || o == owner {
			return false
		}
		for _, id := range orphans {
			if _, o, head := c.sim(id); o == "" || o == owner || head <= heads[id] {
				return false
			}
		}
		return true
	})
	failover := time.Since(killedAt)
	t.Logf("kill -9 of %s: %d running stories went on elsewhere, and the paused one was taken, after %v", owner, len(orphans), failover.Round(time.Millisecond))
	// The lease TTL (3 s) sets the failover time; the poll above already
	// bounds it. A tighter bound here would measure the machine's load, not
	// the cluster: the fleet benchmark (deploy/fleet.sh) reports the figure.
	var resumed struct{ Status string }
	if code := l.api(t, "POST", "/v1/simulations/"+victim.ID+"/resume", token, nil, &resumed); code != 200 || resumed.Status != "running" {
		t.Fatalf("resume: %d %+v", code, resumed)
	}
	waitFollowers(t, 30*time.Second, fs, target(5))
	checkFollowers(t, fs)

	// The accepted action was played, in the turn announced or, if the
	// kill came first, in the first turn of the new owner.
	var page struct {
		Turns []struct {
			Seq    int64 `json:"seq"`
			Events []struct {
				Actor, Text, Source string
			} `json:"events"`
		} `json:"turns"`
	}
	l.api(t, "GET", fmt.Sprintf("/v1/simulations/%s/turns?since=%d&limit=500", victim.ID, actTurn-1), "", nil, &page)
	played := int64(0)
	for _, turn := range page.Turns {
		for _, e := range turn.Events {
			if e.Actor == char && e.Source == "player" && e.Text == marker {
				played = turn.Seq
			}
		}
	}
	if played != actTurn {
		t.Fatalf("the action accepted for turn %d was played in turn %d (0: never)", actTurn, played)
	}

	// SIGTERM of a node that runs stories, under load.
	var drained *clusterNode
	for _, s := range sims {
		if _, o, _ := c.sim(s.ID); o != "" && o != owner {
			drained = c.node(o)
			break
		}
	}
	var moved []string
	for _, s := range sims {
		if _, o, _ := c.sim(s.ID); o == drained.id {
			moved = append(moved, s.ID)
		}
	}
	heads = target(0)
	termAt := time.Now()
	drained.term(t, 20*time.Second)
	poll.Until(t, 10*time.Second, "the drained node's stories to go on elsewhere", func() bool {
		for _, id := range moved {
			_, o, head := c.sim(id)
			if o == "" || o == drained.id || head <= heads[id] {
				return false
			}
		}
		return true
	})
	t.Logf("SIGTERM of %s: its %d stories went on elsewhere after %v", drained.id, len(moved), time.Since(termAt).Round(time.Millisecond))
	waitFollowers(t, 30*time.Second, fs, target(5))
	checkFollowers(t, fs)

	// Nothing lost: every stored turn of every story, 1 to head.
	for _, s := range sims {
		var page struct {
			Turns []json.RawMessage `json:"turns"`
			Head  int64             `json:"head"`
		}
		l.api(t, "GET", "/v1/simulations/"+s.ID+"/turns?since=0&limit=500", "", nil, &page)
		if int64(len(page.Turns)) != min(page.Head, 500) {
			t.Fatalf("%s: %d turns stored, head %d", s.ID, len(page.Turns), page.Head)
		}
	}
	reconnects := 0
	for _, f := range fs {
		reconnects += f.reconnects
	}
	t.Logf("%d watchers, %d reconnections, all sequences complete", len(fs), reconnects)
}

// TestClusterRedisRestart: Redis restarts (losing all it held) while
// stories run; the nodes reconnect and resubscribe by themselves and the
// watchers recover the turns published while Redis was away.
func TestClusterRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster of real processes")
	}
	dbURL := pgtest.URL(t)
	rs := redistest.StartServer(t)
	c := startCluster(t, 3, dbURL, rs.URL())
	l := c.lb()
	token := l.guest(t, "Ada")
	var sims []simView
	for i := range 3 {
		sims = append(sims, c.endlessStory(token, int64(i+1), 100))
	}
	var fs []*follower
	for _, s := range sims {
		for range 3 {
			fs = append(fs, follow(t, c.lbURL, s.ID))
		}
	}
	target := func(ahead int64) map[string]int64 {
		m := map[string]int64{}
		for _, s := range sims {
			_, _, head := c.sim(s.ID)
			m[s.ID] = head + ahead
		}
		return m
	}
	waitFollowers(t, 20*time.Second, fs, target(3))

	before := target(0)
	rs.Stop()
	// Stories go on in the store while Redis is away; their turns cannot
	// be published.
	poll.Until(t, 10*time.Second, "turns stored while Redis is down", func() bool {
		for _, s := range sims {
			if _, _, head := c.sim(s.ID); head < before[s.ID]+2 {
				return false
			}
		}
		return true
	})
	rs.Start()
	waitFollowers(t, 30*time.Second, fs, target(5))
	checkFollowers(t, fs)
	for _, node := range c.nodes {
		poll.Until(t, 10*time.Second, "node ready again", func() bool {
			resp, err := http.Get("http://" + node.addr + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}
}

// TestClusterConfigRequired: a cluster needs a shared token key and a
// shared store; a node refuses to start without them.
func TestClusterConfigRequired(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"NOVEL_REDIS_URL": "redis://127.0.0.1:1/0", "NOVEL_DATABASE_URL": "postgres://x@127.0.0.1:1/x"}, "NOVEL_JWT_SECRET is required"},
		{map[string]string{"NOVEL_REDIS_URL": "redis://127.0.0.1:1/0", "NOVEL_JWT_SECRET": "0123456789abcdef0123"}, "NOVEL_DATABASE_URL is required"},
		{map[string]string{"NOVEL_REDIS_URL": "http://nope", "NOVEL_JWT_SECRET": "0123456789abcdef0123", "NOVEL_DATABASE_URL": "postgres://x@127.0.0.1:1/x"}, "NOVEL_REDIS_URL"},
	} {
		var out, errOut syncBuffer
		err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, func(k string) string { return tc.env[k] }, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: error %v, want one naming %q", tc.env, err, tc.want)
		}
	}
}
