package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/novel-engine/novel-engine/store"
)

// lockSQL takes the rows of a batch's simulations, in id order, before
// appendSQL reads their pending actions: a PutAction in progress (it
// holds a share lock) is committed first, and each appendSQL, a statement
// of its own with a snapshot taken after the lock, sees its action.
const lockSQL = `select 1 from simulations where id = any($1::text[]) order by id for no key update`

// appendSQL stores one turn if and only if it is the head's successor and
// played every pending action due by it, in one statement, so atomically:
// the simulation's head, state and status, the turn, and the removal of
// the actions it played (by id). The state is written either in full ($11
// true: $4 is the new base, tagged $9) or as a delta ($10) against the
// base tagged $9, which must still be the row's (see statedelta.go). It
// always returns one row: whether the turn was stored, the head it found
// (NULL when there is no such simulation), whether an action due was not
// played, and the row's base tag.
const appendSQL = `with due as (
	select exists (
		select 1 from pending_actions
		 where sim_id = $1 and turn <= $2::bigint and id <> all($8::text[])
	) as unplayed
), upd as (
	update simulations
	   set head = $2::bigint, status = coalesce(nullif($5::text, ''), status), updated_at = $6,
	       state = case when $11::boolean then $4::bytea else state end,
	       state_tag = $9::bigint, state_delta = $10::bytea
	 where id = $1 and head = $2::bigint - 1 and not (select unplayed from due)
	   and ($11::boolean or state_tag = $9::bigint)
	returning id
), ins as (
	insert into turns (sim_id, seq, at, body)
	select id, $2::bigint, $3, $7 from upd
), del as (
	delete from pending_actions p using upd
	 where p.sim_id = upd.id and p.id = any($8::text[])
)
select exists (select 1 from upd), (select head from simulations where id = $1), (select unplayed from due),
	(select state_tag from simulations where id = $1)`

// appendReq is one AppendTurn call waiting for a flusher.
type appendReq struct {
	ctx    context.Context // the caller's: a request it gave up on is not written
	simID  string
	turn   store.Turn
	state  []byte
	status string
	played []string
	done   chan error // buffered: the flusher never blocks on it

	// How the state is written: in full as a new base tagged tag, or as
	// delta against the base tagged tag.
	tag   int64
	delta []byte
}

// encode chooses how the state is written: as a delta against the base
// the cache knows for the simulation, unless there is none or the delta
// would be too long for it to pay.
func (r *appendReq) encode(bases *baseCache) {
	if tag, base, ok := bases.get(r.simID); ok {
		if delta := encodeDelta(base, r.state, len(r.state)/rebaseShare); delta != nil {
			r.tag, r.delta = tag, delta
			return
		}
	}
	r.writeFull()
}

// writeFull makes the request write its state in full, as a new base.
func (r *appendReq) writeFull() { r.tag, r.delta = newStateTag(), nil }

// learn updates the cache with what the request's answer says the row's
// base now is.
func (r *appendReq) learn(bases *baseCache, err error) {
	switch {
	case err != nil || r.status != "":
		// Outcome unknown, or refused, or the story has ended: its next
		// writer (if any) starts again from a full state.
		bases.drop(r.simID)
	case r.delta == nil:
		bases.put(r.simID, r.tag, bytes.Clone(r.state))
	}
}

func (r *appendReq) args(now any) []any {
	body := r.turn.Body
	if body == nil {
		body = []byte{}
	}
	played := r.played
	if played == nil {
		played = []string{} // never NULL: "<> all(NULL)" is not true
	}
	full := r.delta == nil
	state := r.state
	if !full {
		state = nil
	}
	return []any{r.simID, r.turn.Seq, micro(r.turn.At), state, r.status, now, body, played, r.tag, r.delta, full}
}

// AppendTurn stores t as the simulation's new head with the state after it
// (see store.Store). Concurrent calls are gathered into batches written in
// one round trip and one commit each; every call still gets its own answer,
// and one refused turn does not fail the others.
//
// If ctx ends or the database fails after the turn was sent, the answer is
// an error though the turn may be stored: LoadState tells, and the fence
// refuses a second copy.
func (s *Store) AppendTurn(ctx context.Context, simID string, t store.Turn, state []byte, status string, played []string) error {
	req := &appendReq{ctx: ctx, simID: simID, turn: t, state: state, status: status, played: played, done: make(chan error, 1)}
	req.encode(s.bases)
	select {
	case <-s.closing:
		return fmt.Errorf("append turn %d to %q: %w: %w", t.Seq, simID, store.ErrUnavailable, errClosed)
	default:
	}
	select {
	case s.appends <- req:
	case <-ctx.Done():
		return fmt.Errorf("append turn %d to %q: waiting for the queue: %w", t.Seq, simID, translate(ctx.Err()))
	case <-s.closing:
		return fmt.Errorf("append turn %d to %q: %w: %w", t.Seq, simID, store.ErrUnavailable, errClosed)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("append turn %d to %q: outcome unknown: %w", t.Seq, simID, translate(ctx.Err()))
	case <-s.stopped:
		// A request queued as the last flusher left is never written.
		select {
		case err := <-req.done:
			return err
		default:
			return fmt.Errorf("append turn %d to %q: %w: %w", t.Seq, simID, store.ErrUnavailable, errClosed)
		}
	}
}

// flushLoop is one flusher: it takes the requests waiting, up to MaxBatch,
// writes them, answers them, and goes back for more. Requests arriving
// while it writes wait for the next batch, so batches grow with load and a
// lone request is written at once. On Close it writes what is queued and
// returns.
func (s *Store) flushLoop() {
	defer s.flushers.Done()
	batch := make([]*appendReq, 0, s.opts.MaxBatch)
	for {
		select {
		case r := <-s.appends:
			batch = append(batch, r)
		case <-s.closing:
			s.drain(batch[:0])
			return
		}
	gather:
		for len(batch) < s.opts.MaxBatch {
			select {
			case r := <-s.appends:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		s.flush(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// drain writes every request still queued, after Close.
func (s *Store) drain(batch []*appendReq) {
	for {
		select {
		case r := <-s.appends:
			batch = append(batch, r)
			if len(batch) < s.opts.MaxBatch {
				continue
			}
		default:
		}
		if len(batch) == 0 {
			return
		}
		s.flush(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// flush writes one batch and answers each request in it.
func (s *Store) flush(batch []*appendReq) {
	// Callers that gave up are answered, not written.
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			s.answer(r, fmt.Errorf("append turn %d to %q: %w", r.turn.Seq, r.simID, translate(err)))
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// Every batch locks simulation rows in the same order, so that two
	// batches (on this node or another) never deadlock.
	slices.SortStableFunc(live, func(a, b *appendReq) int {
		return cmp.Or(cmp.Compare(a.simID, b.simID), cmp.Compare(a.turn.Seq, b.turn.Seq))
	})
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.FlushTimeout)
	defer cancel()

	stale := s.write(ctx, live)
	if len(stale) > 0 {
		// Another writer changed these rows' bases since this Store
		// learnt them: write their states in full.
		for _, r := range stale {
			r.writeFull()
		}
		for _, r := range s.write(ctx, stale) {
			s.answer(r, fmt.Errorf("append turn %d to %q: %w", r.turn.Seq, r.simID, errStaleBase))
		}
	}
}

// write writes the requests, sorted by simulation, as one batch and
// answers each, except those refused only because the delta they carry is
// against a base their row no longer holds: those it returns, unanswered.
func (s *Store) write(ctx context.Context, reqs []*appendReq) (stale []*appendReq) {
	results, err := s.writeBatch(ctx, reqs)
	if err == nil {
		for i, r := range reqs {
			if errors.Is(results[i], errStaleBase) {
				stale = append(stale, r)
				continue
			}
			s.answer(r, results[i])
		}
		return stale
	}
	if !oneStatementFailed(err) || len(reqs) == 1 {
		err = translate(err)
		for _, r := range reqs {
			s.answer(r, fmt.Errorf("append turn %d to %q: %w", r.turn.Seq, r.simID, err))
		}
		return nil
	}
	// One statement failed and took the batch's transaction with it; write
	// each turn alone, so that only the faulty one fails.
	for _, r := range reqs {
		stale = append(stale, s.write(ctx, []*appendReq{r})...)
	}
	return stale
}

// answer gives a request its answer, after updating the cache of bases
// with it: the caller's next turn is encoded against what it says.
func (s *Store) answer(r *appendReq, err error) {
	r.learn(s.bases, err)
	r.done <- err
}

// writeBatch sends the requests as one pgx.Batch: one round trip, and one
// implicit transaction, so one commit. It returns each request's answer, or
// an error (untranslated) when the batch as a whole failed and nothing of it
// was stored.
func (s *Store) writeBatch(ctx context.Context, reqs []*appendReq) ([]error, error) {
	now := s.now()
	b := &pgx.Batch{}
	ids := make([]string, 0, len(reqs))
	for _, r := range reqs {
		if len(ids) == 0 || ids[len(ids)-1] != r.simID { // reqs are sorted by id
			ids = append(ids, r.simID)
		}
	}
	b.Queue(lockSQL, ids)
	for _, r := range reqs {
		b.Queue(appendSQL, r.args(now)...)
	}
	br := s.pool.SendBatch(ctx, b)
	results := make([]error, len(reqs))
	_, firstErr := br.Exec()
	for i, r := range reqs {
		if firstErr != nil {
			break
		}
		var (
			applied, unplayed bool
			head, tag         *int64
		)
		if err := br.QueryRow().Scan(&applied, &head, &unplayed, &tag); err != nil {
			firstErr = err
			break
		}
		switch {
		case applied:
		case head == nil:
			results[i] = fmt.Errorf("append turn %d to %q: simulation: %w", r.turn.Seq, r.simID, store.ErrNotFound)
		case *head == r.turn.Seq-1 && unplayed:
			results[i] = fmt.Errorf("append turn %d to %q: %w", r.turn.Seq, r.simID, store.ErrActionsPending)
		case *head == r.turn.Seq-1 && r.delta != nil && (tag == nil || *tag != r.tag):
			results[i] = errStaleBase
		default:
			results[i] = fmt.Errorf("append turn %d to %q at head %d: %w", r.turn.Seq, r.simID, *head, store.ErrConflict)
		}
	}
	// The commit happens at the end of the batch: only its success makes
	// the answers above true.
	if err := br.Close(); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return results, nil
}

// oneStatementFailed reports whether a batch failed because the server
// refused one of its statements (bad data, a constraint, a lock conflict),
// so that writing each turn alone lets the others through; not when the
// connection, the server or the time allowed failed the whole batch.
func oneStatementFailed(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", // data exception
		"23", // integrity constraint violation
		"40", // transaction rollback: deadlock, serialization failure
		"54": // program limit exceeded
		return true
	}
	return false
}
