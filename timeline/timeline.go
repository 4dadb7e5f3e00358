// Package timeline rebuilds a story's world as it stood after any of its
// turns, by replaying the story from its seed with the inputs its turns
// recorded, and checking each turn's state hash on the way. Scrubbing
// through a story and forking it both stand on it.
package timeline

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// Refusals, for callers to map to their own codes.
var (
	// ErrNoTurn: the story has no such turn (yet).
	ErrNoTurn = errors.New("no such turn")
	// ErrMismatch: replaying the story does not give the world it
	// recorded (a turn's state hash differs), so no world is offered
	// rather than a different one.
	ErrMismatch = errors.New("replay does not match the recorded story")
)

// Turns is what a replay reads of the store.
type Turns interface {
	ListTurns(ctx context.Context, simID string, since int64, limit int) ([]store.Turn, error)
}

// Config configures a Replayer.
type Config struct {
	// Every is how many turns apart the replayer keeps the states it
	// passed, to start later replays of the story from. Defaults to 25.
	Every int64
	// CacheBytes bounds the states and worlds kept. Defaults to 64 MiB.
	CacheBytes int
	// Concurrent bounds the replays run at once, so that scrubbing
	// through long stories cannot take every core; the rest wait (for as
	// long as their context allows). Defaults to 2.
	Concurrent int
}

// Replayer rebuilds worlds. It keeps what it rebuilt (turns never change
// once stored), so scrubbing back and forth replays little. Safe for
// concurrent use.
type Replayer struct {
	turns Turns
	every int64
	group singleflight.Group
	slots chan struct{} // one per replay running

	mu    sync.Mutex
	cache *lru
}

// New returns a Replayer reading turns from t.
func New(t Turns, cfg Config) *Replayer {
	if cfg.Every <= 0 {
		cfg.Every = 25
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = 64 << 20
	}
	if cfg.Concurrent <= 0 {
		cfg.Concurrent = 2
	}
	return &Replayer{turns: t, every: cfg.Every, cache: newLRU(cfg.CacheBytes), slots: make(chan struct{}, cfg.Concurrent)}
}

// Point is the world after one turn of a story.
type Point struct {
	Seq       int64
	State     []byte // the engine's state, as RestoreSim takes it
	StateHash string // as turn Seq recorded it ("" at 0)
	World     engine.WorldView
}

// recorded is what a replay reads of a stored turn.
type recorded struct {
	Seq       int64                    `json:"seq"`
	StateHash string                   `json:"state_hash"`
	Inputs    map[string]engine.Action `json:"inputs"`
}

const pageSize = 500

// At rebuilds the world of rec after turn at (0: before the first).
// rec's turns up to at must be stored; rec's seeds (store.Simulation.SeedAt)
// say which seed each turn was played with.
func (r *Replayer) At(ctx context.Context, rec *store.Simulation, at int64) (*Point, error) {
	if at < 0 {
		return nil, fmt.Errorf("turn %d: %w", at, ErrNoTurn)
	}
	if p := r.cached(pointKey(rec.ID, at)); p != nil {
		return p, nil
	}
	v, err, _ := r.group.Do(pointKey(rec.ID, at), func() (any, error) { return r.replay(ctx, rec, at) })
	if err != nil {
		return nil, err
	}
	return v.(*Point), nil
}

func pointKey(sim string, seq int64) string { return sim + "@" + strconv.FormatInt(seq, 10) }

func (r *Replayer) cached(key string) *Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.cache.get(key); ok {
		return v.(*Point)
	}
	return nil
}

func (r *Replayer) keep(sim string, p *Point) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache.put(pointKey(sim, p.Seq), p, len(p.State)+1024)
}

// start finds the latest point kept at or before at to replay from.
func (r *Replayer) start(sim string, at int64) *Point {
	for seq := at - at%r.every; seq > 0; seq -= r.every {
		if p := r.cached(pointKey(sim, seq)); p != nil {
			return p
		}
	}
	return nil
}

func (r *Replayer) replay(ctx context.Context, rec *store.Simulation, at int64) (*Point, error) {
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("replay %q: %w", rec.ID, ctx.Err())
	}
	sc, err := engine.ParseScenario(rec.Scenario)
	if err != nil {
		return nil, fmt.Errorf("scenario of %q: %w", rec.ID, err)
	}
	var (
		sim  *engine.Sim
		seed int64
		from = r.start(rec.ID, at)
	)
	if from == nil {
		seed = rec.SeedAt(1)
		if sim, err = engine.NewSim(sc, seed, engine.Options{}); err != nil {
			return nil, fmt.Errorf("replay %q: %w", rec.ID, err)
		}
	} else {
		seed = rec.SeedAt(from.Seq + 1)
		if sim, err = engine.RestoreSim(sc, seed, from.State, engine.Options{}); err != nil {
			return nil, fmt.Errorf("replay %q from turn %d: %w", rec.ID, from.Seq, err)
		}
	}
	hash := ""
	if from != nil {
		hash = from.StateHash
	}
	for sim.Seq() < at {
		page, err := r.turns.ListTurns(ctx, rec.ID, sim.Seq(), int(min(pageSize, at-sim.Seq())))
		if err != nil {
			return nil, fmt.Errorf("replay %q: %w", rec.ID, err)
		}
		if len(page) == 0 {
			return nil, fmt.Errorf("%q has no turn %d: %w", rec.ID, sim.Seq()+1, ErrNoTurn)
		}
		for _, t := range page {
			var want recorded
			if err := json.Unmarshal(t.Body, &want); err != nil {
				return nil, fmt.Errorf("replay %q: decode turn %d: %w", rec.ID, t.Seq, err)
			}
			if s := rec.SeedAt(t.Seq); s != seed {
				// A fork's inherited turns were played with its
				// ancestors' seeds: go on from the same world with the
				// next one, as the fork itself did.
				if sim, err = reseed(sc, sim, s); err != nil {
					return nil, fmt.Errorf("replay %q at turn %d: %w", rec.ID, t.Seq, err)
				}
				seed = s
			}
			got, err := sim.Step(ctx, want.Inputs)
			if err != nil {
				return nil, fmt.Errorf("replay %q: turn %d: %w", rec.ID, t.Seq, err)
			}
			if got.Seq != t.Seq || want.Seq != t.Seq || got.StateHash != want.StateHash {
				return nil, fmt.Errorf("%w: turn %d of %q replays to state %.12s, the story recorded %.12s",
					ErrMismatch, t.Seq, rec.ID, got.StateHash, want.StateHash)
			}
			hash = got.StateHash
			if t.Seq%r.every == 0 && t.Seq != at {
				if err := r.checkpoint(rec.ID, sim, hash); err != nil {
					return nil, err
				}
			}
		}
	}
	state, err := sim.State()
	if err != nil {
		return nil, fmt.Errorf("replay %q: %w", rec.ID, err)
	}
	p := &Point{Seq: at, State: state, StateHash: hash, World: sim.World()}
	r.keep(rec.ID, p)
	return p, nil
}

func (r *Replayer) checkpoint(sim string, s *engine.Sim, hash string) error {
	state, err := s.State()
	if err != nil {
		return fmt.Errorf("replay %q: %w", sim, err)
	}
	r.keep(sim, &Point{Seq: s.Seq(), State: state, StateHash: hash, World: s.World()})
	return nil
}

func reseed(sc *engine.Scenario, sim *engine.Sim, seed int64) (*engine.Sim, error) {
	state, err := sim.State()
	if err != nil {
		return nil, err
	}
	return engine.RestoreSim(sc, seed, state, engine.Options{})
}

// lru is a cache bounded by the bytes its entries say they hold.
type lru struct {
	max, size int
	order     *list.List // front: most recently used
	items     map[string]*list.Element
}

type entry struct {
	key  string
	val  any
	size int
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), items: make(map[string]*list.Element)}
}

func (c *lru) get(key string) (any, bool) {
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*entry).val, true
}

func (c *lru) put(key string, val any, size int) {
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(&entry{key: key, val: val, size: size})
	c.size += size
	for c.size > c.max && c.order.Len() > 1 {
		old := c.order.Back()
		en := old.Value.(*entry)
		c.order.Remove(old)
		delete(c.items, en.key)
		c.size -= en.size
	}
}
