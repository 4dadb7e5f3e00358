package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/novel-engine/novel-engine/cluster"
)

type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.HistogramVec
	httpErrors    *prometheus.CounterVec
	wsErrors      *prometheus.CounterVec
	connections   prometheus.Gauge
	messagesIn    prometheus.Counter
	subscriptions prometheus.Counter
	turns         prometheus.Counter
	turnDelay     prometheus.Histogram
	broadcast     prometheus.Histogram
	stages        turnStages
	created       prometheus.Counter
	actions       prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "novel_http_request_duration_seconds", Help: "REST request latency by route and status.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route", "method", "status"}),
		httpErrors:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "novel_http_errors_total", Help: "REST errors by code."}, []string{"code"}),
		wsErrors:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "novel_ws_errors_total", Help: "WebSocket error replies by code."}, []string{"code"}),
		connections:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "novel_ws_connections", Help: "Open WebSocket connections."}),
		messagesIn:    prometheus.NewCounter(prometheus.CounterOpts{Name: "novel_ws_messages_received_total", Help: "WebSocket messages received."}),
		subscriptions: prometheus.NewCounter(prometheus.CounterOpts{Name: "novel_ws_subscriptions_total", Help: "Subscriptions made."}),
		turns:         prometheus.NewCounter(prometheus.CounterOpts{Name: "novel_turns_total", Help: "Turns stored and published by this node."}),
		turnDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "novel_turn_publish_delay_seconds", Help: "From a turn's production to its publication: storing it included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		broadcast: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "novel_turn_broadcast_seconds", Help: "A stored turn's publication through the broker (with Redis: the publish script's round trip), the last part of the publish delay.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		stages:  newTurnStages(),
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "novel_simulations_created_total", Help: "Simulations created on this node."}),
		actions: prometheus.NewCounter(prometheus.CounterOpts{Name: "novel_actions_total", Help: "Player actions accepted."}),
	}
	reg.MustRegister(m.requests, m.httpErrors, m.wsErrors, m.connections, m.messagesIn, m.subscriptions, m.turns, m.turnDelay, m.broadcast, m.created, m.actions,
		m.stages.store, m.stages.received, m.stages.fanout, m.stages.fanoutLocal,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) registerGauges(s *Server) {
	counter := func(name, help string, labels prometheus.Labels, fn func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, func() float64 { return float64(fn()) })
	}
	// The cluster's counters read 0 on a single node.
	c := s.cluster
	fromCluster := func(fn func(*cluster.Cluster) int64) func() int64 {
		return func() int64 {
			if c == nil {
				return 0
			}
			return fn(c)
		}
	}
	const remoteHelp = "Actions and controls sent to the node running the simulation."
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "novel_simulations_running", Help: "Simulations this node runs."},
			func() float64 { return float64(s.runner.Count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "novel_load", Help: "This node's load, judged by admission control: its stories' turn CPU time over their turn intervals, in cores."},
			s.runner.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "novel_turn_cpu_seconds", Help: "Moving average of the CPU time this node's turns take to compute."},
			func() float64 { return s.runner.TurnCost().Seconds() }),
		counter("novel_ws_slow_closed_total", "Connections cut with 4000 for not keeping up.", nil, s.hub.SlowClosed),
		counter("novel_cluster_acquired_total", "Simulations this node took a lease on and started.", nil,
			fromCluster((*cluster.Cluster).Acquired)),
		counter("novel_cluster_leases_lost_total", "Simulations stopped here because their lease was lost or could not be renewed.", nil,
			fromCluster((*cluster.Cluster).LeasesLost)),
		counter("novel_cluster_remote_requests_total", remoteHelp, prometheus.Labels{"kind": "act"},
			fromCluster(func(c *cluster.Cluster) int64 { acts, _ := c.RemoteRequests(); return acts })),
		counter("novel_cluster_remote_requests_total", remoteHelp, prometheus.Labels{"kind": "control"},
			fromCluster(func(c *cluster.Cluster) int64 { _, controls := c.RemoteRequests(); return controls })),
	)
	if c != nil {
		m.reg.MustRegister(counter("novel_broker_reconnects_total", "Times the broker's subscription connection came back after losing Redis.", nil,
			c.Broker().Reconnects))
	}
}

// instrument records each request's latency by route pattern.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		s.metrics.requests.WithLabelValues(routeLabel(r), methodLabel(r.Method), strconv.Itoa(ww.Status())).Observe(time.Since(start).Seconds())
	})
}

// knownRoutes are the route patterns a label may name; any other path
// (a 404, a 405, the web UI's files) is "other", so that no request can
// add a series.
var knownRoutes = map[string]bool{
	"/healthz": true, "/readyz": true, "/metrics": true,
	"/v1/openapi.json": true, "/v1/auth/guest": true, "/v1/ws": true,
	"/v1/scenarios": true, "/v1/scenarios/{id}": true,
	"/v1/simulations": true, "/v1/simulations/{id}": true,
	"/v1/simulations/{id}/turns": true, "/v1/simulations/{id}/story": true,
	"/v1/simulations/{id}/pause": true, "/v1/simulations/{id}/resume": true,
	"/v1/simulations/{id}/stop": true, "/v1/simulations/{id}/actions": true,
	"/v1/simulations/{id}/seats/{character}": true,
	"/v1/simulations/{id}/world":             true, "/v1/simulations/{id}/forks": true,
	"/v1/simulations/{id}/fork": true,
}

func routeLabel(r *http.Request) string {
	rc := chi.RouteContext(r.Context())
	if rc == nil || !knownRoutes[rc.RoutePattern()] {
		return "other"
	}
	return rc.RoutePattern()
}

// methodLabel folds any method the API does not use into "other": a
// method name is whatever the client sends.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
