package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/hub"
	"github.com/novel-engine/novel-engine/store"
)

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Store   store.Store
	Publish func(context.Context, hub.Publication) error
	Node    string
	// MinInterval is the shortest turn interval allowed. Defaults to 10ms.
	MinInterval time.Duration
	// PlayerWait bounds how long a wait_for_players turn waits for seated
	// players. Defaults to 30s.
	PlayerWait time.Duration
	// RetryInterval is the pause between attempts to store a turn while
	// the store is unavailable. Defaults to 500ms.
	RetryInterval time.Duration
	Engine        engine.Options
	Logger        *slog.Logger
	Now           func() time.Time
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

// Runner owns the simulations this node runs: one goroutine each, pacing
// turns, applying queued actions, storing each turn, then publishing it.
type Runner struct {
	// set at construction
	cfg      RunnerConfig
	log      *slog.Logger
	ctx      context.Context // ends when the runner is stopped hard
	cancel   context.CancelFunc
	draining chan struct{} // closed by Shutdown: finish the turn in progress and stop

	wg sync.WaitGroup

	mu   sync.Mutex
	runs map[string]*run
}

// run is one simulation running on this node.
type run struct {
	// set at start
	id          string
	interval    time.Duration
	maxTurns    int64
	waitPlayers bool
	wake        chan struct{} // capacity 1: control change or action arrival
	done        chan struct{} // closed when the loop has returned
	stop        chan struct{} // closed by Runner.Stop: finish the turn in progress and stop
	stopOnce    sync.Once
	lost        atomic.Bool // stopped because another node may own it now

	sc   *engine.Scenario
	seed int64

	// simMu guards the engine and the fields below it: the loop holds it
	// while it takes the pending actions and steps, so an action is
	// validated against the state it will be played on. With a custom
	// decider the loop steps without it, and actions are validated
	// against view, the state after the last played turn, instead.
	simMu   sync.Mutex
	sim     *engine.Sim
	view    *engine.Sim
	status  string
	next    int64 // the seq of the turn new actions are accepted for
	pending map[string]store.PendingAction
	creator string
}

// NewRunner returns a runner. Stop it with Shutdown.
func NewRunner(cfg RunnerConfig) *Runner {
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = 10 * time.Millisecond
	}
	if cfg.PlayerWait <= 0 {
		cfg.PlayerWait = 30 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, draining: make(chan struct{}), runs: make(map[string]*run)}
}

// errNotRunningHere is returned for simulations this node does not run.
var errNotRunningHere = errors.New("simulation is not running on this node")

// Start runs a stored simulation on this node from its stored head: the
// world state after the head turn and the actions not yet played. It is a
// no-op when the simulation already runs here.
func (r *Runner) Start(ctx context.Context, rec *store.Simulation) error {
	select {
	case <-r.draining:
		return Errorf(CodeUnavailable, "node is shutting down")
	default:
	}
	r.mu.Lock()
	if _, ok := r.runs[rec.ID]; ok {
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()

	sc, err := engine.ParseScenario(rec.Scenario)
	if err != nil {
		return fmt.Errorf("scenario of %q: %w", rec.ID, err)
	}
	head, state, err := r.cfg.Store.LoadState(ctx, rec.ID)
	if err != nil {
		return fmt.Errorf("load state of %q: %w", rec.ID, err)
	}
	sim, err := engine.RestoreSim(sc, rec.Seed, state, r.cfg.Engine)
	if err != nil {
		return fmt.Errorf("restore %q at %d: %w", rec.ID, head, err)
	}
	if sim.Seq() != head {
		return fmt.Errorf("restore %q: state is at turn %d, head is %d", rec.ID, sim.Seq(), head)
	}
	acts, err := r.cfg.Store.PendingActions(ctx, rec.ID)
	if err != nil {
		return fmt.Errorf("pending actions of %q: %w", rec.ID, err)
	}
	var view *engine.Sim
	if r.cfg.Engine.Decider != nil {
		// A custom decider (a model) may take seconds per turn: actions
		// are then validated against a copy of the last turn's state, so
		// players are not kept waiting while the next turn is decided.
		if view, err = engine.RestoreSim(sc, rec.Seed, state, engine.Options{}); err != nil {
			return fmt.Errorf("restore %q for validation: %w", rec.ID, err)
		}
	}
	ru := &run{
		sc:          sc,
		seed:        rec.Seed,
		view:        view,
		id:          rec.ID,
		interval:    max(time.Duration(rec.TurnIntervalMS)*time.Millisecond, r.cfg.MinInterval),
		maxTurns:    int64(rec.MaxTurns),
		waitPlayers: rec.WaitForPlayers,
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		stop:        make(chan struct{}),
		sim:         sim,
		status:      rec.Status,
		next:        head + 1,
		pending:     make(map[string]store.PendingAction, len(acts)),
		creator:     rec.CreatedBy,
	}
	for _, a := range acts {
		ru.pending[a.Character] = a
	}
	r.mu.Lock()
	if _, ok := r.runs[rec.ID]; ok {
		r.mu.Unlock()
		return nil
	}
	select {
	case <-r.draining:
		r.mu.Unlock()
		return Errorf(CodeUnavailable, "node is shutting down")
	default:
	}
	r.runs[rec.ID] = ru
	r.wg.Add(1)
	r.mu.Unlock()
	if err := r.cfg.Store.SetOwner(ctx, rec.ID, r.cfg.Node); err != nil {
		r.log.Warn("record owner", "sim", rec.ID, "err", err)
	}
	go func() {
		defer r.wg.Done()
		defer close(ru.done)
		r.loop(ru)
		if !ru.lost.Load() {
			r.clearOwner(ru.id)
		}
		r.mu.Lock()
		delete(r.runs, ru.id)
		r.mu.Unlock()
		if r.cfg.OnStop != nil {
			r.cfg.OnStop(ru.id, ru.lost.Load())
		}
	}()
	return nil
}

// clearOwner records that no node runs the simulation, unless the record
// names another node already.
func (r *Runner) clearOwner(id string) {
	ctx := context.WithoutCancel(r.ctx)
	if rec, err := r.cfg.Store.GetSimulation(ctx, id); err == nil && rec.Owner != r.cfg.Node {
		return
	}
	if err := r.cfg.Store.SetOwner(ctx, id, ""); err != nil {
		r.log.Warn("clear owner", "sim", id, "err", err)
	}
}

// Stop makes a simulation running here finish the turn in progress and
// stop, without changing its status: another node may take it over. lost
// tells that this node no longer holds it, so it leaves the stored owner
// alone. It returns at once; the loop ends after its current turn.
func (r *Runner) Stop(id string, lost bool) {
	ru := r.get(id)
	if ru == nil {
		return
	}
	if lost {
		ru.lost.Store(true)
	}
	ru.stopOnce.Do(func() { close(ru.stop) })
}

// Sims lists the simulations running on this node.
func (r *Runner) Sims() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.runs))
	for id := range r.runs {
		out = append(out, id)
	}
	return out
}

func (r *Runner) get(id string) *run {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[id]
}

// Running reports whether this node runs the simulation.
func (r *Runner) Running(id string) bool { return r.get(id) != nil }

// Count returns how many simulations run on this node.
func (r *Runner) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

// Control pauses, resumes or stops a simulation running here and returns
// its stored record.
func (r *Runner) Control(ctx context.Context, id, op string) (*store.Simulation, error) {
	ru := r.get(id)
	if ru == nil {
		return nil, errNotRunningHere
	}
	ru.simMu.Lock()
	from := ru.status
	to := from
	switch op {
	case "pause":
		if from == store.StatusRunning || from == store.StatusCreated {
			to = store.StatusPaused
		}
	case "resume":
		if from == store.StatusPaused || from == store.StatusCreated {
			to = store.StatusRunning
		}
	case "stop":
		to = store.StatusFinished
	}
	var (
		rec *store.Simulation
		err error
	)
	if to != from {
		rec, err = r.cfg.Store.SetStatus(ctx, id, to)
		if err == nil {
			ru.status = to
		}
	}
	head := ru.next - 1
	ru.simMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("set status of %q: %w", id, err)
	}
	if to != from {
		r.publishStatus(ctx, id, to, head)
		signal(ru.wake)
		if to == store.StatusFinished {
			r.end(ctx, id)
		}
	}
	if rec == nil {
		return r.cfg.Store.GetSimulation(ctx, id)
	}
	return rec, nil
}

// Act validates an action for a seated character and queues it for the
// next turn, whose seq it returns.
func (r *Runner) Act(ctx context.Context, id, character, userID string, a engine.Action) (int64, error) {
	ru := r.get(id)
	if ru == nil {
		return 0, errNotRunningHere
	}
	ru.simMu.Lock()
	defer ru.simMu.Unlock()
	if ru.status == store.StatusFinished || ru.status == store.StatusFailed {
		return 0, Errorf(CodeConflict, "simulation %q has ended", id)
	}
	validator := ru.sim
	if ru.view != nil {
		validator = ru.view
	}
	if err := validator.ValidateAction(character, a); err != nil {
		return 0, Errorf(CodeBadRequest, "%s", err.Error())
	}
	pa := store.PendingAction{ID: randomID(8), Character: character, UserID: userID, Action: a, Turn: ru.next, At: r.cfg.Now().UTC()}
	turn, err := r.cfg.Store.PutAction(ctx, id, pa)
	if err != nil {
		return 0, fmt.Errorf("queue action: %w", err)
	}
	pa.Turn = turn
	ru.pending[character] = pa
	if fn, ok := ctx.Value(acceptedKey{}).(func(int64)); ok {
		fn(ru.next) // before the turn can be played: simMu is held
	}
	signal(ru.wake)
	return ru.next, nil
}

type acceptedKey struct{}

// withAccepted returns a context under which Act calls fn with the turn
// an action was accepted for before that turn can be played, so that a
// reply queued by fn reaches the client ahead of the turn itself.
func withAccepted(ctx context.Context, fn func(turn int64)) context.Context {
	return context.WithValue(ctx, acceptedKey{}, fn)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (r *Runner) publishStatus(ctx context.Context, id, status string, seq int64) {
	msg := mustJSON(statusMsg{Type: "status", Sim: id, Status: status, Seq: seq})
	if err := r.cfg.Publish(ctx, hub.Publication{Sim: id, Data: msg}); err != nil {
		r.log.Warn("publish status", "sim", id, "err", err)
	}
}

// end frees what a simulation held once it has ended.
func (r *Runner) end(ctx context.Context, id string) {
	if err := r.cfg.Store.ReleaseAllSeats(ctx, id); err != nil {
		r.log.Warn("release seats", "sim", id, "err", err)
	}
	if r.cfg.OnEnd != nil {
		r.cfg.OnEnd(id)
	}
}

// loop paces one simulation until it ends, the runner drains, or the
// store says another node owns it.
func (r *Runner) loop(ru *run) {
	log := r.log.With("sim", ru.id)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var (
		waitSince time.Time // when this turn started waiting for players
		lastStart time.Time
	)
	for {
		ru.simMu.Lock()
		status := ru.status
		ru.simMu.Unlock()
		if status == store.StatusFinished || status == store.StatusFailed {
			return
		}
		select {
		case <-ru.stop:
			return
		default:
		}
		if status != store.StatusRunning {
			if r.wait(ru, timer, -1) == waitStopped {
				return
			}
			continue
		}
		// Pace: one turn per interval, counted from the previous turn's start.
		if d := time.Until(lastStart.Add(ru.interval)); d > 0 {
			switch r.wait(ru, timer, d) {
			case waitStopped:
				return
			case waitWoken:
				continue
			}
		}
		if ru.waitPlayers {
			missing, err := r.missingPlayers(ru)
			if err != nil {
				log.Warn("read seats", "err", err)
			}
			if missing > 0 {
				if waitSince.IsZero() {
					waitSince = time.Now()
				}
				if rest := time.Until(waitSince.Add(r.cfg.PlayerWait)); rest > 0 {
					switch r.wait(ru, timer, rest) {
					case waitStopped:
						return
					case waitWoken:
						continue
					}
				}
			}
		}
		waitSince = time.Time{}
		lastStart = time.Now()
		if !r.playTurn(ru, log) {
			return
		}
	}
}

type waitEnd int

const (
	waitElapsed waitEnd = iota
	waitWoken           // a control change or an action arrived
	waitStopped         // the runner drains or the simulation must stop
)

// wait blocks until d has passed (never, when d < 0), the run is woken,
// or it must stop.
func (r *Runner) wait(ru *run, timer *time.Timer, d time.Duration) waitEnd {
	var elapsed <-chan time.Time
	if d >= 0 {
		timer.Reset(d)
		elapsed = timer.C
	}
	select {
	case <-elapsed:
		return waitElapsed
	case <-ru.wake:
		return waitWoken
	case <-r.draining:
		return waitStopped
	case <-ru.stop:
		return waitStopped
	}
}

// missingPlayers counts seated characters with no action for the next turn.
func (r *Runner) missingPlayers(ru *run) (int, error) {
	seats, err := r.cfg.Store.Seats(r.ctx, ru.id)
	if err != nil {
		return 0, err
	}
	ru.simMu.Lock()
	defer ru.simMu.Unlock()
	n := 0
	for char := range seats {
		if _, ok := ru.pending[char]; !ok {
			n++
		}
	}
	return n, nil
}

// playTurn steps, stores and publishes one turn. It reports whether the
// loop should go on.
func (r *Runner) playTurn(ru *run, log *slog.Logger) bool {
	ctx := r.ctx
	ru.simMu.Lock()
	seq := ru.next
	actions := make(map[string]engine.Action, len(ru.pending))
	var played []string
	for c, a := range ru.pending {
		if a.Turn <= seq {
			actions[c] = a.Action
			played = append(played, a.ID)
			delete(ru.pending, c)
		}
	}
	ru.next++
	slow := ru.view != nil
	if slow {
		ru.simMu.Unlock() // only this goroutine touches ru.sim; Act uses the view
	}
	turn, err := ru.sim.Step(ctx, actions)
	var state []byte
	if err == nil {
		state, err = ru.sim.State()
	}
	if slow {
		if err == nil {
			var view *engine.Sim
			if view, err = engine.RestoreSim(ru.sc, ru.seed, state, engine.Options{}); err == nil {
				ru.simMu.Lock()
				ru.view = view
				ru.simMu.Unlock()
			}
		}
	} else {
		ru.simMu.Unlock()
	}
	if err != nil {
		log.Error("step failed", "seq", seq, "err", err)
		r.fail(ru, seq-1)
		return false
	}
	if ru.maxTurns > 0 && turn.Seq >= ru.maxTurns {
		turn.Finished = true
	}
	at := r.cfg.Now().UTC()
	body, err := json.Marshal(wireTurn{Sim: ru.id, At: at, Turn: turn})
	if err != nil {
		log.Error("encode turn", "seq", seq, "err", err)
		r.fail(ru, seq-1)
		return false
	}
	status := ""
	if turn.Finished {
		status = store.StatusFinished
	}
	// Store first; a turn that is not stored is never published. While the
	// store is away, keep trying the same turn: the simulation waits.
	for {
		err = r.cfg.Store.AppendTurn(ctx, ru.id, store.Turn{Seq: turn.Seq, At: at, Body: body}, state, status, played)
		if err == nil {
			break
		}
		if errors.Is(err, store.ErrActionsPending) {
			log.Warn("turn refused by the store: an action accepted elsewhere is due; stopping", "seq", turn.Seq)
			return false
		}
		if errors.Is(err, store.ErrConflict) {
			// An earlier attempt that reported failure may have been
			// stored after all; then this turn is ours and is done.
			if r.storedAlready(ctx, ru.id, turn.Seq, body) {
				break
			}
			log.Warn("turn refused by the store: another node owns the simulation", "seq", turn.Seq, "err", err)
			return false
		}
		log.Warn("store turn failed; retrying", "seq", turn.Seq, "err", err)
		select {
		case <-time.After(r.cfg.RetryInterval):
		case <-ctx.Done():
			return false
		case <-ru.stop:
			// Another node may own it now; it resumes from the stored head.
			return false
		}
	}
	if err := r.cfg.Publish(ctx, turnPublication(ru.id, turn.Seq, body)); err != nil {
		log.Warn("publish turn", "seq", turn.Seq, "err", err)
	}
	if r.cfg.OnTurn != nil {
		r.cfg.OnTurn(ru.id, turn.Seq, at)
	}
	if turn.Finished {
		ru.simMu.Lock()
		ru.status = store.StatusFinished
		ru.simMu.Unlock()
		r.publishStatus(ctx, ru.id, store.StatusFinished, turn.Seq)
		r.end(ctx, ru.id)
		return false
	}
	return true
}

// storedAlready reports whether the store holds exactly this turn.
func (r *Runner) storedAlready(ctx context.Context, sim string, seq int64, body []byte) bool {
	turns, err := r.cfg.Store.ListTurns(ctx, sim, seq-1, 1)
	return err == nil && len(turns) == 1 && turns[0].Seq == seq && bytes.Equal(turns[0].Body, body)
}

func (r *Runner) fail(ru *run, head int64) {
	ru.simMu.Lock()
	ru.status = store.StatusFailed
	ru.simMu.Unlock()
	if _, err := r.cfg.Store.SetStatus(r.ctx, ru.id, store.StatusFailed); err != nil {
		r.log.Warn("record failure", "sim", ru.id, "err", err)
	}
	r.publishStatus(r.ctx, ru.id, store.StatusFailed, head)
	r.end(r.ctx, ru.id)
}

// Shutdown lets every simulation finish the turn in progress and stops
// them, waiting until ctx ends at most; then it stops them hard.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	select {
	case <-r.draining:
	default:
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
