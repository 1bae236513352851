package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"aipaint-mcp/store"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Get reads one task, whoever owns it.
func (s *Store) Get(ctx context.Context, taskID string) (store.Record, error) {
	if err := checkID(taskID); err != nil {
		return store.Record{}, err
	}
	var r store.Record
	err := s.call(ctx, "store: get", func(ctx context.Context) (bool, error) {
		var err error
		r, err = get(ctx, s.pool, taskID, "")
		return true, err
	})
	return r, err
}

func get(ctx context.Context, q querier, taskID, suffix string) (store.Record, error) {
	var raw []byte
	err := q.QueryRow(ctx, "SELECT record FROM aipaint_tasks WHERE task_id = $1"+suffix, taskID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, err
	}
	return decode(raw)
}

func decode(raw []byte) (store.Record, error) {
	var r store.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return store.Record{}, fmt.Errorf("task %s is damaged: %w", r.TaskID, err)
	}
	return r, nil
}

// Update changes one task in a transaction, the row locked meanwhile.
func (s *Store) Update(ctx context.Context, taskID string, f func(*store.Record)) (store.Record, error) {
	if err := checkID(taskID); err != nil {
		return store.Record{}, err
	}
	var out store.Record
	// Not idempotent: were the commit to fail ambiguously, f would run
	// twice.
	err := s.tx(ctx, "store: update", false, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = s.update(ctx, tx, taskID, s.clock(), f)
		return err
	})
	return out, err
}

// update is Update within tx: store.Apply (defaults for a new task, image
// expiry from the creation time, and no write when nothing changed), then
// the row written.
func (s *Store) update(ctx context.Context, tx pgx.Tx, taskID string, now time.Time, f func(*store.Record)) (store.Record, error) {
	// Two replicas may create the same task at once: the one whose insert
	// finds the row already there reads it (now committed) and applies f
	// to it instead.
	for range 3 {
		old, err := get(ctx, tx, taskID, " FOR UPDATE")
		stored := err == nil
		switch {
		case errors.Is(err, store.ErrNotFound):
			old = store.Record{TaskID: taskID}
		case err != nil:
			return store.Record{}, err
		}
		// Compared, returned and stored as PostgreSQL keeps it (normal).
		r, changed := store.Apply(normal(old), now, func(r *store.Record) { f(r); *r = normal(*r) })
		r = normal(r)
		if !changed {
			return r, nil // nothing new: no write
		}
		raw, err := json.Marshal(r)
		if err != nil {
			return store.Record{}, fmt.Errorf("task %s: %w", taskID, err)
		}
		if stored {
			_, err = tx.Exec(ctx, `
				UPDATE aipaint_tasks SET owner = $2, status = $3, submitted_at = $4, updated_at = $5, record = $6
				WHERE task_id = $1`, taskID, r.Owner, string(r.Status), r.SubmittedAt, r.UpdatedAt, raw)
			return r, err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO aipaint_tasks (task_id, owner, status, submitted_at, updated_at, record)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (task_id) DO NOTHING`,
			taskID, r.Owner, string(r.Status), r.SubmittedAt, r.UpdatedAt, raw)
		if err != nil {
			return store.Record{}, err
		}
		if tag.RowsAffected() == 1 {
			return r, nil
		}
	}
	return store.Record{}, fmt.Errorf("task %s: created concurrently, again and again", taskID)
}

// normal is r as stored: times in UTC, to the microsecond PostgreSQL keeps
// (what a write returns equals what a later read gives).
func normal(r store.Record) store.Record {
	t := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.UTC().Truncate(time.Microsecond)
	}
	r.SubmittedAt, r.CreatedAt, r.DoneAt, r.UpdatedAt = t(r.SubmittedAt), t(r.CreatedAt), t(r.DoneAt), t(r.UpdatedAt)
	r.Images = slices.Clone(r.Images)
	for i := range r.Images {
		r.Images[i].ExpiresAt = t(r.Images[i].ExpiresAt)
	}
	return r
}

// List returns owner's tasks newest first (owner "" = everyone's), at most
// limit (0 = all).
func (s *Store) List(ctx context.Context, owner string, limit int) ([]store.Record, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	return s.list(ctx, "store: list", `
		SELECT record FROM aipaint_tasks WHERE ($1 = '' OR owner = $1)
		ORDER BY submitted_at DESC, task_id DESC LIMIT $2`, owner, lim)
}

// UpdatedSince returns every owner's tasks written at or after since,
// newest first.
func (s *Store) UpdatedSince(ctx context.Context, since time.Time) ([]store.Record, error) {
	return s.list(ctx, "store: updated since", `
		SELECT record FROM aipaint_tasks WHERE updated_at >= $1
		ORDER BY submitted_at DESC, task_id DESC`, since.Truncate(time.Microsecond))
}

func (s *Store) list(ctx context.Context, op, sql string, args ...any) ([]store.Record, error) {
	var out []store.Record
	err := s.call(ctx, op, func(ctx context.Context) (bool, error) {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return true, err
		}
		defer rows.Close()
		out = out[:0]
		for rows.Next() {
			var raw []byte
			if err := rows.Scan(&raw); err != nil {
				return true, err
			}
			// A damaged record is skipped, as the file store does: one
			// must not hide the others.
			if r, err := decode(raw); err == nil {
				out = append(out, r)
			}
		}
		return true, rows.Err()
	})
	return out, err
}
