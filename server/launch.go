package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/store"
)

// checkStory checks what a create and a fork both choose: the title and
// the pace.
func (s *Server) checkStory(title string, intervalMS int) error {
	if len([]rune(title)) > maxTitleLen {
		return Errorf(CodeBadRequest, "title is longer than %d characters", maxTitleLen)
	}
	if hasControl(title) {
		return Errorf(CodeBadRequest, "title may not hold control characters")
	}
	minMS := int(s.runner.MinInterval() / time.Millisecond)
	if intervalMS < minMS || intervalMS > maxIntervalMS {
		return Errorf(CodeBadRequest, "turn_interval_ms must be %d to %d", minMS, maxIntervalMS)
	}
	return nil
}

// launch starts a new story, created or forked: rec as the request asked,
// without its id, status and creator. It admits the story against the
// quotas and the node's admission control, stores it with save, and
// starts it here or places it on the cluster; the story's place in the
// quotas is given back if it is not started after all.
func (s *Server) launch(ctx context.Context, u User, addr string, autostart *bool, rec *store.Simulation, save func(*store.Simulation) error) (*store.Simulation, error) {
	rec.ID = "s" + randomID(8)
	rec.CreatedBy = u.ID
	rec.Status = store.StatusRunning
	if autostart != nil && !*autostart {
		rec.Status = store.StatusCreated
	}
	undo, err := s.admit(ctx, u, addr, rec.ID, time.Duration(rec.TurnIntervalMS)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			undo()
		}
	}()
	if err := save(rec); err != nil {
		return nil, err
	}
	if s.cluster != nil {
		s.cluster.Place(ctx, rec)
		if got, err := s.store.GetSimulation(ctx, rec.ID); err == nil {
			rec = got
		}
	} else if err := s.runner.Start(ctx, rec); err != nil {
		return nil, err
	}
	started = true
	s.metrics.created.Inc()
	return rec, nil
}

// capacity is what this node has room for now: its stories and its
// measured load, against MaxStories and MaxLoad.
func (s *Server) capacity() cluster.Capacity {
	return cluster.Capacity{
		Stories: s.runner.Count(), MaxStories: s.cfg.MaxStories,
		Load: s.runner.Load(), MaxLoad: s.cfg.MaxLoad, TurnCost: s.runner.TurnCost(),
	}
}

// admitPace is the node's admission control: a story this node has no
// room for at its pace is refused, unless on a cluster another node has
// room (Place puts it there).
func (s *Server) admitPace(ctx context.Context, interval time.Duration) error {
	c := s.capacity()
	if c.Admits(interval) || (s.cluster != nil && s.cluster.Admits(ctx, interval)) {
		return nil
	}
	msg := "this node cannot keep the pace of another story now; try a slower turn_interval_ms or later"
	if c.MaxStories > 0 && c.Stories >= c.MaxStories {
		msg = fmt.Sprintf("this node runs %d stories, its most; try again later", c.MaxStories)
	}
	if s.cluster != nil {
		msg = "no node has room for another story at this pace now; try a slower turn_interval_ms or later"
	}
	return &Error{Code: CodeUnavailable, Message: msg, RetryAfter: quotaRetryAfter}
}

// admit applies the quotas on running stories and the node's admission
// control to a new story, and reserves its place in the counts; undo
// gives the place back if the story is not created after all.
func (s *Server) admit(ctx context.Context, u User, addr, id string, interval time.Duration) (undo func(), err error) {
	if err := s.admitPace(ctx, interval); err != nil {
		return nil, err
	}
	if u.Role == RoleAdmin {
		return func() {}, nil
	}
	qs := []quota{{key: "user:" + u.ID, limit: s.cfg.MaxUserStories, what: "one user"}}
	if strings.HasPrefix(u.ID, guestPrefix) {
		qs = append(qs, quota{key: "addr:" + addr, limit: s.cfg.MaxGuestAddrStories, what: "the guests of one address"})
	}
	return s.ledger.reserve(ctx, id, qs)
}
