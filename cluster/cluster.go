// Package cluster is every Redis interaction of a node that is one of
// several: the broker that carries publications and keeps their history,
// the heartbeat and placement of simulations, the leases that make one
// node the owner of each, the stream that carries actions and controls to
// that owner, and the watchers counted over all nodes. Every key and
// channel is named in keys.go, under one prefix.
package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novel-engine/novel-engine/store"
)

// Config makes a node one of several that share Redis and the store:
// each simulation runs on the one node holding its lease, and actions
// and controls reach that node through Redis. The zero value of every
// field but Redis and Node works.
type Config struct {
	Redis redis.UniversalClient
	// LeaseRedis, if set, is a second client of the same Redis with a
	// pool of its own, used only for the leases (renewal, acquisition,
	// the takeover scan) and the heartbeat: the node's other traffic (a
	// crowd of watchers resuming at once) then cannot queue a renewal
	// behind it for longer than a lease lives. nil: Redis.
	LeaseRedis redis.UniversalClient
	// Prefix starts every key and channel. Defaults to "novel:".
	Prefix string
	// Node names this node in leases and among the live nodes.
	Node string
	// LeaseTTL is how long a lease outlives its holder's last renewal:
	// the longest a dead node's simulations wait for a new owner.
	// Defaults to 3s.
	LeaseTTL time.Duration
	// RenewInterval is how often leases are renewed, well inside the TTL.
	// Defaults to LeaseTTL/3.
	RenewInterval time.Duration
	// ScanInterval is how often the node looks for simulations nobody
	// runs. Defaults to 500ms.
	ScanInterval time.Duration
	// HeartbeatInterval is how often the node says it is alive; a node
	// silent for four intervals is out of the placement. Defaults to 500ms.
	HeartbeatInterval time.Duration
	// ActionsSweep is how often the node reads the actions streams of
	// every simulation it runs, in case the wake for a request was lost.
	// Defaults to 5s.
	ActionsSweep time.Duration
	// RemoteTimeout bounds the wait for the owner's answer to an action or
	// a control sent from another node. Defaults to 8s (longer than a
	// takeover).
	RemoteTimeout time.Duration
	Broker        BrokerOptions
	Logger        *slog.Logger
}

// Runner is what the cluster needs of the node's runner.
type Runner interface {
	// StartAll starts each of runs from what the store read of it, and
	// returns the error of each that did not start, by id.
	StartAll(ctx context.Context, runs []store.Resume) map[string]error
	// Stop stops a simulation here; lost: another node may hold it now.
	Stop(sim string, lost bool)
	Running(sim string) bool
	Count() int
}

// Store is what the cluster reads of the store.
type Store interface {
	GetSimulation(ctx context.Context, id string) (*store.Simulation, error)
	// Resumes reads what running each of ids needs, in one round trip.
	Resumes(ctx context.Context, ids []string) (map[string]store.Resume, error)
	ListSimulations(ctx context.Context, opts store.ListOptions) ([]*store.Simulation, string, error)
}

// Handler applies requests from other nodes to the simulations that run
// here.
type Handler interface {
	// Handle applies req to sim and calls done once with the answer, or
	// with here false when sim does not run here (the request is left for
	// its next owner). done does not block; Handle must not either.
	Handle(sim string, req Request, deadline time.Time, done func(rep Reply, here bool))
}

// Deps are the parts of the node the cluster works with.
type Deps struct {
	Runner  Runner
	Store   Store
	Handler Handler
	// Presence is told of a simulation whose watchers or seats changed
	// on another node.
	Presence func(sim string)
	// Capacity tells what this node has room for now, advertised to the
	// others in the heartbeat. nil: a node without bounds.
	Capacity func() Capacity
}

// ErrUnavailable is the cluster's refusal of a request it could not
// carry (Redis away) or that no node answered in time. Errors of the
// cluster are it, with a message for people.
var ErrUnavailable = errors.New("cluster unavailable")

type unavailable string

func (e unavailable) Error() string        { return string(e) }
func (e unavailable) Is(target error) bool { return target == ErrUnavailable }

// Cluster is the node's part in the cluster: its broker, its heartbeat,
// the leases it holds, the loop that takes over simulations nobody runs,
// and the requests it routes to and from other nodes.
type Cluster struct {
	// set at construction
	cfg    Config
	rdb    redis.UniversalClient
	lrdb   redis.UniversalClient // leases and heartbeat (Config.LeaseRedis)
	keys   keys
	node   string
	log    *slog.Logger
	broker *Broker
	scan   chan struct{}   // capacity 1: look for simulations to take now
	ctx    context.Context // ends when the node leaves the cluster
	cancel context.CancelFunc

	// set by Start
	deps Deps

	wg      sync.WaitGroup
	answers chan answer // answers to other nodes' requests, for the answer loop

	acquired, lost, remoteActs, remoteControls atomic.Int64

	maxOrphans int // the most orphans one scan lists (maxOrphans; tests lower it)

	mu        sync.Mutex
	live      []string             // nodes alive at the last heartbeat, sorted
	loads     map[string]int       // simulations each node ran at its last heartbeat
	caps      map[string]Capacity  // what each node had room for at its last heartbeat
	leases    map[string]time.Time // simulations leased here → last renewal
	unowned   map[string]time.Time // simulations seen without a lease → since
	waiters   map[string]chan Reply
	counted   map[string]int // simulation → this node's watchers as last written to Redis
	leaving   bool
	readerSet chan struct{}   // capacity 1: the leases changed (actions reader)
	woken     map[string]bool // simulations whose actions stream has news
	wake      chan struct{}   // capacity 1: woken has news
}

// New returns the node's cluster, with its broker ready for the hub. Call
// Start to join the others, and Stop when done.
func New(cfg Config) *Cluster {
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 3 * time.Second
	}
	if cfg.RenewInterval <= 0 {
		cfg.RenewInterval = cfg.LeaseTTL / 3
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = 500 * time.Millisecond
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 500 * time.Millisecond
	}
	if cfg.ActionsSweep <= 0 {
		cfg.ActionsSweep = 5 * time.Second
	}
	if cfg.RemoteTimeout <= 0 {
		cfg.RemoteTimeout = 8 * time.Second
	}
	if cfg.LeaseRedis == nil {
		cfg.LeaseRedis = cfg.Redis
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Broker.Logger == nil {
		cfg.Broker.Logger = cfg.Logger
	}
	c := &Cluster{
		cfg: cfg, rdb: cfg.Redis, lrdb: cfg.LeaseRedis, keys: newKeys(cfg.Prefix), node: cfg.Node, log: cfg.Logger.With("node", cfg.Node),
		broker:     NewBroker(cfg.Redis, cfg.Prefix, cfg.Broker),
		scan:       make(chan struct{}, 1),
		answers:    make(chan answer, 1024),
		leases:     make(map[string]time.Time),
		unowned:    make(map[string]time.Time),
		waiters:    make(map[string]chan Reply),
		counted:    make(map[string]int),
		readerSet:  make(chan struct{}, 1),
		woken:      make(map[string]bool),
		wake:       make(chan struct{}, 1),
		maxOrphans: maxOrphans,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Broker is the cluster's broker, for the hub.
func (c *Cluster) Broker() *Broker { return c.broker }

// Start joins the cluster and runs the node's loops: heartbeat, lease
// renewal, takeover scan, notices and replies, the actions reader and
// the answers to other nodes.
func (c *Cluster) Start(d Deps) {
	c.deps = d
	c.heartbeat(c.ctx)
	loops := []func(context.Context){c.heartbeatLoop, c.renewLoop, c.scanLoop, c.listenLoop, c.actionsLoop, c.answerLoop}
	for _, loop := range loops {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			loop(c.ctx)
		}()
	}
	c.wakeScan()
}

// Leave takes the node out of placement (no heartbeat, no takeovers)
// before its simulations are drained, so others do not wait for it.
func (c *Cluster) Leave(ctx context.Context) {
	c.mu.Lock()
	c.leaving = true
	c.mu.Unlock()
	c.rdb.HDel(ctx, c.keys.loads(), c.node)
	c.rdb.HDel(ctx, c.keys.capacity(), c.node)
	if err := c.rdb.ZRem(ctx, c.keys.nodes(), c.node).Err(); err != nil {
		c.log.Warn("leave the cluster", "err", err)
	}
}

// Stop ends the loops, after the runner has stopped every simulation,
// and closes the broker.
func (c *Cluster) Stop() {
	c.cancel()
	c.wg.Wait()
	if err := c.broker.Close(); err != nil {
		c.log.Debug("close broker", "err", err)
	}
}

func (c *Cluster) isLeaving() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaving
}

func (c *Cluster) wakeScan() { signal(c.scan) }

// Acquired counts the simulations this node took a lease on and started.
func (c *Cluster) Acquired() int64 { return c.acquired.Load() }

// LeasesLost counts the simulations stopped here because their lease was
// lost or could not be renewed.
func (c *Cluster) LeasesLost() int64 { return c.lost.Load() }

// RemoteRequests counts the actions and the other requests (controls,
// seat notices, ballots) this node sent to the node running their
// simulation.
func (c *Cluster) RemoteRequests() (acts, controls int64) {
	return c.remoteActs.Load(), c.remoteControls.Load()
}

// notify publishes a notice to every node ("released <sim>": take it
// over now; "scan <sim>": a simulation needs an owner; "presence <sim>":
// its watchers changed).
func (c *Cluster) notify(ctx context.Context, kind, sim string) {
	if err := c.rdb.Publish(ctx, c.keys.notices(), kind+" "+sim).Err(); err != nil {
		c.log.Debug("notify", "kind", kind, "err", err)
	}
}

// listenLoop receives notices from other nodes and the answers to this
// node's requests.
func (c *Cluster) listenLoop(ctx context.Context) {
	ps := c.rdb.Subscribe(ctx, c.keys.notices(), c.keys.replies(c.node))
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelHealthCheckInterval(5*time.Second), redis.WithChannelSize(1024))
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if m.Channel != c.keys.notices() {
				c.deliverReply(m.Payload)
				continue
			}
			kind, sim, _ := strings.Cut(m.Payload, " ")
			switch kind {
			case "released", "scan":
				c.wakeScan()
			case "presence":
				if c.deps.Presence != nil {
					c.deps.Presence(sim)
				}
			}
		}
	}
}

// every calls fn once per interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
