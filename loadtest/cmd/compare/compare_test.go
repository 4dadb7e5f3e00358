package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestParseWorkloads(t *testing.T) {
	ws, err := parseWorkloads("A, b", 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].Name != "A" || ws[1].Name != "B'" {
		t.Fatalf("workloads %+v", ws)
	}
	if ws[0].Watchers != 5 || ws[0].conns() != 500 || ws[0].rate() != 500 {
		t.Fatalf("A at 0.05: %+v, %d conns, %v/s", ws[0], ws[0].conns(), ws[0].rate())
	}
	if ws[1].Watchers != 15 || ws[1].rate() != 1500 {
		t.Fatalf("B' at 0.05: %+v, %v/s", ws[1], ws[1].rate())
	}
	full, _ := parseWorkloads("A,B'", 1)
	if full[0].conns() != 10000 || full[1].conns() != 6000 || full[1].rate() != 30000 {
		t.Fatalf("full size: %d and %d connections, B' %v/s", full[0].conns(), full[1].conns(), full[1].rate())
	}
	if tiny, _ := parseWorkloads("A", 0.0001); tiny[0].Watchers != 1 {
		t.Fatalf("a tiny scale leaves %d watchers per story, want 1", tiny[0].Watchers)
	}
	if c, _ := parseWorkloads("c", 1); len(c) != 1 || c[0].conns() != 3000 || c[0].rate() != 3000 {
		t.Fatalf("C: %+v", c)
	}
	for _, bad := range []string{"D", ""} {
		if _, err := parseWorkloads(bad, 1); err == nil {
			t.Errorf("workload %q accepted", bad)
		}
	}
	if _, err := parseWorkloads("A", 0); err == nil {
		t.Error("scale 0 accepted")
	}
}

func TestEachLineAndKinds(t *testing.T) {
	frame := []byte("{}\n{\"push\":{\"channel\":\"c\",\"pub\":{\"data\":{\"seq\":1}}}}\n\n{\"id\":2,\"subscribe\":{}}\n{\"push\":{\"channel\":\"c\",\"pub\":{\"data\":{\"seq\":2}}}}")
	var kinds []lineKind
	if err := eachLine(frame, func(l []byte) error {
		kinds = append(kinds, kindOf(l))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []lineKind{linePing, linePush, lineReply, linePush}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	stop := fmt.Errorf("stop")
	n := 0
	if err := eachLine(frame, func([]byte) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("an error from fn: %v after %d lines", err, n)
	}
	if kindOf([]byte(`{"connect":{}}`)) != lineOther {
		t.Fatal("an unknown line has a kind")
	}
}

func TestReplyError(t *testing.T) {
	if err := replyError([]byte(`{"id":2,"subscribe":{}}`)); err != nil {
		t.Fatal(err)
	}
	if err := replyError([]byte(`{"id":2,"error":{"code":103,"message":"permission denied"}}`)); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("error reply: %v", err)
	}
	if err := replyError([]byte(`{"id":`)); err == nil {
		t.Fatal("a broken reply gave no error")
	}
}

// The publications Centrifugo delivers are as large as asked, and carry
// what the watcher reads.
func TestPayloadSize(t *testing.T) {
	ch := "story-0042"
	for _, size := range []int{300, 1300, 1500} {
		at := time.Date(2026, 7, 12, 10, 0, 0, 123456789, time.UTC)
		req := appendPublish(nil, ch, 1234, at, strings.Repeat("x", padFor(size, ch)))
		var p struct {
			Channel string          `json:"channel"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(req, &p); err != nil {
			t.Fatalf("publish request %s: %v", req, err)
		}
		push := fmt.Sprintf(`{"push":{"channel":%q,"pub":{"data":%s}}}`, p.Channel, p.Data)
		if d := len(push) - size; d < -3 || d > 3 {
			t.Errorf("size %d: the push is %d bytes", size, len(push))
		}
	}
	if padFor(10, ch) != 0 {
		t.Error("negative padding")
	}
}

func TestCentrifugoConfig(t *testing.T) {
	var cfg struct {
		HTTPServer struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
		} `json:"http_server"`
		Engine struct {
			Type  string `json:"type"`
			Redis struct {
				Address []string `json:"address"`
			} `json:"redis"`
		} `json:"engine"`
		Client struct {
			Insecure bool `json:"insecure"`
		} `json:"client"`
		HTTPAPI struct {
			Key string `json:"key"`
		} `json:"http_api"`
		Debug struct {
			Enabled bool `json:"enabled"`
		} `json:"debug"`
	}
	if err := json.Unmarshal(centrifugoConfig(8123, "k3y", false, ""), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPServer.Address != "127.0.0.1" || cfg.HTTPServer.Port != 8123 || cfg.Engine.Type != "memory" ||
		!cfg.Client.Insecure || cfg.HTTPAPI.Key != "k3y" || cfg.Debug.Enabled {
		t.Fatalf("config %+v", cfg)
	}
	// Several nodes: the Redis engine, on the run's Redis.
	if err := json.Unmarshal(centrifugoConfig(8123, "k3y", false, "redis://127.0.0.1:18600/0"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Engine.Type != "redis" || len(cfg.Engine.Redis.Address) != 1 || cfg.Engine.Redis.Address[0] != "redis://127.0.0.1:18600/0" {
		t.Fatalf("cluster config %+v", cfg.Engine)
	}
}

func TestWatcherCountsOnlyTheWindow(t *testing.T) {
	st := &runState{}
	w := &watcher{st: st}
	at := time.Now()
	w.deliver(1, at, at.Add(time.Millisecond), 100)
	st.measuring.Store(true)
	w.deliver(2, at, at.Add(2*time.Millisecond), 100)
	w.deliver(4, at, at.Add(3*time.Millisecond), 100)
	st.measuring.Store(false)
	w.deliver(5, at, at.Add(4*time.Millisecond), 100)
	if w.deliveries != 2 || w.bytes != 200 || len(w.lat) != 2 || w.lat[1] != 3*time.Millisecond {
		t.Fatalf("window: %d deliveries, %d bytes, latencies %v", w.deliveries, w.bytes, w.lat)
	}
	if w.seq.Gaps != 1 {
		t.Fatalf("gaps %d, want 1 (turn 3)", w.seq.Gaps)
	}
}

func TestTable(t *testing.T) {
	mk := func(server string, p99ms int, cpu time.Duration, rssKiB int64) result {
		writes := int64(1000)
		if server == "Novel Engine" {
			writes = 500
		}
		return result{
			writes:   writes,
			workload: "A", server: server, p50: time.Millisecond, p99: time.Duration(p99ms) * time.Millisecond, max: time.Second,
			deliveries: 1000, bytes: 1500 * 1000, window: 10 * time.Second, cpu: cpu,
			rssBefore: 1 << 20, rssAfter: 1<<20 + rssKiB*1024*100, conns: 100,
		}
	}
	all := []result{
		mk("Novel Engine", 10, 40*time.Millisecond, 60),
		mk("Centrifugo", 5, 20*time.Millisecond, 50),
		mk("Novel Engine", 30, 60*time.Millisecond, 70),
		mk("Centrifugo", 10, 30*time.Millisecond, 40),
		mk("Novel Engine", 20, 50*time.Millisecond, 80),
		mk("Centrifugo", 15, 25*time.Millisecond, 30),
	}
	all[0].gaps, all[2].failed = 2, 1
	var b bytes.Buffer
	printTable(&b, all, []workload{{Name: "A"}})
	out := b.String()
	for _, want := range []string{
		"| A | Centrifugo | 3 | 1.00 | 10.00 | 1000.0 | 25.0 | 1.00 | 40.0 | 100 | 1500 | 0 | 0 | 0 | 0.00 |",
		"| A | Novel Engine | 3 | 1.00 | 20.00 | 1000.0 | 50.0 | 0.50 | 70.0 | 100 | 1500 | 2 | 0 | 1 | 0.00 |",
		"| A | ours ÷ Centrifugo | | **1.00×** | **2.00×** | **1.00×** | **2.00×** | **0.50×** | **1.75×** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// fakeCentrifugo speaks enough of Centrifugo's JSON protocol to check the
// watcher: it answers connect and subscribe, pings, and requires the pong
// before it publishes: turns 1 and 2 in one frame, then 4; then it
// closes normally.
func fakeCentrifugo(t *testing.T, pongs chan<- struct{}) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		_, cmds, err := c.Read(ctx)
		if err != nil {
			return
		}
		if !bytes.Contains(cmds, []byte(`{"id":1,"connect":{}}`)) || !bytes.Contains(cmds, []byte(`"subscribe":{"channel":"story-1"}`)) {
			c.Close(websocket.StatusPolicyViolation, "unexpected commands")
			return
		}
		c.Write(ctx, websocket.MessageText, []byte("{\"id\":1,\"connect\":{\"client\":\"x\",\"ping\":25,\"pong\":true}}\n{\"id\":2,\"subscribe\":{}}"))
		c.Write(ctx, websocket.MessageText, []byte(`{}`))
		_, pong, err := c.Read(ctx)
		if err != nil || string(pong) != `{}` {
			return
		}
		pongs <- struct{}{}
		at := time.Now().UTC().Format(time.RFC3339Nano)
		pub := func(seq int) string {
			return fmt.Sprintf(`{"push":{"channel":"story-1","pub":{"data":{"seq":%d,"at":%q,"pad":"xx"}}}}`, seq, at)
		}
		c.Write(ctx, websocket.MessageText, []byte(pub(1)+"\n"+pub(2)))
		c.Write(ctx, websocket.MessageText, []byte(pub(4)))
		c.Close(websocket.StatusNormalClosure, "done")
	}))
}

func TestCentrifugoWatcher(t *testing.T) {
	pongs := make(chan struct{}, 1)
	srv := fakeCentrifugo(t, pongs)
	defer srv.Close()
	cf := &centrifugo{wss: []string{"ws" + strings.TrimPrefix(srv.URL, "http")}}
	st := &runState{}
	st.measuring.Store(true)
	w := &watcher{st: st}
	done := make(chan error, 1)
	go func() { done <- cf.watch(context.Background(), "story-1", 0, w) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the watcher did not finish")
	}
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("watch ended with %v, want the fake's normal close", err)
	}
	select {
	case <-pongs:
	default:
		t.Fatal("the ping was not answered")
	}
	if st.ready.Load() != 1 {
		t.Fatalf("ready %d, want 1", st.ready.Load())
	}
	if w.deliveries != 3 || w.seq.Gaps != 1 || w.seq.Dups != 0 {
		t.Fatalf("%d deliveries, %d gaps, %d dups; want 3, 1, 0", w.deliveries, w.seq.Gaps, w.seq.Dups)
	}
}

func TestBuiltVersionIsCentrifugoOnly(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if v := builtVersion(self); v != "" {
		t.Fatalf("this test binary taken for Centrifugo %q", v)
	}
	if v := builtVersion("/no/such/centrifugo"); v != "" {
		t.Fatalf("a missing binary has version %q", v)
	}
}

func TestFailReasons(t *testing.T) {
	st := &runState{}
	st.fail(fmt.Errorf("failed to get reader: %w", websocket.CloseError{Code: 3012, Reason: "no pong"}))
	st.fail(websocket.CloseError{Code: 3012, Reason: "no pong"})
	st.fail(fmt.Errorf("dial: %s", strings.Repeat("x", 200)))
	for port := range 2 {
		st.fail(fmt.Errorf("failed to get reader: %w", &net.OpError{Op: "read", Net: "tcp",
			Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000 + port}, Err: syscall.ECONNRESET}))
	}
	st.fail(fmt.Errorf("failed to read frame header: %w", io.EOF))
	if st.reasons["read: connection reset by peer"] != 2 || st.reasons["the server closed the connection without a close frame (EOF)"] != 1 {
		t.Fatalf("reasons %v", st.reasons)
	}
	if st.failed.Load() != 6 || st.reasons["closed by the server: 3012 no pong"] != 2 {
		t.Fatalf("reasons %v", st.reasons)
	}
	for k := range st.reasons {
		if len(k) > 90 {
			t.Fatalf("reason not shortened: %q", k)
		}
	}
}

func TestFirstSeq(t *testing.T) {
	snap := []byte(`{"type":"snapshot","sim":"s1","seq":37,"simulation":{"head":37},"recent":[{"seq":18}]}`)
	if seq, ok := firstSeq(snap); !ok || seq != 37 {
		t.Fatalf("firstSeq = %d %v", seq, ok)
	}
	for _, bad := range []string{`{"type":"snapshot"}`, `{"seq":}`, `{"seq":"3"}`} {
		if _, ok := firstSeq([]byte(bad)); ok {
			t.Errorf("firstSeq(%s) parsed", bad)
		}
	}
}

func TestMemstats(t *testing.T) {
	text := func(stacks, inuse, idle, freed, g int) []byte {
		return fmt.Appendf(nil, "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines %d\ngo_memstats_heap_idle_bytes %d\ngo_memstats_heap_inuse_bytes %d\n"+
			"go_memstats_heap_released_bytes %d\ngo_memstats_stack_inuse_bytes %d\ngo_memstats_sys_bytes 9.9e+07\ngo_gc_duration_seconds{quantile=\"0\"} 1e-05\n",
			g, idle, inuse, freed, stacks)
	}
	before := parseMemstats(text(1<<20, 4<<20, 2<<20, 1<<20, 10))
	after := parseMemstats(text(1<<20+200*8192, 4<<20+200*4096, 3<<20, 1<<20+100*1024, 410))
	if !before.ok || !after.ok || after.sys != 9.9e7 {
		t.Fatalf("parsed %+v and %+v", before, after)
	}
	r := result{conns: 200, memBefore: before, memAfter: after}
	st, in, idle, g, ok := r.perConn()
	// idle kept: (3 MiB - 1 MiB - 100 KiB) - (2 MiB - 1 MiB) = 924 KiB over 200.
	if !ok || st != 8 || in != 4 || idle != 924.0/200 || g != 2 {
		t.Fatalf("per connection: stacks %v, heap %v, idle %v, goroutines %v, %v", st, in, idle, g, ok)
	}
	if parseMemstats([]byte("go_goroutines 3\n")).ok {
		t.Fatal("partial metrics taken as complete")
	}
}

func TestHistQuantile(t *testing.T) {
	text := []byte("# TYPE x histogram\n" +
		"novel_turn_publish_delay_seconds_bucket{le=\"0.001\"} 50\n" +
		"novel_turn_publish_delay_seconds_bucket{le=\"0.002\"} 90\n" +
		"novel_turn_publish_delay_seconds_bucket{le=\"0.004\"} 100\n" +
		"novel_turn_publish_delay_seconds_bucket{le=\"+Inf\"} 100\n" +
		"novel_turn_publish_delay_seconds_sum 0.1\n")
	bounds, counts := parseHistogram(text, "novel_turn_publish_delay_seconds")
	if len(bounds) != 4 || counts[1] != 90 {
		t.Fatalf("parsed %v %v", bounds, counts)
	}
	if q := histQuantile(bounds, counts, 0.5); q != time.Millisecond {
		t.Errorf("p50 %v, want 1ms", q)
	}
	// Rank 99 is nine tenths into the 2–4 ms bucket.
	if q := histQuantile(bounds, counts, 0.99); q < 3790*time.Microsecond || q > 3810*time.Microsecond {
		t.Errorf("p99 %v, want 3.8ms", q)
	}
	if q := histQuantile(nil, nil, 0.5); q != 0 {
		t.Errorf("empty: %v", q)
	}
}

func TestWatchersSpreadOverNodes(t *testing.T) {
	// Every story has as many watchers on each node.
	per := map[[2]int]int{}
	for i := range 3000 {
		per[[2]int{i % 30, nodeOf(i, 30, 3)}]++
	}
	if len(per) != 90 {
		t.Fatalf("%d (story, node) pairs, want 90", len(per))
	}
	for k, n := range per {
		if n < 33 || n > 34 {
			t.Fatalf("story %d node %d: %d watchers", k[0], k[1], n)
		}
	}
}

func TestSeveralNovelBinaries(t *testing.T) {
	dir := t.TempDir()
	a, b := dir+"/a", dir+"/b"
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bins, err := parseBins("old=" + a + ",new=" + b)
	if err != nil || len(bins) != 2 || bins[0].server() != "novel:old" || bins[1].path != b {
		t.Fatalf("parseBins = %+v, %v", bins, err)
	}
	if one, err := parseBins(a); err != nil || len(one) != 1 || one[0].server() != "novel" {
		t.Fatalf("one binary: %+v, %v", one, err)
	}
	for _, bad := range []string{a + "," + b, "x=" + a + ",x=" + b, "x=" + dir + "/missing", "=" + a} {
		if _, err := parseBins(bad); err == nil {
			t.Errorf("-novel %q accepted", bad)
		}
	}
	// The table gives each its row and its ratio to Centrifugo.
	mk := func(server string, p99ms int) result {
		return result{workload: "C", server: server, p99: time.Duration(p99ms) * time.Millisecond,
			deliveries: 1000, window: time.Second, cpu: time.Millisecond}
	}
	var out bytes.Buffer
	printTable(&out, []result{mk("Novel Engine old", 20), mk("Centrifugo", 10), mk("Novel Engine new", 5)}, []workload{{Name: "C"}})
	for _, want := range []string{"| C | Novel Engine old ÷ Centrifugo | | – | **2.00×** |", "| C | Novel Engine new ÷ Centrifugo | | – | **0.50×** |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
