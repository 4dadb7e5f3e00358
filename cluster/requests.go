package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/engine"
)

// Actions and controls sent from a node that does not run the simulation
// travel through a Redis stream per simulation. The sender appends the
// request and reads the lease in one script (both keys in the
// simulation's slot), then wakes the owner it names on that node's reply
// channel. The owner reads the streams it was woken for, and every
// stream it holds now and then, in case a wake was lost; a new owner
// reads its simulation's stream at once, after taking the lease, so a
// request queued while the lease changed hands is read. Reads go through
// one consumer group; the owner hands each request to the simulation's
// own inbox without waiting for it, so one slow simulation delays no
// other; the answer comes back to the answer loop, which acknowledges
// the request (the store holds its effect by then) and answers the
// sender on the sender's reply channel. An entry the owner read but did
// not acknowledge (it died, or the simulation stopped running there) is
// claimed by the next owner. A request is applied only until its
// deadline: after that the sender has told its client that it failed.

const actionsGroup = "owners"

// wakePrefix starts a message on a node's reply channel that names a
// simulation whose actions stream has news (answers are JSON objects).
const wakePrefix = "wake "

// queueScript appends a request to a simulation's actions stream and
// returns the lease's holder (false: none).
//
// KEYS[1] actions stream, KEYS[2] lease; ARGV[1] the request
var queueScript = redis.NewScript(`
redis.call('XADD', KEYS[1], 'MAXLEN', '~', 1000, '*', 'req', ARGV[1])
redis.call('EXPIRE', KEYS[1], 86400)
return redis.call('GET', KEYS[2])
`)

// Request is an action or a control for the node running a simulation.
type Request struct {
	Kind      string         `json:"kind"` // "act", "control", "ballot" or "seats" (the seats changed)
	Character string         `json:"character,omitempty"`
	UserID    string         `json:"user_id,omitempty"` // in a ballot, the voter
	Action    *engine.Action `json:"action,omitempty"`
	Op        string         `json:"op,omitempty"`
	Turn      int64          `json:"turn,omitempty"`   // a ballot's vote
	Option    string         `json:"option,omitempty"` // a ballot's choice
}

// Reply is the owner's answer: the turn an action will be played in (and
// whether it replaced one queued for that turn), or a refusal in the
// protocol's terms (code and message).
type Reply struct {
	Turn     int64  `json:"turn,omitempty"`
	Replaced bool   `json:"replaced,omitempty"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
}

// envelope is one request in a simulation's actions stream.
type envelope struct {
	ID       string `json:"id"`
	Node     string `json:"node"`     // where the answer goes
	Deadline int64  `json:"deadline"` // Unix ms
	Request
}

// reply is an answer on its way back, with the request it answers.
type reply struct {
	ID string `json:"id"`
	Reply
}

// answer is an answer of this node's waiting for the answer loop.
type answer struct {
	sim   string
	entry string // the stream entry answered
	to    string // the sender's node
	rep   reply
}

// Call queues req with the node running sim and waits for its answer (at
// most RemoteTimeout). A refusal is in the Reply; the error says that no
// answer came.
func (c *Cluster) Call(ctx context.Context, sim string, req Request) (Reply, error) {
	env := envelope{ID: newID(), Node: c.node, Request: req}
	deadline := time.Now().Add(c.cfg.RemoteTimeout)
	env.Deadline = deadline.UnixMilli()
	ch := make(chan Reply, 1)
	c.mu.Lock()
	c.waiters[env.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, env.ID)
		c.mu.Unlock()
	}()
	data, err := json.Marshal(env)
	if err != nil {
		return Reply{}, err
	}
	// The stream is gone a day after its last request.
	owner, err := queueScript.Run(ctx, c.rdb, []string{c.keys.actions(sim), c.keys.lease(sim)}, data).Text()
	if err != nil && !errors.Is(err, redis.Nil) {
		c.log.Warn("queue remote request", "sim", sim, "err", err)
		return Reply{}, unavailable("the cluster is unavailable; try again shortly")
	}
	if owner != "" {
		if err := c.rdb.Publish(ctx, c.keys.replies(owner), wakePrefix+sim).Err(); err != nil {
			c.log.Debug("wake owner", "sim", sim, "err", err)
		}
	}
	if req.Kind == "act" {
		c.remoteActs.Add(1)
	} else {
		c.remoteControls.Add(1)
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case rep := <-ch:
		return rep, nil
	case <-t.C:
		return Reply{}, unavailable(fmt.Sprintf("no node is running simulation %q right now; try again shortly", sim))
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
}

// deliverReply hands an answer from an owner to the call waiting for it.
func (c *Cluster) deliverReply(payload string) {
	if sim, ok := strings.CutPrefix(payload, wakePrefix); ok {
		c.mu.Lock()
		c.woken[sim] = true
		c.mu.Unlock()
		signal(c.wake)
		return
	}
	var rep reply
	if err := json.Unmarshal([]byte(payload), &rep); err != nil {
		return
	}
	c.mu.Lock()
	ch := c.waiters[rep.ID]
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- rep.Reply:
		default:
		}
	}
}

// prepareActions makes sure sim's stream has the owners' group. A new
// group starts at the stream's beginning, so requests queued while no
// node ran the simulation are read (those past their deadline are dropped).
func (c *Cluster) prepareActions(ctx context.Context, sim string) {
	err := c.rdb.XGroupCreateMkStream(ctx, c.keys.actions(sim), actionsGroup, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		c.log.Warn("create actions group", "sim", sim, "err", err)
	}
}

// held lists the simulations this node holds and runs.
func (c *Cluster) held() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.leases))
	for sim := range c.leases {
		out = append(out, sim)
	}
	return out
}

// actionsLoop reads the actions streams of the simulations this node
// runs, for as long as the node is in the cluster: a stream it was woken
// for at once, a simulation's stream when it starts here, and every
// stream it holds each ActionsSweep.
func (c *Cluster) actionsLoop(ctx context.Context) {
	claimed := make(map[string]bool) // streams whose earlier owner's entries were claimed
	sweep := time.NewTicker(c.cfg.ActionsSweep)
	defer sweep.Stop()
	backoff := 50 * time.Millisecond
	all := false // read every stream held
	for ctx.Err() == nil {
		sims := c.held()
		current := make(map[string]bool, len(sims))
		var due []string
		for _, sim := range sims {
			current[sim] = true
			if !claimed[sim] {
				c.claimPending(ctx, sim)
				claimed[sim] = true
				due = append(due, sim)
			}
		}
		for sim := range claimed {
			if !current[sim] {
				delete(claimed, sim)
			}
		}
		// A wake for a stream not held here is dropped: a new owner
		// reads its stream when it takes the simulation.
		c.mu.Lock()
		for sim := range c.woken {
			if current[sim] && !all {
				due = append(due, sim)
			}
		}
		clear(c.woken)
		c.mu.Unlock()
		if all {
			due, all = sims, false
		}
		if len(due) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-c.readerSet:
			case <-c.wake:
			case <-sweep.C:
				all = true
			}
			continue
		}
		more, err := c.readActions(ctx, due)
		if err == nil {
			backoff = 50 * time.Millisecond
			if len(more) > 0 {
				// A full read: there may be more.
				c.mu.Lock()
				for _, sim := range more {
					c.woken[sim] = true
				}
				c.mu.Unlock()
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Debug("read actions", "err", err)
		c.mu.Lock()
		for _, sim := range due {
			c.woken[sim] = true
		}
		c.mu.Unlock()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// readActionsBatch is how many requests of one stream one read takes.
const readActionsBatch = 100

// readActions reads what is new in the streams of sims, one command per
// stream in one pipeline (on a Redis Cluster the streams live in many
// slots), and hands each request on. It returns the simulations whose
// read was full: there may be more.
func (c *Cluster) readActions(ctx context.Context, sims []string) ([]string, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.XStreamSliceCmd, len(sims))
	for i, sim := range sims {
		cmds[i] = pipe.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: actionsGroup, Consumer: c.node, Streams: []string{c.keys.actions(sim), ">"},
			Count: readActionsBatch, Block: -1,
		})
	}
	pipe.Exec(ctx)
	var more []string
	var firstErr error
	for i, sim := range sims {
		res, err := cmds[i].Result()
		if err != nil {
			switch {
			case errors.Is(err, redis.Nil):
			case strings.Contains(err.Error(), "NOGROUP"):
				// Redis lost the stream (a restart): make it again.
				c.prepareActions(ctx, sim)
			case firstErr == nil:
				firstErr = err
			}
			continue
		}
		for _, st := range res {
			for _, m := range st.Messages {
				c.dispatch(ctx, sim, m)
			}
			if len(st.Messages) >= readActionsBatch {
				more = append(more, sim)
			}
		}
	}
	return more, firstErr
}

// claimPending takes over the entries an earlier owner of sim read but
// did not acknowledge, and hands them on.
func (c *Cluster) claimPending(ctx context.Context, sim string) {
	start := "0-0"
	for {
		msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: c.keys.actions(sim), Group: actionsGroup, Consumer: c.node, MinIdle: 0, Start: start, Count: 100,
		}).Result()
		if err != nil {
			if !strings.Contains(err.Error(), "NOGROUP") {
				c.log.Debug("claim pending actions", "sim", sim, "err", err)
			}
			return
		}
		for _, m := range msgs {
			c.dispatch(ctx, sim, m)
		}
		if next == "0-0" || next == "" || len(msgs) == 0 {
			return
		}
		start = next
	}
}

// dispatch hands one request from sim's stream to the simulation running
// here, without waiting for it: the answer goes to the answer loop.
func (c *Cluster) dispatch(ctx context.Context, sim string, m redis.XMessage) {
	raw, _ := m.Values["req"].(string)
	var env envelope
	if err := json.Unmarshal([]byte(raw), &env); err != nil || time.Now().UnixMilli() > env.Deadline {
		// Garbage, or a request its sender has given up on and said so.
		c.ack(ctx, sim, m.ID)
		return
	}
	c.deps.Handler.Handle(sim, env.Request, time.UnixMilli(env.Deadline), func(rep Reply, here bool) {
		if !here {
			return // not acknowledged: the next owner claims it
		}
		a := answer{sim: sim, entry: m.ID, to: env.Node, rep: reply{ID: env.ID, Reply: rep}}
		select {
		case c.answers <- a:
		case <-c.ctx.Done():
		}
	})
}

func (c *Cluster) ack(ctx context.Context, sim, entry string) {
	if err := c.rdb.XAck(ctx, c.keys.actions(sim), actionsGroup, entry).Err(); err != nil {
		c.log.Debug("ack action", "sim", sim, "err", err)
	}
}

// answerLoop acknowledges each request answered and sends its answer,
// many in one round trip when they come together. Acknowledged before
// answered: the store holds the action by then, so a crash in between
// can lose the answer (the sender reports a failure that did not happen)
// but never plays an action twice.
func (c *Cluster) answerLoop(ctx context.Context) {
	batch := make([]answer, 0, 64)
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-c.answers:
			batch = append(batch[:0], a)
		}
	gather:
		for len(batch) < cap(batch) {
			select {
			case a := <-c.answers:
				batch = append(batch, a)
			default:
				break gather
			}
		}
		pipe := c.rdb.Pipeline()
		for _, a := range batch {
			data, _ := json.Marshal(a.rep)
			pipe.XAck(ctx, c.keys.actions(a.sim), actionsGroup, a.entry)
			pipe.Publish(ctx, c.keys.replies(a.to), data)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			c.log.Warn("answer remote requests", "n", len(batch), "err", err)
		}
	}
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
