package postgres

import (
	"context"
	"errors"
	"time"

	"aipaint-mcp/store"

	"github.com/jackc/pgx/v5"
)

// Leases live on the task's row (lease_holder, lease_until), timed by the
// store's clock: a lease is live while now < lease_until.

// Claim takes (or renews) the lease of one task for holder, unless another
// holder's lease is live. ErrNotFound for a task not stored.
func (s *Store) Claim(ctx context.Context, taskID, holder string, ttl time.Duration) (bool, error) {
	if err := checkID(taskID); err != nil {
		return false, err
	}
	var ok bool
	err := s.call(ctx, "store: claim", func(ctx context.Context) (bool, error) {
		now := s.clock()
		var claimed, exists bool
		// One statement: the update decides, and the second part tells an
		// unknown task from one held by another.
		err := s.pool.QueryRow(ctx, `
			WITH c AS (
				UPDATE aipaint_tasks SET lease_holder = $2, lease_until = $3
				WHERE task_id = $1 AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until <= $4)
				RETURNING 1)
			SELECT EXISTS (SELECT 1 FROM c), EXISTS (SELECT 1 FROM aipaint_tasks WHERE task_id = $1)`,
			taskID, holder, now.Add(ttl), now).Scan(&claimed, &exists)
		if err == nil && !claimed && !exists {
			err = store.ErrNotFound
		}
		ok = claimed
		return true, err // claiming again for the same holder changes nothing more
	})
	return ok, err
}

// ClaimPending takes up to max pending tasks submitted at or after since
// whose lease is free or expired, skipping rows another replica is
// claiming at this moment (SKIP LOCKED): no task goes to two holders.
func (s *Store) ClaimPending(ctx context.Context, holder string, since time.Time, ttl time.Duration, max int) ([]store.Record, error) {
	if max <= 0 {
		return nil, nil
	}
	var out []store.Record
	err := s.call(ctx, "store: claim pending", func(ctx context.Context) (bool, error) {
		now := s.clock()
		rows, err := s.pool.Query(ctx, `
			UPDATE aipaint_tasks SET lease_holder = $1, lease_until = $2
			WHERE task_id IN (
				SELECT task_id FROM aipaint_tasks
				WHERE status = 'pending' AND submitted_at >= $3 AND (lease_holder IS NULL OR lease_until <= $4)
				ORDER BY submitted_at DESC LIMIT $5
				FOR UPDATE SKIP LOCKED)
			RETURNING record`,
			holder, now.Add(ttl), since.Truncate(time.Microsecond), now, max)
		if err != nil {
			return true, err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Record, error) {
			var raw []byte
			if err := row.Scan(&raw); err != nil {
				return store.Record{}, err
			}
			return decode(raw)
		})
		// Not retried: had the update gone through, its tasks would be
		// this holder's without it knowing until the leases expire.
		return false, err
	})
	return out, err
}

// Renew extends holder's leases on taskIDs: live ones, and expired ones
// nobody else took (holder was their only follower all along). It returns
// the ids holder no longer holds.
func (s *Store) Renew(ctx context.Context, holder string, taskIDs []string, ttl time.Duration) ([]string, error) {
	if len(taskIDs) == 0 {
		return nil, nil
	}
	var lost []string
	err := s.call(ctx, "store: renew", func(ctx context.Context) (bool, error) {
		rows, err := s.pool.Query(ctx, `
			UPDATE aipaint_tasks SET lease_until = $3
			WHERE lease_holder = $1 AND task_id = ANY($2) RETURNING task_id`,
			holder, storable(taskIDs), s.clock().Add(ttl))
		if err != nil {
			return true, err
		}
		held, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return true, err
		}
		has := map[string]bool{}
		for _, id := range held {
			has[id] = true
		}
		lost = lost[:0]
		for _, id := range taskIDs {
			if !has[id] {
				lost = append(lost, id)
			}
		}
		return true, nil // renewing twice is renewing once
	})
	return lost, err
}

// storable leaves out the ids no task can have (checkID): PostgreSQL would
// refuse the whole array for one of them.
func storable(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if checkID(id) == nil {
			out = append(out, id)
		}
	}
	return out
}

// Holders counts the holders of live leases.
func (s *Store) Holders(ctx context.Context) (int, error) {
	var n int
	err := s.call(ctx, "store: holders", func(ctx context.Context) (bool, error) {
		return true, s.pool.QueryRow(ctx, `
			SELECT count(DISTINCT lease_holder) FROM aipaint_tasks
			WHERE status = 'pending' AND lease_until > $1`, s.clock()).Scan(&n)
	})
	return n, err
}

// Unclaim lets go of holder's lease; another holder's is left alone.
func (s *Store) Unclaim(ctx context.Context, taskID, holder string) error {
	if err := checkID(taskID); err != nil {
		if errors.Is(err, ErrTaskID) {
			return nil // such a task cannot be stored, so nobody holds it
		}
		return err
	}
	return s.call(ctx, "store: unclaim", func(ctx context.Context) (bool, error) {
		_, err := s.pool.Exec(ctx, `
			UPDATE aipaint_tasks SET lease_holder = NULL, lease_until = NULL
			WHERE task_id = $1 AND lease_holder = $2`, taskID, holder)
		return true, err
	})
}
