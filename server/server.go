// Package server is the HTTP and WebSocket edge of a node: routes,
// sessions, auth, limits, metrics and health. It puts the node together:
// the hub, the runner that owns the simulations running here, and, on a
// cluster, the cluster package's broker, leases and requests.
package server

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/runner"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/timeline"
)

// Config configures a Server. Only Store and Auth are required.
type Config struct {
	Store store.Store
	Auth  *Auth
	// Node names this node in welcome messages and ownership.
	Node string
	// Cluster, when set, makes this node one of several sharing Redis and
	// the store: publications go through Redis, and the node runs only the
	// simulations it holds a lease on. When nil the node runs every
	// simulation and publishes in process. Its Node and Logger are the
	// server's.
	Cluster *cluster.Config
	// GuestAuth enables POST /v1/auth/guest.
	GuestAuth bool
	// GuestTTL is how long a guest token lasts. Defaults to 24h.
	GuestTTL time.Duration
	// AllowedOrigins lists extra WebSocket origins (host patterns as in
	// path.Match); the server's own origin is always allowed.
	AllowedOrigins []string
	// PublicHosts are the names (host patterns as in path.Match, with a
	// port to match it too) the node is reached by. When set, a request
	// with an Origin whose Host is none of them is refused (DNS
	// rebinding). Empty: any Host.
	PublicHosts []string
	// DenyAnonymousRead requires a token for every read.
	DenyAnonymousRead bool
	// MinTurnInterval is the shortest pace allowed. Defaults to 10ms.
	MinTurnInterval time.Duration
	// PlayerWait bounds a wait_for_players turn's wait. Defaults to 30s.
	PlayerWait time.Duration
	// RetryInterval is the pause between attempts to store a turn while
	// the store is away. Defaults to 500ms.
	RetryInterval time.Duration
	// SeatGrace is how long a seat outlives its holder's last connection.
	// Defaults to 30s.
	SeatGrace time.Duration
	// PingInterval is the WebSocket keepalive period. Defaults to 25s.
	PingInterval time.Duration
	// MessageRate and MessageBurst limit each connection's messages per
	// second. Default to 20 and 50.
	MessageRate  float64
	MessageBurst int
	// RequestRate and RequestBurst limit each client address's REST writes
	// (sign-in, create, control, actions) per second. Default to 20 and 100.
	RequestRate  float64
	RequestBurst int
	// MaxQueueBytes bounds each connection's outbound queue. Defaults to 1 MiB.
	MaxQueueBytes int
	// FanoutHelpers is how many goroutines at most help write one turn to
	// its watchers (hub.Options). Zero: none; negative: GOMAXPROCS-1.
	FanoutHelpers int
	// TrustedProxies are the proxies (CIDRs) whose X-Forwarded-For or
	// Forwarded header names the client; from any other peer those
	// headers are ignored. Empty: the peer is the client.
	TrustedProxies []netip.Prefix
	// MaxUserStories bounds the stories one user (not an admin) started
	// that have not ended. Defaults to 10; negative: unlimited.
	MaxUserStories int
	// MaxGuestAddrStories bounds the stories guests from one address
	// started that have not ended. Defaults to 20; negative: unlimited.
	MaxGuestAddrStories int
	// MaxUserScenarios bounds the scenarios one user (not an admin) keeps
	// stored. Defaults to 20; negative: unlimited.
	MaxUserScenarios int
	// MaxSeatsPerUser bounds the seats of one story one user (not an
	// admin) holds. Defaults to 1; negative: unlimited.
	MaxSeatsPerUser int
	// MaxStories bounds the stories this node runs. Defaults to 1000;
	// negative: unlimited.
	MaxStories int
	// MaxLoad bounds the node's load (runner.Load: its stories' turn
	// cost, CPU time measured, over their turn interval, about the cores
	// they keep busy): a story that would take it past is refused.
	// Defaults to three quarters of GOMAXPROCS; negative: unlimited.
	MaxLoad float64
	// GuestsPerHour bounds the guest sign-ins of one address per hour.
	// Defaults to 30; negative: unlimited.
	GuestsPerHour int
	// ReadRate and ReadBurst limit each client address's REST reads per
	// second. Default to 50 and 200; a negative ReadRate: unlimited.
	ReadRate  float64
	ReadBurst int
	// UserMessageRate and UserMessageBurst limit the WebSocket messages of
	// one user (anonymous: one address) over all its connections. Default
	// to 40 and 100; a negative rate: unlimited.
	UserMessageRate  float64
	UserMessageBurst int
	// MaxConnsPerAddr, MaxConnsPerUser and MaxConns bound the WebSocket
	// connections of one address, of one user and of the node. Default to
	// 100, 20 and 20000; negative: unlimited.
	MaxConnsPerAddr int
	MaxConnsPerUser int
	MaxConns        int
	// ConnRate and ConnBurst limit each address's new WebSocket
	// connections per second. Default to 10 and 50; a negative rate:
	// unlimited.
	ConnRate  float64
	ConnBurst int
	// MaxSubscriptions bounds one connection's subscriptions. Defaults
	// to 50; negative: unlimited.
	MaxSubscriptions int
	// HistoryReads bounds the subscriptions reading their history from
	// the store at once on this node; the others wait their turn.
	// Defaults to 4.
	HistoryReads int
	// AnonymousIdle closes an anonymous connection (with 4008) that has
	// subscribed to nothing for that long. Defaults to 60s; negative:
	// never.
	AnonymousIdle time.Duration
	// HTTPReadTimeout, HTTPWriteTimeout and HTTPIdleTimeout are the HTTP
	// server's (see HTTPServer): reading a whole request, writing an
	// answer, and keeping an idle keep-alive connection. WebSockets are
	// exempt from the first two. Default to 30s, 60s and 120s.
	HTTPReadTimeout  time.Duration
	HTTPWriteTimeout time.Duration
	HTTPIdleTimeout  time.Duration
	// PresenceInterval is how often changed presence is published.
	// Defaults to 1s.
	PresenceInterval time.Duration
	// SeparateMetrics leaves /metrics off Handler: the caller serves
	// MetricsHandler on an address of its own.
	SeparateMetrics bool
	// Web serves the browser UI at /. Optional.
	Web http.Handler
	// Engine configures the simulations' deciders and chronicler.
	Engine engine.Options
	// Registry receives the server's metrics. Defaults to a new registry.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	Now      func() time.Time
}

// Server is one node.
type Server struct {
	// set at construction
	cfg       Config
	log       *slog.Logger
	store     store.Store
	auth      *Auth
	hub       *hub.Hub
	broker    hub.Broker
	runner    *runner.Runner
	cluster   *cluster.Cluster // nil on a single node
	metrics   *metrics
	views     *viewCache
	summaries *summaryCache // of stored scenarios
	timeline  *timeline.Replayer
	presence  *presence
	seats     *seatKeeper
	limits    *ipLimiter
	guests    *ipLimiter // guest sign-ins per address; nil: unlimited
	reads     *ipLimiter // REST reads per address; nil: unlimited
	userMsgs  *ipLimiter // WebSocket messages per user or anonymous address
	connRate  *ipLimiter // new WebSocket connections per address; nil: unlimited
	connCount *connCounter
	histories chan struct{} // a place per history read in flight (Config.HistoryReads)
	ledger    *ledger
	accept    *websocket.AcceptOptions
	now       func() time.Time

	ctx    context.Context // ends when the server stops
	cancel context.CancelFunc

	draining atomic.Bool
	conns    sync.WaitGroup // WebSocket handlers
	bg       sync.WaitGroup // background loops
}

func (cfg Config) withDefaults() Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.GuestTTL <= 0 {
		cfg.GuestTTL = 24 * time.Hour
	}
	if cfg.SeatGrace <= 0 {
		cfg.SeatGrace = 30 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.MessageRate <= 0 {
		cfg.MessageRate = 20
	}
	if cfg.MessageBurst <= 0 {
		cfg.MessageBurst = 50
	}
	if cfg.RequestRate <= 0 {
		cfg.RequestRate = 20
	}
	if cfg.RequestBurst <= 0 {
		cfg.RequestBurst = 100
	}
	if cfg.PresenceInterval <= 0 {
		cfg.PresenceInterval = time.Second
	}
	defaultInt(&cfg.MaxUserStories, 10)
	defaultInt(&cfg.MaxGuestAddrStories, 20)
	defaultInt(&cfg.MaxStories, 1000)
	defaultInt(&cfg.MaxUserScenarios, 20)
	defaultInt(&cfg.MaxSeatsPerUser, 1)
	defaultInt(&cfg.GuestsPerHour, 30)
	defaultInt(&cfg.MaxConnsPerAddr, 100)
	defaultInt(&cfg.MaxConnsPerUser, 20)
	defaultInt(&cfg.MaxConns, 20000)
	defaultInt(&cfg.MaxSubscriptions, 50)
	defaultInt(&cfg.HistoryReads, 4)
	defaultInt(&cfg.ReadBurst, 200)
	defaultInt(&cfg.UserMessageBurst, 100)
	defaultInt(&cfg.ConnBurst, 50)
	if cfg.ReadRate == 0 {
		cfg.ReadRate = 50
	}
	if cfg.UserMessageRate == 0 {
		cfg.UserMessageRate = 40
	}
	if cfg.ConnRate == 0 {
		cfg.ConnRate = 10
	}
	if cfg.AnonymousIdle == 0 {
		cfg.AnonymousIdle = time.Minute
	}
	if cfg.HTTPReadTimeout <= 0 {
		cfg.HTTPReadTimeout = 30 * time.Second
	}
	if cfg.HTTPWriteTimeout <= 0 {
		cfg.HTTPWriteTimeout = time.Minute
	}
	if cfg.HTTPIdleTimeout <= 0 {
		cfg.HTTPIdleTimeout = 2 * time.Minute
	}
	if cfg.MaxLoad == 0 {
		cfg.MaxLoad = 0.75 * float64(runtime.GOMAXPROCS(0))
	}
	return cfg
}

// defaultInt gives a limit its default when unset (0); a negative limit
// is unlimited and stays negative.
func defaultInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

// New builds a server. Call Start to resume stored simulations and
// Shutdown to drain it.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Auth == nil {
		return nil, errors.New("server: Store and Auth are required")
	}
	if cfg.Cluster != nil && cfg.Cluster.Redis == nil {
		return nil, errors.New("server: Cluster needs Redis")
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, store: cfg.Store, auth: cfg.Auth, now: cfg.Now}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.metrics = newMetrics(cfg.Registry)
	if cfg.Cluster != nil {
		cc := *cfg.Cluster
		cc.Node, cc.Logger = cfg.Node, cfg.Logger
		if cc.Broker.Observe == nil {
			cc.Broker.Observe = s.metrics.stages.delivered
		}
		s.cluster = cluster.New(cc)
		s.broker = s.cluster.Broker()
	} else {
		s.broker = hub.NewMemoryBroker()
	}
	s.hub = hub.New(s.broker, s.fillFromStore, hub.Options{
		MaxQueueBytes: cfg.MaxQueueBytes, FillLimit: turnsPageLimit, PingInterval: cfg.PingInterval,
		FanoutHelpers: cfg.FanoutHelpers, Logger: cfg.Logger,
	})
	s.summaries = newSummaryCache()
	s.timeline = timeline.New(cfg.Store, timeline.Config{})
	s.presence = newPresence(s)
	s.histories = make(chan struct{}, max(cfg.HistoryReads, 1))
	s.seats = newSeatKeeper(cfg.SeatGrace, realClock{}, s.freeSeat)
	s.limits = newIPLimiter(cfg.RequestRate, cfg.RequestBurst)
	if cfg.GuestsPerHour > 0 {
		s.guests = newIPLimiter(float64(cfg.GuestsPerHour)/3600, cfg.GuestsPerHour)
	}
	if cfg.ReadRate > 0 {
		s.reads = newIPLimiter(cfg.ReadRate, cfg.ReadBurst)
	}
	userRate, userBurst := cfg.UserMessageRate, cfg.UserMessageBurst
	if userRate < 0 {
		userRate, userBurst = float64(rate.Inf), 1
	}
	s.userMsgs = newIPLimiter(userRate, userBurst)
	if cfg.ConnRate > 0 {
		s.connRate = newIPLimiter(cfg.ConnRate, cfg.ConnBurst)
	}
	s.connCount = newConnCounter(cfg.MaxConnsPerAddr, cfg.MaxConnsPerUser, cfg.MaxConns)
	s.ledger = newLedger(cfg.Store)
	s.accept = &websocket.AcceptOptions{Subprotocols: []string{"novel.v1"}, OriginPatterns: cfg.AllowedOrigins}
	s.runner = runner.New(runner.Config{
		Store:         cfg.Store,
		Publisher:     publisher{hub: s.hub, broadcast: s.metrics.broadcast},
		Node:          cfg.Node,
		MinInterval:   cfg.MinTurnInterval,
		PlayerWait:    cfg.PlayerWait,
		RetryInterval: cfg.RetryInterval,
		InlineTurns:   s.cluster == nil && isMemoryStore(cfg.Store),
		Engine:        cfg.Engine,
		Logger:        cfg.Logger,
		Now:           cfg.Now,
		OnStored: func(sim string, seq int64, at time.Time) {
			s.metrics.stages.store.Observe(cfg.Now().Sub(at).Seconds())
		},
		OnTurn: func(sim string, seq int64, at time.Time) {
			s.metrics.turns.Inc()
			s.metrics.turnDelay.Observe(cfg.Now().Sub(at).Seconds())
		},
		OnEnd: func(sim string) {
			s.presence.mark(sim)
			s.ledger.ended(sim)
		},
		OnStop: func(sim string, lost bool) {
			if s.cluster != nil {
				s.cluster.Stopped(sim, lost)
			}
		},
	})
	s.views = newViewCache(s.runner.Scenario)
	s.metrics.registerGauges(s)
	return s, nil
}

// Start resumes the simulations the store holds as running or paused
// (all of them: a single node owns every simulation) and starts the
// background loops. In a cluster it joins the others instead, and takes
// the simulations nobody runs.
func (s *Server) Start(ctx context.Context) error {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.presence.loop(s.ctx, s.cfg.PresenceInterval)
	}()
	if s.cluster != nil {
		s.cluster.Start(cluster.Deps{Runner: s.runner, Store: s.store, Handler: remote{s}, Presence: s.presence.mark, Capacity: s.capacity})
		return nil
	}
	for _, status := range []string{store.StatusRunning, store.StatusPaused, store.StatusCreated} {
		cursor := ""
		for {
			sims, next, err := s.store.ListSimulations(ctx, store.ListOptions{Status: status, Limit: 200, Cursor: cursor})
			if err != nil {
				return err
			}
			for _, rec := range sims {
				if err := s.runner.Start(ctx, rec); err != nil {
					s.log.Error("resume simulation", "sim", rec.ID, "err", err)
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return nil
}

// HTTPServer returns an http.Server for the node's Handler with its
// timeouts: a slow or idle client cannot hold a connection for long,
// except an open WebSocket. errorLog may be nil.
func (s *Server) HTTPServer(errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: min(10*time.Second, s.cfg.HTTPReadTimeout),
		ReadTimeout:       s.cfg.HTTPReadTimeout,
		WriteTimeout:      s.cfg.HTTPWriteTimeout,
		IdleTimeout:       s.cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errorLog,
	}
}

// Hub returns the node's hub.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// Shutdown drains the node: new WebSocket connections are refused, each
// simulation finishes the turn in progress, and every socket is closed
// with 1001 so its client resumes elsewhere. It returns when all of that
// is done or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if s.cluster != nil {
		// Out of placement first, so the simulations released below go
		// to the other nodes at once.
		s.cluster.Leave(ctx)
	}
	err := s.runner.Shutdown(ctx)
	s.CloseAll(websocket.StatusGoingAway, "server shutting down")
	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
		s.hub.Abort()
	}
	s.cancel()
	s.bg.Wait()
	if s.cluster != nil {
		s.cluster.Stop()
	}
	s.seats.stop()
	return err
}

// CloseAll closes every WebSocket connection of this node with code.
func (s *Server) CloseAll(code websocket.StatusCode, reason string) {
	s.hub.CloseAll(code, reason)
}

// isMemoryStore reports whether st is the in-process store, whose calls
// never wait: with the in-process broker, a turn is then stored and
// published by its story's actor (runner.Config.InlineTurns).
func isMemoryStore(st store.Store) bool {
	_, ok := st.(*store.Memory)
	return ok
}
