package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/store"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fault tests run on a private cluster (cluster_test.go): they kill
// connections and restart the server. What they check is what money needs:
// a call ends with an error or succeeds, a reservation is never counted
// twice, a committed task is never lost, and the store recovers by itself.

// quiet drops the store's logs: the faults make many, on purpose.
var quiet = slog.New(slog.DiscardHandler)

func openStore(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url+"&application_name="+storeApp, Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func request(text string) client.Request {
	return client.Request{Text: text, Style: "古风", Resolution: "1024*1024", Num: 1}
}

// rowsOf counts the reservations of one request (each test request is
// distinct: more than one row would be one request counted twice).
func rowsOf(t *testing.T, conn *pgx.Conn, text string) int {
	t.Helper()
	var n int
	require.NoError(t, conn.QueryRow(context.Background(),
		"SELECT count(*) FROM aipaint_reservations WHERE request_key = $1", request(text).Key()).Scan(&n))
	return n
}

// waitingBackend waits until a connection of the store waits for a lock,
// and returns its process id.
func waitingBackend(t *testing.T, monitor *pgx.Conn) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		var pid int
		err := monitor.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock' LIMIT 1`, storeApp).Scan(&pid)
		if err == nil {
			return pid
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("waiting for the store to wait for a lock: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the store never waited for the lock held by the test")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func terminate(t *testing.T, monitor *pgx.Conn, pid int) {
	t.Helper()
	var ok bool
	require.NoError(t, monitor.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", pid).Scan(&ok))
	require.True(t, ok, "backend %d terminated", pid)
}

// TestFaultConnectionKilledMidTransaction: the connection of a Reserve,
// then of a Commit, is terminated while its transaction waits on a lock
// the test holds.
func TestFaultConnectionKilledMidTransaction(t *testing.T) {
	c := privateCluster(t)
	url := c.database(t)
	s := openStore(t, url)
	ctx := context.Background()
	p := store.Policy{DedupWindow: time.Hour}
	monitor := c.connect(t, url)

	res0, err := s.Reserve(ctx, request("t0"), p)
	require.NoError(t, err)
	_, err = s.Commit(t.Context(), res0, store.Record{TaskID: "t0", Request: request("t0")})
	require.NoError(t, err)

	// Reserve: killed while it waits for the account's lock.
	blocker := c.connect(t, url)
	tx, err := blocker.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, lockSQL(reserveLock))
	require.NoError(t, err)
	type result struct {
		res store.Reservation
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.Reserve(ctx, request("t1"), p)
		done <- result{r, err}
	}()
	terminate(t, monitor, waitingBackend(t, monitor))
	require.NoError(t, tx.Rollback(ctx))
	r := <-done
	if r.err != nil {
		assert.Zero(t, rowsOf(t, monitor, "t1"), "a failed Reserve reserved nothing: %v", r.err)
		r.res, r.err = s.Reserve(ctx, request("t1"), p)
		require.NoError(t, r.err, "the store reconnects by itself")
	}
	assert.Equal(t, 1, rowsOf(t, monitor, "t1"), "one reservation, never two")
	assert.Equal(t, 2, r.res.Usage.Today)

	// Commit: killed while it waits for the reservation's row.
	tx, err = blocker.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT 1 FROM aipaint_reservations WHERE id = $1 FOR UPDATE", r.res.ID)
	require.NoError(t, err)
	committed := make(chan error, 1)
	go func() {
		_, err := s.Commit(t.Context(), r.res, store.Record{TaskID: "t1", Request: request("t1")})
		committed <- err
	}()
	terminate(t, monitor, waitingBackend(t, monitor))
	require.NoError(t, tx.Rollback(ctx))
	if err := <-committed; err != nil {
		// The paint service retries a failed Commit: it is idempotent.
		_, err = s.Commit(t.Context(), r.res, store.Record{TaskID: "t1", Request: request("t1")})
		require.NoError(t, err)
	}
	for _, id := range []string{"t0", "t1"} {
		got, err := s.Get(t.Context(), id)
		require.NoError(t, err, "nothing committed is lost")
		assert.Equal(t, request(id), got.Request)
	}
	var outcome string
	require.NoError(t, monitor.QueryRow(ctx, "SELECT outcome FROM aipaint_reservations WHERE id = $1", r.res.ID).Scan(&outcome))
	assert.Equal(t, "task", outcome)
	u, err := s.Usage(t.Context(), store.Policy{})
	require.NoError(t, err)
	assert.Equal(t, 2, u.Today, "each reservation counted once")
}

// TestFaultIdleConnectionsKilled: every connection of the pool is killed
// while idle; the next call of each kind succeeds all the same (the store
// drops the dead connections and tries once more on a new one).
func TestFaultIdleConnectionsKilled(t *testing.T) {
	c := privateCluster(t)
	url := c.database(t)
	s := openStore(t, url)
	monitor := c.connect(t, url)
	ctx := context.Background()
	killAll := func() {
		t.Helper()
		// Several connections open at once, then idle in the pool.
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Usage(t.Context(), store.Policy{})
				assert.NoError(t, err)
			}()
		}
		wg.Wait()
		_, err := monitor.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", storeApp)
		require.NoError(t, err)
	}
	killAll()
	res, err := s.Reserve(ctx, request("a"), store.Policy{DedupWindow: time.Hour})
	require.NoError(t, err, "Reserve")
	killAll()
	_, err = s.Commit(t.Context(), res, store.Record{TaskID: "a"})
	require.NoError(t, err, "Commit")
	killAll()
	_, err = s.Update(t.Context(), "a", func(r *store.Record) { r.Status = store.StatusDone })
	require.NoError(t, err, "Update")
	killAll()
	_, err = s.Get(t.Context(), "a")
	require.NoError(t, err, "Get")
	killAll()
	_, err = s.List(t.Context(), "", 0)
	require.NoError(t, err, "List")
	killAll()
	require.NoError(t, s.Ping(ctx), "Ping")
	killAll()
	_, err = s.Claim(t.Context(), "a", "A", time.Minute)
	require.NoError(t, err, "Claim")
	assert.Equal(t, 1, rowsOf(t, monitor, "a"))
}

// TestFaultConnectionsKilledAtRandom: while two stores reserve and commit in
// a loop, their connections are terminated again and again, at whatever
// point their work is.
func TestFaultConnectionsKilledAtRandom(t *testing.T) {
	c := privateCluster(t)
	url := c.database(t)
	stores := []*Store{openStore(t, url), openStore(t, url)}
	monitor := c.connect(t, url)
	for _, s := range stores {
		require.NoError(t, s.Ping(context.Background()), "the schema is made before the killing starts")
	}
	w := newWorkload(stores)
	w.start(4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kills := 0
	for (w.done.Load() < 40 || kills < 40) && ctx.Err() == nil {
		// One connection at a time, at whatever point its work is: the
		// others go on, and the killed one's store must recover.
		tag, err := monitor.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE pid = (SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY random() LIMIT 1)`, storeApp)
		require.NoError(t, err)
		kills += int(tag.RowsAffected())
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	w.stop()
	t.Logf("%d calls, %d failed, %d connections killed", w.calls.Load(), w.failed.Load(), kills)
	for e, n := range w.errs {
		t.Logf("%d× %s", n, e)
	}
	require.NoError(t, ctx.Err(), "the stores kept failing: %d reserved and committed", w.done.Load())
	w.check(t, monitor)
}

// TestFaultServerRestarts: the server stops (as a crash would) and starts
// again while two stores reserve and commit in a loop.
func TestFaultServerRestarts(t *testing.T) {
	c := privateCluster(t)
	url := c.database(t)
	stores := []*Store{openStore(t, url), openStore(t, url)}
	w := newWorkload(stores)
	w.start(4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitFor := func(n int64) {
		t.Helper()
		for w.done.Load() < n {
			select {
			case <-ctx.Done():
				w.stop()
				t.Fatalf("only %d of %d reserved and committed", w.done.Load(), n)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitFor(20)
	c.mu.Lock()
	require.NoError(t, c.stop())
	before := w.done.Load()
	<-time.After(300 * time.Millisecond) // calls meet a server that is not there
	require.NoError(t, c.start())
	c.mu.Unlock()
	waitFor(before + 20)
	w.stop()
	t.Logf("%d calls, %d failed", w.calls.Load(), w.failed.Load())

	// Every store answers again at once, and nothing is lost.
	for _, s := range stores {
		res, err := s.Reserve(ctx, request(fmt.Sprintf("after %p", s)), store.Policy{DedupWindow: time.Hour})
		require.NoError(t, err)
		_, err = s.Commit(t.Context(), res, store.Record{TaskID: fmt.Sprintf("after-%p", s)})
		require.NoError(t, err)
		_, err = s.List(t.Context(), "", 10)
		require.NoError(t, err)
	}
	w.check(t, c.connect(t, url))
}

// workload reserves and commits distinct requests from several goroutines,
// recording what each call answered.
type workload struct {
	stores []*Store
	quit   chan struct{}
	wg     sync.WaitGroup

	calls, failed, done atomic.Int64
	mu                  sync.Mutex
	reserved            map[string]store.Reservation // request text -> its reservation
	unsure              []string                     // requests whose Reserve failed
	committed           map[string]bool              // task ids committed
	errs                map[string]int
}

func newWorkload(stores []*Store) *workload {
	return &workload{stores: stores, quit: make(chan struct{}), reserved: map[string]store.Reservation{}, committed: map[string]bool{}}
}

func (w *workload) start(n int) {
	for i := range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			s := w.stores[i%len(w.stores)]
			for j := 0; ; j++ {
				select {
				case <-w.quit:
					return
				default:
				}
				text := fmt.Sprintf("w%d-%d", i, j)
				w.calls.Add(1)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := s.Reserve(ctx, request(text), store.Policy{DedupWindow: time.Hour})
				cancel()
				w.mu.Lock()
				if err != nil {
					w.unsure = append(w.unsure, text)
				} else {
					w.reserved[text] = res
				}
				w.mu.Unlock()
				if err != nil {
					w.failed.Add(1)
					w.note(err)
					w.pause()
					continue
				}
				// A failed Commit is retried (as the paint service does)
				// until it goes through: the task exists upstream.
				for {
					w.calls.Add(1)
					_, err := s.Commit(context.Background(), res, store.Record{TaskID: "task-" + text, Request: request(text)})
					if err == nil {
						break
					}
					w.failed.Add(1)
					w.note(err)
					w.pause()
				}
				w.mu.Lock()
				w.committed["task-"+text] = true
				w.mu.Unlock()
				w.done.Add(1)
			}
		}()
	}
}

func (w *workload) note(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.errs == nil {
		w.errs = map[string]int{}
	}
	w.errs[err.Error()]++
}

// pause keeps a worker from spinning while the server is away.
func (w *workload) pause() { <-time.After(20 * time.Millisecond) }

func (w *workload) stop() {
	close(w.quit)
	w.wg.Wait()
}

// check: each successful Reserve has exactly one row, a failed one at most
// one (its commit may have gone through unseen, which counts its images:
// erring towards "maybe billed"); every committed task is readable, from a
// store opened afresh too, with its reservation's outcome.
func (w *workload) check(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, "SELECT request_key, count(*) FROM aipaint_reservations GROUP BY request_key")
	require.NoError(t, err)
	counts := map[string]int{}
	for rows.Next() {
		var (
			key string
			n   int
		)
		require.NoError(t, rows.Scan(&key, &n))
		counts[key] = n
	}
	require.NoError(t, rows.Err())
	for text := range w.reserved {
		assert.Equal(t, 1, counts[request(text).Key()], "%s reserved once", text)
	}
	for _, text := range w.unsure {
		assert.LessOrEqual(t, counts[request(text).Key()], 1, "%s reserved at most once", text)
	}
	for key, n := range counts {
		assert.Equal(t, 1, n, "no request counted twice (%s)", key)
	}
	fresh, err := Open(ctx, conn.Config().ConnString(), Options{Logger: quiet})
	require.NoError(t, err)
	defer fresh.Close()
	for id := range w.committed {
		got, err := fresh.Get(t.Context(), id)
		if assert.NoError(t, err, "committed %s is lost", id) {
			assert.Equal(t, request(strings.TrimPrefix(id, "task-")), got.Request)
		}
		var outcome string
		require.NoError(t, conn.QueryRow(ctx, "SELECT outcome FROM aipaint_reservations WHERE task_id = $1", id).Scan(&outcome))
		assert.Equal(t, "task", outcome)
	}
	assert.NotEmpty(t, w.committed)
}

// TestFaultOpenWhileTheServerIsDown: Open succeeds without the server; calls
// fail (naming no password) until it answers, then the schema is made and
// calls succeed, without reopening.
func TestFaultOpenWhileTheServerIsDown(t *testing.T) {
	c := privateCluster(t)
	url := c.database(t)
	const password = "s3cr3t-pw"
	withPassword := strings.Replace(url, "postgres@", "postgres:"+password+"@", 1)
	c.mu.Lock()
	require.NoError(t, c.stop())
	s, err := Open(context.Background(), withPassword, Options{Timeout: 3 * time.Second, Logger: quiet})
	if err != nil {
		_ = c.start()
		c.mu.Unlock()
		t.Fatalf("Open must not need the server: %v", err)
	}
	defer s.Close()
	_, getErr := s.Get(t.Context(), "t1")
	pingErr := s.Ping(context.Background())
	_, reserveErr := s.Reserve(context.Background(), request("x"), store.Policy{})
	require.NoError(t, c.start())
	c.mu.Unlock()
	for _, err := range []error{getErr, pingErr, reserveErr} {
		require.Error(t, err)
		assert.NotContains(t, err.Error(), password)
	}
	require.NoError(t, s.Ping(context.Background()), "the store answers once the server does")
	_, err = s.Get(t.Context(), "t1")
	require.ErrorIs(t, err, store.ErrNotFound, "the schema was made on first use")
	res, err := s.Reserve(context.Background(), request("x"), store.Policy{})
	require.NoError(t, err)
	_, err = s.Commit(t.Context(), res, store.Record{TaskID: "t1"})
	require.NoError(t, err)
}
