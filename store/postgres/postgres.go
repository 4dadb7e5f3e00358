// Package postgres is the PostgreSQL implementation of store.Store, on a
// pgx connection pool. Its schema is embedded and applied by Migrate.
//
// Several nodes may share one database: AppendTurn is the fence between
// them (a turn is stored only as head+1, atomically with the world state),
// and concurrent AppendTurn calls are written together, a batch per round
// trip and per commit, so that many simulations writing a turn a second do
// not cost a round trip each.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/novel-engine/novel-engine/store"
)

// Options tune a Store. The zero value works.
type Options struct {
	// MaxConns is the most connections the pool opens. Defaults to the
	// URL's pool_max_conns, else 16.
	MaxConns int32
	// ConnectTimeout bounds opening one connection. Defaults to the URL's
	// connect_timeout, else 5s.
	ConnectTimeout time.Duration
	// StatementTimeout is the server's limit on each statement
	// (statement_timeout). Defaults to 10s; negative leaves the server's.
	StatementTimeout time.Duration

	// AppendQueue is how many AppendTurn calls may wait for a flusher
	// before further calls wait for room. Defaults to 4096.
	AppendQueue int
	// MaxBatch is the most turns written in one round trip. Defaults to 256.
	MaxBatch int
	// Flushers is how many goroutines write batches of turns, each on its
	// own connection. Defaults to 2.
	Flushers int
	// FlushTimeout bounds writing one batch. Defaults to 15s.
	FlushTimeout time.Duration

	// StateCacheBytes bounds the base states kept to encode turns' states
	// as deltas (see statedelta.go): a story whose base is not kept
	// writes its next state in full. Defaults to 64 MiB, about 5,000
	// built-in stories; negative writes every state in full.
	StateCacheBytes int
}

func (o Options) withDefaults() Options {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.StatementTimeout == 0 {
		o.StatementTimeout = 10 * time.Second
	}
	if o.AppendQueue <= 0 {
		o.AppendQueue = 4096
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Flushers <= 0 {
		o.Flushers = 2
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = 15 * time.Second
	}
	if o.StateCacheBytes == 0 {
		o.StateCacheBytes = 64 << 20
	}
	return o
}

// Store is a store.Store on PostgreSQL.
type Store struct {
	// Set at construction.
	pool  *pgxpool.Pool
	opts  Options
	now   func() time.Time
	bases *baseCache // the base state of each simulation's row, as far as known

	// The append queue: AppendTurn sends, the flushers receive. It is
	// never closed; closing tells everyone to stop and stopped is closed
	// when the last flusher has returned.
	appends   chan *appendReq
	closing   chan struct{}
	stopped   chan struct{}
	flushers  sync.WaitGroup
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or key=value
// string) and checks that it answers. It does not migrate: call Migrate
// first: Open fails on a schema older than this binary's. An unreachable
// database gives an error wrapping store.ErrUnavailable. The Store reconnects by itself after an outage.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	explicit := opts
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = 16
	}
	// The flushers each hold a connection while they write; leave room for
	// everything else.
	if least := int32(opts.Flushers) + 2; cfg.MaxConns < least {
		cfg.MaxConns = least
	}
	if explicit.ConnectTimeout > 0 || !strings.Contains(url, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	if _, set := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !set && opts.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", translate(err))
	}
	if err := checkVersion(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{
		pool:    pool,
		opts:    opts,
		now:     func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		bases:   newBaseCache(max(opts.StateCacheBytes, 0)),
		appends: make(chan *appendReq, opts.AppendQueue),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	s.flushers.Add(opts.Flushers)
	for range opts.Flushers {
		go s.flushLoop()
	}
	go func() {
		s.flushers.Wait()
		close(s.stopped)
	}()
	return s, nil
}

// checkVersion makes sure the database answers and its schema is one this
// binary can use: at least the newest version it knows (a newer one, from
// a newer binary mid-rollout, is fine: migrations only add).
func checkVersion(ctx context.Context, pool *pgxpool.Pool) error {
	var version int32
	err := pool.QueryRow(ctx, "select version from "+versionTable).Scan(&version)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return errors.New("the database has no schema yet: run novel-engine migrate")
	}
	if err != nil {
		return fmt.Errorf("read schema version: %w", translate(err))
	}
	if latest := latestVersion(); version < latest {
		return fmt.Errorf("the database schema is at version %d, this binary needs %d: run novel-engine migrate", version, latest)
	}
	return nil
}

// Pool returns the Store's connection pool, for callers that need
// PostgreSQL itself (advisory locks for leases, for instance).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the flushers, once the turns already queued are written, and
// closes the pool. Calls made after Close fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.stopped
		s.pool.Close()
	})
	return nil
}

// Ping reports whether the database answers; when it does not, the error
// wraps store.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.closing:
		return fmt.Errorf("ping: %w: %w", store.ErrUnavailable, errClosed)
	default:
	}
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", translate(err))
	}
	return nil
}

// utc reads a timestamp back as the store hands them out.
func utc(t time.Time) time.Time { return t.UTC() }

// micro rounds a timestamp down to what PostgreSQL keeps, so that what a
// caller holds equals what it reads back.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

const simColumns = `id, title, scenario_id, scenario, status, seed, head, max_turns,
	turn_interval_ms, wait_for_players, created_by, created_at, updated_at, owner,
	parent, forked_at, lineage, audience_votes, anonymous_votes, vote_window_ms, vote`

// scanSim reads a row of simColumns, then extra, if any.
func scanSim(row pgx.Row, extra ...any) (*store.Simulation, error) {
	var (
		s       store.Simulation
		lineage []byte
	)
	dest := append([]any{&s.ID, &s.Title, &s.ScenarioID, &s.Scenario, &s.Status, &s.Seed, &s.Head, &s.MaxTurns,
		&s.TurnIntervalMS, &s.WaitForPlayers, &s.CreatedBy, &s.CreatedAt, &s.UpdatedAt, &s.Owner,
		&s.Parent, &s.ForkedAt, &lineage, &s.AudienceVotes, &s.AnonymousVotes, &s.VoteWindowMS, &s.Vote}, extra...)
	err := row.Scan(dest...)
	if err != nil {
		return nil, err
	}
	if len(lineage) > 0 {
		if err := json.Unmarshal(lineage, &s.Lineage); err != nil {
			return nil, fmt.Errorf("lineage of %q: %w", s.ID, err)
		}
	}
	s.CreatedAt, s.UpdatedAt = utc(s.CreatedAt), utc(s.UpdatedAt)
	return &s, nil
}

func (s *Store) CreateSimulation(ctx context.Context, sim *store.Simulation, state []byte) error {
	created := micro(sim.CreatedAt)
	if sim.CreatedAt.IsZero() {
		created = s.now()
	}
	_, err := s.pool.Exec(ctx, `insert into simulations (`+simColumns+`, state)
		values ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, $11, $11, $12, '', 0, null, $14, $15, $16, null, $13)`,
		sim.ID, sim.Title, sim.ScenarioID, sim.Scenario, sim.Status, sim.Seed, sim.MaxTurns,
		sim.TurnIntervalMS, sim.WaitForPlayers, sim.CreatedBy, created, sim.Owner, state,
		sim.AudienceVotes, sim.AnonymousVotes, sim.VoteWindowMS)
	if err != nil {
		return fmt.Errorf("create simulation %q: %w", sim.ID, translate(err))
	}
	s.bases.drop(sim.ID) // a base kept for a story of this id is not this one's
	sim.CreatedAt, sim.UpdatedAt, sim.Head = created, created, 0
	return nil
}

func (s *Store) GetSimulation(ctx context.Context, id string) (*store.Simulation, error) {
	sim, err := scanSim(s.pool.QueryRow(ctx, `select `+simColumns+` from simulations where id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("simulation %q: %w", id, translate(err))
	}
	return sim, nil
}

func (s *Store) ListSimulations(ctx context.Context, opts store.ListOptions) ([]*store.Simulation, string, error) {
	limit := store.NormalizeLimit(opts.Limit)
	var (
		afterT  *time.Time
		afterID string
	)
	if opts.Cursor != "" {
		t, id, err := store.DecodeCursor(opts.Cursor)
		if err != nil {
			return nil, "", err
		}
		afterT, afterID = &t, id
	}
	rows, err := s.pool.Query(ctx, `select `+simColumns+` from simulations
		where ($1::text = '' or status = $1)
		  and ($5::text = '' or scenario_id = $5)
		  and ($2::timestamptz is null or (created_at, id) < ($2, $3::text))
		order by created_at desc, id desc
		limit $4`, opts.Status, afterT, afterID, limit+1, opts.ScenarioID)
	if err != nil {
		return nil, "", fmt.Errorf("list simulations: %w", translate(err))
	}
	sims, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Simulation, error) { return scanSim(r) })
	if err != nil {
		return nil, "", fmt.Errorf("list simulations: %w", translate(err))
	}
	next := ""
	if len(sims) > limit {
		sims = sims[:limit]
		last := sims[limit-1]
		next = store.EncodeCursor(last.CreatedAt, last.ID)
	}
	return sims, next, nil
}

func (s *Store) Summaries(ctx context.Context, ids []string) (map[string]store.Summary, error) {
	rows, err := s.pool.Query(ctx, `select s.id, t.body,
		  coalesce((select json_agg(json_build_object('c', c.character, 'u', c.user_id, 'n', c.user_name, 'a', c.ai_fill))
		    from seats c where c.sim_id = s.id), '[]')
		from simulations s left join turns t on t.sim_id = s.id and t.seq = s.head
		where s.id = any($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("summaries: %w", translate(err))
	}
	defer rows.Close()
	out := make(map[string]store.Summary, len(ids))
	for rows.Next() {
		var (
			id    string
			body  []byte
			seats []byte
		)
		if err := rows.Scan(&id, &body, &seats); err != nil {
			return nil, fmt.Errorf("summaries: %w", translate(err))
		}
		var list []struct {
			C, U, N string
			A       bool
		}
		if err := json.Unmarshal(seats, &list); err != nil {
			return nil, fmt.Errorf("summaries: seats of %q: %w", id, err)
		}
		sum := store.Summary{HeadTurn: body, Seats: make(map[string]store.Seat, len(list))}
		for _, c := range list {
			sum.Seats[c.C] = store.Seat{UserID: c.U, UserName: c.N, AIFill: c.A}
		}
		out[id] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summaries: %w", translate(err))
	}
	return out, nil
}

func (s *Store) SetStatus(ctx context.Context, id, status string) (*store.Simulation, error) {
	sim, err := scanSim(s.pool.QueryRow(ctx, `update simulations set status = $2, updated_at = $3
		where id = $1 returning `+simColumns, id, status, s.now()))
	if err != nil {
		return nil, fmt.Errorf("set status of %q to %s: %w", id, status, translate(err))
	}
	return sim, nil
}

func (s *Store) SetOwner(ctx context.Context, id, owner string) error {
	tag, err := s.pool.Exec(ctx, `update simulations set owner = $2 where id = $1`, id, owner)
	if err != nil {
		return fmt.Errorf("set owner of %q: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set owner of %q: simulation: %w", id, store.ErrNotFound)
	}
	return nil
}

func (s *Store) SetVote(ctx context.Context, id string, vote []byte) error {
	tag, err := s.pool.Exec(ctx, `update simulations set vote = $2 where id = $1`, id, vote)
	if err != nil {
		return fmt.Errorf("set vote of %q: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set vote of %q: simulation: %w", id, store.ErrNotFound)
	}
	return nil
}

func (s *Store) ListTurns(ctx context.Context, simID string, since int64, limit int) ([]store.Turn, error) {
	if since < 0 {
		since = 0
	}
	limit = max(limit, 0)
	// One row with nulls when the simulation has no such turns, none when
	// there is no such simulation.
	rows, err := s.pool.Query(ctx, `select t.seq, t.at, t.body from simulations s
		left join lateral (
			select seq, at, body from turns
			where sim_id = s.id and seq > $2 order by seq limit $3
		) t on true
		where s.id = $1
		order by t.seq`, simID, since, limit)
	if err != nil {
		return nil, fmt.Errorf("list turns of %q after %d: %w", simID, since, translate(err))
	}
	defer rows.Close()
	found := false
	turns := []store.Turn{}
	for rows.Next() {
		found = true
		var (
			seq  *int64
			at   *time.Time
			body []byte
		)
		if err := rows.Scan(&seq, &at, &body); err != nil {
			return nil, fmt.Errorf("list turns of %q after %d: %w", simID, since, translate(err))
		}
		if seq == nil {
			continue
		}
		turns = append(turns, store.Turn{Seq: *seq, At: utc(*at), Body: body})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list turns of %q after %d: %w", simID, since, translate(err))
	}
	if !found {
		return nil, fmt.Errorf("list turns of %q: simulation: %w", simID, store.ErrNotFound)
	}
	return turns, nil
}

func (s *Store) ClaimSeat(ctx context.Context, simID, character string, seat store.Seat) error {
	claim := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}) error {
		// The holder reclaiming its seat updates its name; anyone else
		// updates nothing and gets no row back.
		var holder string
		err := q.QueryRow(ctx, `insert into seats (sim_id, character, user_id, user_name, ai_fill) values ($1, $2, $3, $4, $5)
			on conflict (sim_id, character) do update set user_name = excluded.user_name, ai_fill = excluded.ai_fill
			where seats.user_id = excluded.user_id
			returning user_id`, simID, character, seat.UserID, seat.UserName, seat.AIFill).Scan(&holder)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("held by another user: %w", store.ErrConflict)
		}
		return err
	}
	var err error
	if seat.MaxPerUser <= 0 {
		err = claim(s.pool)
	} else {
		// The simulation's row, locked, orders the claims of one story,
		// so two at once cannot both pass the count.
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// Counted by a statement of its own, after the lock: its
			// snapshot sees the claims committed while it waited.
			if _, err := tx.Exec(ctx, `select 1 from simulations where id = $1 for no key update`, simID); err != nil {
				return err
			}
			var held int
			err := tx.QueryRow(ctx, `select count(*) from seats where sim_id = $1 and user_id = $2 and character <> $3`,
				simID, seat.UserID, character).Scan(&held)
			if err != nil {
				return err
			}
			if held >= seat.MaxPerUser {
				return store.ErrTooManySeats
			}
			return claim(tx)
		})
	}
	if errors.Is(err, store.ErrTooManySeats) {
		return fmt.Errorf("claim seat %q of %q: %w", character, simID, err)
	}
	if err != nil {
		return fmt.Errorf("claim seat %q of %q: %w", character, simID, translate(err))
	}
	return nil
}

func (s *Store) ReleaseSeat(ctx context.Context, simID, character, userID string) error {
	tag, err := s.pool.Exec(ctx, `delete from seats where sim_id = $1 and character = $2 and ($3 = '' or user_id = $3)`,
		simID, character, userID)
	if err != nil {
		return fmt.Errorf("release seat %q of %q: %w", character, simID, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("release seat %q of %q: not held: %w", character, simID, store.ErrNotFound)
	}
	return nil
}

func (s *Store) Seats(ctx context.Context, simID string) (map[string]store.Seat, error) {
	rows, err := s.pool.Query(ctx, `select c.character, c.user_id, c.user_name, c.ai_fill from simulations s
		left join seats c on c.sim_id = s.id where s.id = $1`, simID)
	if err != nil {
		return nil, fmt.Errorf("seats of %q: %w", simID, translate(err))
	}
	defer rows.Close()
	found := false
	seats := make(map[string]store.Seat)
	for rows.Next() {
		found = true
		var character, userID, userName *string
		var aiFill *bool
		if err := rows.Scan(&character, &userID, &userName, &aiFill); err != nil {
			return nil, fmt.Errorf("seats of %q: %w", simID, translate(err))
		}
		if character != nil {
			seats[*character] = store.Seat{UserID: *userID, UserName: *userName, AIFill: *aiFill}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("seats of %q: %w", simID, translate(err))
	}
	if !found {
		return nil, fmt.Errorf("seats of %q: simulation: %w", simID, store.ErrNotFound)
	}
	return seats, nil
}

func (s *Store) SeatsOf(ctx context.Context, simIDs []string) (map[string]map[string]store.Seat, error) {
	out := make(map[string]map[string]store.Seat)
	if len(simIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `select sim_id, character, user_id, user_name, ai_fill from seats where sim_id = any($1)`, simIDs)
	if err != nil {
		return nil, fmt.Errorf("seats of %d simulations: %w", len(simIDs), translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var sim, character string
		var seat store.Seat
		if err := rows.Scan(&sim, &character, &seat.UserID, &seat.UserName, &seat.AIFill); err != nil {
			return nil, fmt.Errorf("seats of %d simulations: %w", len(simIDs), translate(err))
		}
		if out[sim] == nil {
			out[sim] = make(map[string]store.Seat)
		}
		out[sim][character] = seat
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("seats of %d simulations: %w", len(simIDs), translate(err))
	}
	return out, nil
}

func (s *Store) ReleaseAllSeats(ctx context.Context, simID string) error {
	var exists bool
	err := s.pool.QueryRow(ctx, `with d as (delete from seats where sim_id = $1)
		select exists (select 1 from simulations where id = $1)`, simID).Scan(&exists)
	if err != nil {
		return fmt.Errorf("release seats of %q: %w", simID, translate(err))
	}
	if !exists {
		return fmt.Errorf("release seats of %q: simulation: %w", simID, store.ErrNotFound)
	}
	return nil
}

// putActionSQL stores an action for the turn asked or, when that turn is
// stored already, for the head's successor. It reads the head under a
// share lock on the simulation's row, which AppendTurn's lock excludes: a
// turn being appended is committed first, and its head is the one read.
// No row: no such simulation.
const putActionSQL = `with s as (
	select head from simulations where id = $1 for share
)
insert into pending_actions (sim_id, character, user_id, action, turn, at, id)
select $1, $2, $3, $4, greatest($5::bigint, s.head + 1), $6, $7 from s
on conflict (sim_id, character) do update
set user_id = excluded.user_id, action = excluded.action, turn = excluded.turn, at = excluded.at, id = excluded.id
returning turn`

func (s *Store) PutAction(ctx context.Context, simID string, a store.PendingAction) (int64, error) {
	action, err := json.Marshal(a.Action)
	if err != nil {
		return 0, fmt.Errorf("put action of %q in %q: %w", a.Character, simID, err)
	}
	var turn int64
	err = s.pool.QueryRow(ctx, putActionSQL, simID, a.Character, a.UserID, action, a.Turn, micro(a.At), a.ID).Scan(&turn)
	if err != nil {
		return 0, fmt.Errorf("put action of %q in %q: %w", a.Character, simID, translate(err))
	}
	return turn, nil
}

func (s *Store) PendingActions(ctx context.Context, simID string) ([]store.PendingAction, error) {
	rows, err := s.pool.Query(ctx, `select p.id, p.character, p.user_id, p.action, p.turn, p.at from simulations s
		left join pending_actions p on p.sim_id = s.id where s.id = $1
		order by p.character`, simID)
	if err != nil {
		return nil, fmt.Errorf("pending actions of %q: %w", simID, translate(err))
	}
	defer rows.Close()
	found := false
	out := []store.PendingAction{}
	for rows.Next() {
		found = true
		var (
			id, character, userID *string
			action                []byte
			turn                  *int64
			at                    *time.Time
		)
		if err := rows.Scan(&id, &character, &userID, &action, &turn, &at); err != nil {
			return nil, fmt.Errorf("pending actions of %q: %w", simID, translate(err))
		}
		if character == nil {
			continue
		}
		a := store.PendingAction{ID: *id, Character: *character, UserID: *userID, Turn: *turn, At: utc(*at)}
		if err := json.Unmarshal(action, &a.Action); err != nil {
			return nil, fmt.Errorf("pending action of %q in %q: %w", *character, simID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending actions of %q: %w", simID, translate(err))
	}
	if !found {
		return nil, fmt.Errorf("pending actions of %q: simulation: %w", simID, store.ErrNotFound)
	}
	return out, nil
}
