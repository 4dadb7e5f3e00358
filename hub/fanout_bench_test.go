//go:build unix

package hub

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// rawWatcher dials p's server with a hand-written handshake and returns
// the TCP connection, so that reading frames costs the benchmark little
// next to the server's side.
func rawWatcher(b *testing.B, p *wsPair) (net.Conn, *bufio.Reader, *Client) {
	b.Helper()
	nc, err := net.Dial("tcp", p.ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReaderSize(nc, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	return nc, br, <-p.clients
}

// BenchmarkFanoutSockets measures the whole delivery path on the
// server's side: one 1.5 KB turn published to 200 watchers connected
// over loopback, each reading its frame. Per op: one turn to all.
func BenchmarkFanoutSockets(b *testing.B) {
	const watchers = 200
	h, br := newTestHub(b, nil, Options{MaxQueueBytes: 1 << 30})
	p := newWSPair(b, h)
	ctx := context.Background()
	msg := []byte(`{"type":"turn","sim":"sim","seq":1,"turn":` + strings.Repeat(`"x",`, 370) + `"x"}`)
	frame := len(msg) + 4 // a server's frame header for 126..65535 bytes
	var wg sync.WaitGroup
	rounds := make([]chan struct{}, watchers)
	for i := range watchers {
		nc, r, c := rawWatcher(b, p)
		s, err := h.Subscribe(ctx, c, "sim")
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Activate(ctx, s, 0); err != nil {
			b.Fatal(err)
		}
		rounds[i] = make(chan struct{}, 1)
		go func(round chan struct{}) {
			defer nc.Close()
			buf := make([]byte, frame)
			for range round {
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Error(err)
				}
				wg.Done()
			}
		}(rounds[i])
	}
	b.Cleanup(func() {
		for _, r := range rounds {
			close(r)
		}
	})
	b.SetBytes(int64(len(msg) * watchers))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		wg.Add(watchers)
		for _, r := range rounds {
			r <- struct{}{}
		}
		br.Publish(ctx, Publication{Sim: "sim", Seq: int64(i + 1), Data: msg})
		wg.Wait()
	}
	b.StopTimer()
	// The process's CPU time, rather than the wall clock, which on a busy
	// machine measures mostly the wait for a core. It includes the
	// watchers' reads.
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N*watchers), "cpu-ns/delivery")
}

// cpuTime returns the process's user and system CPU time in ns.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkFanoutWrite measures how long one 1.5 KB turn takes to be
// written to the sockets of all its watchers over loopback: the wait of
// the last of them. The watchers read outside the timer, so that only the
// server's side is timed. "serial" writes from the publishing goroutine
// alone; "sharded" lets GOMAXPROCS-1 helpers take pieces of the watchers. Per op: one
// turn to all.
func BenchmarkFanoutWrite(b *testing.B) {
	for _, watchers := range []int{30, 90, 300} {
		for _, mode := range []string{"serial", "sharded"} {
			b.Run(fmt.Sprintf("%s-%d", mode, watchers), func(b *testing.B) {
				benchFanoutWrite(b, watchers, mode == "sharded")
			})
		}
	}
}

func benchFanoutWrite(b *testing.B, watchers int, sharded bool) {
	helpers := 0
	if sharded {
		helpers = -1 // GOMAXPROCS-1
	}
	h, br := newTestHub(b, nil, Options{MaxQueueBytes: 1 << 30, FanoutHelpers: helpers})
	p := newWSPair(b, h)
	ctx := context.Background()
	msg := []byte(`{"type":"turn","sim":"sim","seq":1,"turn":` + strings.Repeat(`"x",`, 370) + `"x"}`)
	frame := make([]byte, len(msg)+4) // a server's frame header for 126..65535 bytes
	readers := make([]*bufio.Reader, watchers)
	for i := range readers {
		_, r, c := rawWatcher(b, p)
		readers[i] = r
		s, err := h.Subscribe(ctx, c, "sim")
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Activate(ctx, s, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(msg) * watchers))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		br.Publish(ctx, Publication{Sim: "sim", Seq: int64(i + 1), Data: msg})
		b.StopTimer()
		for _, r := range readers {
			if _, err := io.ReadFull(r, frame); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}
