package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/cluster"
	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/engine/llm"
	"github.com/novel-engine/novel-engine/server"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/web"
)

// serveConfig is the node's configuration: environment variables, each
// overridden by the flag of the same name.
type serveConfig struct {
	addr           string
	databaseURL    string
	redisURL       string
	redisCluster   bool
	redisSentinel  bool
	redisPrefix    string
	leaseTTL       time.Duration
	nodeID         string
	jwtSecret      string
	jwtPublicKey   string
	jwtIssuer      string
	jwtAudience    string
	guestAuth      string
	allowedOrigins string
	publicHosts    string
	llmURL         string
	llmModel       string
	llmAPIKey      string
	llmTimeout     time.Duration
	llmBudget      int64
	logLevel       string
	minIntervalMS  int
	seatGrace      time.Duration
	playerWait     time.Duration
	migrate        bool
	dbMaxConns     int
	dbConnTimeout  time.Duration
	dbStmtTimeout  time.Duration
	shutdownWait   time.Duration
	denyAnonymous  bool
	queueBytes     int
	fanoutHelpers  int
	pprofAddr      string
	trustedProxies string
	userStories    int
	userScenarios  int
	userSeats      int
	guestStories   int
	nodeStories    int
	maxLoad        float64
	guestsPerHour  int
	memoryTurns    int
	retention      time.Duration
	readRate       float64
	userMsgRate    float64
	connsPerAddr   int
	connsPerUser   int
	nodeConns      int
	connRate       float64
	subscriptions  int
	historyReads   int
	anonIdle       time.Duration
	readTimeout    time.Duration
	writeTimeout   time.Duration
	idleTimeout    time.Duration
	metricsAddr    string
}

func parseServe(args []string, getenv func(string) string, stdout, stderr io.Writer) (*serveConfig, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	envInt := func(k string, def int) int {
		if v, err := strconv.Atoi(getenv(k)); err == nil {
			return v
		}
		return def
	}
	envInt64 := func(k string, def int64) int64 {
		if v, err := strconv.ParseInt(getenv(k), 10, 64); err == nil {
			return v
		}
		return def
	}
	envDur := func(k string, def time.Duration) time.Duration {
		if v, err := time.ParseDuration(getenv(k)); err == nil {
			return v
		}
		return def
	}
	envFloat := func(k string, def float64) float64 {
		if v, err := strconv.ParseFloat(getenv(k), 64); err == nil {
			return v
		}
		return def
	}
	envBool := func(k string, def bool) bool {
		if v, err := strconv.ParseBool(getenv(k)); err == nil {
			return v
		}
		return def
	}
	c := &serveConfig{}
	fs := newFlags("serve", "usage: novel-engine serve [flags]\n\n"+
		"Runs a node: the REST API, the WebSocket and the browser UI. Every flag\n"+
		"also reads the environment variable named beside it.")
	fs.StringVar(&c.addr, "addr", env("NOVEL_ADDR", ":8080"), "listen address (NOVEL_ADDR)")
	// Settings that may hold credentials take no default from the
	// environment, so that -h never prints them; the variables are read
	// after parsing instead.
	fs.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL URL; empty: memory store (NOVEL_DATABASE_URL)")
	fs.StringVar(&c.redisURL, "redis-url", "", "Redis URL; empty: single node (NOVEL_REDIS_URL)")
	fs.BoolVar(&c.redisCluster, "redis-cluster", envBool("NOVEL_REDIS_CLUSTER", false), "the Redis is a Redis Cluster; the URL lists its nodes: redis://host:port?addr=host2:port2&addr=host3:port3 (NOVEL_REDIS_CLUSTER)")
	fs.BoolVar(&c.redisSentinel, "redis-sentinel", envBool("NOVEL_REDIS_SENTINEL", false), "the Redis is a primary watched by Sentinel; the URL lists the sentinels: redis://sentinel:26379?master_name=mymaster&addr=sentinel2:26379 (NOVEL_REDIS_SENTINEL)")
	fs.StringVar(&c.redisPrefix, "redis-prefix", env("NOVEL_REDIS_PREFIX", "novel:"), "prefix of every Redis key and channel; nodes of one cluster share it (NOVEL_REDIS_PREFIX)")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", envDur("NOVEL_LEASE_TTL", 3*time.Second), "how long a dead node's simulations wait for another owner; renewed every third of it (NOVEL_LEASE_TTL)")
	fs.StringVar(&c.nodeID, "node-id", env("NOVEL_NODE_ID", ""), "this node's name; empty: hostname plus a random suffix (NOVEL_NODE_ID)")
	fs.StringVar(&c.jwtSecret, "jwt-secret", "", "HS256 key; empty: random per process; prefer the variable, flags show in process lists (NOVEL_JWT_SECRET)")
	fs.StringVar(&c.jwtPublicKey, "jwt-public-key", env("NOVEL_JWT_PUBLIC_KEY", ""), "PEM public key (RS256 or EdDSA) of an external issuer, or a path to one (NOVEL_JWT_PUBLIC_KEY)")
	fs.StringVar(&c.jwtIssuer, "jwt-issuer", env("NOVEL_JWT_ISSUER", "novel-engine"), "required iss claim (NOVEL_JWT_ISSUER)")
	fs.StringVar(&c.jwtAudience, "jwt-audience", env("NOVEL_JWT_AUDIENCE", "novel-engine"), "required aud claim (NOVEL_JWT_AUDIENCE)")
	fs.StringVar(&c.guestAuth, "guest-auth", env("NOVEL_GUEST_AUTH", ""), "enable guest sign-in; empty: on for a single node (NOVEL_GUEST_AUTH)")
	fs.StringVar(&c.allowedOrigins, "allowed-origins", env("NOVEL_ALLOWED_ORIGINS", ""), "comma-separated extra WebSocket origins (NOVEL_ALLOWED_ORIGINS)")
	fs.StringVar(&c.publicHosts, "public-hosts", env("NOVEL_PUBLIC_HOSTS", ""), "comma-separated host names the node is reached by; a browser's request under another name is refused (DNS rebinding); empty: any (NOVEL_PUBLIC_HOSTS)")
	fs.StringVar(&c.llmURL, "llm-url", env("NOVEL_LLM_URL", ""), "OpenAI-compatible chat completions endpoint that plays the characters, e.g. http://localhost:11434/v1; empty: built-in deciders (NOVEL_LLM_URL)")
	fs.StringVar(&c.llmModel, "llm-model", env("NOVEL_LLM_MODEL", ""), "model name sent with each request (NOVEL_LLM_MODEL)")
	// No default from the environment here: flag help prints defaults.
	fs.StringVar(&c.llmAPIKey, "llm-api-key", "", "bearer key for the endpoint; prefer the variable, flags show in process lists (NOVEL_LLM_API_KEY)")
	fs.DurationVar(&c.llmTimeout, "llm-timeout", envDur("NOVEL_LLM_TIMEOUT", 20*time.Second), "longest wait for one decision; a turn waits for its slowest (NOVEL_LLM_TIMEOUT)")
	fs.Int64Var(&c.llmBudget, "llm-token-budget", envInt64("NOVEL_LLM_TOKEN_BUDGET", 0), "tokens the node may spend on the model, then built-in deciders take over; 0: unlimited (NOVEL_LLM_TOKEN_BUDGET)")
	fs.StringVar(&c.logLevel, "log-level", env("NOVEL_LOG_LEVEL", "info"), "debug, info, warn or error (NOVEL_LOG_LEVEL)")
	fs.IntVar(&c.minIntervalMS, "min-turn-interval-ms", envInt("NOVEL_MIN_TURN_INTERVAL_MS", 10), "shortest turn_interval_ms allowed (NOVEL_MIN_TURN_INTERVAL_MS)")
	fs.DurationVar(&c.seatGrace, "seat-grace", envDur("NOVEL_SEAT_GRACE", 30*time.Second), "how long a seat outlives its holder's last connection (NOVEL_SEAT_GRACE)")
	fs.DurationVar(&c.playerWait, "player-wait", envDur("NOVEL_PLAYER_WAIT", 30*time.Second), "longest wait for players in wait_for_players stories (NOVEL_PLAYER_WAIT)")
	fs.BoolVar(&c.migrate, "migrate", envBool("NOVEL_MIGRATE", true), "apply database migrations at start (NOVEL_MIGRATE)")
	fs.IntVar(&c.dbMaxConns, "db-max-conns", envInt("NOVEL_DB_MAX_CONNS", 0), "PostgreSQL pool size; 0: the store's default (NOVEL_DB_MAX_CONNS)")
	fs.DurationVar(&c.dbConnTimeout, "db-connect-timeout", envDur("NOVEL_DB_CONNECT_TIMEOUT", 0), "longest wait to open one PostgreSQL connection; 0: the store's default (NOVEL_DB_CONNECT_TIMEOUT)")
	fs.DurationVar(&c.dbStmtTimeout, "db-statement-timeout", envDur("NOVEL_DB_STATEMENT_TIMEOUT", 0), "PostgreSQL's limit on each statement; 0: the store's default (NOVEL_DB_STATEMENT_TIMEOUT)")
	fs.DurationVar(&c.shutdownWait, "shutdown-timeout", envDur("NOVEL_SHUTDOWN_TIMEOUT", 20*time.Second), "longest drain on SIGTERM (NOVEL_SHUTDOWN_TIMEOUT)")
	fs.BoolVar(&c.denyAnonymous, "deny-anonymous-read", envBool("NOVEL_DENY_ANONYMOUS_READ", false), "require a token to read (NOVEL_DENY_ANONYMOUS_READ)")
	fs.IntVar(&c.queueBytes, "ws-queue-bytes", envInt("NOVEL_WS_QUEUE_BYTES", 1<<20), "bytes queued for one WebSocket before it is cut with 4000 (NOVEL_WS_QUEUE_BYTES)")
	fs.IntVar(&c.fanoutHelpers, "fanout-helpers", envInt("NOVEL_FANOUT_HELPERS", 0), "goroutines that help write one turn to many watchers; 0: the story writes alone; -1: GOMAXPROCS-1 (NOVEL_FANOUT_HELPERS)")
	fs.StringVar(&c.pprofAddr, "pprof", env("NOVEL_PPROF_ADDR", ""), "serve net/http/pprof on this separate address, e.g. 127.0.0.1:6060; empty: off (NOVEL_PPROF_ADDR)")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", env("NOVEL_TRUSTED_PROXIES", ""), "comma-separated CIDRs (or addresses) of proxies whose X-Forwarded-For or Forwarded names the client; empty: none (NOVEL_TRUSTED_PROXIES)")
	fs.IntVar(&c.userStories, "max-user-stories", envInt("NOVEL_MAX_USER_STORIES", 10), "stories one user (not an admin) may run at once; 0: unlimited (NOVEL_MAX_USER_STORIES)")
	fs.IntVar(&c.userScenarios, "max-user-scenarios", envInt("NOVEL_MAX_USER_SCENARIOS", 20), "scenarios one user (not an admin) may keep stored; 0: unlimited (NOVEL_MAX_USER_SCENARIOS)")
	fs.IntVar(&c.userSeats, "max-seats-per-user", envInt("NOVEL_MAX_SEATS_PER_USER", 1), "seats of one story one player (not an admin) may hold; 0: unlimited (NOVEL_MAX_SEATS_PER_USER)")
	fs.IntVar(&c.guestStories, "max-guest-addr-stories", envInt("NOVEL_MAX_GUEST_ADDR_STORIES", 20), "stories the guests of one address may run at once; 0: unlimited (NOVEL_MAX_GUEST_ADDR_STORIES)")
	fs.IntVar(&c.nodeStories, "max-stories", envInt("NOVEL_MAX_STORIES", 1000), "stories this node runs at most; 0: unlimited (NOVEL_MAX_STORIES)")
	fs.Float64Var(&c.maxLoad, "max-load", envFloat("NOVEL_MAX_LOAD", -1), "measured turn work (cores) past which new stories are refused; -1: three quarters of the cores; 0: unlimited (NOVEL_MAX_LOAD)")
	fs.IntVar(&c.guestsPerHour, "guest-signins-per-hour", envInt("NOVEL_GUEST_SIGNINS_PER_HOUR", 30), "guest sign-ins one address may make an hour; 0: unlimited (NOVEL_GUEST_SIGNINS_PER_HOUR)")
	fs.IntVar(&c.memoryTurns, "memory-max-turns", envInt("NOVEL_MEMORY_MAX_TURNS", 200000), "memory store: turns kept before the oldest ended stories are forgotten; 0: unlimited (NOVEL_MEMORY_MAX_TURNS)")
	fs.DurationVar(&c.retention, "retention", envDur("NOVEL_RETENTION", 0), "PostgreSQL: delete stories that ended longer ago than this; 0: keep them (NOVEL_RETENTION)")
	fs.Float64Var(&c.readRate, "read-rate", envFloat("NOVEL_READ_RATE", 50), "REST reads per second per address, bursts of four times that; 0: unlimited (NOVEL_READ_RATE)")
	fs.Float64Var(&c.userMsgRate, "ws-user-rate", envFloat("NOVEL_WS_USER_RATE", 40), "WebSocket messages per second of one user (anonymous: one address) over all its connections; 0: unlimited (NOVEL_WS_USER_RATE)")
	fs.IntVar(&c.connsPerAddr, "max-conns-per-addr", envInt("NOVEL_MAX_CONNS_PER_ADDR", 100), "WebSocket connections from one address; 0: unlimited (NOVEL_MAX_CONNS_PER_ADDR)")
	fs.IntVar(&c.connsPerUser, "max-conns-per-user", envInt("NOVEL_MAX_CONNS_PER_USER", 20), "WebSocket connections of one user; 0: unlimited (NOVEL_MAX_CONNS_PER_USER)")
	fs.IntVar(&c.nodeConns, "max-conns", envInt("NOVEL_MAX_CONNS", 20000), "WebSocket connections this node holds; 0: unlimited (NOVEL_MAX_CONNS)")
	fs.Float64Var(&c.connRate, "conn-rate", envFloat("NOVEL_CONN_RATE", 10), "new WebSocket connections per second from one address, bursts of five times that; 0: unlimited (NOVEL_CONN_RATE)")
	fs.IntVar(&c.subscriptions, "max-subscriptions", envInt("NOVEL_MAX_SUBSCRIPTIONS", 50), "subscriptions of one WebSocket connection; 0: unlimited (NOVEL_MAX_SUBSCRIPTIONS)")
	fs.IntVar(&c.historyReads, "history-reads", envInt("NOVEL_HISTORY_READS", 4), "subscriptions reading their history from the store at once on this node; the others wait their turn; at least 1 (NOVEL_HISTORY_READS)")
	fs.DurationVar(&c.anonIdle, "anonymous-idle", envDur("NOVEL_ANONYMOUS_IDLE", time.Minute), "an anonymous WebSocket subscribed to nothing this long is closed with 4008; 0: never (NOVEL_ANONYMOUS_IDLE)")
	fs.DurationVar(&c.readTimeout, "http-read-timeout", envDur("NOVEL_HTTP_READ_TIMEOUT", 30*time.Second), "longest read of one HTTP request, body included; WebSockets exempt (NOVEL_HTTP_READ_TIMEOUT)")
	fs.DurationVar(&c.writeTimeout, "http-write-timeout", envDur("NOVEL_HTTP_WRITE_TIMEOUT", time.Minute), "longest write of one HTTP answer; WebSockets exempt (NOVEL_HTTP_WRITE_TIMEOUT)")
	fs.DurationVar(&c.idleTimeout, "http-idle-timeout", envDur("NOVEL_HTTP_IDLE_TIMEOUT", 2*time.Minute), "how long an idle keep-alive connection is kept (NOVEL_HTTP_IDLE_TIMEOUT)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", env("NOVEL_METRICS_ADDR", ""), "serve /metrics on this separate address only, e.g. 127.0.0.1:9090; empty: on the public listener (NOVEL_METRICS_ADDR)")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	for _, v := range []struct {
		dst *string
		env string
	}{
		{&c.databaseURL, "NOVEL_DATABASE_URL"},
		{&c.redisURL, "NOVEL_REDIS_URL"},
		{&c.jwtSecret, "NOVEL_JWT_SECRET"},
		{&c.llmAPIKey, "NOVEL_LLM_API_KEY"},
	} {
		if *v.dst == "" {
			*v.dst = getenv(v.env)
		}
	}
	return c, nil
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("%s-%x", host, b)
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseServe(args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(c.logLevel, stderr)
	if err != nil {
		return err
	}
	if c.nodeID == "" {
		c.nodeID = defaultNodeID()
	}
	redisOpts, err := clusterOptions(c)
	if err != nil {
		return err
	}
	engineOpts, err := llmEngine(c, log)
	if err != nil {
		return err
	}
	auth, err := newAuth(c, log)
	if err != nil {
		return err
	}
	guest := c.redisURL == ""
	if c.guestAuth != "" {
		if guest, err = strconv.ParseBool(c.guestAuth); err != nil {
			return fmt.Errorf("NOVEL_GUEST_AUTH: %q is not true or false", c.guestAuth)
		}
	}
	st, err := openStore(ctx, c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if pg, ok := st.(*postgres.Store); ok && c.retention > 0 {
		// Ended stories older than the retention go, checked every tenth
		// of it (at most hourly); stopped before the store closes.
		rctx, stop := context.WithCancel(ctx)
		var done sync.WaitGroup
		done.Go(func() {
			pg.Retain(rctx, c.retention, max(min(c.retention/10, time.Hour), time.Second), func(err error) { log.Warn("retention", "err", err) })
		})
		defer func() {
			stop()
			done.Wait()
		}()
	}
	var clusterConf *cluster.Config
	if redisOpts != nil {
		rdb := connectRedis(ctx, redisOpts, log)
		defer rdb.Close()
		// The leases get a pool of their own: a renewal queued behind the
		// node's other commands (thousands of watchers resuming at once)
		// for a lease's TTL loses the lease.
		leases := redisOpts()
		defer leases.Close()
		clusterConf = &cluster.Config{Redis: rdb, LeaseRedis: leases, Prefix: c.redisPrefix, LeaseTTL: c.leaseTTL}
	}
	proxies, err := parsePrefixes(c.trustedProxies)
	if err != nil {
		return fmt.Errorf("NOVEL_TRUSTED_PROXIES: %w", err)
	}
	srv, err := server.New(server.Config{
		TrustedProxies:      proxies,
		MaxUserStories:      limit(c.userStories),
		MaxUserScenarios:    limit(c.userScenarios),
		MaxSeatsPerUser:     limit(c.userSeats),
		MaxGuestAddrStories: limit(c.guestStories),
		MaxStories:          limit(c.nodeStories),
		MaxLoad:             loadLimit(c.maxLoad),
		GuestsPerHour:       limit(c.guestsPerHour),
		ReadRate:            rateLimit(c.readRate),
		ReadBurst:           int(max(4*c.readRate, 1)),
		UserMessageRate:     rateLimit(c.userMsgRate),
		UserMessageBurst:    int(max(2.5*c.userMsgRate, 1)),
		MaxConnsPerAddr:     limit(c.connsPerAddr),
		MaxConnsPerUser:     limit(c.connsPerUser),
		MaxConns:            limit(c.nodeConns),
		ConnRate:            rateLimit(c.connRate),
		ConnBurst:           int(max(5*c.connRate, 1)),
		MaxSubscriptions:    limit(c.subscriptions),
		HistoryReads:        max(c.historyReads, 1),
		AnonymousIdle:       durLimit(c.anonIdle),
		HTTPReadTimeout:     c.readTimeout,
		HTTPWriteTimeout:    c.writeTimeout,
		HTTPIdleTimeout:     c.idleTimeout,
		SeparateMetrics:     c.metricsAddr != "",
		Cluster:             clusterConf,
		Store:               st,
		Auth:                auth,
		Node:                c.nodeID,
		GuestAuth:           guest,
		AllowedOrigins:      splitList(c.allowedOrigins),
		PublicHosts:         splitList(c.publicHosts),
		DenyAnonymousRead:   c.denyAnonymous,
		MinTurnInterval:     time.Duration(c.minIntervalMS) * time.Millisecond,
		PlayerWait:          c.playerWait,
		SeatGrace:           c.seatGrace,
		MaxQueueBytes:       c.queueBytes,
		FanoutHelpers:       c.fanoutHelpers,
		Engine:              engineOpts,
		Web:                 web.Handler(),
		Logger:              log,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	return serveHTTP(ctx, srv, c, log, stdout, "guest_auth", guest)
}

// clusterOptions checks what a cluster needs, and returns how to make
// its Redis client; nil on a single node.
func clusterOptions(c *serveConfig) (func() redis.UniversalClient, error) {
	if c.redisURL == "" {
		return nil, nil
	}
	// A cluster shares its tokens and its stories: both must be
	// configured, not made up per node.
	if c.jwtSecret == "" {
		return nil, errors.New("NOVEL_JWT_SECRET is required with NOVEL_REDIS_URL: every node must accept the tokens of the others")
	}
	if c.databaseURL == "" {
		return nil, errors.New("NOVEL_DATABASE_URL is required with NOVEL_REDIS_URL: the nodes of a cluster share one PostgreSQL store")
	}
	if c.leaseTTL < 300*time.Millisecond {
		return nil, errors.New("NOVEL_LEASE_TTL: use at least 300ms")
	}
	switch {
	case c.redisCluster && c.redisSentinel:
		return nil, errors.New("NOVEL_REDIS_CLUSTER and NOVEL_REDIS_SENTINEL: choose one")
	case c.redisCluster:
		opts, err := redis.ParseClusterURL(c.redisURL)
		if err != nil {
			return nil, fmt.Errorf("NOVEL_REDIS_URL (a Redis Cluster): %w", err)
		}
		return func() redis.UniversalClient { return cluster.NewClusterClient(opts) }, nil
	case c.redisSentinel:
		opts, err := redis.ParseFailoverURL(c.redisURL)
		if err != nil {
			return nil, fmt.Errorf("NOVEL_REDIS_URL (Sentinel): %w", err)
		}
		return func() redis.UniversalClient { return redis.NewFailoverClient(opts) }, nil
	}
	opts, err := redis.ParseURL(c.redisURL)
	if err != nil {
		return nil, fmt.Errorf("NOVEL_REDIS_URL: %w", err)
	}
	return func() redis.UniversalClient { return redis.NewClient(opts) }, nil
}

// connectRedis returns a client of Redis. Redis being away is not fatal:
// the node reports it in /readyz and connects when Redis is back.
func connectRedis(ctx context.Context, newClient func() redis.UniversalClient, log *slog.Logger) redis.UniversalClient {
	rdb := newClient()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		log.Warn("redis unreachable at start", "err", err)
	}
	return rdb
}

// newAuth checks tokens with NOVEL_JWT_SECRET (random when unset) and
// the external issuer's key, if any.
func newAuth(c *serveConfig, log *slog.Logger) (*server.Auth, error) {
	secret := []byte(c.jwtSecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
		log.Info("no NOVEL_JWT_SECRET: tokens are signed with a random key and die with this process")
	} else if len(secret) < 16 {
		return nil, errors.New("NOVEL_JWT_SECRET: use at least 16 bytes")
	}
	var pubKey []byte
	if c.jwtPublicKey != "" {
		pubKey = []byte(c.jwtPublicKey)
		if !strings.Contains(c.jwtPublicKey, "-----BEGIN") {
			var err error
			if pubKey, err = os.ReadFile(c.jwtPublicKey); err != nil {
				return nil, fmt.Errorf("NOVEL_JWT_PUBLIC_KEY: %w", err)
			}
		}
	}
	return server.NewAuth(secret, pubKey, c.jwtIssuer, c.jwtAudience, time.Now)
}

// openStore opens PostgreSQL, migrated first unless told not to, or the
// memory store when no database is configured.
func openStore(ctx context.Context, c *serveConfig, log *slog.Logger) (store.Store, error) {
	if c.databaseURL == "" {
		return store.NewBoundedMemory(max(c.memoryTurns, 0)), nil
	}
	if c.migrate {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		rep, err := postgres.Migrate(mctx, c.databaseURL)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		if len(rep.Applied) > 0 {
			log.Info("database migrated", "from", rep.From, "to", rep.To)
		}
	}
	pg, err := postgres.Open(ctx, c.databaseURL, postgres.Options{
		MaxConns: int32(c.dbMaxConns), ConnectTimeout: c.dbConnTimeout, StatementTimeout: c.dbStmtTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return pg, nil
}

// limit maps a setting's 0 (unlimited) to the server's negative.
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// rateLimit maps a rate's 0 (unlimited) to the server's negative.
func rateLimit(r float64) float64 {
	if r <= 0 {
		return -1
	}
	return r
}

// durLimit maps a duration's 0 (never) to the server's negative.
func durLimit(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// loadLimit maps NOVEL_MAX_LOAD: negative is the server's default, 0
// unlimited.
func loadLimit(v float64) float64 {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return -1
	}
	return v
}

// parsePrefixes reads comma-separated CIDRs or single addresses.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range splitList(s) {
		if !strings.Contains(v, "/") {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// serveHTTP serves srv on the configured address until ctx ends, then
// drains: stop taking new requests, finish turns, close sockets with 1001.
func serveHTTP(ctx context.Context, srv *server.Server, c *serveConfig, log *slog.Logger, stdout io.Writer, attrs ...any) error {
	if c.pprofAddr != "" {
		stop, err := servePprof(c.pprofAddr, stdout, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if c.metricsAddr != "" {
		stop, err := serveMetrics(c.metricsAddr, srv.MetricsHandler(), stdout, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	hs := srv.HTTPServer(slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	u := browseURL(ln.Addr().String())
	fmt.Fprintf(stdout, "novel-engine node %s listening on %s (open %s/ in a browser)\n", c.nodeID, u, u)
	log.Info("serving", append([]any{"addr", ln.Addr().String(), "node", c.nodeID, "store", storeKind(c), "cluster", c.redisURL != "", "decider", deciderKind(c)}, attrs...)...)

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	log.Info("draining")
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownWait)
	defer cancel()
	go hs.Shutdown(sctx)
	derr := srv.Shutdown(sctx)
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		derr = errors.Join(derr, err)
	}
	if derr != nil {
		log.Warn("drain incomplete", "err", derr)
	}
	log.Info("stopped")
	return nil
}

// llmEngine configures the simulations to ask the model at NOVEL_LLM_URL,
// if one is set, for the characters' decisions.
func llmEngine(c *serveConfig, log *slog.Logger) (engine.Options, error) {
	if c.llmURL == "" {
		return engine.Options{}, nil
	}
	if c.llmTimeout <= 0 {
		return engine.Options{}, errors.New("NOVEL_LLM_TIMEOUT: must be more than 0")
	}
	if c.llmBudget < 0 {
		return engine.Options{}, errors.New("NOVEL_LLM_TOKEN_BUDGET: must be 0 (unlimited) or more")
	}
	d, err := llm.New(llm.Options{
		URL:     c.llmURL,
		Model:   c.llmModel,
		APIKey:  c.llmAPIKey,
		Timeout: c.llmTimeout,
		Budget:  c.llmBudget,
		Logger:  log.With("component", "llm"),
	})
	if err != nil {
		return engine.Options{}, fmt.Errorf("NOVEL_LLM_URL: %w", err)
	}
	log.Info("characters decided by a model", "url", d.Endpoint(), "model", c.llmModel, "timeout", c.llmTimeout.String(), "token_budget", c.llmBudget)
	// A turn waits for the slowest of its decisions: give each the
	// request's time before the built-in decider stands in.
	return engine.Options{Decider: d, DecisionTimeout: c.llmTimeout}, nil
}

func deciderKind(c *serveConfig) string {
	if c.llmURL != "" {
		return "llm"
	}
	return "builtin"
}

func storeKind(c *serveConfig) string {
	if c.databaseURL != "" {
		return "postgres"
	}
	return "memory"
}

// browseURL is the address to open for a node listening on addr: a node
// on every interface ([::] or 0.0.0.0) is reached at localhost.
func browseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
