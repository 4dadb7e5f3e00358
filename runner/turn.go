package runner

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/internal/cpuclock"
	"github.com/novel-engine/novel-engine/store"
)

// storedTurn is PROTOCOL.md's Turn, as stored and sent: the engine's turn
// plus the simulation and the time it was produced.
type storedTurn struct {
	Sim string    `json:"sim"`
	At  time.Time `json:"at"`
	engine.Turn
	// Inputs are the players' actions the turn was stepped with (an
	// extension): with the seed they are all a replay needs to rebuild
	// the world at this turn, since what the events show of an action is
	// not always what was asked.
	Inputs map[string]engine.Action `json:"inputs,omitempty"`
	// Vote is the audience's vote this turn played (an extension); its
	// choice is among the inputs, under engine.DirectorInput.
	Vote *VoteResult `json:"vote,omitempty"`
}

// turnJob is what a turn's job gets from the actor.
type turnJob struct {
	seq     int64
	actions map[string]engine.Action
	played  []string // ids of the pending actions in actions
	seats   map[string]store.Seat
	prev    []byte // the world state the turn is played from
	slow    bool   // a custom decider: the job steps, and makes the next view
	sim     *engine.Sim
	turn    engine.Turn // stepped already by the actor (built-in decider)
	state   []byte
	stepErr error         // the actor's step failed
	cpu     time.Duration // what the actor's step cost
	vote    *VoteResult   // the vote this turn plays, if any
}

type turnOutcome int

const (
	turnStored  turnOutcome = iota
	turnGivenUp             // not stored: another node owns the story, or it must stop
	turnFailed              // the engine failed; the story is marked failed
)

// turnResult is what the job gives back to the actor.
type turnResult struct {
	outcome  turnOutcome
	seq      int64
	sim      *engine.Sim // the engine after the turn, when the job stepped it
	view     *engine.Sim
	state    []byte
	finished bool
	cpu      time.Duration // the CPU time the turn's steps took
}

// startTurn takes the actions due and has a job store and publish the
// next turn. With the built-in decider the actor steps it itself (it is
// quick), so actions arriving meanwhile are validated against the state
// the following turn starts from; a slow decider steps in the job. With
// InlineTurns the actor stores and publishes a built-in turn itself too,
// and startTurn reports that the turn is done.
func (st *story) startTurn(now time.Time) (done bool) {
	j := turnJob{seq: st.next, prev: st.state, slow: st.view != nil, seats: st.seats}
	j.actions, j.played = due(slices.Collect(maps.Values(st.pending)), j.seq, j.seats)
	if st.result != nil && st.result.turn == j.seq {
		j.vote = st.result
		j.actions = withTwist(j.actions, j.vote)
	}
	st.result = nil
	st.next++
	st.last = st.slot(now)
	st.turning = true
	if j.slow {
		j.sim, st.sim = st.sim, nil
	} else {
		j.turn, j.state, j.cpu, j.stepErr = st.step(st.sim, j.actions)
		if st.r.cfg.InlineTurns {
			st.turnDone(st.play(j))
			return true
		}
	}
	st.spawn(func() func() {
		res := st.play(j)
		return func() { st.turnDone(res) }
	})
	return false
}

// slot is when the turn starting at now counts as started, for the pace:
// a story that does not wait for its players keeps its turns on a grid of
// its own, its creation time plus whole intervals. Stories started
// together (by one scan of a node, or all of a dead node's at a takeover)
// then keep the phases they were created with rather than turning all at
// once at every interval, which made their turns wait for each other's
// commits and fan-outs; and a turn that a busy moment started late does
// not push the following ones later. A turn started more than half an
// interval after its slot takes the next slot instead, so turns are half
// an interval to one and a half apart. A story waiting for players counts
// each interval from the turn's start, as before, so that they always
// have a whole interval.
func (st *story) slot(now time.Time) time.Time {
	if st.waitPlayers || st.interval <= 0 || st.anchor.IsZero() || now.Before(st.anchor) {
		return now
	}
	s := now.Add(-(now.Sub(st.anchor) % st.interval))
	if now.Sub(s) > st.interval/2 {
		s = s.Add(st.interval)
	}
	return s
}

// due picks the actions due by turn seq. A seated character whose player
// sent nothing holds its ground (waits, as its player's choice), unless
// the player asked the AI to fill in: the AI never moves a character a
// player holds.
func due(pending []store.PendingAction, seq int64, seats map[string]store.Seat) (map[string]engine.Action, []string) {
	actions := make(map[string]engine.Action, len(pending)+len(seats))
	var ids []string
	for _, a := range pending {
		if a.Turn <= seq {
			actions[a.Character] = a.Action
			ids = append(ids, a.ID)
		}
	}
	for char, seat := range seats {
		if _, ok := actions[char]; !ok && !seat.AIFill {
			actions[char] = engine.Action{Kind: engine.ActWait}
		}
	}
	return actions, ids
}

// step plays a turn and encodes the world after it. cost is the CPU time
// of the thread that did it: the time spent waiting for a custom decider
// (a model asked elsewhere) is not the node's work. With such a decider
// the step holds its thread while it waits, so the node has a thread per
// story in a turn then; the built-in decider never waits.
func (st *story) step(sim *engine.Sim, actions map[string]engine.Action) (turn engine.Turn, state []byte, cost time.Duration, err error) {
	cost = cpuclock.Measure(func() {
		if turn, err = sim.Step(st.r.ctx, actions); err == nil {
			state, err = sim.State()
		}
	})
	return turn, state, cost, err
}

// play is a turn's job: step (slow decider), store, publish. A turn the
// store refuses because an action due by it was accepted meanwhile (on
// this node after the turn began, or by a node that held the story
// before and did not know it had lost it) is played again from its start
// with the actions the store holds, so every accepted action is played in
// the turn its answer named.
func (st *story) play(j turnJob) turnResult {
	res := turnResult{outcome: turnFailed, seq: j.seq, cpu: j.cpu}
	if j.stepErr != nil {
		return st.stepFailed(res, j.stepErr)
	}
	sim, turn, state, played, inputs := j.sim, j.turn, j.state, j.played, j.actions
	var err error
	var cost time.Duration
	if j.slow {
		turn, state, cost, err = st.step(sim, j.actions)
		res.cpu += cost
		if err != nil {
			return st.stepFailed(res, err)
		}
		res.sim = sim
	}
	var at time.Time
	var body []byte
	for {
		if st.maxTurns > 0 && turn.Seq >= st.maxTurns {
			turn.Finished = true
		}
		at = st.r.cfg.Now().UTC()
		if body, err = encodeTurn(&storedTurn{Sim: st.id, At: at, Turn: turn, Inputs: inputs, Vote: j.vote}); err != nil {
			st.log.Error("encode turn", "seq", j.seq, "err", err)
			st.fail(j.seq - 1)
			return res
		}
		err = st.store(j.seq, at, body, state, turn.Finished, played)
		if !errors.Is(err, store.ErrActionsPending) {
			break
		}
		st.log.Info("an action accepted for this turn is pending: playing it again with it", "seq", j.seq)
		var actions map[string]engine.Action
		if actions, played, err = st.dueFromStore(j.seq, j.seats); err != nil {
			break
		}
		actions = withTwist(actions, j.vote)
		if sim, err = engine.RestoreSim(st.sc, st.seed, j.prev, st.r.cfg.Engine); err == nil {
			turn, state, cost, err = st.step(sim, actions)
			res.cpu += cost
			inputs = actions
		}
		if err != nil {
			return st.stepFailed(res, err)
		}
		res.sim = sim
	}
	if err != nil {
		res.outcome = turnGivenUp
		return res
	}
	if st.r.cfg.OnStored != nil {
		st.r.cfg.OnStored(st.id, j.seq, at)
	}
	st.publish(j.seq, body, at, turn.Finished)
	res.outcome, res.state, res.finished = turnStored, state, turn.Finished
	if j.slow {
		if res.view, err = engine.RestoreSim(st.sc, st.seed, state, engine.Options{}); err != nil {
			st.log.Error("restore the state for validation", "seq", j.seq, "err", err)
		}
	}
	return res
}

// stepFailed records that the engine failed a turn, unless it failed
// because the runner is being stopped hard: then the story only stops
// here, and resumes elsewhere from its stored head.
func (st *story) stepFailed(res turnResult, err error) turnResult {
	if st.r.ctx.Err() != nil {
		res.outcome = turnGivenUp
		return res
	}
	st.log.Error("step failed", "seq", res.seq, "err", err)
	st.fail(res.seq - 1)
	return res
}

// store appends the turn. Stored first, published after: a turn that is
// not stored is never published. While the store is away it tries the
// same turn again: the story waits. It gives up when the store says
// another node owns the story, or when the story must stop.
func (st *story) store(seq int64, at time.Time, body, state []byte, finished bool, played []string) error {
	status := ""
	if finished {
		status = store.StatusFinished
	}
	for {
		err := st.r.cfg.Store.AppendTurn(st.r.ctx, st.id, store.Turn{Seq: seq, At: at, Body: body}, state, status, played)
		switch {
		case err == nil, errors.Is(err, store.ErrActionsPending):
			return err
		case errors.Is(err, store.ErrConflict):
			// An earlier attempt that reported failure may have been
			// stored after all; then this turn is ours and is done.
			mine, rerr := st.storedAlready(seq, body)
			if rerr != nil {
				return rerr
			}
			if mine {
				return nil
			}
			st.log.Warn("turn refused by the store: another node owns the simulation", "seq", seq, "err", err)
			return err
		}
		st.log.Warn("store turn failed; retrying", "seq", seq, "err", err)
		if !st.pause() {
			return err
		}
	}
}

// pause waits before another attempt; false when the story must give up.
func (st *story) pause() bool {
	t := time.NewTimer(st.r.cfg.RetryInterval)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-st.r.ctx.Done():
		return false
	case <-st.stop:
		// Another node may own it now; it resumes from the stored head.
		return false
	}
}

// dueFromStore reads the actions due by turn seq from the store.
func (st *story) dueFromStore(seq int64, seats map[string]store.Seat) (map[string]engine.Action, []string, error) {
	for {
		pending, err := st.r.cfg.Store.PendingActions(st.r.ctx, st.id)
		if err == nil {
			actions, ids := due(pending, seq, seats)
			return actions, ids, nil
		}
		st.log.Warn("read pending actions; retrying", "seq", seq, "err", err)
		if !st.pause() {
			return nil, nil, err
		}
	}
}

// storedAlready reports whether the store holds exactly this turn. While
// the store is away it asks again: a turn stored by an attempt whose
// answer was lost (the database restarting at its commit) is this
// story's, to publish and go on from, not a reason to stop. The error is
// for a story that must give up meanwhile.
func (st *story) storedAlready(seq int64, body []byte) (bool, error) {
	for {
		turns, err := st.r.cfg.Store.ListTurns(st.r.ctx, st.id, seq-1, 1)
		if err == nil {
			return len(turns) == 1 && turns[0].Seq == seq && bytes.Equal(turns[0].Body, body), nil
		}
		st.log.Warn("read the stored turn; retrying", "seq", seq, "err", err)
		if !st.pause() {
			return false, err
		}
	}
}

func (st *story) publish(seq int64, body []byte, at time.Time, finished bool) {
	if err := st.r.cfg.Publisher.PublishTurn(st.r.ctx, st.id, seq, body); err != nil {
		st.log.Warn("publish turn", "seq", seq, "err", err)
	}
	if st.r.cfg.OnTurn != nil {
		st.r.cfg.OnTurn(st.id, seq, at)
	}
	if finished {
		st.publishStatus(store.StatusFinished, seq)
	}
}

// fail records that the engine failed; head is the last stored turn.
func (st *story) fail(head int64) {
	if _, err := st.r.cfg.Store.SetStatus(st.r.ctx, st.id, store.StatusFailed); err != nil {
		st.log.Warn("record failure", "err", err)
	}
	st.publishStatus(store.StatusFailed, head)
}

// turnDone takes a turn's outcome in.
func (st *story) turnDone(res turnResult) {
	st.turning = false
	if res.sim != nil {
		st.sim = res.sim
	}
	switch res.outcome {
	case turnStored:
		st.r.measured(st, res.cpu)
		st.head, st.state = res.seq, res.state
		if res.view != nil {
			st.view = res.view
		}
		// The store took the turn, so no action due by it is pending
		// unplayed: the turn played each, or a newer one replaced it.
		for c, a := range st.pending {
			if a.Turn <= res.seq {
				delete(st.pending, c)
			}
		}
		if res.finished {
			st.status, st.ended = store.StatusFinished, true
		}
	case turnFailed:
		st.status, st.ended = store.StatusFailed, true
	case turnGivenUp:
		st.stopping = true
	}
	st.nextControl()
}
