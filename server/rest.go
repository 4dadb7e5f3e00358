package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/runner"
	"github.com/novel-engine/novel-engine/store"
)

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	deps := map[string]string{"store": "ok", "broker": "ok"}
	ok := true
	if err := s.store.Ping(ctx); err != nil {
		deps["store"], ok = "unavailable", false
	}
	if err := s.broker.Ping(ctx); err != nil {
		deps["broker"], ok = "unavailable", false
	}
	status, code := "ready", http.StatusOK
	if s.Draining() {
		status, code, ok = "draining", http.StatusServiceUnavailable, false
	}
	if !ok && code == http.StatusOK {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "node": s.cfg.Node, "dependencies": deps})
}

// requireReader refuses anonymous reads when the server does not allow them.
func (s *Server) requireReader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.DenyAnonymousRead && userFrom(r.Context()).Role == RoleAnonymous {
			s.writeError(w, r, Errorf(CodeUnauthorized, "sign in to read"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// decodeBody reads a JSON body of at most maxBodyBytes into v, strictly.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Errorf(CodeTooLarge, "body is larger than %d bytes", maxBodyBytes)
		}
		return Errorf(CodeBadRequest, "read body: %v", err)
	}
	if jsonTooDeep(body, maxJSONDepth) {
		return Errorf(CodeBadRequest, "body nests deeper than %d levels", maxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeBadRequest, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return Errorf(CodeBadRequest, "invalid JSON body: more than one value")
	}
	return nil
}

func (s *Server) handleGuest(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.GuestAuth {
		s.writeError(w, r, Errorf(CodeForbidden, "guest sign-in is disabled on this server"))
		return
	}
	if s.guests != nil {
		if ok, wait := s.guests.reserve(s.clientAddr(r)); !ok {
			s.writeError(w, r, rateLimited(fmt.Sprintf("at most %d guest sign-ins an hour from one address", s.cfg.GuestsPerHour), wait))
			return
		}
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || len([]rune(name)) > maxNameLen {
		s.writeError(w, r, Errorf(CodeBadRequest, "name must be 1 to %d characters", maxNameLen))
		return
	}
	if hasControl(name) {
		s.writeError(w, r, Errorf(CodeBadRequest, "name may not hold control characters"))
		return
	}
	u := User{ID: guestPrefix + randomID(8), Name: name, Role: RolePlayer}
	tok, exp, err := s.auth.Issue(u, s.cfg.GuestTTL)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "user": u, "expires_at": exp.UTC()})
}

// guestPrefix begins every guest's user id.
const guestPrefix = "guest-"

// createRequest is PROTOCOL.md's Create.
type createRequest struct {
	Scenario       json.RawMessage `json:"scenario"`
	Title          string          `json:"title"`
	Seed           *int64          `json:"seed"`
	MaxTurns       *int            `json:"max_turns"`
	TurnIntervalMS *int            `json:"turn_interval_ms"`
	WaitForPlayers bool            `json:"wait_for_players"`
	Autostart      *bool           `json:"autostart"`
	voteSettings
}

const (
	defaultMaxTurns   = 100
	maxMaxTurns       = 100000
	defaultIntervalMS = 1000
	maxIntervalMS     = 3600 * 1000
	maxTitleLen       = 200
)

func (s *Server) handleCreateSimulation(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	switch u.Role {
	case RoleAnonymous:
		s.writeError(w, r, Errorf(CodeUnauthorized, "sign in to start a story"))
		return
	case RoleViewer:
		s.writeError(w, r, Errorf(CodeForbidden, "viewers may not start stories"))
		return
	}
	var req createRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	view, err := s.create(r.Context(), u, s.clientAddr(r), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, view)
}

func (s *Server) create(ctx context.Context, u User, addr string, req createRequest) (*SimulationView, error) {
	sc, scJSON, keep, err := s.createScenario(ctx, u, req.Scenario)
	if err != nil {
		return nil, err
	}
	title := strings.TrimSpace(req.Title)
	if title == "" {
		title = sc.Title
	}
	seed := rand.Int64()
	if req.Seed != nil {
		seed = *req.Seed
	}
	maxTurns := defaultMaxTurns
	if req.MaxTurns != nil {
		maxTurns = *req.MaxTurns
	}
	if maxTurns < 1 || maxTurns > maxMaxTurns {
		return nil, Errorf(CodeBadRequest, "max_turns must be 1 to %d", maxMaxTurns)
	}
	interval := defaultIntervalMS
	if req.TurnIntervalMS != nil {
		interval = *req.TurnIntervalMS
	}
	if err := s.checkStory(title, interval); err != nil {
		return nil, err
	}
	sim, err := engine.NewSim(sc, seed, s.cfg.Engine)
	if err != nil {
		return nil, Errorf(CodeBadRequest, "scenario: %v", err)
	}
	state, err := sim.State()
	if err != nil {
		return nil, fmt.Errorf("initial state: %w", err)
	}
	rec := &store.Simulation{
		Title: title, ScenarioID: sc.ID, Scenario: scJSON,
		Seed: seed, MaxTurns: maxTurns, TurnIntervalMS: interval, WaitForPlayers: req.WaitForPlayers,
	}
	if err := req.apply(rec); err != nil {
		return nil, err
	}
	rec, err = s.launch(ctx, u, addr, req.Autostart, rec, func(rec *store.Simulation) error {
		if err := s.store.CreateSimulation(ctx, rec, state); err != nil {
			return err
		}
		if keep {
			// Two creates of one new id at once: the second finds it taken
			// here; its story runs the scenario it sent all the same.
			err := s.store.SaveScenario(ctx, store.StoredScenario{ID: sc.ID, Owner: u.ID, Data: scJSON})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				s.log.Warn("keep scenario", "id", sc.ID, "err", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.describe(ctx, rec, nil)
}

func (s *Server) handleListSimulations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := store.ListOptions{Status: q.Get("status"), ScenarioID: q.Get("scenario"), Cursor: q.Get("cursor")}
	if len(opts.ScenarioID) > maxIDLen {
		s.writeError(w, r, Errorf(CodeBadRequest, "scenario must be at most %d characters", maxIDLen))
		return
	}
	switch opts.Status {
	case "", store.StatusCreated, store.StatusRunning, store.StatusPaused, store.StatusFinished, store.StatusFailed:
	default:
		s.writeError(w, r, Errorf(CodeBadRequest, "status must be one of created, running, paused, finished, failed"))
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			s.writeError(w, r, Errorf(CodeBadRequest, "limit must be 1 to 200"))
			return
		}
		opts.Limit = n
	}
	recs, next, err := s.store.ListSimulations(r.Context(), opts)
	if err != nil {
		if !errors.Is(err, store.ErrUnavailable) && opts.Cursor != "" {
			err = Errorf(CodeBadRequest, "invalid cursor")
		}
		s.writeError(w, r, err)
		return
	}
	views, err := s.describeAll(r.Context(), recs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"simulations": views, "next_cursor": next})
}

func (s *Server) simulation(ctx context.Context, id string) (*store.Simulation, error) {
	if id == "" || len(id) > maxIDLen {
		return nil, Errorf(CodeBadRequest, "simulation id must be 1 to %d characters", maxIDLen)
	}
	rec, err := s.store.GetSimulation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(CodeNotFound, "simulation %q does not exist", id)
	}
	return rec, err
}

func (s *Server) handleGetSimulation(w http.ResponseWriter, r *http.Request) {
	rec, err := s.simulation(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeSimulation(w, r, rec)
}

// writeSimulation answers with rec's Simulation.
func (s *Server) writeSimulation(w http.ResponseWriter, r *http.Request, rec *store.Simulation) {
	v, err := s.describe(r.Context(), rec, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleControl(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := userFrom(r.Context())
		if u.Role == RoleAnonymous {
			s.writeError(w, r, Errorf(CodeUnauthorized, "sign in to %s a story", op))
			return
		}
		rec, err := s.simulation(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if rec.CreatedBy != u.ID && u.Role != RoleAdmin {
			s.writeError(w, r, Errorf(CodeForbidden, "only the simulation's creator or an admin may %s it", op))
			return
		}
		if op == "resume" && u.Role == RoleViewer {
			s.writeError(w, r, Errorf(CodeForbidden, "viewers may not resume stories"))
			return
		}
		if rec.Status == store.StatusFinished || rec.Status == store.StatusFailed {
			s.writeError(w, r, Errorf(CodeConflict, "simulation %q has ended", rec.ID))
			return
		}
		rec, err = s.controlHere(r.Context(), rec.ID, op)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeSimulation(w, r, rec)
	}
}

func (s *Server) handleListTurns(w http.ResponseWriter, r *http.Request) {
	rec, err := s.simulation(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	since, limit := int64(0), defaultPageSize
	if v := q.Get("since"); v != "" {
		if since, err = strconv.ParseInt(v, 10, 64); err != nil || since < 0 {
			s.writeError(w, r, Errorf(CodeBadRequest, "since must be a turn seq, 0 or more"))
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > turnsPageLimit {
			s.writeError(w, r, Errorf(CodeBadRequest, "limit must be 1 to %d", turnsPageLimit))
			return
		}
	}
	turns, err := s.store.ListTurns(r.Context(), rec.ID, since, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	head := rec.Head
	// Stored bodies are the protocol's Turn objects: send them as they are.
	var b bytes.Buffer
	b.WriteString(`{"turns":[`)
	for i, t := range turns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(t.Body)
		head = max(head, t.Seq)
	}
	b.WriteString(`],"head":`)
	b.WriteString(strconv.FormatInt(head, 10))
	b.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Bytes())
}

// acceptedView is the answer to a REST action: the turn it will be
// played in, and (extension) whether it replaced one queued for it.
type acceptedView struct {
	Turn     int64 `json:"turn"`
	Replaced bool  `json:"replaced"`
}

type actionRequest struct {
	Character string         `json:"character"`
	Action    *engine.Action `json:"action"`
}

func (s *Server) handleAction(w http.ResponseWriter, r *http.Request) {
	var req actionRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	acc, err := s.act(r.Context(), userFrom(r.Context()), chi.URLParam(r, "id"), req.Character, req.Action)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, acceptedView{Turn: acc.Turn, Replaced: acc.Replaced})
}

// act applies the protocol's rules for a player's action and queues it.
func (s *Server) act(ctx context.Context, u User, simID, character string, a *engine.Action) (runner.Accepted, error) {
	switch u.Role {
	case RoleAnonymous:
		return runner.Accepted{}, Errorf(CodeUnauthorized, "sign in to act")
	case RoleViewer:
		return runner.Accepted{}, Errorf(CodeForbidden, "viewers may not act")
	}
	if a == nil {
		return runner.Accepted{}, Errorf(CodeBadRequest, "action is required")
	}
	if character == "" || len(character) > maxIDLen {
		return runner.Accepted{}, Errorf(CodeBadRequest, "character must be 1 to %d characters", maxIDLen)
	}
	if len([]rune(a.Text)) > maxActionText {
		return runner.Accepted{}, Errorf(CodeTooLarge, "action text is longer than %d characters", maxActionText)
	}
	if len(a.Kind) > maxIDLen || len(a.Target) > maxIDLen {
		return runner.Accepted{}, Errorf(CodeBadRequest, "action kind and target must be at most %d characters", maxIDLen)
	}
	if hasControl(character) || hasControl(a.Kind) || hasControl(a.Target) || hasControl(a.Text) {
		return runner.Accepted{}, Errorf(CodeBadRequest, "character and action may not hold control characters")
	}
	rec, err := s.simulation(ctx, simID)
	if err != nil {
		return runner.Accepted{}, err
	}
	if rec.Status == store.StatusFinished || rec.Status == store.StatusFailed {
		return runner.Accepted{}, Errorf(CodeConflict, "simulation %q has ended", rec.ID)
	}
	seats, err := s.store.Seats(ctx, rec.ID)
	if err != nil {
		return runner.Accepted{}, err
	}
	if seat, ok := seats[character]; !ok || seat.UserID != u.ID {
		return runner.Accepted{}, Errorf(CodeForbidden, "you do not hold the seat of %q; claim it first", character)
	}
	acc, err := s.actHere(ctx, rec.ID, character, u.ID, *a)
	if err == nil {
		s.metrics.actions.Inc()
	}
	return acc, err
}
