package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/loadtest/internal/node"
)

// novel is a Novel Engine node, or several sharing a Redis of their own
// and a PostgreSQL database of their own: the publications are the turns
// of stories it computes itself, started from the built-in scenarios
// without their end conditions so that they outlive the run.
type novel struct {
	bin     string
	label   string      // names the binary when several are measured
	n       int         // nodes; more than one makes a cluster
	cluster *clusterEnv // with n > 1

	procs []*node.Process
	logs  []*os.File
	ws    []string
	redis *redisServer
	pg    *pgServer // with -pg-bin: the run's own PostgreSQL server
	db    *pgDatabase

	atWindow map[string][]float64 // histograms' counts as the window started
}

func (n *novel) name() string {
	if n.label != "" {
		return "Novel Engine " + n.label
	}
	return "Novel Engine"
}

func (n *novel) nodes() int { return max(1, n.n) }

// env is what every node of a cluster is started with, after the
// process's own: Redis, the database, a shared token key.
func (n *novel) clusterEnv(ctx context.Context, logPrefix string) ([]string, error) {
	if n.nodes() == 1 {
		return nil, nil
	}
	var err error
	if n.redis, err = startRedis(ctx, n.cluster.redisBin, n.cluster.redisPort, logPrefix); err != nil {
		return nil, err
	}
	admin := n.cluster.pgAdmin
	if n.cluster.pgBin != "" {
		if n.pg, err = startPostgres(ctx, n.cluster.pgBin, n.cluster.pgUser, n.cluster.pgPort, logPrefix); err != nil {
			return nil, err
		}
		admin = n.pg.url
	}
	if n.db, err = createDatabase(ctx, admin); err != nil {
		return nil, err
	}
	secret := make([]byte, 24)
	rand.Read(secret)
	return []string{
		"NOVEL_REDIS_URL=" + n.redis.url,
		"NOVEL_REDIS_PREFIX=compare:",
		"NOVEL_DATABASE_URL=" + n.db.url,
		"NOVEL_JWT_SECRET=" + hex.EncodeToString(secret),
		"NOVEL_GUEST_AUTH=true",
	}, nil
}

func (n *novel) start(ctx context.Context, w workload, logPrefix string, profile bool) ([]string, error) {
	env, err := n.clusterEnv(ctx, logPrefix)
	if err != nil {
		return nil, err
	}
	env = append(env, "NOVEL_LOG_LEVEL=warn")
	for i := range n.nodes() {
		log, err := os.Create(fmt.Sprintf("%s-novel-engine-%d.log", logPrefix, i+1))
		if err != nil {
			return nil, err
		}
		n.logs = append(n.logs, log)
		e := append(env[:len(env):len(env)], fmt.Sprintf("NOVEL_NODE_ID=node%d", i+1))
		if profile && i == 0 {
			e = append(e, "NOVEL_PPROF_ADDR=127.0.0.1:0")
		}
		if i > 0 {
			e = append(e, "NOVEL_MIGRATE=false") // the first node did
		}
		p, err := node.Spawn(n.bin, e, log)
		if err != nil {
			return nil, err
		}
		n.procs = append(n.procs, p)
		n.ws = append(n.ws, strings.Replace(p.URL, "http://", "ws://", 1)+"/v1/ws")
	}
	base := n.procs[0].URL
	tok, err := node.Guest(base)
	if err != nil {
		return nil, err
	}
	scenarios, err := node.EndlessScenarios(base)
	if err != nil {
		return nil, err
	}
	// Stories start spread over one interval, so their turns come at
	// staggered phases, as stories started at different times do. In a
	// cluster each runs on the node its placement picks.
	// Each is created at its own offset from the first, not a fixed
	// pause after the one before: the creations' own time would add up
	// and push the last stories' phases round onto the first ones'.
	sims := make([]string, w.Stories)
	start := time.Now()
	for i := range sims {
		if err := sleep(ctx, time.Until(start.Add(w.Interval*time.Duration(i)/time.Duration(w.Stories)))); err != nil {
			return nil, err
		}
		if sims[i], err = node.Create(base, tok, scenarios[i%len(scenarios)], i+1, w.Interval); err != nil {
			return nil, err
		}
	}
	return sims, nil
}

func (n *novel) pids() []int {
	out := make([]int, len(n.procs))
	for i, p := range n.procs {
		out[i] = p.Pid()
	}
	return out
}

func (n *novel) aux() []int {
	if n.redis == nil {
		return nil
	}
	return []int{n.redis.pid()}
}

func (n *novel) pprof() string {
	if len(n.procs) == 0 {
		return ""
	}
	return n.procs[0].Pprof
}

func (n *novel) metrics() []string {
	out := make([]string, len(n.procs))
	for i, p := range n.procs {
		out[i] = p.URL + "/metrics"
	}
	return out
}

// The stories' errors show in the node's log, not here.
func (n *novel) producerErrors() int64 { return 0 }

func (n *novel) stop() {
	var wg sync.WaitGroup
	for _, p := range n.procs {
		wg.Go(p.Stop)
	}
	wg.Wait()
	for _, l := range n.logs {
		l.Close()
	}
	n.redis.stop()
	if err := n.db.drop(); err != nil {
		fmt.Fprintf(os.Stderr, "compare: drop database %s: %v\n", n.db.name, err)
	}
	n.pg.stop()
}

// firstSeq reads the first "seq" of a message without decoding all of it
// (a snapshot holds twenty turns: decoding them all for every watcher
// would make the load generator, not the server, the slow part).
func firstSeq(b []byte) (int64, bool) {
	_, rest, ok := bytes.Cut(b, []byte(`"seq":`))
	if !ok {
		return 0, false
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	seq, err := strconv.ParseInt(string(rest[:n]), 10, 64)
	return seq, err == nil
}

var (
	turnPrefix     = []byte(`{"type":"turn"`)
	snapshotPrefix = []byte(`{"type":"snapshot"`)
	errorPrefix    = []byte(`{"type":"error"`)
)

func (n *novel) watch(ctx context.Context, sim string, nd int, wr *watcher) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, _, err := websocket.Dial(dctx, n.ws[nd], nil)
	cancel()
	if err != nil {
		return err
	}
	defer c.CloseNow()
	defer closeOnDone(ctx, c)()
	c.SetReadLimit(1 << 22)
	if err := c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"subscribe","id":"1","sim":%q}`, sim)); err != nil {
		return err
	}
	var buf bytes.Buffer
	for {
		now, err := readMessage(c, &buf)
		if err != nil {
			return err
		}
		b := buf.Bytes()
		switch {
		case bytes.HasPrefix(b, turnPrefix):
			seq, at, ok := node.TurnSeqAt(b)
			if !ok {
				return fmt.Errorf("unreadable turn %.100s", b)
			}
			wr.deliver(seq, at, now, len(b))
		case bytes.HasPrefix(b, snapshotPrefix):
			// Live turns follow the snapshot's seq, its first.
			seq, ok := firstSeq(b)
			if !ok {
				return fmt.Errorf("snapshot without a seq: %.100s", b)
			}
			wr.seq.From(seq)
			wr.subscribed()
		case bytes.HasPrefix(b, errorPrefix):
			return fmt.Errorf("node: %.200s", b)
		}
	}
}

// publishRTT is the median and p99 of the time from a turn's production
// to its publication (storing it, then the broker's publish), from the
// nodes' histograms, to set beside the rest of the delivery latency.
func (n *novel) publishRTT() [2]time.Duration {
	return n.quantiles("novel_turn_publish_delay_seconds")
}

// broadcastRTT is the median and p99 of the last part of it: the broker's
// publish (with Redis, the script's round trip).
func (n *novel) broadcastRTT() [2]time.Duration {
	return n.quantiles("novel_turn_broadcast_seconds")
}

// turnStages are the nodes' histograms of a turn's way, each from its
// production: the store's answer on the node that played it, arrival
// from Redis on the others, and the end of the fan-out on either.
var turnStages = []struct{ name, metric string }{
	{"stored", "novel_turn_store_delay_seconds"},
	{"from Redis", "novel_turn_receive_delay_seconds"},
	{"fanned out from Redis", "novel_turn_fanout_delay_seconds"},
	{"fanned out by its node", "novel_turn_fanout_local_delay_seconds"},
}

// stages returns the median and p99 of each of turnStages over the
// window, those the nodes export.
func (n *novel) stages() []stageTime {
	var out []stageTime
	for _, st := range turnStages {
		if q := n.quantiles(st.metric); q[1] > 0 {
			out = append(out, stageTime{st.name, q})
		}
	}
	return out
}

// windowHistograms are the histograms whose figures are reported over
// the measurement window only.
var windowHistograms = []string{"novel_turn_publish_delay_seconds", "novel_turn_broadcast_seconds",
	turnStages[0].metric, turnStages[1].metric, turnStages[2].metric, turnStages[3].metric}

// markWindow notes the histograms' counts as the window starts.
func (n *novel) markWindow() {
	n.atWindow = map[string][]float64{}
	for _, name := range windowHistograms {
		_, n.atWindow[name] = n.histogram(name)
	}
}

// quantiles returns the median and p99 of histogram name over the
// window, summed over the nodes (zero when a node does not export it).
func (n *novel) quantiles(name string) [2]time.Duration {
	bounds, counts := n.histogram(name)
	if before := n.atWindow[name]; len(before) == len(counts) {
		for i := range counts {
			counts[i] -= before[i]
		}
	}
	return [2]time.Duration{histQuantile(bounds, counts, 0.5), histQuantile(bounds, counts, 0.99)}
}

// histogram sums histogram name's cumulative buckets over the nodes.
func (n *novel) histogram(name string) (bounds, counts []float64) {
	for _, url := range n.metrics() {
		resp, err := http.Get(url)
		if err != nil {
			return nil, nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bs, cs := parseHistogram(b, name)
		if counts == nil {
			bounds, counts = bs, make([]float64, len(cs))
		}
		if len(cs) != len(counts) {
			return nil, nil
		}
		for i := range cs {
			counts[i] += cs[i]
		}
	}
	return bounds, counts
}

// parseHistogram reads the cumulative buckets of histogram name from
// Prometheus text: upper bounds (the last +Inf) and counts.
func parseHistogram(b []byte, name string) (bounds, counts []float64) {
	prefix := []byte(name + `_bucket{le="`)
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		le, value, ok := bytes.Cut(rest, []byte(`"} `))
		if !ok {
			continue
		}
		bound, err1 := strconv.ParseFloat(string(le), 64)
		count, err2 := strconv.ParseFloat(string(bytes.TrimSpace(value)), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		bounds, counts = append(bounds, bound), append(counts, count)
	}
	return bounds, counts
}

// histQuantile estimates quantile q from cumulative buckets, linearly
// within the bucket it falls in (as Prometheus's histogram_quantile).
func histQuantile(bounds, counts []float64, q float64) time.Duration {
	if len(counts) == 0 || counts[len(counts)-1] == 0 {
		return 0
	}
	rank := q * counts[len(counts)-1]
	lower, below := 0.0, 0.0
	for i, c := range counts {
		if c >= rank {
			if math.IsInf(bounds[i], 1) {
				return time.Duration(lower * float64(time.Second))
			}
			frac := 1.0
			if c > below {
				frac = (rank - below) / (c - below)
			}
			return time.Duration((lower + (bounds[i]-lower)*frac) * float64(time.Second))
		}
		lower, below = bounds[i], c
	}
	return 0
}
