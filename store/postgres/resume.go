package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/novel-engine/novel-engine/store"
)

func (s *Store) SetOwners(ctx context.Context, ids []string, owner string) error {
	if _, err := s.pool.Exec(ctx, `update simulations set owner = $2 where id = any($1)`, ids, owner); err != nil {
		return fmt.Errorf("set owner of %d simulations: %w", len(ids), translate(err))
	}
	return nil
}

// Resumes sends its two queries (the records with their states, and the
// pending actions) in one batch: one round trip for any number of ids.
func (s *Store) Resumes(ctx context.Context, ids []string) (map[string]store.Resume, error) {
	out := make(map[string]store.Resume, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	b := &pgx.Batch{}
	b.Queue(`select `+simColumns+`, `+stateColumns+` from simulations where id = any($1)`, ids)
	b.Queue(`select sim_id, id, character, user_id, action, turn, at from pending_actions
		where sim_id = any($1) order by sim_id, character`, ids)
	res := s.pool.SendBatch(ctx, b)
	defer res.Close()
	fail := func(err error) (map[string]store.Resume, error) {
		return nil, fmt.Errorf("resume %d simulations: %w", len(ids), translate(err))
	}
	rows, err := res.Query()
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var row rowState
		sim, err := scanSim(rows, row.dest()...)
		if err != nil {
			rows.Close()
			return fail(err)
		}
		state, err := s.resolve(sim.ID, &row)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("resume %q at %d: %w", sim.ID, sim.Head, err)
		}
		out[sim.ID] = store.Resume{Sim: sim, State: state, Pending: []store.PendingAction{}}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if rows, err = res.Query(); err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			sim    string
			a      store.PendingAction
			action []byte
		)
		if err := rows.Scan(&sim, &a.ID, &a.Character, &a.UserID, &action, &a.Turn, &a.At); err != nil {
			return fail(err)
		}
		if err := json.Unmarshal(action, &a.Action); err != nil {
			return nil, fmt.Errorf("pending action of %q in %q: %w", a.Character, sim, err)
		}
		a.At = utc(a.At)
		if r, ok := out[sim]; ok {
			r.Pending = append(r.Pending, a)
			out[sim] = r
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return out, nil
}
