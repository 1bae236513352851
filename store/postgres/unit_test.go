package postgres

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/store"
	"aipaint-mcp/store/postgres/pgtest"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A malformed URL fails Open with an error that names the setting's form
// but never the password, however the URL is broken.
func TestOpenMalformedURLHidesThePassword(t *testing.T) {
	const pw = "Sup3r-s3cret"
	for _, url := range []string{
		"postgres://alice:" + pw + "@db.example:notaport/aipaint",
		"postgres://alice:" + pw + "@db.example:5432/aipaint?sslmode=bogus",
		"postgres://alice:" + pw + "@[::1/aipaint",
		"postgres://alice:" + pw + "@db.example:5432/aipaint?connect_timeout=x",
		"postgres://alice:" + pw + "@db.example:5432/aipaint%zz",
		"host=db.example password=" + pw + " port=notaport",
		"host=db.example password='" + pw + "' sslmode=bogus",
	} {
		_, err := Open(context.Background(), url, Options{})
		require.Error(t, err, url)
		assert.NotContains(t, err.Error(), pw, url)
		assert.NotContains(t, err.Error(), "s3cret", url)
		assert.Contains(t, err.Error(), "store URL", url)
	}
}

func TestScrub(t *testing.T) {
	for _, c := range []struct{ in, secret, want string }{
		{"dial postgres://u:pw@h:1/d failed", "", "dial postgres://xxxxx@h:1/d failed"},
		{"dial postgres://u:p@w@h:1/d failed", "", "dial postgres://xxxxx@h:1/d failed"},
		{"bad password=abc host=h", "", "bad password=xxxxx host=h"},
		{"bad password='a b' host=h", "", "bad password=xxxxx host=h"},
		{"the secret is hunter2!", "hunter2", "the secret is xxxxx!"},
		{"nothing here", "", "nothing here"},
	} {
		assert.Equal(t, c.want, scrub(c.in, c.secret), c.in)
	}
	assert.Equal(t, "p@ss", passwordOf("postgres://u:p@ss@h/d"))
	assert.Equal(t, "", passwordOf("postgres://h/d"))
	assert.Equal(t, "x y", passwordOf("host=h password='x y'"))
}

// Errors of a server that is not there name no password either.
func TestUnreachableServerHidesThePassword(t *testing.T) {
	const pw = "Sup3r-s3cret"
	// Port 1 on loopback: nothing listens, the connection is refused at once.
	s, err := Open(context.Background(), "postgres://alice:"+pw+"@127.0.0.1:1/aipaint?sslmode=disable",
		Options{Logger: slog.New(slog.DiscardHandler), Timeout: 2 * time.Second})
	require.NoError(t, err, "Open does not need the server")
	defer s.Close()
	_, err = s.Get(t.Context(), "t1")
	require.Error(t, err)
	assert.NotErrorIs(t, err, store.ErrNotFound)
	assert.NotContains(t, err.Error(), pw)
	err = s.Ping(context.Background())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pw)
	_, err = s.Reserve(context.Background(), client.Request{Text: "x", Num: 1}, store.Policy{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), pw)
}

// Task ids PostgreSQL text cannot hold are refused by name, before the
// database is asked (the server need not even answer).
func TestTaskIDsPostgreSQLCannotHold(t *testing.T) {
	s, err := Open(context.Background(), "postgres://alice@127.0.0.1:1/aipaint?sslmode=disable",
		Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer s.Close()
	for _, id := range []string{"a\x00b", "\xff\xfe"} {
		_, err := s.Get(t.Context(), id)
		require.ErrorIs(t, err, ErrTaskID, "%q", id)
		_, err = s.Update(t.Context(), id, func(*store.Record) {})
		require.ErrorIs(t, err, ErrTaskID)
		_, err = s.Commit(t.Context(), store.Reservation{ID: "1"}, store.Record{TaskID: id})
		require.ErrorIs(t, err, ErrTaskID)
		_, err = s.Claim(t.Context(), id, "A", time.Minute)
		require.ErrorIs(t, err, ErrTaskID)
		require.NoError(t, s.Unclaim(t.Context(), id, "A"), "nobody holds what cannot be stored")
		assert.Contains(t, ErrTaskID.Error(), "NUL")
	}
	_, err = s.Update(t.Context(), "", func(*store.Record) {})
	require.Error(t, err)
	_, err = s.Commit(t.Context(), store.Reservation{ID: "not a number"}, store.Record{TaskID: "t"})
	require.Error(t, err, "a reservation of another store")
}

// Stores starting together on an empty schema make it once.
func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 6)
	for i := range stores {
		s, err := Open(context.Background(), url, Options{Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		defer s.Close()
		stores[i] = s
	}
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, s.Ping(context.Background()))
		}()
	}
	wg.Wait()
	all, err := loadMigrations()
	require.NoError(t, err)
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), "SELECT version FROM aipaint_migrations ORDER BY version")
	require.NoError(t, err)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	require.Len(t, versions, len(all))
	for i, m := range all {
		assert.Equal(t, int32(m.version), versions[i])
	}
}

// Every call is bounded by the store's own timeout: a row locked by
// someone who never lets go makes the call fail, not hang.
func TestCallsAreBounded(t *testing.T) {
	url := pgtest.URL(t)
	s, err := Open(context.Background(), url, Options{Logger: slog.New(slog.DiscardHandler), Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Update(t.Context(), "t1", func(*store.Record) {})
	require.NoError(t, err)

	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	tx, err := conn.Begin(context.Background())
	require.NoError(t, err)
	defer tx.Rollback(context.Background())
	_, err = tx.Exec(context.Background(), "SELECT 1 FROM aipaint_tasks WHERE task_id = 't1' FOR UPDATE")
	require.NoError(t, err)
	_, err = tx.Exec(context.Background(), lockSQL(reserveLock))
	require.NoError(t, err)

	_, err = s.Update(t.Context(), "t1", func(r *store.Record) { r.TaskNo = "x" })
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout"), "%v", err)
	_, err = s.Reserve(context.Background(), client.Request{Text: "x", Num: 1}, store.Policy{})
	require.Error(t, err, "the account's lock is held")
	require.NoError(t, tx.Rollback(context.Background()))
	got, err := s.Update(t.Context(), "t1", func(r *store.Record) { r.TaskNo = "y" })
	require.NoError(t, err, "free again")
	assert.Equal(t, "y", got.TaskNo)
}

// The schema's columns follow the record: the copies queries use agree
// with the JSON they index.
func TestColumnsFollowTheRecord(t *testing.T) {
	url := pgtest.URL(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	s, err := Open(context.Background(), url, Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	require.NoError(t, err)
	defer s.Close()
	r, err := s.Update(t.Context(), "t1", func(r *store.Record) { r.Owner, r.Status = "bob", store.StatusDone })
	require.NoError(t, err)
	assert.Equal(t, now.Truncate(time.Microsecond), r.SubmittedAt, "microseconds, as PostgreSQL keeps them")
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var (
		owner, status      string
		submitted, updated time.Time
	)
	require.NoError(t, conn.QueryRow(context.Background(),
		"SELECT owner, status, submitted_at, updated_at FROM aipaint_tasks WHERE task_id = 't1'").Scan(&owner, &status, &submitted, &updated))
	assert.Equal(t, "bob", owner)
	assert.Equal(t, "done", status)
	assert.True(t, r.SubmittedAt.Equal(submitted))
	assert.True(t, r.UpdatedAt.Equal(updated))
	got, err := s.Get(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, r, got)
}

// The schema's outcomes are store's: the migration that made the column
// allows exactly them.
func TestSchemaAllowsTheOutcomes(t *testing.T) {
	raw, err := migrations.ReadFile("migrations/001_init.sql")
	require.NoError(t, err)
	assert.Contains(t, string(raw), "outcome IN ('"+string(store.OutcomeTask)+"', '"+string(store.OutcomeReleased)+"', '"+string(store.OutcomeUnknown)+"')")
}
