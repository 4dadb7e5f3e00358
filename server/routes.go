package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns every route of the node.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(s.instrument)
	r.Use(nosniff)
	r.Use(s.checkHost)

	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	if !s.cfg.SeparateMetrics {
		r.Handle("/metrics", s.MetricsHandler())
	}

	r.Route("/v1", func(r chi.Router) {
		r.Use(s.authenticate)
		r.Get("/openapi.json", handleOpenAPI)
		r.With(s.limitWrites).Post("/auth/guest", s.handleGuest)

		r.Group(func(r chi.Router) {
			r.Use(s.requireReader)
			r.With(s.checkOrigin).Get("/ws", s.handleWS) // limited by connections
			r.Group(func(r chi.Router) {
				r.Use(s.limitReads)
				r.Get("/scenarios", s.handleListScenarios)
				r.Get("/scenarios/{id}", s.handleGetScenario)
				r.Get("/simulations", s.handleListSimulations)
				r.Get("/simulations/{id}", s.handleGetSimulation)
				r.Get("/simulations/{id}/turns", s.handleListTurns)
				r.Get("/simulations/{id}/story", s.handleStory)
				r.Get("/simulations/{id}/world", s.handleWorld)
				r.Get("/simulations/{id}/forks", s.handleListForks)
			})
		})
		r.Group(func(r chi.Router) {
			r.Use(s.limitWrites)
			r.Post("/simulations", s.handleCreateSimulation)
			r.Post("/simulations/{id}/pause", s.handleControl("pause"))
			r.Post("/simulations/{id}/resume", s.handleControl("resume"))
			r.Post("/simulations/{id}/stop", s.handleControl("stop"))
			r.Post("/simulations/{id}/actions", s.handleAction)
			r.Post("/simulations/{id}/fork", s.handleFork)
			r.Delete("/scenarios/{id}", s.handleDeleteScenario)
		})
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, Errorf(CodeNotFound, "no such endpoint %s %s", r.Method, r.URL.Path))
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, Errorf(CodeBadRequest, "method %s not allowed on %s", r.Method, r.URL.Path))
		})
	})
	if s.cfg.Web != nil {
		r.Handle("/*", s.cfg.Web)
	}
	return r
}

// MetricsHandler serves the node's metrics in Prometheus's format: on
// the public listener unless Config.SeparateMetrics, then wherever the
// caller serves it.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})
}

// nosniff tells browsers to take every answer for the type it names.
func nosniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}
