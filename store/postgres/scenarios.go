package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/novel-engine/novel-engine/store"
)

func (s *Store) SaveScenario(ctx context.Context, sc store.StoredScenario) error {
	data := sc.Data
	if data == nil {
		data = []byte{}
	}
	if _, err := s.pool.Exec(ctx, `insert into scenarios (id, owner, data) values ($1, $2, $3)`, sc.ID, sc.Owner, data); err != nil {
		return fmt.Errorf("save scenario %q: %w", sc.ID, translate(err))
	}
	return nil
}

func (s *Store) GetScenario(ctx context.Context, id string) (*store.StoredScenario, error) {
	sc := store.StoredScenario{ID: id}
	if err := s.pool.QueryRow(ctx, `select owner, rev, data from scenarios where id = $1`, id).Scan(&sc.Owner, &sc.Rev, &sc.Data); err != nil {
		return nil, fmt.Errorf("scenario %q: %w", id, translate(err))
	}
	return &sc, nil
}

func (s *Store) ListScenarios(ctx context.Context) ([]store.StoredScenario, error) {
	rows, err := s.pool.Query(ctx, `select id, owner, rev from scenarios order by id`)
	if err != nil {
		return nil, fmt.Errorf("list scenarios: %w", translate(err))
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.StoredScenario, error) {
		var sc store.StoredScenario
		err := row.Scan(&sc.ID, &sc.Owner, &sc.Rev)
		return sc, err
	})
	if err != nil {
		return nil, fmt.Errorf("list scenarios: %w", translate(err))
	}
	return all, nil
}

func (s *Store) DeleteScenario(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `delete from scenarios where id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete scenario %q: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("scenario %q: %w", id, store.ErrNotFound)
	}
	return nil
}

func (s *Store) CountScenarios(ctx context.Context, owner string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `select count(*) from scenarios where owner = $1`, owner).Scan(&n); err != nil {
		return 0, fmt.Errorf("count scenarios of %q: %w", owner, translate(err))
	}
	return n, nil
}
