package runner

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// Audience votes. Before a turn whose director has a choice of twists
// (engine.Sim.Twists), a story with audience votes opens a vote: it
// announces the options to the watchers (and records the announcement,
// so any node can show it to a watcher who arrives), takes ballots until
// the vote closes, and plays the turn with the chosen twist as one of its
// inputs (engine.DirectorInput). The turn records the inputs and the
// result, so a replay or a fork plays the same twist. With no ballots the
// director's own choice, the first option, is played, and recorded too.

// ErrVoteClosed refuses a ballot for a vote that is not open.
var ErrVoteClosed = errors.New("vote is not open")

// maxBallots bounds one vote's ballots (one per voter).
const maxBallots = 100000

type ballotReq struct {
	turn     int64
	voter    string
	option   string
	deadline time.Time
	done     func(Accepted, error)
}

// VoteMessage is the vote as announced to watchers (a protocol
// extension: the "vote" server message).
type VoteMessage struct {
	Type     string         `json:"type"` // "vote"
	Sim      string         `json:"sim"`
	Turn     int64          `json:"turn"`
	Options  []engine.Twist `json:"options"`
	ClosesAt time.Time      `json:"closes_at"`
}

// VoteResult is a closed vote, as the turn that plays it records it.
type VoteResult struct {
	Options []engine.Twist `json:"options"`
	Counts  map[string]int `json:"counts"` // ballots by option id
	Ballots int            `json:"ballots"`
	Chosen  string         `json:"chosen"`
	// Director: there were no ballots, so the director chose.
	Director bool  `json:"director,omitempty"`
	turn     int64 // the turn it is played in
}

// openVote is the vote a story has open: owned by its actor.
type openVote struct {
	turn    int64
	options []engine.Twist
	closes  time.Time
	ballots map[string]string // voter → option id
}

// Ballot casts voter's ballot in the vote open for a turn of a story
// running here; a later ballot of the same voter replaces it (Replaced).
func (r *Runner) Ballot(ctx context.Context, id string, turn int64, voter, option string) (Accepted, error) {
	type answer struct {
		acc Accepted
		err error
	}
	ch := make(chan answer, 1)
	deadline, _ := ctx.Deadline()
	r.BallotAsync(id, turn, voter, option, deadline, func(acc Accepted, err error) { ch <- answer{acc, err} })
	select {
	case v := <-ch:
		return v.acc, v.err
	case <-ctx.Done():
		return Accepted{}, ctx.Err()
	}
}

// BallotAsync is Ballot for callers that cannot wait: done is called
// once, and must not block.
func (r *Runner) BallotAsync(id string, turn int64, voter, option string, deadline time.Time, done func(Accepted, error)) {
	st := r.get(id)
	if st == nil {
		done(Accepted{}, notRunning(id))
		return
	}
	if err := st.send(&ballotReq{turn: turn, voter: voter, option: option, deadline: deadline, done: done}); err != nil {
		done(Accepted{}, err)
	}
}

// ballot takes a ballot in, or refuses it.
func (st *story) ballot(req *ballotReq) {
	v := st.vote
	switch {
	case st.ended || st.status == store.StatusFinished || st.status == store.StatusFailed:
		req.done(Accepted{}, refuse(ErrEnded, "simulation %q has ended", st.id))
		return
	case v != nil && v.turn == req.turn && time.Now().Before(v.closes):
	case req.turn > 0 && req.turn <= st.voteClosed:
		req.done(Accepted{}, refuse(ErrVoteClosed, "the vote for turn %d of simulation %q has closed", req.turn, st.id))
		return
	default:
		req.done(Accepted{}, refuse(ErrVoteClosed, "no vote is open for turn %d of simulation %q", req.turn, st.id))
		return
	}
	known := false
	for _, o := range v.options {
		known = known || o.ID == req.option
	}
	if !known {
		req.done(Accepted{}, refuse(ErrInvalid, "the vote for turn %d has no option %q", req.turn, req.option))
		return
	}
	_, replaced := v.ballots[req.voter]
	if !replaced && len(v.ballots) >= maxBallots {
		req.done(Accepted{}, refuse(ErrBusy, "the vote for turn %d is full", req.turn))
		return
	}
	v.ballots[req.voter] = req.option
	req.done(Accepted{Turn: req.turn, Replaced: replaced}, nil)
}

// voteReady reports whether the next turn may start as far as votes go:
// no vote is due, or the one due has closed (its result is then waiting
// for the turn). Otherwise it opens the vote, or waits for it to close.
func (st *story) voteReady(now time.Time) bool {
	if !st.votes || st.sim == nil || (st.result != nil && st.result.turn == st.next) {
		return true
	}
	if st.vote == nil {
		if st.offered == st.next {
			return true // no choice to offer for this turn
		}
		st.offered = st.next
		options := st.sim.Twists()
		if len(options) < 2 {
			return true
		}
		st.open(now, options)
	}
	if rest := st.vote.closes.Sub(now); rest > 0 {
		st.arm(rest)
		return false
	}
	st.tally()
	return true
}

// open opens the vote for the next turn and has it announced.
func (st *story) open(now time.Time, options []engine.Twist) {
	closes := now.Add(st.window).UTC().Truncate(time.Millisecond)
	st.vote = &openVote{turn: st.next, options: options, closes: closes, ballots: make(map[string]string)}
	msg, err := json.Marshal(VoteMessage{Type: "vote", Sim: st.id, Turn: st.next, Options: options, ClosesAt: closes})
	if err != nil {
		st.log.Error("encode vote", "turn", st.next, "err", err)
		return
	}
	st.unannounced = msg
	st.announce()
}

// announce has a job record and publish the vote opened last, unless
// one is at it (it announces the newest when it is done).
func (st *story) announce() {
	if st.announcing || st.unannounced == nil {
		return
	}
	msg := st.unannounced
	st.unannounced, st.announcing = nil, true
	st.spawn(func() func() {
		ctx, cancel := st.jobContext(time.Time{})
		defer cancel()
		if err := st.r.cfg.Store.SetVote(ctx, st.id, msg); err != nil {
			st.log.Warn("record vote", "err", err)
		}
		if err := st.r.cfg.Publisher.PublishVote(ctx, st.id, msg); err != nil {
			st.log.Warn("publish vote", "err", err)
		}
		return func() {
			st.announcing = false
			st.announce()
		}
	})
}

// tally closes the open vote: the option with the most ballots wins,
// ties going to the director's order; no ballots, the director's choice.
func (st *story) tally() {
	v := st.vote
	res := &VoteResult{Options: v.options, Counts: make(map[string]int, len(v.options)), Ballots: len(v.ballots), turn: v.turn}
	for _, o := range v.options {
		res.Counts[o.ID] = 0
	}
	for _, o := range v.ballots {
		res.Counts[o]++
	}
	res.Chosen, res.Director = v.options[0].ID, len(v.ballots) == 0
	for _, o := range v.options[1:] {
		if res.Counts[o.ID] > res.Counts[res.Chosen] {
			res.Chosen = o.ID
		}
	}
	st.vote, st.result, st.voteClosed = nil, res, v.turn
}

// withTwist adds the chosen twist to a turn's inputs.
func withTwist(actions map[string]engine.Action, res *VoteResult) map[string]engine.Action {
	if res != nil {
		actions[engine.DirectorInput] = engine.Action{Kind: engine.ActTwist, Target: res.Chosen}
	}
	return actions
}
