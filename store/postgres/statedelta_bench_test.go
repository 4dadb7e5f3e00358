package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/store"
	"github.com/novel-engine/novel-engine/store/postgres"
	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
	"github.com/novel-engine/novel-engine/store/storetest"
)

// BenchmarkStateWAL appends the turns of played stories, one after the
// other, on a PostgreSQL server of its own (nothing else writes its WAL;
// full_page_writes is off, so the figure is the rows' own WAL), and
// reports per turn the WAL written and the stored size of what the turn
// wrote of the state (the full state, compressed as PostgreSQL stores it,
// or the delta). "full" writes every state in full, as before deltas;
// "large" stories have states of 42-68 KB (six built-in stories' states
// side by side), past DEFLATE's window.
func BenchmarkStateWAL(b *testing.B) {
	builtin := [][][]byte{}
	for i, sc := range engine.Builtins() {
		builtin = append(builtin, playedStates(b, sc.ID, int64(31+i)))
	}
	var large [][][]byte
	for i := range 2 {
		var parts [][][]byte
		for j, sc := range engine.Builtins() {
			parts = append(parts, playedStates(b, sc.ID, int64(100*i+11+j)), playedStates(b, sc.ID, int64(100*i+21+j)))
		}
		large = append(large, sideBySide(parts))
	}
	srv := pgtest.StartServer(b)
	for _, stories := range []struct {
		name   string
		states [][][]byte
	}{{"builtin", builtin}, {"large", large}} {
		for _, mode := range []struct {
			name string
			opts postgres.Options
		}{{"full", postgres.Options{StateCacheBytes: -1}}, {"delta", postgres.Options{}}} {
			b.Run(stories.name+"/"+mode.name, func(b *testing.B) {
				benchmarkStateWAL(b, srv, stories.states, mode.opts)
			})
		}
	}
}

// sideBySide joins the stories' states turn by turn, as long as all last.
func sideBySide(stories [][][]byte) [][]byte {
	n := len(stories[0])
	for _, st := range stories {
		n = min(n, len(st))
	}
	out := make([][]byte, n)
	for i := range out {
		var b bytes.Buffer
		for _, st := range stories {
			b.Write(st[i])
		}
		out[i] = b.Bytes()
	}
	return out
}

func benchmarkStateWAL(b *testing.B, srv *pgtest.Server, stories [][][]byte, opts postgres.Options) {
	schema := fmt.Sprintf("wal_%d", time.Now().UnixNano())
	url := srv.URL() + "&options=-csearch_path%3D" + schema
	conn, err := pgx.Connect(ctx(b), srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	_, err = conn.Exec(ctx(b), "create schema "+schema)
	conn.Close(ctx(b))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := postgres.Migrate(ctx(b), url); err != nil {
		b.Fatal(err)
	}
	s, err := postgres.Open(ctx(b), url, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var (
		story, seq, sims int
		id               string
		walBytes, wrote  int64
	)
	next := func() {
		sims++
		id, seq = fmt.Sprintf("w%d", sims), 0
		story = (story + 1) % len(stories)
		if err := s.CreateSimulation(ctx(b), storetest.NewSim(id), stories[story][0]); err != nil {
			b.Fatal(err)
		}
	}
	lsn := func() (l string) {
		if err := s.Pool().QueryRow(ctx(b), `select pg_current_wal_insert_lsn()::text`).Scan(&l); err != nil {
			b.Fatal(err)
		}
		return l
	}
	next()
	b.ResetTimer()
	for range b.N {
		if seq++; seq == len(stories[story]) {
			next()
			seq = 1
		}
		before := lsn()
		turn := store.Turn{Seq: int64(seq), At: time.Now(), Body: storetest.TurnBody(id, int64(seq))}
		if err := s.AppendTurn(context.Background(), id, turn, stories[story][seq], "", nil); err != nil {
			b.Fatal(err)
		}
		var wal, size int64
		err := s.Pool().QueryRow(ctx(b), `select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $2::pg_lsn)::bigint,
			coalesce(pg_column_size(state_delta), pg_column_size(state)) from simulations where id = $1`, id, before).Scan(&wal, &size)
		if err != nil {
			b.Fatal(err)
		}
		walBytes += wal
		wrote += int64(size)
	}
	b.ReportMetric(float64(walBytes)/float64(b.N), "WAL-B/turn")
	b.ReportMetric(float64(wrote)/float64(b.N), "state-B/turn")
}
