package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/novel-engine/novel-engine/engine"
)

// storyPageTurns is how many turns GET /story gives at most unless asked
// for fewer: the whole of a story of the default length, and a bounded
// answer for one of thousands of turns.
const storyPageTurns = 500

// handleStory answers with the story as Markdown: its last turns, at
// most limit (storyPageTurns), ending before turn before (default: the
// head). When turns come before them, a line after the premise links to
// the page of earlier ones, as does a Link header (rel="prev").
func (s *Server) handleStory(w http.ResponseWriter, r *http.Request) {
	rec, err := s.simulation(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	limit, before := storyPageTurns, rec.Head+1
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > storyPageTurns {
			s.writeError(w, r, Errorf(CodeBadRequest, "limit must be 1 to %d", storyPageTurns))
			return
		}
	}
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			s.writeError(w, r, Errorf(CodeBadRequest, "before must be a turn number, 1 or more"))
			return
		}
		before = min(before, rec.Head+1)
	}
	in, err := s.views.info(rec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	from := max(1, before-int64(limit))
	var turns []engine.Turn
	if before > from {
		page, err := s.store.ListTurns(r.Context(), rec.ID, from-1, int(before-from))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for _, t := range page {
			var et engine.Turn
			if err := json.Unmarshal(t.Body, &et); err != nil {
				s.writeError(w, r, fmt.Errorf("decode turn %d: %w", t.Seq, err))
				return
			}
			turns = append(turns, et)
		}
	}
	md := engine.RenderMarkdown(rec.Title, in.scenario.Premise, turns)
	if from > 1 {
		prev := fmt.Sprintf("/v1/simulations/%s/story?before=%d&limit=%d", rec.ID, from, limit)
		w.Header().Set("Link", "<"+prev+`>; rel="prev"`)
		// The header (title and premise) renders alike with or without
		// turns, so the note goes right after it.
		head := len(engine.RenderMarkdown(rec.Title, in.scenario.Premise, nil))
		note := fmt.Sprintf("*Turns 1 to %d come before: [earlier turns](%s).*\n\n", from-1, prev)
		md = md[:head] + note + md[head:]
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	io.WriteString(w, md)
}
