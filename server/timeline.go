package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/timeline"
)

// WorldAt is the world of a story as it stood after turn At (an
// extension: GET /v1/simulations/{id}/world).
type WorldAt struct {
	Sim           string                    `json:"sim"`
	At            int64                     `json:"at"`
	Head          int64                     `json:"head"`
	StateHash     string                    `json:"state_hash"`
	Finished      bool                      `json:"finished"`
	Locations     []engine.WorldPlace       `json:"locations"`
	Characters    []engine.WorldCharacter   `json:"characters"`
	Relationships []engine.RelationshipView `json:"relationships"`
}

// replayAt rebuilds rec's world after turn at, with the protocol's codes
// for what cannot be.
func (s *Server) replayAt(ctx context.Context, rec *store.Simulation, at int64) (*timeline.Point, error) {
	if at > rec.Head {
		return nil, Errorf(CodeNotFound, "simulation %q has no turn %d yet: its head is %d", rec.ID, at, rec.Head)
	}
	p, err := s.timeline.At(ctx, rec, at)
	switch {
	case errors.Is(err, timeline.ErrNoTurn):
		return nil, Errorf(CodeNotFound, "simulation %q has no turn %d", rec.ID, at)
	case errors.Is(err, timeline.ErrMismatch):
		s.log.Warn("replay does not match the story", "sim", rec.ID, "at", at, "err", err)
		return nil, Errorf(CodeConflict, "cannot rebuild the world of %q at turn %d: %v (a story whose characters a model played, or recorded by another version of the engine, does not replay)", rec.ID, at, err)
	}
	return p, err
}

// turnParam parses a turn number given in a query or a body.
func turnParam(name, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, Errorf(CodeBadRequest, "%s must be a turn number, 0 or more", name)
	}
	return n, nil
}

func (s *Server) handleWorld(w http.ResponseWriter, r *http.Request) {
	rec, err := s.simulation(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	at := rec.Head
	if v := r.URL.Query().Get("at"); v != "" {
		if at, err = turnParam("at", v); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	p, err := s.replayAt(r.Context(), rec, at)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, WorldAt{
		Sim: rec.ID, At: p.Seq, Head: rec.Head, StateHash: p.StateHash, Finished: p.World.Finished,
		Locations: p.World.Locations, Characters: p.World.Characters, Relationships: p.World.Relationships,
	})
}

// forkRequest is the body of POST /v1/simulations/{id}/fork.
type forkRequest struct {
	At             *int64 `json:"at"`
	Title          string `json:"title"`
	Seed           *int64 `json:"seed"`
	MaxTurns       *int   `json:"max_turns"`
	TurnIntervalMS *int   `json:"turn_interval_ms"`
	WaitForPlayers *bool  `json:"wait_for_players"`
	Autostart      *bool  `json:"autostart"`
	voteSettings
}

func (s *Server) handleFork(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	switch u.Role {
	case RoleAnonymous:
		s.writeError(w, r, Errorf(CodeUnauthorized, "sign in to fork a story"))
		return
	case RoleViewer:
		s.writeError(w, r, Errorf(CodeForbidden, "viewers may not start stories"))
		return
	}
	var req forkRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	view, err := s.fork(r.Context(), u, s.clientAddr(r), chi.URLParam(r, "id"), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, view)
}

// fork starts a story whose history is parent's turns 1..at and whose
// world is parent's after turn at, rebuilt by replay and checked against
// the hash turn at recorded.
func (s *Server) fork(ctx context.Context, u User, addr, parentID string, req forkRequest) (*SimulationView, error) {
	if req.At == nil {
		return nil, Errorf(CodeBadRequest, "at is required: the turn to fork the story after")
	}
	at := *req.At
	if at < 1 {
		return nil, Errorf(CodeBadRequest, "at must be a turn of the story, 1 or more (to begin again from the start, create a new story)")
	}
	parent, err := s.simulation(ctx, parentID)
	if err != nil {
		return nil, err
	}
	p, err := s.replayAt(ctx, parent, at)
	if err != nil {
		return nil, err
	}
	if p.World.Finished {
		return nil, Errorf(CodeConflict, "the story %q ended at turn %d; fork it from an earlier turn", parent.ID, at)
	}
	title := strings.TrimSpace(req.Title)
	if title == "" {
		title = fmt.Sprintf("%s (from turn %d)", parent.Title, at)
		if r := []rune(title); len(r) > maxTitleLen {
			title = string(r[:maxTitleLen])
		}
	}
	seed := parent.Seed
	if req.Seed != nil {
		seed = *req.Seed
	}
	maxTurns := parent.MaxTurns
	if maxTurns <= int(at) {
		maxTurns = int(at) + defaultMaxTurns
	}
	if req.MaxTurns != nil {
		maxTurns = *req.MaxTurns
	}
	if maxTurns <= int(at) || maxTurns > maxMaxTurns {
		return nil, Errorf(CodeBadRequest, "max_turns must be more than at (%d) and at most %d", at, maxMaxTurns)
	}
	interval := parent.TurnIntervalMS
	if req.TurnIntervalMS != nil {
		interval = *req.TurnIntervalMS
	}
	if err := s.checkStory(title, interval); err != nil {
		return nil, err
	}
	wait := parent.WaitForPlayers
	if req.WaitForPlayers != nil {
		wait = *req.WaitForPlayers
	}
	rec := &store.Simulation{
		Title: title, ScenarioID: parent.ScenarioID, Scenario: parent.Scenario,
		Seed: seed, Head: at, MaxTurns: maxTurns, TurnIntervalMS: interval, WaitForPlayers: wait,
		Parent: parent.ID, ForkedAt: at, Lineage: lineage(parent, at),
		AudienceVotes: parent.AudienceVotes, AnonymousVotes: parent.AnonymousVotes, VoteWindowMS: parent.VoteWindowMS,
	}
	if err := req.apply(rec); err != nil {
		return nil, err
	}
	var turns []store.Turn
	rec, err = s.launch(ctx, u, addr, req.Autostart, rec, func(rec *store.Simulation) error {
		if turns, err = s.inheritedTurns(ctx, parent, rec.ID, at); err != nil {
			return err
		}
		return s.store.CreateFork(ctx, rec, turns, p.State)
	})
	if err != nil {
		return nil, err
	}
	return s.describe(ctx, rec, turns[len(turns)-1].Body)
}

// lineage is the seeds a fork of parent at turn at inherits: parent's
// own, cut at at, then parent's seed up to at.
func lineage(parent *store.Simulation, at int64) []store.SeedSpan {
	var out []store.SeedSpan
	for _, sp := range parent.Lineage {
		if sp.Until >= at {
			return append(out, store.SeedSpan{Until: at, Seed: sp.Seed})
		}
		out = append(out, sp)
	}
	return append(out, store.SeedSpan{Until: at, Seed: parent.Seed})
}

// inheritedTurns reads parent's turns 1..at and names the fork in each:
// apart from "sim", every byte is the parent's.
func (s *Server) inheritedTurns(ctx context.Context, parent *store.Simulation, fork string, at int64) ([]store.Turn, error) {
	from, err := json.Marshal(parent.ID)
	if err != nil {
		return nil, err
	}
	to, err := json.Marshal(fork)
	if err != nil {
		return nil, err
	}
	oldPrefix := append([]byte(`{"sim":`), from...)
	newPrefix := append([]byte(`{"sim":`), to...)
	turns := make([]store.Turn, 0, at)
	for int64(len(turns)) < at {
		page, err := s.store.ListTurns(ctx, parent.ID, int64(len(turns)), int(min(turnsPageLimit, at-int64(len(turns)))))
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return nil, Errorf(CodeNotFound, "simulation %q has no turn %d", parent.ID, len(turns)+1)
		}
		for _, t := range page {
			if !bytes.HasPrefix(t.Body, oldPrefix) {
				return nil, fmt.Errorf("turn %d of %q does not begin with its sim", t.Seq, parent.ID)
			}
			body := append(append([]byte{}, newPrefix...), t.Body[len(oldPrefix):]...)
			turns = append(turns, store.Turn{Seq: t.Seq, At: t.At, Body: body})
		}
	}
	return turns, nil
}

func (s *Server) handleListForks(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if _, err := s.simulation(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	recs, err := s.store.ListForks(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	views := make([]*SimulationView, 0, len(recs))
	for _, rec := range recs {
		v, err := s.describe(r.Context(), rec, nil)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"forks": views})
}
