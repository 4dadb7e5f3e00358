package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/loadtest/internal/node"
	"github.com/novel-engine/novel-engine/loadtest/internal/stats"
)

// ensureCentrifugo installs Centrifugo at version into bin's directory
// with go install when bin is missing or reports another version.
func ensureCentrifugo(ctx context.Context, bin, version string, install bool, out io.Writer) error {
	if v := builtVersion(bin); v == version {
		fmt.Fprintf(out, "using %s: Centrifugo %s\n", bin, v)
		return nil
	}
	if !install {
		return fmt.Errorf("%s is missing or not Centrifugo %s, and -install=false", bin, version)
	}
	if filepath.Base(bin) != "centrifugo" {
		return fmt.Errorf("-centrifugo %s: go install names the binary centrifugo; give a path ending in /centrifugo", bin)
	}
	dir, err := filepath.Abs(filepath.Dir(bin))
	if err != nil {
		return err
	}
	pkg := centrifugoModule + "@" + version
	fmt.Fprintf(out, "installing Centrifugo %s into %s (go install %s: it builds from the module proxy and takes minutes; each line is a package built)\n", version, dir, pkg)
	cmd := exec.CommandContext(ctx, "go", "install", "-v", pkg)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	tick := time.NewTicker(20 * time.Second)
	defer tick.Stop()
	var last []string // the tail, to show on failure
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				done = true
				break
			}
			last = append(last[max(0, len(last)-20):], l)
			fmt.Fprintf(out, "  %s  %s\n", time.Since(start).Round(time.Second), l)
		case <-tick.C:
			fmt.Fprintf(out, "  %s  still building…\n", time.Since(start).Round(time.Second))
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("go install %s: %w\n%s", pkg, err, strings.Join(last, "\n"))
	}
	if v := builtVersion(bin); v != version {
		return fmt.Errorf("installed, but %s is Centrifugo %q", bin, v)
	}
	fmt.Fprintf(out, "installed Centrifugo %s in %s\n", version, time.Since(start).Round(time.Second))
	return nil
}

// builtVersion is the version of Centrifugo that bin was built from, as
// go install records it in the binary ("" when bin is not Centrifugo).
// The binary's own version command says v0.0.0 when built this way.
func builtVersion(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil || info.Main.Path != centrifugoModule {
		return ""
	}
	return info.Main.Version
}

const centrifugoModule = "github.com/centrifugal/centrifugo/v6"

// centrifugoConfig is the configuration of the benchmark's Centrifugo:
// the memory broker (one node, like ours without Redis) or, given a
// redisURL, the Redis engine (nodes sharing a Redis, like ours in a
// cluster), no history (we keep none in memory for live delivery either:
// our history is in the store), clients connecting without tokens
// (insecure mode: for the benchmark only, never in production) and
// allowed to subscribe to any channel, and the HTTP API behind a key.
// Pings keep their defaults (25 s, like ours), and so does everything
// else.
func centrifugoConfig(port int, apiKey string, profile bool, redisURL string) []byte {
	engine := map[string]any{"type": "memory"}
	if redisURL != "" {
		engine = map[string]any{"type": "redis", "redis": map[string]any{"address": []string{redisURL}}}
	}
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"engine":      engine,
		"client":      map[string]any{"insecure": true},
		"channel": map[string]any{
			"without_namespace": map[string]any{"allow_subscribe_for_client": true},
		},
		"http_api": map[string]any{"key": apiKey},
		"health":   map[string]any{"enabled": true},
		// Only exposes the metrics Centrifugo keeps anyway; the load
		// generator reads the Go runtime's memory figures from it.
		"prometheus":  map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true},
		"debug":       map[string]any{"enabled": profile},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return b
}

// centrifugo is a Centrifugo node, or several on the Redis engine: the
// publications come from this process through the HTTP publish API, at
// the workload's rates and phases, with a payload as large as our turns;
// with several nodes each publication goes to the next node in turn.
type centrifugo struct {
	bin     string
	payload int         // bytes of each delivered message, wrapper included
	n       int         // nodes; more than one shares a Redis
	cluster *clusterEnv // with n > 1

	cmds     []*exec.Cmd
	dones    []chan struct{}
	logs     []*os.File
	bases    []string
	wss      []string
	redis    *redisServer
	key      string
	profile  bool
	client   *http.Client
	pubErrs  atomic.Int64
	rttMu    sync.Mutex
	rtts     []time.Duration // of the publish calls
	rttFrom  int             // the first of the window's
	stopPubs context.CancelFunc
	pubs     sync.WaitGroup
}

func (c *centrifugo) name() string { return "Centrifugo" }

func (c *centrifugo) nodes() int { return max(1, c.n) }

func (c *centrifugo) start(ctx context.Context, w workload, logPrefix string, profile bool) ([]string, error) {
	key := make([]byte, 16)
	rand.Read(key)
	c.key, c.profile = hex.EncodeToString(key), profile
	redisURL := ""
	if c.nodes() > 1 {
		var err error
		if c.redis, err = startRedis(ctx, c.cluster.redisBin, c.cluster.redisPort, logPrefix); err != nil {
			return nil, err
		}
		redisURL = c.redis.url
	}
	for i := range c.nodes() {
		if err := c.startNode(ctx, fmt.Sprintf("%s-centrifugo-%d", logPrefix, i+1), profile && i == 0, redisURL); err != nil {
			return nil, err
		}
	}
	c.client = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConns: w.Stories, MaxIdleConnsPerHost: w.Stories},
	}
	pctx, cancel := context.WithCancel(ctx)
	c.stopPubs = cancel
	channels := make([]string, w.Stories)
	for i := range channels {
		channels[i] = fmt.Sprintf("story-%04d", i)
		offset := w.Interval * time.Duration(i) / time.Duration(w.Stories)
		ch := channels[i]
		c.pubs.Go(func() { c.publishLoop(pctx, ch, i, offset, w.Interval) })
	}
	return channels, nil
}

// startNode starts one node and waits until it is healthy.
func (c *centrifugo) startNode(ctx context.Context, prefix string, profile bool, redisURL string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	conf := prefix + ".json"
	if err := os.WriteFile(conf, centrifugoConfig(port, c.key, profile, redisURL), 0o600); err != nil {
		return err
	}
	log, err := os.Create(prefix + ".log")
	if err != nil {
		return err
	}
	c.logs = append(c.logs, log)
	cmd := exec.Command(c.bin, "--config", conf)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	c.cmds, c.dones = append(c.cmds, cmd), append(c.dones, done)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c.bases = append(c.bases, base)
	c.wss = append(c.wss, fmt.Sprintf("ws://127.0.0.1:%d/connection/websocket", port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("centrifugo exited at start; see %s", log.Name())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("centrifugo did not answer /health; see %s", log.Name())
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// publishLoop publishes to ch once per interval, starting after offset,
// each payload carrying its seq and the time it was produced.
func (c *centrifugo) publishLoop(ctx context.Context, ch string, i int, offset, interval time.Duration) {
	if sleep(ctx, offset) != nil {
		return
	}
	pad := strings.Repeat("x", padFor(c.payload, ch))
	t := time.NewTicker(interval)
	defer t.Stop()
	body := make([]byte, 0, c.payload+128)
	for seq := int64(1); ; seq++ {
		at := time.Now().UTC()
		body = appendPublish(body[:0], ch, seq, at, pad)
		base := c.bases[(i+int(seq))%len(c.bases)]
		if err := c.publish(ctx, base, body); err != nil && ctx.Err() == nil {
			c.pubErrs.Add(1)
		}
		// How long the call took bounds the share of the latency spent
		// reaching Centrifugo: the payload's time is taken before it.
		rtt := time.Since(at)
		c.rttMu.Lock()
		c.rtts = append(c.rtts, rtt)
		c.rttMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// appendPublish appends the HTTP API's publish request for one payload.
func appendPublish(b []byte, ch string, seq int64, at time.Time, pad string) []byte {
	b = append(b, `{"channel":`...)
	b = strconv.AppendQuote(b, ch)
	b = append(b, `,"data":{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"at":"`...)
	b = at.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","pad":"`...)
	b = append(b, pad...)
	b = append(b, `"}}`...)
	return b
}

// padFor returns the padding that makes a delivered push on ch size bytes
// long, for a typical seq (4 digits) and time (30 characters).
func padFor(size int, ch string) int {
	wrapper := len(`{"push":{"channel":"`) + len(ch) + len(`","pub":{"data":`) + len(`}}}`)
	data := len(`{"seq":`) + 4 + len(`,"at":"`) + 30 + len(`","pad":"`) + len(`"}`)
	return max(0, size-wrapper-data)
}

func (c *centrifugo) publish(ctx context.Context, base string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/publish", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", c.key)
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || bytes.Contains(b, []byte(`"error"`)) {
		return fmt.Errorf("publish: %s %.200s", resp.Status, b)
	}
	return nil
}

func (c *centrifugo) pids() []int {
	out := make([]int, len(c.cmds))
	for i, cmd := range c.cmds {
		out[i] = cmd.Process.Pid
	}
	return out
}

func (c *centrifugo) aux() []int {
	if c.redis == nil {
		return nil
	}
	return []int{c.redis.pid()}
}

func (c *centrifugo) pprof() string {
	if !c.profile || len(c.bases) == 0 {
		return ""
	}
	return c.bases[0] + "/debug/pprof/"
}

func (c *centrifugo) metrics() []string {
	out := make([]string, len(c.bases))
	for i, b := range c.bases {
		out[i] = b + "/metrics"
	}
	return out
}

func (c *centrifugo) producerErrors() int64 { return c.pubErrs.Load() }

// markWindow notes where the window's publish calls start.
func (c *centrifugo) markWindow() {
	c.rttMu.Lock()
	defer c.rttMu.Unlock()
	c.rttFrom = len(c.rtts)
}

// publishRTT returns the median and p99 duration of the publish calls
// since the window started.
func (c *centrifugo) publishRTT() [2]time.Duration {
	c.rttMu.Lock()
	s := slices.Clone(c.rtts[c.rttFrom:])
	c.rttMu.Unlock()
	slices.Sort(s)
	return [2]time.Duration{stats.Percentile(s, 0.5), stats.Percentile(s, 0.99)}
}

func (c *centrifugo) stop() {
	if c.stopPubs != nil {
		c.stopPubs()
		c.pubs.Wait()
	}
	var wg sync.WaitGroup
	for i, cmd := range c.cmds {
		wg.Go(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.dones[i]:
			case <-time.After(40 * time.Second):
				cmd.Process.Kill()
				<-c.dones[i]
			}
		})
	}
	wg.Wait()
	for _, l := range c.logs {
		l.Close()
	}
	c.redis.stop()
}

// Kinds of line in Centrifugo's JSON protocol, as a watcher sees them.
type lineKind int

const (
	lineOther lineKind = iota
	linePing           // {}: answer {} or be disconnected
	linePush           // a publication
	lineReply          // the answer to a command
)

// eachLine calls fn for each message of a frame: Centrifugo writes the
// messages queued for a connection into one frame, one per line.
func eachLine(frame []byte, fn func(line []byte) error) error {
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		if len(line) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

func kindOf(line []byte) lineKind {
	switch {
	case bytes.Equal(line, []byte(`{}`)):
		return linePing
	case bytes.HasPrefix(line, []byte(`{"push":`)):
		return linePush
	case bytes.HasPrefix(line, []byte(`{"id":`)):
		return lineReply
	}
	return lineOther
}

// replyError returns the error a command's reply carries, if any.
func replyError(line []byte) error {
	var r struct {
		ID    int             `json:"id"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return fmt.Errorf("reply %.100s: %w", line, err)
	}
	if len(r.Error) > 0 {
		return fmt.Errorf("command %d: %s", r.ID, r.Error)
	}
	return nil
}

var errDisconnected = errors.New("centrifugo sent a disconnect")

func (c *centrifugo) watch(ctx context.Context, ch string, nd int, wr *watcher) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, _, err := websocket.Dial(dctx, c.wss[nd], nil)
	cancel()
	if err != nil {
		return err
	}
	defer conn.CloseNow()
	defer closeOnDone(ctx, conn)()
	conn.SetReadLimit(1 << 22)
	// Commands are handled in order: connect, then subscribe.
	cmds := fmt.Appendf(nil, "{\"id\":1,\"connect\":{}}\n{\"id\":2,\"subscribe\":{\"channel\":%q}}", ch)
	if err := conn.Write(ctx, websocket.MessageText, cmds); err != nil {
		return err
	}
	pong := []byte(`{}`)
	var buf bytes.Buffer
	for {
		now, err := readMessage(conn, &buf)
		if err != nil {
			return err
		}
		err = eachLine(buf.Bytes(), func(line []byte) error {
			switch kindOf(line) {
			case linePing:
				return conn.Write(ctx, websocket.MessageText, pong)
			case linePush:
				if !bytes.Contains(line, []byte(`"pub":`)) {
					if bytes.Contains(line, []byte(`"disconnect":`)) {
						return fmt.Errorf("%w: %.200s", errDisconnected, line)
					}
					return nil
				}
				seq, at, ok := node.TurnSeqAt(line)
				if !ok {
					return fmt.Errorf("unreadable publication %.100s", line)
				}
				wr.deliver(seq, at, now, len(line))
			case lineReply:
				if err := replyError(line); err != nil {
					return err
				}
				if bytes.HasPrefix(line, []byte(`{"id":2,`)) {
					wr.subscribed()
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}
