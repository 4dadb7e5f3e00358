package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/loadtest/internal/node"
)

// novel is a Novel Engine node: the publications are the turns of stories
// it computes itself, started from the built-in scenarios without their
// end conditions so that they outlive the run.
type novel struct {
	bin  string
	proc *node.Process
	log  *os.File
	ws   string
}

func (n *novel) name() string { return "Novel Engine" }

func (n *novel) start(ctx context.Context, w workload, logPrefix string, profile bool) ([]string, error) {
	var err error
	if n.log, err = os.Create(logPrefix + "-novel-engine.log"); err != nil {
		return nil, err
	}
	env := []string{"NOVEL_LOG_LEVEL=warn"}
	if profile {
		env = append(env, "NOVEL_PPROF_ADDR=127.0.0.1:0")
	}
	if n.proc, err = node.Spawn(n.bin, env, n.log); err != nil {
		return nil, err
	}
	n.ws = strings.Replace(n.proc.URL, "http://", "ws://", 1) + "/v1/ws"
	tok, err := node.Guest(n.proc.URL)
	if err != nil {
		return nil, err
	}
	scenarios, err := node.EndlessScenarios(n.proc.URL)
	if err != nil {
		return nil, err
	}
	// Stories start spread over one interval, so their turns come at
	// staggered phases, as stories started at different times do.
	sims := make([]string, w.Stories)
	for i := range sims {
		if sims[i], err = node.Create(n.proc.URL, tok, scenarios[i%len(scenarios)], i+1, w.Interval); err != nil {
			return nil, err
		}
		if err := sleep(ctx, w.Interval/time.Duration(w.Stories)); err != nil {
			return nil, err
		}
	}
	return sims, nil
}

func (n *novel) pid() int { return n.proc.Pid() }

func (n *novel) pprof() string {
	if n.proc == nil || n.proc.Pprof == "" {
		return ""
	}
	return n.proc.Pprof
}

func (n *novel) metrics() string { return n.proc.URL + "/metrics" }

// The stories' errors show in the node's log, not here.
func (n *novel) producerErrors() int64 { return 0 }

func (n *novel) stop() {
	if n.proc != nil {
		n.proc.Stop()
	}
	if n.log != nil {
		n.log.Close()
	}
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

func (n *novel) watch(ctx context.Context, sim string, wr *watcher) error {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, _, err := websocket.Dial(dctx, n.ws, nil)
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
