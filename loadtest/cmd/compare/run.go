package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/loadtest/internal/proc"
	"github.com/novel-engine/novel-engine/loadtest/internal/stats"
)

// server is one of the systems compared: a process, the producers of the
// workload's publications, and its client protocol.
type server interface {
	name() string
	// start launches the process (logging into logDir) and the
	// producers, and returns the channels (stories) watchers subscribe to.
	start(ctx context.Context, w workload, logDir string, profile bool) ([]string, error)
	// pids are the server's processes, one per node: their CPU, memory
	// and writes are summed.
	pids() []int
	// nodes is how many nodes watchers are spread over.
	nodes() int
	// watch connects to node (0 to nodes()-1), subscribes to channel and
	// reads until ctx ends, reporting each delivery to wr. It returns an
	// error when the connection failed before ctx ended.
	watch(ctx context.Context, channel string, node int, wr *watcher) error
	// pprof is the base URL of the first node's profiles ("" without).
	pprof() string
	// metrics are the URLs of the nodes' Prometheus metrics, whose Go
	// runtime figures say where their memory goes.
	metrics() []string
	// producerErrors counts publications the producers failed to make.
	producerErrors() int64
	stop()
}

// watcher is one connection's record. Only its own goroutine writes it
// until the run has ended.
type watcher struct {
	st         *runState
	ch         int // the index of the channel it watches
	seq        stats.Seq
	lat        []time.Duration // deliveries in the window
	turns      []turnRead      // the same deliveries' turns
	deliveries int64           // in the window
	bytes      int64           // in the window
}

// runState is shared by a run's watchers.
type runState struct {
	measuring atomic.Bool
	ready     atomic.Int64 // watchers subscribed
	failed    atomic.Int64 // watchers that could not connect or subscribe, or dropped

	mu      sync.Mutex
	reasons map[string]int // why watchers failed
}

// fail counts a watcher that failed, by reason.
func (st *runState) fail(err error) {
	st.failed.Add(1)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.reasons == nil {
		st.reasons = map[string]int{}
	}
	st.reasons[failReason(err)]++
}

// failReason names why a connection failed, briefly enough to group by:
// the close code and reason the server gave, or the error's start.
func failReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("closed by the server: %d %s", ce.Code, ce.Reason)
	}
	if errors.Is(err, io.EOF) {
		return "the server closed the connection without a close frame (EOF)"
	}
	// Leave the addresses out, so that failures group by cause.
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return fmt.Sprintf("%s: %v", op.Op, op.Err)
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// subscribed notes that the subscription was acknowledged.
func (w *watcher) subscribed() { w.st.ready.Add(1) }

// deliver records turn seq, produced at at and read at now, size bytes.
func (w *watcher) deliver(seq int64, at, now time.Time, size int) {
	w.seq.Next(seq)
	if w.st.measuring.Load() {
		w.lat = append(w.lat, now.Sub(at))
		w.turns = append(w.turns, turnRead{seq: seq, at: at.UnixNano()})
		w.deliveries++
		w.bytes += int64(size)
	}
}

// closeOnDone closes c when ctx ends, so that reads can go without a
// context: the library would otherwise arm and disarm a context callback
// around every frame, a cost of the load generator's, not the server's.
func closeOnDone(ctx context.Context, c *websocket.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.CloseNow() })
}

// readMessage reads one message into buf (reused across messages, so the
// load generator allocates little per delivery) and returns the time it
// was read. It does not return until a message comes or c is closed.
func readMessage(c *websocket.Conn, buf *bytes.Buffer) (time.Time, error) {
	_, r, err := c.Reader(context.Background())
	if err != nil {
		return time.Time{}, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// result is one run's figures.
type result struct {
	workload, server string
	run              int
	p50, p99, max    time.Duration
	deliveries       int64
	bytes            int64
	window           time.Duration
	cpu              time.Duration // the server's, over the window
	rssBefore        int64
	rssAfter         int64
	conns            int
	gaps, dups       int64
	failed           int64
	producerErrors   int64
	goroutines       int           // after connecting, when profiled
	clientCPU        time.Duration // this process's, over the window
	otherCPU         time.Duration // every other process's, over the window
	redisCPU         time.Duration // the Redis the nodes share, over the window
	writes           int64         // the server's write system calls, over the window
	reasons          map[string]int
	publishRTT       [2]time.Duration // p50 and p99 of the publication: Centrifugo's HTTP publish calls; ours, store and broker
	broadcastRTT     [2]time.Duration // ours: p50 and p99 of the broker's part of it
	stages           []stageTime      // ours: p50 and p99 of a turn's way, each from its production
	memBefore        memstats
	memAfter         memstats
	turns            turnSplit
}

// stageTime is the median and p99 of one stage of a turn's way.
type stageTime struct {
	name string
	q    [2]time.Duration
}

// memstats are the Go runtime's memory figures a server exports.
type memstats struct {
	ok                                     bool
	stacks, heapInuse, heapIdle, heapFreed float64
	goroutines, sys                        float64
}

// parseMemstats reads the Go collector's figures from Prometheus text.
func parseMemstats(b []byte) memstats {
	var m memstats
	fields := map[string]*float64{
		"go_memstats_stack_inuse_bytes":   &m.stacks,
		"go_memstats_heap_inuse_bytes":    &m.heapInuse,
		"go_memstats_heap_idle_bytes":     &m.heapIdle,
		"go_memstats_heap_released_bytes": &m.heapFreed,
		"go_memstats_sys_bytes":           &m.sys,
		"go_goroutines":                   &m.goroutines,
	}
	found := 0
	for line := range bytes.Lines(b) {
		name, value, ok := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
		if !ok {
			continue
		}
		if dst, ok := fields[string(name)]; ok {
			if v, err := strconv.ParseFloat(string(value), 64); err == nil {
				*dst = v
				found++
			}
		}
	}
	m.ok = found == len(fields)
	return m
}

// fetchMemstats sums the memory figures of every node.
func fetchMemstats(urls []string) memstats {
	sum := memstats{ok: len(urls) > 0}
	for _, url := range urls {
		m := fetchOne(url)
		sum.ok = sum.ok && m.ok
		sum.stacks += m.stacks
		sum.heapInuse += m.heapInuse
		sum.heapIdle += m.heapIdle
		sum.heapFreed += m.heapFreed
		sum.goroutines += m.goroutines
		sum.sys += m.sys
	}
	return sum
}

func fetchOne(url string) memstats {
	resp, err := http.Get(url)
	if err != nil {
		return memstats{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return parseMemstats(b)
}

// perConn is where each connection's memory went, from the difference
// of the runtime's figures after and before connecting: goroutine stacks,
// heap in use, and heap the runtime holds free but has not returned to
// the system (it counts in RSS).
func (r result) perConn() (stacks, inuse, idleKept, goroutines float64, ok bool) {
	a, b := r.memAfter, r.memBefore
	if !a.ok || !b.ok || r.conns == 0 {
		return 0, 0, 0, 0, false
	}
	n := float64(r.conns)
	return (a.stacks - b.stacks) / 1024 / n, (a.heapInuse - b.heapInuse) / 1024 / n,
		((a.heapIdle - a.heapFreed) - (b.heapIdle - b.heapFreed)) / 1024 / n,
		(a.goroutines - b.goroutines) / n, true
}

// cpuPerDelivery is the server's CPU time per delivery in µs.
func (r result) cpuPerDelivery() float64 {
	if r.deliveries == 0 {
		return 0
	}
	return float64(r.cpu.Microseconds()) / float64(r.deliveries)
}

// rssPerConn is the server's resident memory per connection in KiB.
func (r result) rssPerConn() float64 {
	if r.conns == 0 {
		return 0
	}
	return float64(r.rssAfter-r.rssBefore) / 1024 / float64(r.conns)
}

// writesPerDelivery is the server's write system calls per delivery:
// 1 when each message is written on its own.
func (r result) writesPerDelivery() float64 {
	if r.deliveries == 0 {
		return 0
	}
	return float64(r.writes) / float64(r.deliveries)
}

func (r result) bytesPerDelivery() float64 {
	if r.deliveries == 0 {
		return 0
	}
	return float64(r.bytes) / float64(r.deliveries)
}

// otherCores is how many processors' worth of CPU the rest of the
// machine used during the window.
func (r result) otherCores() float64 {
	return r.otherCPU.Seconds() / r.window.Seconds()
}

func (r result) perSecond() float64 {
	return float64(r.deliveries) / r.window.Seconds()
}

func (r result) line() string {
	s := fmt.Sprintf("p50 %6.2f ms  p99 %7.2f ms  max %7.1f ms  CPU %5.1f µs/delivery  %.2f writes/delivery  RSS %5.1f KiB/conn  %6.0f deliveries/s  %4.0f B each  gaps %d  dups %d  failed %d",
		ms(r.p50), ms(r.p99), ms(r.max), r.cpuPerDelivery(), r.writesPerDelivery(), r.rssPerConn(), r.perSecond(), r.bytesPerDelivery(), r.gaps, r.dups, r.failed)
	if r.producerErrors > 0 {
		s += fmt.Sprintf("  publish errors %d", r.producerErrors)
	}
	if r.goroutines > 0 {
		s += fmt.Sprintf("  goroutines %d", r.goroutines)
	}
	if st, in, idle, g, ok := r.perConn(); ok {
		s += fmt.Sprintf("\n      per connection: goroutine stacks %.1f KiB, heap in use %.1f KiB, free heap kept %.1f KiB, %.2f goroutines", st, in, idle, g)
	}
	if r.deliveries > 0 {
		s += fmt.Sprintf("  (load generator CPU %.1f µs/delivery, other processes %.2f cores", float64(r.clientCPU.Microseconds())/float64(r.deliveries), r.otherCores())
		if r.redisCPU > 0 {
			s += fmt.Sprintf(", Redis CPU %.1f µs/delivery", float64(r.redisCPU.Microseconds())/float64(r.deliveries))
		}
		if r.publishRTT[1] > 0 {
			s += fmt.Sprintf(", publication p50 %.2f ms p99 %.2f ms", ms(r.publishRTT[0]), ms(r.publishRTT[1]))
			if r.broadcastRTT[1] > 0 {
				s += fmt.Sprintf(", of which the broker's p50 %.2f ms p99 %.2f ms", ms(r.broadcastRTT[0]), ms(r.broadcastRTT[1]))
			}
		}
		s += ")"
	}
	if t := r.turns; t.turns > 0 {
		s += fmt.Sprintf("\n      per turn (%d): first read p50 %.2f ms p99 %.2f ms, last read p50 %.2f ms p99 %.2f ms, last minus first p50 %.2f ms p99 %.2f ms; %.1f%% produced within %v of another channel's",
			t.turns, ms(t.first[0]), ms(t.first[1]), ms(t.last[0]), ms(t.last[1]), ms(t.spread[0]), ms(t.spread[1]), 100*t.near, nearTurn)
	}
	if len(r.stages) > 0 {
		s += "\n      from production, p50 / p99 ms:"
		for i, st := range r.stages {
			if i > 0 {
				s += ","
			}
			s += fmt.Sprintf(" %s %.2f / %.2f", st.name, ms(st.q[0]), ms(st.q[1]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.reasons)) {
		s += fmt.Sprintf("\n      %d failed: %s", r.reasons[k], k)
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// measureRun starts srv, connects the workload's watchers, measures one
// window and stops everything.
// connect starts the watchers at the configured rate, each watching
// until wctx ends, and waits until every one has subscribed or failed.
func connect(ctx, wctx context.Context, c config, srv server, channels []string, st *runState, watchers []*watcher, wg *sync.WaitGroup) error {
	tick := time.NewTicker(time.Second / time.Duration(c.dialRate))
	defer tick.Stop()
	for i := range watchers {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		// Consecutive watchers watch different stories, so every story's
		// audience grows at the same pace; each round of stories goes to
		// the next node, so every story has watchers on every node.
		wr := &watcher{st: st, ch: i % len(channels)}
		watchers[i] = wr
		ch := channels[wr.ch]
		node := nodeOf(i, len(channels), srv.nodes())
		wg.Go(func() {
			if err := srv.watch(wctx, ch, node, wr); err != nil && wctx.Err() == nil {
				st.fail(err)
			}
		})
	}
	deadline := time.Now().Add(c.connectWithin)
	for st.ready.Load()+st.failed.Load() < int64(len(watchers)) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d watchers subscribed within %v (%d failed)", st.ready.Load(), len(watchers), c.connectWithin, st.failed.Load())
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// nodeOf is the node watcher i connects to: each round of stories goes
// to the next node.
func nodeOf(i, channels, nodes int) int { return (i / channels) % nodes }

// tally adds up what the watchers saw.
func (r *result) tally(watchers []*watcher, st *runState, srv server) {
	var lat []time.Duration
	for _, wr := range watchers {
		lat = append(lat, wr.lat...)
		r.deliveries += wr.deliveries
		r.bytes += wr.bytes
		r.gaps += wr.seq.Gaps
		r.dups += wr.seq.Dups
	}
	r.failed = st.failed.Load()
	r.reasons = st.reasons
	if p, ok := srv.(interface{ publishRTT() [2]time.Duration }); ok {
		r.publishRTT = p.publishRTT()
	}
	if p, ok := srv.(interface{ broadcastRTT() [2]time.Duration }); ok {
		r.broadcastRTT = p.broadcastRTT()
	}
	if p, ok := srv.(interface{ stages() []stageTime }); ok {
		r.stages = p.stages()
	}
	slices.Sort(lat)
	r.p50, r.p99 = stats.Percentile(lat, 0.50), stats.Percentile(lat, 0.99)
	r.max = stats.Percentile(lat, 1)
	r.turns = splitTurns(watchers)
}

func measureRun(ctx context.Context, c config, w workload, srv server, tag string, out io.Writer) (result, error) {
	r := result{workload: w.Name, server: srv.name(), conns: w.conns(), window: c.duration}
	channels, err := srv.start(ctx, w, filepath.Join(c.logDir, tag), c.profileDir != "")
	defer srv.stop()
	if err != nil {
		return r, err
	}
	// Let the producers and the process settle before the baseline.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return r, err
	}
	if r.rssBefore, err = sumOf(srv.pids(), proc.RSS); err != nil {
		return r, err
	}
	r.memBefore = fetchMemstats(srv.metrics())

	st := &runState{}
	watchers := make([]*watcher, w.conns())
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	if err := connect(ctx, wctx, c, srv, channels, st, watchers, &wg); err != nil {
		return r, err
	}
	if err := sleep(ctx, c.warmup); err != nil {
		return r, err
	}
	if r.rssAfter, err = sumOf(srv.pids(), proc.RSS); err != nil {
		return r, err
	}
	r.memAfter = fetchMemstats(srv.metrics())

	var profiled sync.WaitGroup
	if c.profileDir != "" && srv.pprof() != "" {
		base := filepath.Join(c.profileDir, tag)
		r.goroutines = saveProfile(srv.pprof()+"goroutine?debug=1", base+"-goroutines.txt", out)
		saveProfile(srv.pprof()+"heap", base+"-heap.pprof", out)
		profiled.Go(func() {
			saveProfile(fmt.Sprintf("%sprofile?seconds=%d", srv.pprof(), int(c.duration.Seconds())), base+"-cpu.pprof", out)
		})
		// An execution trace of the window's first seconds shows where a
		// delivery waited: for a core, for the collector, behind another
		// channel's fan-out (go tool trace).
		profiled.Go(func() {
			saveProfile(fmt.Sprintf("%strace?seconds=%d", srv.pprof(), min(5, int(c.duration.Seconds()))), base+"-trace.out", out)
		})
	}
	cpu0, err := sumOf(srv.pids(), proc.CPU)
	if err != nil {
		return r, err
	}
	self0, err := proc.CPU(os.Getpid())
	if err != nil {
		return r, err
	}
	busy0, err := proc.Machine()
	if err != nil {
		return r, err
	}
	writes0, err := sumOf(srv.pids(), proc.Writes)
	if err != nil {
		return r, err
	}
	redis0, _ := sumOf(auxPids(srv), proc.CPU)
	errs0 := srv.producerErrors()
	if m, ok := srv.(interface{ markWindow() }); ok {
		m.markWindow()
	}
	st.measuring.Store(true)
	err = sleep(ctx, c.duration)
	st.measuring.Store(false)
	cpu1, cerr := sumOf(srv.pids(), proc.CPU)
	self1, _ := proc.CPU(os.Getpid())
	busy1, _ := proc.Machine()
	writes1, _ := sumOf(srv.pids(), proc.Writes)
	redis1, _ := sumOf(auxPids(srv), proc.CPU)
	r.redisCPU = redis1 - redis0
	r.writes = writes1 - writes0
	r.clientCPU = self1 - self0
	if err != nil {
		return r, err
	}
	if cerr != nil {
		return r, cerr
	}
	r.cpu = cpu1 - cpu0
	// What the rest of the machine (other people's builds, here) took.
	r.otherCPU = max(0, busy1-busy0-r.cpu-r.clientCPU-r.redisCPU)
	r.producerErrors = srv.producerErrors() - errs0
	profiled.Wait()
	cancel()
	wg.Wait()

	r.tally(watchers, st, srv)
	if r.deliveries == 0 {
		return r, fmt.Errorf("no delivery in the window; see the logs in %s", c.logDir)
	}
	return r, nil
}

// saveProfile writes what url answers to path; for a goroutine profile
// it returns the count of goroutines it reports.
func saveProfile(url, path string, out io.Writer) int {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintf(out, "  profile %s: %v\n", url, err)
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("%s", resp.Status)
	}
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		fmt.Fprintf(out, "  profile %s: %v\n", url, err)
		return 0
	}
	var n int
	fmt.Sscanf(string(b), "goroutine profile: total %d", &n)
	return n
}

// sumOf adds up what read says of each process.
func sumOf[T time.Duration | int64](pids []int, read func(int) (T, error)) (T, error) {
	var sum T
	for _, pid := range pids {
		v, err := read(pid)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// auxPids are the processes a server's nodes share (a cluster's Redis),
// whose CPU is reported beside the nodes'.
func auxPids(srv server) []int {
	if a, ok := srv.(interface{ aux() []int }); ok {
		return a.aux()
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
