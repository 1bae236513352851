// Package postgres is the task store of a team: several servers (replicas)
// share one PostgreSQL database, and reserve, record and follow tasks
// exactly as one process would. It passes the conformance suites
// storetest.Run and storetest.RunLeaser.
//
// Only the team server imports it (behind AIPAINT_STORE_URL): pgx costs the
// desktop's cold start, which never needs it.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"aipaint-mcp/store"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configures a Store at Open.
type Options struct {
	// Location is the zone of "today" and "this month" for the daily
	// limits, Usage and Spending (time.Local when nil).
	Location *time.Location
	// Now is the clock of everything the store records or compares,
	// leases included (time.Now when nil). Replicas compare each other's
	// lease times: their clocks must agree to well within a lease's ttl.
	Now func() time.Time
	// Logger receives what the store does by itself: migrations, lost
	// connections (slog.Default when nil).
	Logger *slog.Logger
	// Timeout bounds each call's work on the database (10 s when 0);
	// Reserve's wait for an identical request is bounded by its ctx.
	Timeout time.Duration
}

// Store is a store.Store, store.Leaser and store.Pinger on PostgreSQL. Safe
// for concurrent use; any number of Stores (in any number of processes)
// may share one schema.
type Store struct {
	pool     *pgxpool.Pool
	now      func() time.Time
	loc      *time.Location
	log      *slog.Logger
	timeout  time.Duration
	password string // never appears in an error: scrubbed

	// migrated is closed once the schema is up to date; migrating (a
	// one-slot semaphore) lets one caller at a time try, bounded by its ctx.
	migrated  chan struct{}
	migrating chan struct{}
	once      sync.Once
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Leaser = (*Store)(nil)
	_ store.Pinger = (*Store)(nil)
)

// ErrTaskID refuses a task id PostgreSQL text cannot hold.
var ErrTaskID = errors.New("task id not storable in PostgreSQL: it holds a NUL byte or is not valid UTF-8")

// Open prepares a Store for url (postgres://user:password@host:port/db?...;
// a search_path parameter picks the schema). It does not need the database
// to answer: until it does, every method returns an error, and the schema
// is brought up to date on first use. Open fails only for a malformed url,
// with an error that never holds the password.
func Open(ctx context.Context, url string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &safeError{msg: "store URL: not a valid PostgreSQL URL (postgres://user:password@host:port/database?sslmode=...)", err: err, secret: passwordOf(url)}
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// A host that drops packets must not hold a call for the OS's
		// minutes-long TCP timeout.
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	s := &Store{
		now: o.Now, loc: o.Location, log: o.Logger, timeout: o.Timeout,
		password:  cfg.ConnConfig.Password,
		migrated:  make(chan struct{}),
		migrating: make(chan struct{}, 1),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.Local
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	// NewWithConfig connects lazily: a database that is down now is no
	// reason to fail (the server starts, and the store answers once the
	// database does).
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.wrap("store: open", err)
	}
	return s, nil
}

// Close closes every connection.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping reports whether the database answers and the schema is usable.
func (s *Store) Ping(ctx context.Context) error {
	return s.call(ctx, "store: ping", func(ctx context.Context) (bool, error) {
		return true, s.pool.Ping(ctx)
	})
}

// clock is the store's time, at the microsecond PostgreSQL keeps: what a
// method returns is what a later read gives back.
func (s *Store) clock() time.Time { return s.now().Truncate(time.Microsecond) }

// ready brings the schema up to date once per Store; a failure is retried
// by the next call.
func (s *Store) ready(ctx context.Context) error {
	select {
	case <-s.migrated:
		return nil
	default:
	}
	select {
	case s.migrating <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the schema: %w", ctx.Err())
	}
	defer func() { <-s.migrating }()
	select {
	case <-s.migrated:
		return nil
	default:
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	s.once.Do(func() { close(s.migrated) })
	return nil
}

// call runs f with a connection's worth of work bounded by the store's
// timeout, once more when the connection turned out to be lost and f may
// run again (retry: f is idempotent or failed before anything committed).
func (s *Store) call(ctx context.Context, op string, f func(ctx context.Context) (retry bool, err error)) error {
	for attempt := 0; ; attempt++ {
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, s.timeout)
			defer cancel()
			// The schema is made in a transaction: trying again is safe.
			retry, err := true, s.ready(ctx)
			if err == nil {
				retry, err = f(ctx)
			}
			// A call that ran out of time (or was cancelled) says nothing of
			// the connections: they are not reset for it.
			if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && connLost(err) {
				// The server restarted or this connection was killed: the
				// pool's other idle connections are likely dead too. Reset
				// drops them, so the next attempt (or call) connects afresh.
				s.pool.Reset()
				// Once per call: its retry failing the same way says nothing new.
				level := slog.LevelWarn
				if attempt > 0 {
					level = slog.LevelDebug
				}
				s.log.Log(ctx, level, "task store: lost the database connection", "op", op, "retry", retry && attempt == 0, "err", s.scrub(err.Error()))
				if retry && attempt == 0 {
					return errRetry
				}
			}
			return err
		}()
		if errors.Is(err, errRetry) {
			continue
		}
		if err != nil {
			var (
				le *store.LimitError
				se *safeError
			)
			if errors.As(err, &le) || errors.As(err, &se) || errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrTaskID) {
				return err
			}
			return s.wrap(op, err)
		}
		return nil
	}
}

var errRetry = errors.New("retry")

// outlive is ctx without its cancellation, for the end of a reservation
// (Commit, Release, Abandon): the upstream has answered (or billed) by
// then, and a caller that gives up must not leave the reservation without
// its outcome (a committed task unrecorded, released images counted until
// StaleReservation). call still bounds each attempt by the store's
// timeout, so the work cannot outlive the request by more than that.
func outlive(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// tx runs f in a transaction through call. A failure before the commit is
// retried (the transaction did nothing); a failure of the commit itself
// only when idempotent (it may have committed).
func (s *Store) tx(ctx context.Context, op string, idempotent bool, f func(ctx context.Context, tx pgx.Tx) error) error {
	return s.call(ctx, op, func(ctx context.Context) (bool, error) {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return true, err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		if err := f(ctx, tx); err != nil {
			return true, err
		}
		return idempotent, tx.Commit(ctx)
	})
}

// connLost reports errors after which the connection is gone (or never
// came): the server restarted, the backend was terminated, the network
// failed. Errors of a statement on a live connection are not.
func connLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P01-03: the server shut down or
		// restarts, the backend was terminated.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
	)
	return pgconn.SafeToRetry(err) || errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, net.ErrClosed)
}

// checkID refuses ids PostgreSQL text cannot hold (the file store hashes
// them into file names; here they would fail deep in the driver).
func checkID(taskID string) error {
	if taskID == "" {
		return errors.New("task store: empty task id")
	}
	if strings.IndexByte(taskID, 0) >= 0 || !utf8.ValidString(taskID) {
		return fmt.Errorf("task store: %q: %w", taskID, ErrTaskID)
	}
	return nil
}

// safeError carries an error whose text is scrubbed of a secret (the
// database password) while errors.Is/As still see the cause.
type safeError struct {
	msg    string
	err    error
	secret string
}

func (e *safeError) Error() string {
	return e.msg + ": " + scrub(e.err.Error(), e.secret)
}

func (e *safeError) Unwrap() error { return e.err }

func (s *Store) wrap(op string, err error) error {
	return &safeError{msg: op, err: err, secret: s.password}
}

func (s *Store) scrub(text string) string { return scrub(text, s.password) }

var (
	urlUserinfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://)[^\s]*@`)
	dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
)

// scrub takes out of text the secret, and whatever looks like a password
// in a URL or a key=value connection string (a malformed URL may not parse
// far enough for its password to be known).
func scrub(text, secret string) string {
	if secret != "" {
		text = strings.ReplaceAll(text, secret, "xxxxx")
	}
	text = urlUserinfo.ReplaceAllString(text, "${1}xxxxx@")
	return dsnPassword.ReplaceAllString(text, "${1}xxxxx")
}

// passwordOf finds the password of a URL or a key=value string on a best
// effort basis, for scrubbing what the parser said about it.
func passwordOf(url string) string {
	if _, rest, ok := strings.Cut(url, "://"); ok {
		userinfo, _, ok := cutLast(rest, "@")
		if !ok {
			return ""
		}
		_, pw, _ := strings.Cut(userinfo, ":")
		return pw
	}
	if m := dsnPassword.FindStringSubmatch(url); m != nil {
		return strings.Trim(m[2], "'")
	}
	return ""
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
