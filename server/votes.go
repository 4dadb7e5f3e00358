package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/runner"
	"github.com/novel-engine/novel-engine/store"
)

// Audience votes at the edge (an extension): the create and fork fields
// that turn them on, the "ballot" client message, and the open vote shown
// to a watcher who subscribes while it is open. The runner that owns the
// story opens, counts and closes votes (runner/vote.go).

// Bounds of a vote's window.
const (
	minVoteWindowMS = 200
	maxVoteWindowMS = 10 * 60 * 1000
)

// voteSettings are the vote fields of a create or a fork: each one given
// replaces what the story would have (nothing, or its parent's).
type voteSettings struct {
	AudienceVotes  *bool `json:"audience_votes"`
	AnonymousVotes *bool `json:"anonymous_votes"`
	VoteWindowMS   *int  `json:"vote_window_ms"`
}

func (v voteSettings) apply(rec *store.Simulation) error {
	if v.AudienceVotes != nil {
		rec.AudienceVotes = *v.AudienceVotes
	}
	if v.AnonymousVotes != nil {
		rec.AnonymousVotes = *v.AnonymousVotes
	}
	if v.VoteWindowMS != nil {
		if w := *v.VoteWindowMS; w < minVoteWindowMS || w > maxVoteWindowMS {
			return Errorf(CodeBadRequest, "vote_window_ms must be %d to %d", minVoteWindowMS, maxVoteWindowMS)
		}
		rec.VoteWindowMS = *v.VoteWindowMS
	}
	return nil
}

// openVote is rec's vote if it is open now: for the turn after the head,
// not closed yet.
func openVote(rec *store.Simulation, now time.Time) json.RawMessage {
	if len(rec.Vote) == 0 || !rec.AudienceVotes {
		return nil
	}
	var v struct {
		Turn     int64     `json:"turn"`
		ClosesAt time.Time `json:"closes_at"`
	}
	if err := json.Unmarshal(rec.Vote, &v); err != nil || v.Turn != rec.Head+1 || !now.Before(v.ClosesAt) {
		return nil
	}
	return rec.Vote
}

// ballot casts the client's ballot in a vote open for one of the story's
// turns. A second ballot of the same voter for the same vote replaces the
// first (the last one counts) and the answer says so.
func (c *conn) ballot(ctx context.Context, m clientMsg) error {
	s := c.s
	switch {
	case m.Turn == nil || *m.Turn < 1:
		return Errorf(CodeBadRequest, "turn is required: the turn the vote is for")
	case m.Option == "" || len(m.Option) > maxIDLen || hasControl(m.Option):
		return Errorf(CodeBadRequest, "option must be 1 to %d characters", maxIDLen)
	}
	rec, err := s.simulation(ctx, m.Sim)
	if err != nil {
		return err
	}
	if !rec.AudienceVotes {
		return Errorf(CodeBadRequest, "simulation %q takes no votes", rec.ID)
	}
	voter := c.user.ID
	if c.user.Role == RoleAnonymous {
		if s.cfg.DenyAnonymousRead || !rec.AnonymousVotes {
			return Errorf(CodeUnauthorized, "sign in to vote")
		}
		// One ballot per connection: an anonymous watcher has no other name.
		voter = "anonymous:" + c.session
	}
	acc, err := s.ballotHere(ctx, rec.ID, *m.Turn, voter, m.Option)
	if err != nil {
		return err
	}
	c.send(replyMsg{Type: "voted", ID: m.ID, Sim: m.Sim, Turn: &acc.Turn, Option: m.Option, Replaced: acc.Replaced})
	return nil
}

// ballotHere casts a ballot with the node that runs the simulation: this
// one, or another through the cluster.
func (s *Server) ballotHere(ctx context.Context, sim string, turn int64, voter, option string) (runner.Accepted, error) {
	acc, err := s.runner.Ballot(ctx, sim, turn, voter, option)
	if !errors.Is(err, runner.ErrNotRunning) || s.cluster == nil {
		return acc, err
	}
	rep, err := s.cluster.Call(ctx, sim, cluster.Request{Kind: "ballot", UserID: voter, Turn: turn, Option: option})
	if err != nil {
		return runner.Accepted{}, err
	}
	return runner.Accepted{Turn: rep.Turn, Replaced: rep.Replaced}, replyError(rep)
}
