package postgres

import (
	"context"
	"fmt"
	"time"
)

// DeleteEndedBefore deletes, with their turns, seats and actions, the
// stories that ended (finished or failed) before t, at most batch at a
// time so no statement holds locks long; it returns how many went.
func (s *Store) DeleteEndedBefore(ctx context.Context, t time.Time, batch int) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, `delete from simulations where id in (
			select id from simulations where status in ('finished', 'failed') and updated_at < $1 limit $2)`, t, batch)
		if err != nil {
			return total, fmt.Errorf("delete ended stories: %w", translate(err))
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}

// Retain deletes, every interval until ctx ends, the stories that ended
// longer than keep ago; failures are passed to onErr and tried again at
// the next round.
func (s *Store) Retain(ctx context.Context, keep, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.DeleteEndedBefore(ctx, s.now().Add(-keep), 500); err != nil && ctx.Err() == nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
