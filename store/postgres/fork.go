package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/novel-engine/novel-engine/store"
)

// CreateFork stores the fork, its inherited turns and its world state in
// one transaction, so a fork is never seen without its history.
func (s *Store) CreateFork(ctx context.Context, sim *store.Simulation, turns []store.Turn, state []byte) error {
	if err := store.CheckForkTurns(sim, turns); err != nil {
		return err
	}
	var lineage []byte
	if len(sim.Lineage) > 0 {
		var err error
		if lineage, err = json.Marshal(sim.Lineage); err != nil {
			return fmt.Errorf("fork %q: lineage: %w", sim.ID, err)
		}
	}
	created := micro(sim.CreatedAt)
	if sim.CreatedAt.IsZero() {
		created = s.now()
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `insert into simulations (`+simColumns+`, state)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16, $18, $19, $20, null, $17)`,
			sim.ID, sim.Title, sim.ScenarioID, sim.Scenario, sim.Status, sim.Seed, sim.Head, sim.MaxTurns,
			sim.TurnIntervalMS, sim.WaitForPlayers, sim.CreatedBy, created, sim.Owner,
			sim.Parent, sim.ForkedAt, lineage, state, sim.AudienceVotes, sim.AnonymousVotes, sim.VoteWindowMS)
		if err != nil {
			return err
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"turns"}, []string{"sim_id", "seq", "at", "body"},
			pgx.CopyFromSlice(len(turns), func(i int) ([]any, error) {
				return []any{sim.ID, turns[i].Seq, micro(turns[i].At), turns[i].Body}, nil
			}))
		return err
	})
	if err != nil {
		return fmt.Errorf("create fork %q: %w", sim.ID, translate(err))
	}
	s.bases.drop(sim.ID) // a base kept for a story of this id is not this one's
	sim.CreatedAt, sim.UpdatedAt = created, created
	return nil
}

func (s *Store) ListForks(ctx context.Context, id string) ([]*store.Simulation, error) {
	rows, err := s.pool.Query(ctx, `select `+simColumns+` from simulations
		where parent = $1 and parent <> '' order by created_at, id`, id)
	if err != nil {
		return nil, fmt.Errorf("forks of %q: %w", id, translate(err))
	}
	sims, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Simulation, error) { return scanSim(r) })
	if err != nil {
		return nil, fmt.Errorf("forks of %q: %w", id, translate(err))
	}
	return sims, nil
}
