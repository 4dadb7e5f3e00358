package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
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
	c.SetReadLimit(1 << 22)
	if err := c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"type":"subscribe","id":"1","sim":%q}`, sim)); err != nil {
		return err
	}
	var buf bytes.Buffer
	for {
		now, err := readMessage(ctx, c, &buf)
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
			// Live turns follow the snapshot's seq.
			var s struct {
				Seq int64 `json:"seq"`
			}
			if err := json.Unmarshal(b, &s); err != nil {
				return fmt.Errorf("snapshot: %w", err)
			}
			wr.seq.From(s.Seq)
			wr.subscribed()
		case bytes.HasPrefix(b, errorPrefix):
			return fmt.Errorf("node: %.200s", b)
		}
	}
}
