package server

import (
	"context"
	"errors"
	"time"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/runner"
	"github.com/novel-engine/novel-engine/store"
)

// remote applies the requests other nodes send for the simulations that
// run here: each goes to its story's inbox, and the answer, in the
// protocol's terms, back to the cluster.
type remote struct{ s *Server }

var _ cluster.Handler = remote{}

func (r remote) Handle(sim string, req cluster.Request, deadline time.Time, done func(cluster.Reply, bool)) {
	answer := func(acc runner.Accepted, err error) {
		if errors.Is(err, runner.ErrNotRunning) {
			done(cluster.Reply{}, false)
			return
		}
		rep := cluster.Reply{Turn: acc.Turn, Replaced: acc.Replaced}
		if err != nil {
			e := toError(r.s.log, err)
			rep.Code, rep.Message = e.Code, e.Message
		}
		done(rep, true)
	}
	switch req.Kind {
	case "act":
		if req.Action == nil {
			answer(runner.Accepted{}, Errorf(CodeBadRequest, "action is required"))
			return
		}
		r.s.runner.ActAsync(sim, req.Character, req.UserID, *req.Action, deadline, answer)
	case "control":
		r.s.runner.ControlAsync(sim, req.Op, deadline, func(_ *store.Simulation, err error) { answer(runner.Accepted{}, err) })
	case "ballot":
		r.s.runner.BallotAsync(sim, req.Turn, req.UserID, req.Option, deadline, answer)
	case "seats":
		done(cluster.Reply{}, r.s.runner.SeatsChanged(sim))
	default:
		answer(runner.Accepted{}, Errorf(CodeBadRequest, "unknown request %q", req.Kind))
	}
}

// actHere queues an action with the node that runs the simulation: this
// one, or another through the cluster.
func (s *Server) actHere(ctx context.Context, sim, character, userID string, a engine.Action) (runner.Accepted, error) {
	acc, err := s.runner.Act(ctx, sim, character, userID, a)
	if !errors.Is(err, runner.ErrNotRunning) || s.cluster == nil {
		return acc, err
	}
	// Validated and queued by the node running it, which answers with
	// the turn it will be played in.
	rep, err := s.cluster.Call(ctx, sim, cluster.Request{Kind: "act", Character: character, UserID: userID, Action: &a})
	if err != nil {
		return runner.Accepted{}, err
	}
	return runner.Accepted{Turn: rep.Turn, Replaced: rep.Replaced}, replyError(rep)
}

// controlHere applies op on the node that runs the simulation.
func (s *Server) controlHere(ctx context.Context, sim, op string) (*store.Simulation, error) {
	rec, err := s.runner.Control(ctx, sim, op)
	if !errors.Is(err, runner.ErrNotRunning) || s.cluster == nil {
		return rec, err
	}
	rep, err := s.cluster.Call(ctx, sim, cluster.Request{Kind: "control", Op: op})
	if err == nil {
		err = replyError(rep)
	}
	if err != nil {
		return nil, err
	}
	return s.store.GetSimulation(ctx, sim)
}

// replyError is the refusal an owner answered, if any.
func replyError(rep cluster.Reply) error {
	if rep.Code == "" {
		return nil
	}
	return &Error{Code: rep.Code, Message: rep.Message}
}
