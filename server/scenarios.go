package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// scenarioSummary is a scenario as listed, and (extension) who uploaded
// it: empty for a built-in.
type scenarioSummary struct {
	engine.ScenarioSummary
	Owner string `json:"owner,omitempty"`
}

// summaryCache keeps the summaries of stored scenarios by id and
// revision, so a listing parses only the scenarios stored since the last
// one. The store's cheap list of ids and revisions keeps it true on a
// cluster: another node's upload is a miss, its delete is pruned.
type summaryCache struct {
	mu   sync.Mutex
	byID map[string]cachedSummary
}

type cachedSummary struct {
	rev     int64
	summary scenarioSummary
	broken  bool // the stored scenario no longer parses: not listed
}

func newSummaryCache() *summaryCache {
	return &summaryCache{byID: make(map[string]cachedSummary)}
}

func (c *summaryCache) get(id string, rev int64) (cachedSummary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	return e, ok && e.rev == rev
}

func (c *summaryCache) put(id string, e cachedSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID[id] = e
}

// keepOnly forgets the ids not in listed (deleted, on any node).
func (c *summaryCache) keepOnly(listed map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.byID {
		if !listed[id] {
			delete(c.byID, id)
		}
	}
}

func (c *summaryCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID, id)
}

func (s *Server) handleListScenarios(w http.ResponseWriter, r *http.Request) {
	var out []scenarioSummary
	for _, sc := range engine.Builtins() {
		out = append(out, scenarioSummary{ScenarioSummary: sc.Summary()})
	}
	stored, err := s.store.ListScenarios(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	listed := make(map[string]bool, len(stored))
	for _, st := range stored {
		listed[st.ID] = true
		e, ok := s.summaries.get(st.ID, st.Rev)
		if !ok {
			if e, err = s.summarize(r.Context(), st.ID); errors.Is(err, store.ErrNotFound) {
				continue // deleted since the list was read
			} else if err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if !e.broken {
			out = append(out, e.summary)
		}
	}
	s.summaries.keepOnly(listed)
	writeJSON(w, http.StatusOK, map[string]any{"scenarios": out})
}

// summarize reads and parses one stored scenario, and caches its summary.
func (s *Server) summarize(ctx context.Context, id string) (cachedSummary, error) {
	st, err := s.store.GetScenario(ctx, id)
	if err != nil {
		return cachedSummary{}, err
	}
	e := cachedSummary{rev: st.Rev}
	if sc, err := engine.ParseScenario(st.Data); err != nil {
		s.log.Warn("stored scenario no longer parses", "id", id, "err", err)
		e.broken = true
	} else {
		e.summary = scenarioSummary{ScenarioSummary: sc.Summary(), Owner: st.Owner}
	}
	s.summaries.put(id, e)
	return e, nil
}

// scenario finds a built-in or stored scenario.
func (s *Server) scenario(ctx context.Context, id string) (*engine.Scenario, error) {
	if sc, ok := engine.Builtin(id); ok {
		return sc, nil
	}
	st, err := s.store.GetScenario(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, Errorf(CodeNotFound, "scenario %q does not exist", id)
		}
		return nil, err
	}
	return engine.ParseScenario(st.Data)
}

func (s *Server) handleGetScenario(w http.ResponseWriter, r *http.Request) {
	sc, err := s.scenario(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

// handleDeleteScenario forgets a stored scenario, for its uploader or an
// admin. The stories that run it keep their own copy, so they go on, and
// replay and fork as before.
func (s *Server) handleDeleteScenario(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	if u.Role == RoleAnonymous {
		s.writeError(w, r, Errorf(CodeUnauthorized, "sign in to delete a scenario"))
		return
	}
	id := chi.URLParam(r, "id")
	if _, ok := engine.Builtin(id); ok {
		s.writeError(w, r, Errorf(CodeForbidden, "scenario %q is built in and cannot be deleted", id))
		return
	}
	st, err := s.store.GetScenario(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		err = Errorf(CodeNotFound, "scenario %q does not exist", id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if (st.Owner == "" || st.Owner != u.ID) && u.Role != RoleAdmin {
		s.writeError(w, r, Errorf(CodeForbidden, "only the scenario's uploader or an admin may delete it"))
		return
	}
	if err := s.store.DeleteScenario(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.writeError(w, r, err)
		return
	}
	s.summaries.forget(id)
	w.WriteHeader(http.StatusNoContent)
}

// createScenario resolves a create's scenario: a stored or built-in id,
// or a whole scenario. keep tells that a whole scenario is new and is to
// be stored for reuse by id, as u's, once its story is created.
func (s *Server) createScenario(ctx context.Context, u User, reqScenario json.RawMessage) (sc *engine.Scenario, scJSON []byte, keep bool, err error) {
	raw := bytes.TrimSpace(reqScenario)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil, false, Errorf(CodeBadRequest, "scenario is required: a scenario id or a whole scenario")
	case raw[0] == '"':
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			return nil, nil, false, Errorf(CodeBadRequest, "scenario: %v", err)
		}
		if sc, err = s.scenario(ctx, id); err != nil {
			return nil, nil, false, err
		}
	case raw[0] == '{':
		if sc, err = engine.ParseScenario(raw); err != nil {
			return nil, nil, false, Errorf(CodeBadRequest, "scenario: %v", err)
		}
	default:
		return nil, nil, false, Errorf(CodeBadRequest, "scenario must be an id or an object")
	}
	scJSON, err = json.Marshal(sc)
	if err != nil {
		return nil, nil, false, fmt.Errorf("encode scenario: %w", err)
	}
	// A user's scenario is kept for reuse by id once its story is
	// created; an id that names another scenario is refused, so that no
	// one's story runs a scenario other than the one they sent.
	if raw[0] == '{' {
		_, builtin := engine.Builtin(sc.ID) // a built-in's id is never stored
		stored, err := s.store.GetScenario(ctx, sc.ID)
		switch {
		case builtin:
		case err == nil && !bytes.Equal(stored.Data, scJSON):
			return nil, nil, false, Errorf(CodeConflict, "scenario id %q is taken by another scenario; give yours another id", sc.ID)
		case errors.Is(err, store.ErrNotFound):
			keep = true
		case err != nil:
			return nil, nil, false, err
		}
	}
	if keep {
		if err := s.scenarioQuota(ctx, u); err != nil {
			return nil, nil, false, err
		}
	}
	return sc, scJSON, keep, nil
}

// scenarioQuota refuses a new stored scenario past u's quota (admins
// have none). Two creates at once may each pass it: it bounds what one
// user keeps, give or take a few.
func (s *Server) scenarioQuota(ctx context.Context, u User) error {
	limit := s.cfg.MaxUserScenarios
	if limit <= 0 || u.Role == RoleAdmin {
		return nil
	}
	n, err := s.store.CountScenarios(ctx, u.ID)
	if err != nil {
		return err
	}
	if n >= limit {
		e := Errorf(CodeQuotaExceeded, "one user may keep at most %d scenarios; delete one (DELETE /v1/scenarios/{id}) or start your story from one kept already", limit)
		e.RetryAfter = quotaRetryAfter
		return e
	}
	return nil
}
