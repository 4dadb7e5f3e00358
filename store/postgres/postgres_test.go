package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/internal/poll"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
	"github.com/novel-engine/novel-engine/store/storetest"
)

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store { return pgtest.Store(t, postgres.Options{}) })
}

// TestMigrateConcurrently has several nodes migrate one fresh schema at
// once: all succeed, and the migrations are applied once.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.URL(t)
	const nodes = 8
	reports := make([]postgres.MigrationReport, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { reports[i], errs[i] = postgres.Migrate(ctx(t), url) })
	}
	wg.Wait()
	applied := 0
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		if reports[i].To != reports[i].Latest {
			t.Fatalf("node %d left version %d, latest is %d", i, reports[i].To, reports[i].Latest)
		}
		applied += len(reports[i].Applied)
	}
	if want := int(reports[0].Latest); applied != want {
		t.Fatalf("%d migrations applied in all, want %d (each once)", applied, want)
	}
	// And again: nothing to do.
	rep, err := postgres.Migrate(ctx(t), url)
	if err != nil || len(rep.Applied) != 0 || rep.From != rep.Latest {
		t.Fatalf("second migrate: %+v %v", rep, err)
	}
	s, err := postgres.Open(ctx(t), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.NewSim("m")
	if err := s.CreateSimulation(ctx(t), storetest.NewSim("m"), nil); err != nil {
		t.Fatal(err)
	}
}

// TestFencingTwoNodes races many writers on two pools (two nodes) over
// several simulations: each seq of each simulation is won exactly once,
// the stored turn is the winner's, and the state is the head's.
func TestFencingTwoNodes(t *testing.T) {
	url := pgtest.URL(t)
	if _, err := postgres.Migrate(ctx(t), url); err != nil {
		t.Fatal(err)
	}
	var nodes [2]*postgres.Store
	for i := range nodes {
		s, err := postgres.Open(ctx(t), url, postgres.Options{MaxBatch: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes[i] = s
	}
	const sims, writersPerNode, turns = 8, 8, 60
	for i := range sims {
		if err := nodes[0].CreateSimulation(ctx(t), storetest.NewSim(fmt.Sprintf("f%d", i)), []byte("state-0")); err != nil {
			t.Fatal(err)
		}
	}
	type key struct {
		sim string
		seq int64
	}
	var (
		mu   sync.Mutex
		wins = map[key]string{} // who stored each turn
		wg   sync.WaitGroup
	)
	for n, s := range nodes {
		for w := range writersPerNode {
			wg.Go(func() {
				who := fmt.Sprintf("node%d-writer%d", n, w)
				for i := range sims {
					sim := fmt.Sprintf("f%d", (i+w)%sims)
					for {
						head, _, err := s.LoadState(ctx(t), sim)
						if err != nil {
							t.Errorf("%s: load %s: %v", who, sim, err)
							return
						}
						if head >= turns {
							break
						}
						seq := head + 1
						body := fmt.Appendf(nil, `{"seq":%d,"by":%q}`, seq, who)
						err = s.AppendTurn(ctx(t), sim, store.Turn{Seq: seq, At: time.Now(), Body: body}, body, "", nil)
						switch {
						case err == nil:
							mu.Lock()
							if prev, ok := wins[key{sim, seq}]; ok {
								t.Errorf("%s seq %d stored by %s and %s", sim, seq, prev, who)
							}
							wins[key{sim, seq}] = who
							mu.Unlock()
						case errors.Is(err, store.ErrConflict):
						default:
							t.Errorf("%s: append %s %d: %v", who, sim, seq, err)
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	for i := range sims {
		sim := fmt.Sprintf("f%d", i)
		got, err := nodes[1].ListTurns(ctx(t), sim, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != turns {
			t.Fatalf("%s: %d turns stored, want %d", sim, len(got), turns)
		}
		for j, tr := range got {
			want := fmt.Appendf(nil, `{"seq":%d,"by":%q}`, tr.Seq, wins[key{sim, tr.Seq}])
			if tr.Seq != int64(j+1) || !bytes.Equal(tr.Body, want) {
				t.Fatalf("%s turn %d: seq %d body %s, want %s", sim, j, tr.Seq, tr.Body, want)
			}
		}
		head, state, err := nodes[0].LoadState(ctx(t), sim)
		if err != nil || head != turns || !bytes.Equal(state, got[turns-1].Body) {
			t.Fatalf("%s: head %d state %s err %v; want the last turn's", sim, head, state, err)
		}
	}
}

// TestBatchIsolation checks that in one batch a refused turn (conflict,
// unknown simulation) does not fail the others.
func TestBatchIsolation(t *testing.T) {
	s := pgtest.Store(t, postgres.Options{Flushers: 1})
	const n = 50
	for i := range n {
		if err := s.CreateSimulation(ctx(t), storetest.NewSim(fmt.Sprintf("b%02d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 3*n)
	for i := range n {
		sim := fmt.Sprintf("b%02d", i)
		wg.Go(func() { // good
			errs[3*i] = s.AppendTurn(ctx(t), sim, store.Turn{Seq: 1, At: time.Now(), Body: []byte("{}")}, nil, store.StatusRunning, nil)
		})
		wg.Go(func() { // never head+1
			errs[3*i+1] = s.AppendTurn(ctx(t), sim, store.Turn{Seq: 5, At: time.Now(), Body: []byte("{}")}, nil, "", nil)
		})
		wg.Go(func() { // no such simulation
			errs[3*i+2] = s.AppendTurn(ctx(t), sim+"-missing", store.Turn{Seq: 1, At: time.Now(), Body: []byte("{}")}, nil, "", nil)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[3*i] != nil {
			t.Errorf("good append %d: %v", i, errs[3*i])
		}
		if !errors.Is(errs[3*i+1], store.ErrConflict) {
			t.Errorf("append past head %d: %v, want ErrConflict", i, errs[3*i+1])
		}
		if !errors.Is(errs[3*i+2], store.ErrNotFound) {
			t.Errorf("append to missing %d: %v, want ErrNotFound", i, errs[3*i+2])
		}
	}
	running, _, err := s.ListSimulations(ctx(t), store.ListOptions{Status: store.StatusRunning, Limit: 200})
	if err != nil || len(running) != n {
		t.Fatalf("running after appends: %d %v, want %d", len(running), err, n)
	}
}

// TestAppendContext checks that a caller that gave up is answered at once.
func TestAppendContext(t *testing.T) {
	s := pgtest.Store(t, postgres.Options{})
	if err := s.CreateSimulation(ctx(t), storetest.NewSim("c"), nil); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.AppendTurn(c, "c", store.Turn{Seq: 1, At: time.Now(), Body: []byte("{}")}, nil, "", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v", err)
	}
}

// TestClose checks that calls after Close fail as unavailable.
func TestClose(t *testing.T) {
	s := pgtest.Store(t, postgres.Options{})
	if err := s.CreateSimulation(ctx(t), storetest.NewSim("x"), nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.AppendTurn(ctx(t), "x", store.Turn{Seq: 1, At: time.Now(), Body: []byte("{}")}, nil, "", nil); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("append after close: %v", err)
	}
	if err := s.Ping(ctx(t)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ping after close: %v", err)
	}
	s.Close() // twice is fine
}

// TestOutage stops a throwaway server under a Store: its calls fail as
// unavailable; once the server is back the same Store serves again.
func TestOutage(t *testing.T) {
	srv := pgtest.StartServer(t)
	if _, err := postgres.Migrate(ctx(t), srv.URL()); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx(t), srv.URL(), postgres.Options{ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateSimulation(ctx(t), storetest.NewSim("o"), []byte("s0")); err != nil {
		t.Fatal(err)
	}
	appendTurn := func(seq int64) error {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return s.AppendTurn(c, "o", store.Turn{Seq: seq, At: time.Now(), Body: storetest.TurnBody("o", seq)}, fmt.Appendf(nil, "s%d", seq), "", nil)
	}
	if err := appendTurn(1); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	checks := map[string]func() error{
		"Ping":          func() error { return s.Ping(ctx(t)) },
		"GetSimulation": func() error { _, err := s.GetSimulation(ctx(t), "o"); return err },
		"ListTurns":     func() error { _, err := s.ListTurns(ctx(t), "o", 0, 10); return err },
		"AppendTurn":    func() error { return appendTurn(2) },
	}
	for name, check := range checks {
		if err := check(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s while the database is down: %v, want ErrUnavailable", name, err)
		}
	}

	srv.Start()
	poll.Until(t, 20*time.Second, "the store to recover", func() bool { return s.Ping(ctx(t)) == nil })
	if err := appendTurn(2); err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	turns, err := s.ListTurns(ctx(t), "o", 0, 10)
	if err != nil || len(turns) != 2 || !bytes.Equal(turns[1].Body, storetest.TurnBody("o", 2)) {
		t.Fatalf("after recovery: %d turns, %v", len(turns), err)
	}
}

// BenchmarkAppendTurnParallel has 1,000 simulations each writing turns as
// fast as the store takes them, with a realistic turn body and the world
// states of played built-in stories, and reports stored turns per second.
func BenchmarkAppendTurnParallel(b *testing.B) {
	benchmarkAppend(b, postgres.Options{})
}

// BenchmarkAppendTurnOneByOne is the same load written a turn per round
// trip and per commit (batches of one on 16 connections), for comparison.
func BenchmarkAppendTurnOneByOne(b *testing.B) {
	benchmarkAppend(b, postgres.Options{MaxBatch: 1, Flushers: 16, MaxConns: 20})
}

func benchmarkAppend(b *testing.B, opts postgres.Options) {
	const sims = 1000
	s := pgtest.Store(b, opts)
	for i := range sims {
		if err := s.CreateSimulation(ctx(b), storetest.NewSim(fmt.Sprintf("bench-%04d", i)), nil); err != nil {
			b.Fatal(err)
		}
	}
	var stories [][][]byte // each simulation plays one over and over
	for i, sc := range engine.Builtins() {
		stories = append(stories, playedStates(b, sc.ID, int64(i)))
	}
	var next atomic.Int64
	b.SetParallelism((sims + 1) / 2) // with GOMAXPROCS 2: a goroutine per simulation
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1) - 1
		sim, states := fmt.Sprintf("bench-%04d", n), stories[n%int64(len(stories))]
		var seq int64
		for pb.Next() {
			seq++
			state := states[seq%int64(len(states))]
			err := s.AppendTurn(context.Background(), sim, store.Turn{Seq: seq, At: time.Now(), Body: storetest.TurnBody(sim, seq)}, state, "", nil)
			if err != nil {
				b.Errorf("%s seq %d: %v", sim, seq, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
}

// TestOpenNeedsMigration checks that Open refuses a database that was not
// migrated, saying what to do.
func TestOpenNeedsMigration(t *testing.T) {
	_, err := postgres.Open(ctx(t), pgtest.URL(t), postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("open of an empty schema: %v", err)
	}
}
