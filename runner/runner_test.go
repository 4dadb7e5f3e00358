package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// endlessScenario has no goals and no end, so a story runs as long as a
// test needs.
const endlessScenario = `{"id":"endless-test","title":"The Long Night","genre":"test","length":10000,
"premise":"Two watchmen pace the walls of a town that is never attacked.",
"locations":[{"id":"gate","name":"the gate","exits":["tower"]},{"id":"tower","name":"the tower","exits":["gate"]}],
"characters":[{"id":"ona","name":"Ona","role":"watchman","start":"gate"},{"id":"bel","name":"Bel","role":"watchman","start":"tower"}]}`

// recorder is a Publisher that keeps what it is given.
type recorder struct {
	mu       sync.Mutex
	turns    []int64
	statuses []string
	votes    []VoteMessage
}

func (p *recorder) PublishVote(ctx context.Context, sim string, msg []byte) error {
	var v VoteMessage
	if err := json.Unmarshal(msg, &v); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.votes = append(p.votes, v)
	return nil
}

// vote returns the nth vote announced, if it was.
func (p *recorder) vote(n int) (VoteMessage, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.votes) <= n {
		return VoteMessage{}, false
	}
	return p.votes[n], true
}

func (p *recorder) PublishTurn(ctx context.Context, sim string, seq int64, body []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.turns = append(p.turns, seq)
	return nil
}

func (p *recorder) PublishStatus(ctx context.Context, sim, status string, seq int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statuses = append(p.statuses, status)
	return nil
}

func (p *recorder) published() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.turns)
}

// newRunner returns a runner of node on st, shut down when the test ends.
func newRunner(t *testing.T, st store.Store, node string, cfg Config) (*Runner, *recorder) {
	t.Helper()
	pub := &recorder{}
	cfg.Store, cfg.Publisher, cfg.Node = st, pub, node
	r := New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	return r, pub
}

// newSim stores a simulation of the endless scenario.
func newSim(t *testing.T, st store.Store, id, status string, intervalMS int) *store.Simulation {
	t.Helper()
	sc, err := engine.ParseScenario([]byte(endlessScenario))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := engine.NewSim(sc, 1, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	state, _ := sim.State()
	rec := &store.Simulation{ID: id, Title: "t", ScenarioID: sc.ID, Scenario: []byte(endlessScenario),
		Status: status, Seed: 1, MaxTurns: 100000, TurnIntervalMS: intervalMS}
	if err := st.CreateSimulation(context.Background(), rec, state); err != nil {
		t.Fatal(err)
	}
	return rec
}

func head(t *testing.T, st store.Store, id string) int64 {
	t.Helper()
	rec, err := st.GetSimulation(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Head
}

// playedIn returns the stored turn in which character spoke text as a
// player, 0 when none did.
func playedIn(t *testing.T, st store.Store, id, character, text string) int64 {
	t.Helper()
	turns, err := st.ListTurns(context.Background(), id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range turns {
		var body storedTurn
		if err := json.Unmarshal(tr.Body, &body); err != nil {
			t.Fatal(err)
		}
		for _, e := range body.Events {
			if e.Actor == character && e.Source == engine.SourcePlayer && e.Text == text {
				return tr.Seq
			}
		}
	}
	return 0
}

func speak(text string) engine.Action { return engine.Action{Kind: engine.ActSpeak, Text: text} }

// gatedStore holds the calls a test gates until it lets them go.
type gatedStore struct {
	store.Store
	puts, appends gate
}

type gate struct {
	mu      sync.Mutex
	sim     string        // the simulation whose calls wait; "" for none
	entered chan struct{} // receives once per call held
	open    chan struct{}
}

func (g *gate) hold(sim string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sim, g.entered, g.open = sim, make(chan struct{}, 100), make(chan struct{})
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open != nil {
		close(g.open)
	}
	g.sim, g.open = "", nil
}

func (g *gate) wait(ctx context.Context, sim string) error {
	g.mu.Lock()
	held, entered, open := g.sim == sim, g.entered, g.open
	g.mu.Unlock()
	if !held {
		return nil
	}
	entered <- struct{}{}
	select {
	case <-open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedStore) PutAction(ctx context.Context, sim string, a store.PendingAction) (int64, error) {
	if err := g.puts.wait(ctx, sim); err != nil {
		return 0, err
	}
	return g.Store.PutAction(ctx, sim, a)
}

func (g *gatedStore) AppendTurn(ctx context.Context, sim string, t store.Turn, state []byte, status string, played []string) error {
	if err := g.appends.wait(ctx, sim); err != nil {
		return err
	}
	return g.Store.AppendTurn(ctx, sim, t, state, status, played)
}

func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestActionDuringTakeover: a node that has lost a story without knowing
// it yet accepts an action while the new owner runs the story. The
// action is played in the turn the answer names: the one the old owner
// promised when the new owner has not stored it yet, else the next.
func TestActionDuringTakeover(t *testing.T) {
	ctx := context.Background()
	t.Run("promised turn", func(t *testing.T) {
		st := store.NewMemory()
		rec := newSim(t, st, "s1", store.StatusPaused, 60_000)
		old, _ := newRunner(t, st, "old", Config{})
		if err := old.Start(ctx, rec); err != nil {
			t.Fatal(err)
		}
		// The new owner takes the story over: it reads the pending
		// actions now, before the old owner accepts one.
		owner, pub := newRunner(t, st, "new", Config{})
		if err := owner.Start(ctx, rec); err != nil {
			t.Fatal(err)
		}
		acc, err := old.Act(ctx, "s1", "ona", "u1", speak("Who goes there?"))
		turn := acc.Turn
		if err != nil || turn != 1 {
			t.Fatalf("old owner's answer: turn %d, %v; want 1", turn, err)
		}
		// The new owner plays turn 1 without knowing of the action: the
		// store refuses it until it plays it.
		if _, err := owner.Control(ctx, "s1", "resume"); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 10*time.Second, "turn 1", func() bool { return pub.published() >= 1 })
		if got := playedIn(t, st, "s1", "ona", "Who goes there?"); got != turn {
			t.Fatalf("action accepted for turn %d played in turn %d (0: never)", turn, got)
		}
	})
	t.Run("next turn", func(t *testing.T) {
		st := &gatedStore{Store: store.NewMemory()}
		rec := newSim(t, st, "s1", store.StatusPaused, 60_000)
		old, _ := newRunner(t, st, "old", Config{})
		if err := old.Start(ctx, rec); err != nil {
			t.Fatal(err)
		}
		owner, _ := newRunner(t, st.Store, "new", Config{})
		if err := owner.Start(ctx, rec); err != nil {
			t.Fatal(err)
		}
		// The old owner has validated the action for turn 1 and is
		// storing it when the new owner stores turn 1.
		st.puts.hold("s1")
		answer := make(chan int64, 1)
		go func() {
			acc, err := old.Act(ctx, "s1", "ona", "u1", speak("Who goes there?"))
			turn := acc.Turn
			if err != nil {
				t.Error(err)
			}
			answer <- turn
		}()
		within(t, st.puts.entered, "the old owner to store the action")
		if _, err := owner.Control(ctx, "s1", "resume"); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 10*time.Second, "turn 1 stored", func() bool { return head(t, st, "s1") == 1 })
		st.puts.release()
		turn := <-answer
		if turn != 2 {
			t.Fatalf("old owner's answer: turn %d, want 2 (turn 1 was stored)", turn)
		}
		// The story moves again (its owner drained, say): the next owner
		// plays the pending action in its first turn, the one named.
		owner.Stop("s1", false)
		poll.Until(t, 10*time.Second, "the owner to stop", func() bool { return !owner.Running("s1") })
		rec, _ = st.GetSimulation(ctx, "s1")
		next, pub := newRunner(t, st.Store, "next", Config{})
		if err := next.Start(ctx, rec); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 10*time.Second, "turn 2", func() bool { return pub.published() >= 1 })
		if got := playedIn(t, st, "s1", "ona", "Who goes there?"); got != turn {
			t.Fatalf("action accepted for turn %d played in turn %d (0: never)", turn, got)
		}
	})
}

// TestSlowStoreCall: a story's turns do not wait for a slow write of a
// player's action, a player's action does not wait for a slow turn, and
// one story's slow store calls delay no other story.
func TestSlowStoreCall(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{Store: store.NewMemory()}
	r, pub := newRunner(t, st, "n1", Config{})
	a := newSim(t, st, "a", store.StatusRunning, 10)
	b := newSim(t, st, "b", store.StatusRunning, 10)
	for _, rec := range []*store.Simulation{a, b} {
		if err := r.Start(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	// An action of a's is stuck in the store: a's turns go on.
	st.puts.hold("a")
	answer := make(chan int64, 1)
	go func() {
		acc, err := r.Act(ctx, "a", "ona", "u1", speak("The lamps are lit."))
		if err != nil {
			t.Error(err)
		}
		answer <- acc.Turn
	}()
	within(t, st.puts.entered, "the action's write")
	from := head(t, st, "a")
	poll.Until(t, 10*time.Second, "a's turns while its action is stuck", func() bool { return head(t, st, "a") >= from+3 })
	st.puts.release()
	turn := <-answer
	poll.Until(t, 10*time.Second, "the action's turn", func() bool { return head(t, st, "a") >= turn })
	if got := playedIn(t, st, "a", "ona", "The lamps are lit."); got != turn {
		t.Fatalf("action accepted for turn %d played in %d", turn, got)
	}

	// a's turn is stuck in the store: an action for a is still answered,
	// and b goes on.
	st.appends.hold("a")
	within(t, st.appends.entered, "a's turn to be stored")
	stuck := head(t, st, "a")
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if acc, err := r.Act(tctx, "a", "bel", "u2", speak("Still here.")); err != nil || acc.Turn != stuck+2 {
		t.Fatalf("act while a's turn %d is being stored: turn %d, %v; want %d", stuck+1, acc.Turn, err, stuck+2)
	}
	if _, err := r.Act(tctx, "b", "ona", "u1", speak("And here.")); err != nil {
		t.Fatalf("act on b while a is stuck: %v", err)
	}
	fromB := head(t, st, "b")
	poll.Until(t, 10*time.Second, "b's turns while a is stuck", func() bool { return head(t, st, "b") >= fromB+3 })
	st.appends.release()
	poll.Until(t, 10*time.Second, "a's turns again", func() bool { return head(t, st, "a") >= stuck+3 })
	_ = pub
}

// TestControls: pause holds the turns, resume lets them go, stop ends
// the story and frees its seats.
func TestControls(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	var mu sync.Mutex
	var ended []string
	stopped := make(chan bool, 1)
	r, pub := newRunner(t, st, "n1", Config{
		OnEnd:  func(sim string) { mu.Lock(); ended = append(ended, sim); mu.Unlock() },
		OnStop: func(sim string, lost bool) { stopped <- lost },
	})
	rec := newSim(t, st, "s1", store.StatusRunning, 10)
	if err := st.ClaimSeat(ctx, "s1", "ona", store.Seat{UserID: "u1", UserName: "Ada"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "turns", func() bool { return pub.published() >= 2 })
	got, err := r.Control(ctx, "s1", "pause")
	if err != nil || got.Status != store.StatusPaused {
		t.Fatalf("pause: %+v %v", got, err)
	}
	// A turn under way when the pause came may still be stored; then
	// nothing more.
	paused := head(t, st, "s1")
	if got, err := r.Control(ctx, "s1", "pause"); err != nil || got.Status != store.StatusPaused {
		t.Fatalf("pause again: %+v %v", got, err)
	}
	if _, err := r.Control(ctx, "s1", "resume"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "turns after resume", func() bool { return head(t, st, "s1") >= paused+2 })
	if got, err := r.Control(ctx, "s1", "stop"); err != nil || got.Status != store.StatusFinished {
		t.Fatalf("stop: %+v %v", got, err)
	}
	if lost := <-stopped; lost {
		t.Fatal("a stopped story reported lost")
	}
	if r.Running("s1") {
		t.Fatal("a stopped story still runs")
	}
	if seats, _ := st.Seats(ctx, "s1"); len(seats) != 0 {
		t.Fatalf("seats after stop: %v", seats)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(ended) != "[s1]" {
		t.Fatalf("ended %v", ended)
	}
	if _, err := r.Act(ctx, "s1", "ona", "u1", speak("Too late.")); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("act after stop: %v, want ErrNotRunning", err)
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if fmt.Sprint(pub.statuses) != "[paused running finished]" {
		t.Fatalf("statuses published: %v", pub.statuses)
	}
}

// TestStopLost: a story stopped because another node holds it now leaves
// the stored owner alone and says so.
func TestStopLost(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	stopped := make(chan bool, 1)
	r, _ := newRunner(t, st, "n1", Config{OnStop: func(sim string, lost bool) { stopped <- lost }})
	rec := newSim(t, st, "s1", store.StatusPaused, 10)
	if err := r.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOwner(ctx, "s1", "n2"); err != nil {
		t.Fatal(err)
	}
	r.Stop("s1", true)
	if lost := <-stopped; !lost {
		t.Fatal("stop for a lost lease not reported lost")
	}
	if rec, _ := st.GetSimulation(ctx, "s1"); rec.Owner != "n2" {
		t.Fatalf("owner %q after a lost stop, want n2's", rec.Owner)
	}
}

// gatedDecider waits at every decision until released, as a slow model
// would; it then waits.
type gatedDecider struct {
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (d *gatedDecider) Decide(ctx context.Context, p engine.Perception) (engine.Action, error) {
	d.once.Do(func() { close(d.entered) })
	select {
	case <-d.release:
		return engine.Action{Kind: engine.ActWait}, nil
	case <-ctx.Done():
		return engine.Action{}, ctx.Err()
	}
}

// TestActDuringSlowDecision: while a slow decider holds a turn, a
// player's action is still validated and accepted at once, for the next
// turn, and is played in it.
func TestActDuringSlowDecision(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	d := &gatedDecider{entered: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(d.release) }) }
	r, pub := newRunner(t, st, "n1", Config{Engine: engine.Options{Decider: d, DecisionTimeout: time.Hour}})
	defer release() // runs before the runner's shutdown: a failing test must not leave the turn held
	rec := newSim(t, st, "s1", store.StatusRunning, 10)
	if err := r.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	within(t, d.entered, "turn 1 to be decided") // and it stays so until released

	if _, err := r.Act(ctx, "s1", "ona", "u1", engine.Action{Kind: engine.ActMove, Target: "nowhere"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an invalid move: %v, want ErrInvalid", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	acc, err := r.Act(tctx, "s1", "ona", "u1", engine.Action{Kind: engine.ActMove, Target: "tower"})
	if err != nil {
		t.Fatalf("act while a turn is decided: %v", err)
	}
	if acc.Turn != 2 {
		t.Fatalf("accepted for turn %d, want 2 (turn 1 is being decided)", acc.Turn)
	}
	release()
	poll.Until(t, 10*time.Second, "turn 2", func() bool { return pub.published() >= 2 })
	turns, _ := st.ListTurns(ctx, "s1", 1, 1)
	var body storedTurn
	json.Unmarshal(turns[0].Body, &body)
	for _, e := range body.Events {
		if e.Actor == "ona" && e.Source == engine.SourcePlayer && e.Kind == engine.ActMove {
			return
		}
	}
	t.Fatalf("turn 2 lacks ona's move: %+v", body.Events)
}

// eventsOf returns character's events in the stored turns from..to.
func eventsOf(t *testing.T, st store.Store, id, character string, from, to int64) map[int64][]engine.Event {
	t.Helper()
	turns, err := st.ListTurns(context.Background(), id, from-1, int(to-from+1))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int64][]engine.Event)
	for _, tr := range turns {
		var body storedTurn
		if err := json.Unmarshal(tr.Body, &body); err != nil {
			t.Fatal(err)
		}
		for _, e := range body.Events {
			if e.Actor == character {
				out[tr.Seq] = append(out[tr.Seq], e)
			}
		}
	}
	return out
}

// A seated character does only what its player chose: between its
// player's actions it holds its ground, unless the player asked the AI
// to fill in; a freed seat is the AI's again.
func TestSeatedCharacterHolds(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	rec := newSim(t, st, "h", store.StatusRunning, 10)
	if err := st.ClaimSeat(ctx, "h", "ona", store.Seat{UserID: "u1", UserName: "Ada"}); err != nil {
		t.Fatal(err)
	}
	r, _ := newRunner(t, st, "n1", Config{})
	if err := r.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "20 turns", func() bool { return head(t, st, "h") >= 20 })
	for seq, evs := range eventsOf(t, st, "h", "ona", 1, 20) {
		for _, e := range evs {
			if e.Kind != engine.ActWait || e.Source != engine.SourcePlayer {
				t.Fatalf("turn %d: seated ona did %s (source %s), want a wait of her player's", seq, e.Kind, e.Source)
			}
		}
	}

	// The player's own action is played, and the hold resumes after it.
	acc, err := r.Act(ctx, "h", "ona", "u1", speak("Quiet night."))
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the action's turn", func() bool { return head(t, st, "h") >= acc.Turn+3 })
	if got := playedIn(t, st, "h", "ona", "Quiet night."); got != acc.Turn {
		t.Fatalf("action accepted for turn %d played in %d", acc.Turn, got)
	}

	// With the AI filling in, the AI decides her idle turns.
	if err := st.ClaimSeat(ctx, "h", "ona", store.Seat{UserID: "u1", UserName: "Ada", AIFill: true}); err != nil {
		t.Fatal(err)
	}
	if !r.SeatsChanged("h") {
		t.Fatal("SeatsChanged: the story does not run here")
	}
	from := head(t, st, "h") + 1
	poll.Until(t, 10*time.Second, "a turn the AI plays for ona", func() bool {
		now := head(t, st, "h")
		for _, evs := range eventsOf(t, st, "h", "ona", from, now) {
			for _, e := range evs {
				if e.Source == engine.SourceAI {
					return true
				}
			}
		}
		return false
	})
}

// A second action for the same turn replaces the first, and the answer
// says so.
func TestActReplaced(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	rec := newSim(t, st, "p", store.StatusPaused, 10)
	r, _ := newRunner(t, st, "n1", Config{})
	if err := r.Start(ctx, rec); err != nil {
		t.Fatal(err)
	}
	first, err := r.Act(ctx, "p", "ona", "u1", speak("One."))
	if err != nil || first.Replaced {
		t.Fatalf("first action: %+v %v, want not replaced", first, err)
	}
	second, err := r.Act(ctx, "p", "ona", "u1", speak("Two."))
	if err != nil || !second.Replaced || second.Turn != first.Turn {
		t.Fatalf("second action: %+v %v, want replacing turn %d", second, err, first.Turn)
	}
	other, err := r.Act(ctx, "p", "bel", "u2", speak("Three."))
	if err != nil || other.Replaced {
		t.Fatalf("another character's action: %+v %v, want not replaced", other, err)
	}
	if _, err := r.Control(ctx, "p", "resume"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the actions' turn", func() bool { return head(t, st, "p") >= first.Turn })
	if got := playedIn(t, st, "p", "ona", "Two."); got != first.Turn {
		t.Fatalf("the replacing action played in turn %d, want %d", got, first.Turn)
	}
	if got := playedIn(t, st, "p", "ona", "One."); got != 0 {
		t.Fatalf("the replaced action played in turn %d", got)
	}
}
