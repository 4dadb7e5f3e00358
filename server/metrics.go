package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	created       prometheus.Counter
	actions       prometheus.Counter
	takeovers     prometheus.Counter
	leasesLost    prometheus.Counter
	remote        *prometheus.CounterVec
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
		created:    prometheus.NewCounter(prometheus.CounterOpts{Name: "novel_simulations_created_total", Help: "Simulations created on this node."}),
		actions:    prometheus.NewCounter(prometheus.CounterOpts{Name: "novel_actions_total", Help: "Player actions accepted."}),
		takeovers:  prometheus.NewCounter(prometheus.CounterOpts{Name: "novel_cluster_acquired_total", Help: "Simulations this node took a lease on and started."}),
		leasesLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "novel_cluster_leases_lost_total", Help: "Simulations stopped here because their lease was lost or could not be renewed."}),
		remote:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "novel_cluster_remote_requests_total", Help: "Actions and controls sent to the node running the simulation."}, []string{"kind"}),
	}
	reg.MustRegister(m.requests, m.httpErrors, m.wsErrors, m.connections, m.messagesIn, m.subscriptions, m.turns, m.turnDelay, m.created, m.actions, m.takeovers, m.leasesLost, m.remote,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) registerGauges(s *Server) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "novel_simulations_running", Help: "Simulations this node runs."},
			func() float64 { return float64(s.runner.Count()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "novel_ws_slow_closed_total", Help: "Connections cut with 4000 for not keeping up."},
			func() float64 { return float64(s.hub.SlowClosed()) }),
	)
	if b, ok := s.broker.(interface{ Reconnects() int64 }); ok {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "novel_broker_reconnects_total", Help: "Times the broker's subscription connection came back after losing Redis."},
			func() float64 { return float64(b.Reconnects()) }))
	}
}

// instrument records each request's latency by route pattern.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "other"
		}
		s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(ww.Status())).Observe(time.Since(start).Seconds())
	})
}
