// Package runner runs the simulations a node owns. Each is an actor: one
// goroutine owns its engine, its pending actions, its view of the seats
// and its status, and is fed through a bounded inbox (actions, controls)
// and its own timer. Store calls are made by short jobs the actor starts,
// never by the actor itself, so a slow database delays no request that
// is only waiting for the actor; their outcomes come back to the actor,
// which alone changes the story's state.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// Publisher carries what the runner produces to the watchers: each turn
// once it is stored, and changes of status.
type Publisher interface {
	PublishTurn(ctx context.Context, sim string, seq int64, body []byte) error
	PublishStatus(ctx context.Context, sim, status string, seq int64) error
	// PublishVote announces a vote (VoteMessage, encoded) to the watchers.
	PublishVote(ctx context.Context, sim string, msg []byte) error
}

// Config configures a Runner. Store and Publisher are required.
type Config struct {
	Store     store.Store
	Publisher Publisher
	Node      string
	// MinInterval is the shortest turn interval allowed. Defaults to 10ms.
	MinInterval time.Duration
	// PlayerWait bounds how long a wait_for_players turn waits for seated
	// players. Defaults to 30s.
	PlayerWait time.Duration
	// RetryInterval is the pause between attempts to store a turn while
	// the store is unavailable. Defaults to 500ms.
	RetryInterval time.Duration
	// VoteWindow is how long a vote stays open, for stories that set no
	// window of their own. Defaults to 15s.
	VoteWindow time.Duration
	// Inbox bounds the requests waiting for one story's actor; more are
	// refused as busy. Defaults to 64.
	Inbox int
	// InlineTurns has the actor store and publish a turn of the built-in
	// decider itself instead of in a job, for a Store and a Publisher that
	// never wait (the memory store, the hub's in-process broker, whose
	// fan-out never blocks). A job is a goroutine handoff there and one
	// back, and each can wake a thread: in workload A of
	// loadtest/cmd/compare those wakeups were about a tenth of the node's
	// CPU. Requests for the story wait for the actor meanwhile.
	InlineTurns bool
	Engine      engine.Options
	Logger      *slog.Logger
	Now         func() time.Time
	// OnStored, if set, is called as the store takes a turn, before it is
	// published: with OnTurn it tells the store's part of a turn's delay.
	OnStored func(sim string, seq int64, produced time.Time)
	// OnTurn, if set, is called after each stored and published turn.
	OnTurn func(sim string, seq int64, produced time.Time)
	// OnEnd, if set, is called when a simulation ends (finished or failed).
	OnEnd func(sim string)
	// OnStop, if set, is called when a simulation stops running on this
	// node for any reason (ended, stopped, drained, refused by the store),
	// after its last turn is stored. lost tells that it was stopped
	// because this node no longer holds it (Stop with lost).
	OnStop func(sim string, lost bool)
}

// Refusals, for callers to map to their own codes. Errors of the runner
// wrap one of them; their text is meant for people.
var (
	ErrNotRunning = errors.New("simulation is not running on this node")
	ErrEnded      = errors.New("simulation has ended")
	ErrInvalid    = errors.New("action is not valid")
	ErrBusy       = errors.New("simulation is busy")
	ErrDraining   = errors.New("node is shutting down")
)

// refusal is one of the errors above with a message for people.
type refusal struct {
	kind error
	msg  string
}

func (e *refusal) Error() string { return e.msg }
func (e *refusal) Unwrap() error { return e.kind }

func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, msg: fmt.Sprintf(format, args...)}
}

func notRunning(id string) error {
	return refuse(ErrNotRunning, "simulation %q is not running here", id)
}

// Runner owns the simulations this node runs.
type Runner struct {
	// set at construction
	cfg      Config
	log      *slog.Logger
	ctx      context.Context // ends when the runner is stopped hard
	cancel   context.CancelFunc
	draining chan struct{} // closed by Shutdown: finish the turn in progress and stop

	wg      sync.WaitGroup // actors and their jobs
	workers workers        // the goroutines that run the jobs

	cost atomic.Int64 // moving average of every turn's cost here, in ns

	scenarios scenarioCache

	mu      sync.Mutex
	stories map[string]*story
}

// New returns a runner. Stop it with Shutdown.
func New(cfg Config) *Runner {
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = 10 * time.Millisecond
	}
	if cfg.PlayerWait <= 0 {
		cfg.PlayerWait = 30 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 500 * time.Millisecond
	}
	if cfg.VoteWindow <= 0 {
		cfg.VoteWindow = 15 * time.Second
	}
	if cfg.Inbox <= 0 {
		cfg.Inbox = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, draining: make(chan struct{}), stories: make(map[string]*story)}
	r.workers.init()
	return r
}

func (r *Runner) isDraining() bool {
	select {
	case <-r.draining:
		return true
	default:
		return false
	}
}

// Start runs a stored simulation on this node from its stored head: the
// world state after the head turn and the actions not yet played. It is a
// no-op when the simulation already runs here.
func (r *Runner) Start(ctx context.Context, rec *store.Simulation) error {
	if r.isDraining() {
		return refuse(ErrDraining, "node is shutting down")
	}
	if r.Running(rec.ID) {
		return nil
	}
	head, state, err := r.cfg.Store.LoadState(ctx, rec.ID)
	if err != nil {
		return fmt.Errorf("load state of %q: %w", rec.ID, err)
	}
	acts, err := r.cfg.Store.PendingActions(ctx, rec.ID)
	if err != nil {
		return fmt.Errorf("pending actions of %q: %w", rec.ID, err)
	}
	at := *rec
	at.Head = head // the state's, read after the record
	st, err := r.load(store.Resume{Sim: &at, State: state, Pending: acts})
	if err != nil {
		return err
	}
	if !r.add(st) {
		if r.isDraining() {
			return refuse(ErrDraining, "node is shutting down")
		}
		return nil // started meanwhile
	}
	if err := r.cfg.Store.SetOwner(ctx, rec.ID, r.cfg.Node); err != nil {
		r.log.Warn("record owner", "sim", rec.ID, "err", err)
	}
	r.run(st)
	return nil
}

// StartAll is Start for many simulations at once, from what the store
// read of them (Store.Resumes): their owner is recorded in one write. It
// returns the error of each that did not start, by id.
func (r *Runner) StartAll(ctx context.Context, runs []store.Resume) map[string]error {
	errs := make(map[string]error)
	var started []*story
	for _, run := range runs {
		id := run.Sim.ID
		if r.isDraining() {
			errs[id] = refuse(ErrDraining, "node is shutting down")
			continue
		}
		if r.Running(id) {
			continue
		}
		st, err := r.load(run)
		if err != nil {
			errs[id] = err
			continue
		}
		if !r.add(st) {
			if r.isDraining() {
				errs[id] = refuse(ErrDraining, "node is shutting down")
			}
			continue // else started meanwhile
		}
		started = append(started, st)
	}
	if len(started) > 0 {
		ids := make([]string, len(started))
		for i, st := range started {
			ids[i] = st.id
		}
		if err := r.cfg.Store.SetOwners(ctx, ids, r.cfg.Node); err != nil {
			r.log.Warn("record owner", "simulations", len(ids), "err", err)
		}
		r.seatAll(ctx, started, ids)
	}
	for _, st := range started {
		r.run(st)
	}
	return errs
}

// seatAll reads the seats of the stories started together in one round
// trip, so that none reads its own before its first turn (a takeover
// started thousands at once, each then waiting for a connection for one
// query). They are read after the stories are added: a change after the
// read reaches a story that is already there, and it reads again. On an
// error each story reads its own, as before.
func (r *Runner) seatAll(ctx context.Context, started []*story, ids []string) {
	seats, err := r.cfg.Store.SeatsOf(ctx, ids)
	if err != nil {
		r.log.Warn("read seats", "simulations", len(ids), "err", err)
		return
	}
	now := time.Now()
	for _, st := range started {
		st.seats = seats[st.id]
		if st.seats == nil {
			st.seats = map[string]store.Seat{}
		}
		st.seatsAt, st.fresh = now, true
	}
}

// add makes st one of the stories running here, unless one with its id
// is or the node is draining.
func (r *Runner) add(st *story) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.stories[st.id]; ok || r.isDraining() {
		return false
	}
	r.stories[st.id] = st
	r.wg.Add(1)
	return true
}

// run starts the actor of st, which add took.
func (r *Runner) run(st *story) {
	go func() {
		defer r.wg.Done()
		st.run()
	}()
}

// load makes a story from what the store holds of it.
func (r *Runner) load(run store.Resume) (*story, error) {
	rec, head, state := run.Sim, run.Sim.Head, run.State
	sc, err := r.scenarios.parse(rec.Scenario)
	if err != nil {
		return nil, fmt.Errorf("scenario of %q: %w", rec.ID, err)
	}
	// The cache holds only what ParseScenario returned: valid.
	sim, err := engine.RestoreParsed(sc, rec.Seed, state, r.cfg.Engine)
	if err != nil {
		return nil, fmt.Errorf("restore %q at %d: %w", rec.ID, head, err)
	}
	if sim.Seq() != head {
		return nil, fmt.Errorf("restore %q: state is at turn %d, head is %d", rec.ID, sim.Seq(), head)
	}
	st := newStory(r, rec, sc, sim, head, state)
	if r.cfg.Engine.Decider != nil {
		// A custom decider (a model) may take seconds per turn: turns are
		// then stepped outside the actor, and actions validated against
		// a copy of the last turn's state, so players are not kept
		// waiting while the next turn is decided.
		if st.view, err = engine.RestoreSim(sc, rec.Seed, state, engine.Options{}); err != nil {
			return nil, fmt.Errorf("restore %q for validation: %w", rec.ID, err)
		}
	}
	for _, a := range run.Pending {
		st.pending[a.Character] = a
	}
	return st, nil
}

// Stop makes a simulation running here finish the turn in progress and
// stop, without changing its status: another node may take it over. lost
// tells that this node no longer holds it, so it leaves the stored owner
// alone and gives up a turn it cannot store. It returns at once.
func (r *Runner) Stop(id string, lost bool) {
	if st := r.get(id); st != nil {
		st.halt(lost)
	}
}

// Sims lists the simulations running on this node.
func (r *Runner) Sims() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.stories))
	for id := range r.stories {
		out = append(out, id)
	}
	return out
}

func (r *Runner) get(id string) *story {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stories[id]
}

func (r *Runner) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.stories, id)
}

// Running reports whether this node runs the simulation.
func (r *Runner) Running(id string) bool { return r.get(id) != nil }

// Count returns how many simulations run on this node.
func (r *Runner) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.stories)
}

// voteWindow is how long the votes of a story stay open.
func (r *Runner) voteWindow(rec *store.Simulation) time.Duration {
	if rec.VoteWindowMS > 0 {
		return time.Duration(rec.VoteWindowMS) * time.Millisecond
	}
	return r.cfg.VoteWindow
}

// MinInterval is the shortest turn interval a story may ask for.
func (r *Runner) MinInterval() time.Duration { return r.cfg.MinInterval }

// Accepted is a queued action's answer: the turn it will be played in,
// and whether it replaced an action the same character had queued for
// that turn (the last one sent is the one played).
type Accepted struct {
	Turn     int64
	Replaced bool
}

// Act validates an action for a character and queues it with the story
// that runs here. The caller checks that the user holds the character's
// seat.
func (r *Runner) Act(ctx context.Context, id, character, userID string, a engine.Action) (Accepted, error) {
	type answer struct {
		acc Accepted
		err error
	}
	ch := make(chan answer, 1)
	deadline, _ := ctx.Deadline()
	r.ActAsync(id, character, userID, a, deadline, func(acc Accepted, err error) { ch <- answer{acc, err} })
	select {
	case v := <-ch:
		return v.acc, v.err
	case <-ctx.Done():
		return Accepted{}, ctx.Err()
	}
}

// ActAsync is Act for callers that cannot wait (requests from other
// nodes): done is called once with the outcome, from the story's actor or
// at once, and must not block. A zero deadline means none.
func (r *Runner) ActAsync(id, character, userID string, a engine.Action, deadline time.Time, done func(Accepted, error)) {
	st := r.get(id)
	if st == nil {
		done(Accepted{}, notRunning(id))
		return
	}
	pa := store.PendingAction{ID: newID(), Character: character, UserID: userID, Action: a}
	if err := st.send(&actReq{action: pa, deadline: deadline, done: done}); err != nil {
		done(Accepted{}, err)
	}
}

// Control pauses, resumes or stops a simulation running here and returns
// its stored record.
func (r *Runner) Control(ctx context.Context, id, op string) (*store.Simulation, error) {
	type answer struct {
		rec *store.Simulation
		err error
	}
	ch := make(chan answer, 1)
	deadline, _ := ctx.Deadline()
	r.ControlAsync(id, op, deadline, func(rec *store.Simulation, err error) { ch <- answer{rec, err} })
	var v answer
	select {
	case v = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if v.err != nil || v.rec != nil {
		return v.rec, v.err
	}
	return r.cfg.Store.GetSimulation(ctx, id) // nothing changed
}

// ControlAsync is Control for callers that cannot wait: done is called
// once, with the new record, or nil when the status did not change.
func (r *Runner) ControlAsync(id, op string, deadline time.Time, done func(*store.Simulation, error)) {
	st := r.get(id)
	if st == nil {
		done(nil, notRunning(id))
		return
	}
	if err := st.send(&controlReq{op: op, deadline: deadline, done: done}); err != nil {
		done(nil, err)
	}
}

// SeatsChanged tells a story running here that its seats changed: it
// reads them again before its next turn, so a newly seated character
// holds and a freed one is played by the AI again. The notice is never
// lost to a busy inbox. It reports whether the story runs here.
func (r *Runner) SeatsChanged(id string) bool {
	st := r.get(id)
	if st == nil {
		return false
	}
	st.seatsDirty.Store(true)
	select {
	case st.poke <- struct{}{}:
	default: // a poke is waiting already
	}
	return true
}

// Shutdown lets every simulation finish the turn in progress and stops
// them, waiting until ctx ends at most; then it stops them hard.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.isDraining() {
		close(r.draining)
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		r.cancel()
		return nil
	case <-ctx.Done():
		r.cancel()
		<-done
		return ctx.Err()
	}
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
