package runner

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
)

// Bounds on a story's work in flight.
const (
	maxPuts      = 16               // actions being written to the store
	maxControls  = 8                // controls waiting for the one being applied
	maxJobs      = maxPuts + 4      // and a turn, a seats read, a control, a vote's announcement
	storeTimeout = 30 * time.Second // a job's store call with no deadline of its own
	// seatsMaxAge bounds how long a story trusts the seats it read: a
	// change notice from another node can be lost with that node.
	seatsMaxAge = 30 * time.Second
)

// Requests in a story's inbox.
type (
	actReq struct {
		action   store.PendingAction // Turn is set by the actor
		deadline time.Time
		done     func(Accepted, error)
	}
	controlReq struct {
		op       string
		deadline time.Time
		done     func(*store.Simulation, error)
	}
)

// story is one simulation running on this node: an actor. Only its own
// goroutine (run) touches the fields below "owned by the actor"; jobs it
// starts get copies of what they need and send back a function that the
// actor runs to take their outcome in.
type story struct {
	// set at construction
	r           *Runner
	id          string
	sc          *engine.Scenario
	seed        int64
	interval    time.Duration
	maxTurns    int64
	waitPlayers bool
	log         *slog.Logger
	votes       bool          // audience votes on twists
	window      time.Duration // how long a vote is open
	inbox       chan any      // *actReq, *controlReq, *ballotReq
	poke        chan struct{} // seats changed: look at seatsDirty
	results     chan func()   // outcomes of jobs, run by the actor
	stop        chan struct{} // closed by halt
	stopOnce    sync.Once
	lost        atomic.Bool  // stopped because another node may own it now
	seatsDirty  atomic.Bool  // the seats changed since they were last read
	cost        atomic.Int64 // measured CPU time of a turn, a moving average in ns; 0 before the first

	mu     sync.Mutex // guards closed, so no request lands in a dead inbox
	closed bool

	// owned by the actor
	sim      *engine.Sim // the state after the last turn stepped; a slow turn job holds it meanwhile
	view     *engine.Sim // with a slow decider, the state after the last stored turn, to validate actions
	state    []byte      // the world state after the last stored turn: a refused turn is played again from it
	head     int64       // the last stored turn
	next     int64       // the turn new actions are asked for
	status   string
	pending  map[string]store.PendingAction // by character
	seats    map[string]store.Seat
	seatsAt  time.Time // when seats were read; zero before the first read
	fresh    bool      // seats read since the last event that may change who must act
	jobs     int       // jobs started and not yet taken in
	turning  bool
	puts     int
	reading  bool // seats being read
	applying bool // a control being applied
	controls []*controlReq
	stopping bool
	ended    bool      // finished or failed during this run
	last     time.Time // when the last turn started: its slot on the story's grid (see slot)
	anchor   time.Time // the grid's origin: the simulation's creation
	since    time.Time // when this turn started waiting for players
	timer    *time.Timer
	armed    bool
	// votes (vote.go)
	vote        *openVote   // the vote open, if any
	result      *VoteResult // the last vote closed, until its turn starts
	offered     int64       // the turn twists were last asked for
	voteClosed  int64       // the turn of the last vote closed
	unannounced []byte      // a vote opened and not yet being announced
	announcing  bool
}

func newStory(r *Runner, rec *store.Simulation, sc *engine.Scenario, sim *engine.Sim, head int64, state []byte) *story {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &story{
		r: r, id: rec.ID, sc: sc, seed: rec.Seed,
		interval:    max(time.Duration(rec.TurnIntervalMS)*time.Millisecond, r.cfg.MinInterval),
		maxTurns:    int64(rec.MaxTurns),
		waitPlayers: rec.WaitForPlayers,
		votes:       rec.AudienceVotes,
		window:      r.voteWindow(rec),
		log:         r.log.With("sim", rec.ID),
		inbox:       make(chan any, r.cfg.Inbox),
		poke:        make(chan struct{}, 1),
		results:     make(chan func(), maxJobs),
		stop:        make(chan struct{}),
		sim:         sim, state: state, head: head, next: head + 1, status: rec.Status,
		anchor:  rec.CreatedAt,
		pending: make(map[string]store.PendingAction),
		timer:   t,
	}
}

// send puts a request in the inbox without waiting: a full inbox is a
// busy story, a closed one a story that no longer runs here.
func (st *story) send(req any) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return notRunning(st.id)
	}
	select {
	case st.inbox <- req:
		return nil
	default:
		return refuse(ErrBusy, "simulation %q is busy; try again shortly", st.id)
	}
}

func (st *story) halt(lost bool) {
	if lost {
		st.lost.Store(true)
	}
	st.stopOnce.Do(func() { close(st.stop) })
}

// run is the actor: it takes requests, outcomes of its jobs and its
// timer, one at a time, until the story ends or must stop and every job
// it started has come back.
func (st *story) run() {
	defer st.exit()
	stop, draining := st.stop, st.r.draining
	for !st.done() {
		// After a turn played inline (InlineTurns) the actor does not
		// wait: it takes what came meanwhile, if anything, and looks
		// again, so that turns due back to back still leave room for
		// requests.
		var again <-chan struct{}
		if st.schedule() {
			again = closedChan
		}
		select {
		case <-again:
		case req := <-st.inbox:
			st.handle(req)
		case <-st.poke:
			st.fresh = false
		case fn := <-st.results:
			st.jobs--
			fn()
		case <-st.timer.C:
			st.armed, st.fresh = false, false
		case <-stop:
			stop, st.stopping = nil, true
		case <-draining:
			draining, st.stopping = nil, true
		}
	}
}

// closedChan is always ready.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (st *story) done() bool {
	return (st.stopping || st.ended) && st.jobs == 0
}

// exit refuses what is still queued, frees what an ended story held, and
// tells the runner's owner that the story no longer runs here.
func (st *story) exit() {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	for drained := false; !drained; {
		select {
		case req := <-st.inbox:
			st.refuse(req, notRunning(st.id))
		default:
			drained = true
		}
	}
	for _, c := range st.controls {
		c.done(nil, notRunning(st.id))
	}
	st.timer.Stop()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(st.r.ctx), 10*time.Second)
	defer cancel()
	if st.ended {
		if err := st.r.cfg.Store.ReleaseAllSeats(ctx, st.id); err != nil {
			st.log.Warn("release seats", "err", err)
		}
		if st.r.cfg.OnEnd != nil {
			st.r.cfg.OnEnd(st.id)
		}
	}
	lost := st.lost.Load()
	if !lost {
		st.clearOwner(ctx)
	}
	st.r.forget(st.id)
	if st.r.cfg.OnStop != nil {
		st.r.cfg.OnStop(st.id, lost)
	}
}

// clearOwner records that no node runs the simulation, unless the record
// names another node already.
func (st *story) clearOwner(ctx context.Context) {
	if rec, err := st.r.cfg.Store.GetSimulation(ctx, st.id); err == nil && rec.Owner != st.r.cfg.Node {
		return
	}
	if err := st.r.cfg.Store.SetOwner(ctx, st.id, ""); err != nil {
		st.log.Warn("clear owner", "err", err)
	}
}

func (st *story) refuse(req any, err error) {
	switch req := req.(type) {
	case *actReq:
		req.done(Accepted{}, err)
	case *controlReq:
		req.done(nil, err)
	case *ballotReq:
		req.done(Accepted{}, err)
	}
}

func (st *story) handle(req any) {
	if st.stopping {
		st.refuse(req, notRunning(st.id))
		return
	}
	switch req := req.(type) {
	case *actReq:
		st.act(req)
	case *ballotReq:
		st.ballot(req)
	case *controlReq:
		if len(st.controls) >= maxControls {
			req.done(nil, refuse(ErrBusy, "simulation %q is busy; try again shortly", st.id))
			return
		}
		st.controls = append(st.controls, req)
		st.nextControl()
	}
}

// spawn runs work in a job, on one of the runner's workers, whose outcome,
// the function work returns, the actor runs when it comes back.
func (st *story) spawn(work func() func()) {
	st.jobs++
	st.r.wg.Add(1)
	st.r.workers.run(func() {
		defer st.r.wg.Done()
		st.results <- work() // never blocks: at most maxJobs jobs run
	})
}

// jobContext bounds a job's store call by the request's deadline.
func (st *story) jobContext(deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		deadline = time.Now().Add(storeTimeout)
	}
	return context.WithDeadline(st.r.ctx, deadline)
}

// act validates an action against the state its turn starts from (or,
// while a slow decider decides, the last stored one) and has a job store
// it for the next turn. The store may name a later turn, if another node
// stored that one already; the answer says which.
func (st *story) act(req *actReq) {
	if st.ended || st.status == store.StatusFinished || st.status == store.StatusFailed {
		req.done(Accepted{}, refuse(ErrEnded, "simulation %q has ended", st.id))
		return
	}
	if !req.deadline.IsZero() && time.Now().After(req.deadline) {
		req.done(Accepted{}, context.DeadlineExceeded)
		return
	}
	validator := st.view
	if validator == nil {
		validator = st.sim
	}
	a := req.action
	if err := validator.ValidateAction(a.Character, a.Action); err != nil {
		req.done(Accepted{}, refuse(ErrInvalid, "%s", err.Error()))
		return
	}
	if st.puts >= maxPuts {
		req.done(Accepted{}, refuse(ErrBusy, "simulation %q is busy; try again shortly", st.id))
		return
	}
	a.Turn, a.At = st.next, st.r.cfg.Now().UTC()
	st.puts++
	st.spawn(func() func() {
		ctx, cancel := st.jobContext(req.deadline)
		defer cancel()
		turn, err := st.r.cfg.Store.PutAction(ctx, st.id, a)
		return func() { st.stored(a, turn, err, req.done) }
	})
}

// stored takes in an action the store holds (or refused), and answers.
func (st *story) stored(a store.PendingAction, turn int64, err error, done func(Accepted, error)) {
	st.puts--
	if err != nil {
		done(Accepted{}, fmt.Errorf("queue action: %w", err))
		return
	}
	a.Turn = turn
	// A turn already stored played it (or the store refused that turn
	// until it did); later writes for the same character replace it.
	prev, replaced := st.pending[a.Character]
	replaced = replaced && prev.Turn == turn
	if turn > st.head {
		st.pending[a.Character] = a
	}
	st.fresh = false
	done(Accepted{Turn: turn, Replaced: replaced}, nil)
}

// nextControl applies the oldest control waiting, unless one is being
// applied: each sees the status the one before it left.
func (st *story) nextControl() {
	// A turn in flight is stored and published first: a stop or pause
	// then answers with the final head, and nothing follows its status.
	for !st.applying && !st.turning && !st.stopping && len(st.controls) > 0 {
		req := st.controls[0]
		st.controls = st.controls[1:]
		from := st.status
		to := target(from, req.op)
		if to == from {
			req.done(nil, nil)
			continue
		}
		st.applying = true
		head := st.head
		st.spawn(func() func() {
			ctx, cancel := st.jobContext(req.deadline)
			defer cancel()
			rec, err := st.r.cfg.Store.SetStatus(ctx, st.id, to)
			if err == nil {
				st.publishStatus(to, head)
			}
			return func() { st.controlled(req, to, rec, err) }
		})
	}
}

// target is the status op leads to from status from.
func target(from, op string) string {
	switch op {
	case "pause":
		if from == store.StatusRunning || from == store.StatusCreated {
			return store.StatusPaused
		}
	case "resume":
		if from == store.StatusPaused || from == store.StatusCreated {
			return store.StatusRunning
		}
	case "stop":
		return store.StatusFinished
	}
	return from
}

func (st *story) controlled(req *controlReq, to string, rec *store.Simulation, err error) {
	st.applying = false
	if err != nil {
		req.done(nil, fmt.Errorf("set status of %q: %w", st.id, err))
	} else {
		st.status = to
		st.fresh = false
		if to == store.StatusFinished {
			st.ended = true
		}
		req.done(rec, nil)
	}
	st.nextControl()
}

func (st *story) publishStatus(status string, seq int64) {
	if err := st.r.cfg.Publisher.PublishStatus(st.r.ctx, st.id, status, seq); err != nil {
		st.log.Warn("publish status", "err", err)
	}
}

// schedule decides, after every event, what the story waits for: the
// pace, its players, or nothing (it plays the next turn now).
func (st *story) schedule() (played bool) {
	if st.stopping || st.ended || st.turning || st.applying || len(st.controls) > 0 || st.status != store.StatusRunning {
		st.disarm()
		return false
	}
	now := time.Now()
	// One turn per interval, counted from the previous turn's slot (see slot).
	if d := st.last.Add(st.interval).Sub(now); d > 0 {
		st.arm(d)
		return false
	}
	// Who holds a seat decides who holds their ground this turn; a story
	// that waits for its players also looks again after every event that
	// may change who must act.
	stale := st.seatsDirty.Load() || st.seatsAt.IsZero() || now.Sub(st.seatsAt) > seatsMaxAge
	if stale || (st.waitPlayers && !st.fresh) {
		st.disarm()
		st.readSeats()
		return false
	}
	if st.waitPlayers {
		if st.missing() > 0 {
			if st.since.IsZero() {
				st.since = now
			}
			if rest := st.since.Add(st.r.cfg.PlayerWait).Sub(now); rest > 0 {
				st.arm(rest)
				return false
			}
		}
	}
	if !st.voteReady(now) {
		return false
	}
	st.since, st.fresh = time.Time{}, false
	st.disarm()
	return st.startTurn(now)
}

func (st *story) arm(d time.Duration) {
	st.timer.Reset(d)
	st.armed = true
}

func (st *story) disarm() {
	if st.armed {
		st.timer.Stop()
		st.armed = false
	}
}

// readSeats has a job read who holds the seats, unless one is reading.
func (st *story) readSeats() {
	if st.reading {
		return
	}
	st.reading = true
	// A change noticed from now on is read by the next read.
	st.seatsDirty.Store(false)
	st.spawn(func() func() {
		ctx, cancel := st.jobContext(time.Time{})
		defer cancel()
		seats, err := st.r.cfg.Store.Seats(ctx, st.id)
		return func() {
			st.reading, st.fresh = false, true
			st.seatsAt = time.Now()
			if err != nil {
				// Keep what was known: the turn goes on with it rather
				// than waiting on the store.
				st.log.Warn("read seats", "err", err)
				return
			}
			st.seats = seats
		}
	})
}

// missing counts seated characters with no action for the next turn.
func (st *story) missing() int {
	n := 0
	for char := range st.seats {
		if _, ok := st.pending[char]; !ok {
			n++
		}
	}
	return n
}
