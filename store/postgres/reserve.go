package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/store"

	"github.com/jackc/pgx/v5"
)

// Reserve decides (store.Decide), in one transaction serialised across
// every replica by an advisory lock, deduplication (the same person's
// identical request in the window), the account's daily limit and the
// person's, and records the reservation. An identical request still in
// flight is waited for, until its outcome, store.StaleReservation, or the
// end of ctx.
func (s *Store) Reserve(ctx context.Context, req client.Request, p store.Policy) (store.Reservation, error) {
	return store.Reserving(ctx, func() (d store.Decision, err error) {
		err = s.tx(ctx, "store: reserve", false, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			d, err = s.reserve(ctx, tx, req, p)
			return err
		})
		return d, err
	})
}

func (s *Store) reserve(ctx context.Context, tx pgx.Tx, req client.Request, p store.Policy) (store.Decision, error) {
	if _, err := tx.Exec(ctx, lockSQL(reserveLock)); err != nil {
		return store.Decision{}, err
	}
	now := s.clock()
	owner, key := p.Person.Name, req.Key()
	var (
		f   store.Facts
		err error
	)
	f.Team, f.Mine, err = s.today(ctx, tx, now, owner)
	if err != nil {
		return store.Decision{}, err
	}
	if p.Dedups() {
		if f.Latest, err = latest(ctx, tx, owner, key, now.Add(-p.DedupWindow)); err != nil {
			return store.Decision{}, err
		}
	}
	d := store.Decide(p, req, now, f)
	if d.Verdict != store.Reserve {
		return d, nil
	}
	var id int64
	err = tx.QueryRow(ctx, `
		INSERT INTO aipaint_reservations (owner, request_key, images, reserved_at)
		VALUES ($1, $2, $3, $4) RETURNING id`, owner, key, req.Num, now).Scan(&id)
	if err != nil {
		return store.Decision{}, err
	}
	d.Reservation.ID, d.Reservation.Day = strconv.FormatInt(id, 10), now.In(s.loc).Format(time.DateOnly)
	return d, nil
}

// latest is owner's latest reservation of the request key after since
// that was not released, and its task when it has one; nil when none.
func latest(ctx context.Context, tx pgx.Tx, owner, key string, since time.Time) (*store.Prior, error) {
	var (
		at      time.Time
		outcome *string
		raw     []byte
	)
	err := tx.QueryRow(ctx, `
		SELECT r.reserved_at, r.outcome, t.record
		FROM aipaint_reservations r LEFT JOIN aipaint_tasks t ON t.task_id = r.task_id
		WHERE r.owner = $1 AND r.request_key = $2 AND r.reserved_at > $3
		  AND r.outcome IS DISTINCT FROM $4
		ORDER BY r.reserved_at DESC, r.id DESC LIMIT 1`,
		owner, key, since, store.OutcomeReleased).Scan(&at, &outcome, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := &store.Prior{At: at}
	if outcome != nil {
		l.Outcome = store.Outcome(*outcome)
	}
	if raw != nil {
		rec, err := decode(raw)
		if err != nil {
			return nil, err
		}
		l.Task = &rec
	}
	return l, nil
}

// day is the span of the day t is in, in the store's zone.
func (s *Store) day(t time.Time) (from, to time.Time) {
	t = t.In(s.loc)
	from = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.loc)
	return from, from.AddDate(0, 0, 1)
}

// today counts the images of today's reservations that were not released:
// the account's, and owner's.
func (s *Store) today(ctx context.Context, q querier, now time.Time, owner string) (team, mine int, err error) {
	from, to := s.day(now)
	err = q.QueryRow(ctx, `
		SELECT coalesce(sum(images), 0), coalesce(sum(images) FILTER (WHERE owner = $3), 0)
		FROM aipaint_reservations
		WHERE reserved_at >= $1 AND reserved_at < $2 AND outcome IS DISTINCT FROM $4`,
		from, to, owner, store.OutcomeReleased).Scan(&team, &mine)
	return team, mine, err
}

func reservationID(res store.Reservation) (int64, error) {
	id, err := strconv.ParseInt(res.ID, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: not a reservation of this store: %q", res.ID)
	}
	return id, nil
}

// Commit records the task a reservation's submit created, and the task
// itself, in one transaction: no replica sees the one without the other.
// It may be repeated (a retry after an error whose commit went through).
func (s *Store) Commit(ctx context.Context, res store.Reservation, r store.Record) (store.Record, error) {
	id, err := reservationID(res)
	if err != nil {
		return store.Record{}, err
	}
	if err := checkID(r.TaskID); err != nil {
		return store.Record{}, err
	}
	r.Owner = res.Owner
	var out store.Record
	err = s.tx(outlive(ctx), "store: commit", true, func(ctx context.Context, tx pgx.Tx) error {
		now := s.clock()
		if _, err := tx.Exec(ctx, `
			UPDATE aipaint_reservations SET outcome = $4, task_id = $2, ended_at = $3 WHERE id = $1`,
			id, r.TaskID, now, store.OutcomeTask); err != nil {
			return err
		}
		var err error
		out, err = s.update(ctx, tx, r.TaskID, now, func(old *store.Record) { *old = store.Committed(*old, r) })
		return err
	})
	return out, err
}

// Release gives back a reservation whose submit billed nothing. An outcome
// is final: a reservation already ended is left as it is.
func (s *Store) Release(ctx context.Context, res store.Reservation) error {
	return s.end(ctx, res, store.OutcomeReleased)
}

// Abandon ends a reservation whose submit may have been billed but gave no
// task id: its images keep counting, and nobody waits for it.
func (s *Store) Abandon(ctx context.Context, res store.Reservation) error {
	return s.end(ctx, res, store.OutcomeUnknown)
}

func (s *Store) end(ctx context.Context, res store.Reservation, outcome store.Outcome) error {
	id, err := reservationID(res)
	if err != nil {
		return err
	}
	return s.call(outlive(ctx), "store: "+string(outcome), func(ctx context.Context) (bool, error) {
		_, err := s.pool.Exec(ctx, `
			UPDATE aipaint_reservations SET outcome = $2, ended_at = $3 WHERE id = $1 AND outcome IS NULL`,
			id, outcome, s.clock())
		return true, err // the same update again changes nothing
	})
}

// Usage reports today's images: the account's, and p.Person's when named.
func (s *Store) Usage(ctx context.Context, p store.Policy) (store.Usage, error) {
	var u store.Usage
	err := s.call(ctx, "store: usage", func(ctx context.Context) (bool, error) {
		team, mine, err := s.today(ctx, s.pool, s.clock(), p.Person.Name)
		u = store.UsageOf(p, team, mine)
		return true, err
	})
	return u, err
}

// Spending reports each owner's images today and this calendar month.
func (s *Store) Spending(ctx context.Context) ([]store.Spend, error) {
	var out []store.Spend
	err := s.call(ctx, "store: spending", func(ctx context.Context) (bool, error) {
		now := s.clock().In(s.loc)
		first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, s.loc)
		from, to := s.day(now)
		rows, err := s.pool.Query(ctx, `
			SELECT owner, coalesce(sum(images) FILTER (WHERE reserved_at >= $3 AND reserved_at < $4), 0), sum(images)
			FROM aipaint_reservations
			WHERE reserved_at >= $1 AND reserved_at < $2 AND outcome IS DISTINCT FROM $5
			GROUP BY owner ORDER BY owner`,
			first, first.AddDate(0, 1, 0), from, to, store.OutcomeReleased)
		if err != nil {
			return true, err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Spend, error) {
			var sp store.Spend
			err := row.Scan(&sp.Owner, &sp.Today, &sp.Month)
			return sp, err
		})
		return true, err
	})
	return out, err
}
