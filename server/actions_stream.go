package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/runner"
)

// Actions and controls sent from a node that does not run the
// simulation travel through a Redis stream per simulation. The owner
// reads its simulations' streams through one consumer group, applies each
// request as a local one (validation included, against the state the
// action will be played on), acknowledges it once the store holds its
// effect, and answers the sender on the sender's reply channel. An entry
// the owner read but did not acknowledge (it died) is claimed by the next
// owner; one nobody read waits in the stream for it. A request is applied
// only until its deadline: after that the sender has told its client that
// it failed.

const actionsGroup = "owners"

// remoteReq is one request in a simulation's actions stream.
type remoteReq struct {
	ID        string         `json:"id"`
	Node      string         `json:"node"` // where the answer goes
	Kind      string         `json:"kind"` // "act" or "control"
	Character string         `json:"character,omitempty"`
	UserID    string         `json:"user_id,omitempty"`
	Action    *engine.Action `json:"action,omitempty"`
	Op        string         `json:"op,omitempty"`
	Deadline  int64          `json:"deadline"` // Unix ms
}

// remoteReply is the owner's answer.
type remoteReply struct {
	ID      string `json:"id"`
	Turn    int64  `json:"turn,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

func (c *cluster) actionsKey(sim string) string { return c.cfg.Prefix + "actions:{" + sim + "}" }

// act sends an action to the node running sim and returns the turn it
// will be played in.
func (c *cluster) act(ctx context.Context, sim, character, userID string, a engine.Action) (int64, error) {
	rep, err := c.call(ctx, sim, remoteReq{Kind: "act", Character: character, UserID: userID, Action: &a})
	if err != nil {
		return 0, err
	}
	return rep.Turn, nil
}

// control sends pause, resume or stop to the node running sim.
func (c *cluster) control(ctx context.Context, sim, op string) error {
	_, err := c.call(ctx, sim, remoteReq{Kind: "control", Op: op})
	return err
}

// call queues req in sim's stream and waits for the owner's answer.
func (c *cluster) call(ctx context.Context, sim string, req remoteReq) (remoteReply, error) {
	req.ID, req.Node = randomID(16), c.node
	deadline := time.Now().Add(c.cfg.RemoteTimeout)
	req.Deadline = deadline.UnixMilli()
	ch := make(chan remoteReply, 1)
	c.mu.Lock()
	c.waiters[req.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, req.ID)
		c.mu.Unlock()
	}()
	data, err := json.Marshal(req)
	if err != nil {
		return remoteReply{}, err
	}
	pipe := c.rdb.Pipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{
		Stream: c.actionsKey(sim), MaxLen: 1000, Approx: true, Values: map[string]any{"req": data},
	})
	pipe.Expire(ctx, c.actionsKey(sim), 24*time.Hour) // gone a day after the last request
	_, err = pipe.Exec(ctx)
	if err != nil {
		c.log.Warn("queue remote request", "sim", sim, "err", err)
		return remoteReply{}, &Error{Code: CodeUnavailable, Message: "the cluster is unavailable; try again shortly", RetryAfter: 2}
	}
	c.s.metrics.remote.WithLabelValues(req.Kind).Inc()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case rep := <-ch:
		if rep.Code != "" {
			return rep, &Error{Code: rep.Code, Message: rep.Message}
		}
		return rep, nil
	case <-t.C:
		return remoteReply{}, &Error{Code: CodeUnavailable, Message: "no node is running simulation \"" + sim + "\" right now; try again shortly", RetryAfter: 2}
	case <-ctx.Done():
		return remoteReply{}, ctx.Err()
	}
}

// deliverReply hands an answer from an owner to the request waiting for it.
func (c *cluster) deliverReply(payload string) {
	var rep remoteReply
	if err := json.Unmarshal([]byte(payload), &rep); err != nil {
		return
	}
	c.mu.Lock()
	ch := c.waiters[rep.ID]
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- rep:
		default:
		}
	}
}

// prepareActions makes sure sim's stream has the owners' group. A new
// group starts at the stream's beginning, so requests queued while no
// node ran the simulation are read (those past their deadline are dropped).
func (c *cluster) prepareActions(ctx context.Context, sim string) {
	err := c.rdb.XGroupCreateMkStream(ctx, c.actionsKey(sim), actionsGroup, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		c.log.Warn("create actions group", "sim", sim, "err", err)
	}
}

// held lists the simulations this node holds and runs.
func (c *cluster) held() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.leases))
	for sim := range c.leases {
		out = append(out, sim)
	}
	return out
}

// actionsLoop reads the actions streams of the simulations this node
// runs, for as long as the node is in the cluster.
func (c *cluster) actionsLoop(ctx context.Context) {
	claimed := make(map[string]bool) // streams whose earlier owner's entries were claimed
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		sims := c.held()
		current := make(map[string]bool, len(sims))
		for _, sim := range sims {
			current[sim] = true
			if !claimed[sim] {
				c.claimPending(ctx, sim)
				claimed[sim] = true
			}
		}
		for sim := range claimed {
			if !current[sim] {
				delete(claimed, sim)
			}
		}
		if len(sims) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-c.readerSet:
			}
			continue
		}
		streams := make([]string, 0, 2*len(sims))
		for _, sim := range sims {
			streams = append(streams, c.actionsKey(sim))
		}
		for range sims {
			streams = append(streams, ">")
		}
		res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: actionsGroup, Consumer: c.node, Streams: streams, Count: 100, Block: 250 * time.Millisecond,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			if strings.Contains(err.Error(), "NOGROUP") {
				// Redis lost the streams (a restart): make them again.
				for _, sim := range sims {
					c.prepareActions(ctx, sim)
				}
				continue
			}
			c.log.Debug("read actions", "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		for _, st := range res {
			sim := strings.TrimSuffix(strings.TrimPrefix(st.Stream, c.cfg.Prefix+"actions:{"), "}")
			for _, m := range st.Messages {
				c.handleRequest(ctx, sim, m)
			}
		}
	}
}

// claimPending takes over the entries an earlier owner of sim read but
// did not acknowledge, and applies them.
func (c *cluster) claimPending(ctx context.Context, sim string) {
	start := "0-0"
	for {
		msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: c.actionsKey(sim), Group: actionsGroup, Consumer: c.node, MinIdle: 0, Start: start, Count: 100,
		}).Result()
		if err != nil {
			if !strings.Contains(err.Error(), "NOGROUP") {
				c.log.Debug("claim pending actions", "sim", sim, "err", err)
			}
			return
		}
		for _, m := range msgs {
			c.handleRequest(ctx, sim, m)
		}
		if next == "0-0" || next == "" || len(msgs) == 0 {
			return
		}
		start = next
	}
}

// handleRequest applies one request from sim's stream on this node, the
// owner, and answers its sender.
func (c *cluster) handleRequest(ctx context.Context, sim string, m redis.XMessage) {
	ack := func() {
		if err := c.rdb.XAck(ctx, c.actionsKey(sim), actionsGroup, m.ID).Err(); err != nil {
			c.log.Debug("ack action", "sim", sim, "err", err)
		}
	}
	raw, _ := m.Values["req"].(string)
	var req remoteReq
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		ack()
		return
	}
	if time.Now().UnixMilli() > req.Deadline {
		ack() // its sender has given up and said so
		return
	}
	rctx, cancel := context.WithDeadline(ctx, time.UnixMilli(req.Deadline))
	defer cancel()
	rep := remoteReply{ID: req.ID}
	var err error
	switch req.Kind {
	case "act":
		if req.Action == nil {
			err = Errorf(CodeBadRequest, "action is required")
			break
		}
		rep.Turn, err = c.s.runner.Act(rctx, sim, req.Character, req.UserID, *req.Action)
	case "control":
		_, err = c.s.runner.Control(rctx, sim, req.Op)
	default:
		err = Errorf(CodeBadRequest, "unknown request %q", req.Kind)
	}
	if errors.Is(err, runner.ErrNotRunning) {
		return // not acknowledged: the next owner claims it
	}
	// Acknowledge before answering: the store holds the action now, so a
	// crash here can lose the answer (the sender reports a failure that
	// did not happen) but never plays an action twice.
	ack()
	if err != nil {
		e := toError(c.log, err)
		rep.Code, rep.Message = e.Code, e.Message
	}
	data, _ := json.Marshal(rep)
	if err := c.rdb.Publish(ctx, c.replyChannel(req.Node), data).Err(); err != nil {
		c.log.Warn("answer remote request", "sim", sim, "err", err)
	}
}
