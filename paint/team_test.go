package paint_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/store"
	"aipaint-mcp/store/postgres"
	"aipaint-mcp/store/postgres/pgtest"
	"aipaint-mcp/wait"
)

var (
	alice = paint.Person{Name: "alice"}
	bob   = paint.Person{Name: "bob"}
)

func as(p paint.Person) paint.CallOptions { return paint.CallOptions{Person: p} }

func TestPeopleSeeOnlyTheirOwnTasks(t *testing.T) {
	e := newEnv(t, &upstream{})
	out, err := e.svc.Generate(t.Context(), panda, paint.CallOptions{Wait: true, WaitSeconds: 5, Person: alice})
	require.NoError(t, err)
	id := out.Task.TaskID
	assert.Equal(t, "alice", out.Task.Owner)
	require.NotNil(t, out.Usage.Person)
	assert.Equal(t, 2, out.Usage.Person.Today)
	assert.Nil(t, out.Usage.Person.Limit, "alice has no personal limit")

	_, queries := e.up.counts()
	_, err = e.svc.Check(t.Context(), id, as(bob))
	require.ErrorIs(t, err, paint.ErrNotFound, "bob is told alice's task does not exist")
	_, after := e.up.counts()
	assert.Equal(t, queries, after, "and the upstream is not asked about it")
	_, err = e.svc.Get(t.Context(), bob, id)
	require.ErrorIs(t, err, paint.ErrNotFound)
	listed, err := e.svc.List(t.Context(), bob, 10)
	require.NoError(t, err)
	assert.Empty(t, listed)
	assert.Empty(t, e.svc.RecentIDs(t.Context(), bob, 10))

	got, err := e.svc.Check(t.Context(), id, as(alice))
	require.NoError(t, err)
	assert.Equal(t, paint.StatusDone, got.Task.Status)
	assert.Equal(t, []string{id}, e.svc.RecentIDs(t.Context(), alice, 10))
	mine, err := e.svc.Get(t.Context(), paint.Person{}, id)
	require.NoError(t, err, "a desktop's single user (no tokens file) sees every task")
	assert.Equal(t, id, mine.TaskID)

	u, err := e.svc.Usage(t.Context(), bob)
	require.NoError(t, err)
	assert.Equal(t, 2, u.Today, "the team's count includes alice's images")
	require.NotNil(t, u.Person)
	assert.Equal(t, store.PersonUsage{Name: "bob"}, *u.Person)
}

func TestIdenticalRequestsOfTwoPeopleAreTwoTasks(t *testing.T) {
	e := newEnv(t, &upstream{})
	a, err := e.svc.Generate(t.Context(), panda, as(alice))
	require.NoError(t, err)
	again, err := e.svc.Generate(t.Context(), panda, as(alice))
	require.NoError(t, err)
	b, err := e.svc.Generate(t.Context(), panda, as(bob))
	require.NoError(t, err)
	assert.True(t, again.Deduplicated, "alice's own repeat shares her task")
	assert.Equal(t, a.Task.TaskID, again.Task.TaskID)
	assert.NotEqual(t, a.Task.TaskID, b.Task.TaskID, "people never share tasks")
	submits, _ := e.up.counts()
	assert.Equal(t, 2, submits)
}

func TestAPersonsOwnLimit(t *testing.T) {
	e := newEnv(t, &upstream{})
	capped := paint.Person{Name: "intern", Limit: new(3)}
	_, err := e.svc.Generate(t.Context(), panda, as(capped)) // 2 of 3
	require.NoError(t, err)
	other := panda
	other.Text = "山水"
	_, err = e.svc.Generate(t.Context(), other, as(capped)) // 2 more: 4 > 3
	var limit *paint.LimitError
	require.ErrorAs(t, err, &limit)
	assert.True(t, limit.Person, "refused by the person's limit, not the team's")
	require.NotNil(t, limit.Usage.Person)
	assert.Equal(t, 2, limit.Usage.Person.Today)
	require.NotNil(t, limit.Usage.Person.Limit)
	assert.Equal(t, 3, *limit.Usage.Person.Limit)
	submits, _ := e.up.counts()
	assert.Equal(t, 1, submits, "nothing submitted for the refused request")

	_, err = e.svc.Generate(t.Context(), other, as(alice))
	require.NoError(t, err, "another person is not bound by the intern's limit")

	_, err = e.svc.Generate(t.Context(), other, as(paint.Person{Name: "guest", Limit: new(0)}))
	require.ErrorAs(t, err, &limit, "limit 0: may not submit")
	assert.True(t, limit.Person)
}

// flakyCommits fails the first n commits, as a database that is restarting.
type flakyCommits struct {
	store.Store
	fails atomic.Int32
}

func (f *flakyCommits) Commit(ctx context.Context, res store.Reservation, r store.Record) (store.Record, error) {
	if f.fails.Add(-1) >= 0 {
		return store.Record{}, errors.New("connection refused")
	}
	return f.Store.Commit(ctx, res, r)
}

func TestACommitThatFailedIsRetriedThenFollowed(t *testing.T) {
	flaky := &flakyCommits{}
	flaky.fails.Store(2)
	e := newEnv(t, &upstream{}, func(o *paint.Options) {
		flaky.Store = o.Store
		o.Store = flaky
	})
	out, err := e.svc.Generate(t.Context(), panda, paint.CallOptions{Wait: true, WaitSeconds: 5, Person: alice})
	require.NoError(t, err, "the task was paid for: its id reaches the caller")
	assert.Equal(t, paint.StatusPending, out.Task.Status)
	require.Eventually(t, func() bool {
		got, err := e.store.Get(t.Context(), out.Task.TaskID)
		return err == nil && got.Status == paint.StatusDone
	}, 15*time.Second, 10*time.Millisecond, "recorded once the store is back, then followed to the end")
	got, err := e.store.Get(t.Context(), out.Task.TaskID)
	require.NoError(t, err)
	assert.Equal(t, "alice", got.Owner)
	u, err := e.svc.Usage(t.Context(), alice)
	require.NoError(t, err)
	assert.Equal(t, 2, u.Today, "counted once")
	submits, _ := e.up.counts()
	assert.Equal(t, 1, submits)
}

// replicaUpstream is one server's view of a shared fake upstream: it counts
// its own queries.
type replicaUpstream struct {
	*upstream
	queries atomic.Int32
}

func (r *replicaUpstream) QueryOnce(ctx context.Context, id string) (client.Task, error) {
	r.queries.Add(1)
	return r.upstream.QueryOnce(ctx, id)
}

func (r *replicaUpstream) Query(ctx context.Context, id string) (client.Task, error) {
	return r.QueryOnce(ctx, id)
}

// gate keeps tasks pending until opened.
type gate struct {
	mu   sync.Mutex
	open bool
}

func (g *gate) query(id string, _ int) (client.Task, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return doneTask(id), nil
	}
	return client.Task{TaskID: id}, nil
}

func (g *gate) set(open bool) { g.mu.Lock(); g.open = open; g.mu.Unlock() }

// replica is one server on a shared PostgreSQL store.
func replica(t *testing.T, url string, up *replicaUpstream) *paint.Service {
	t.Helper()
	st, err := postgres.Open(t.Context(), url, postgres.Options{})
	require.NoError(t, err)
	svc := paint.New(paint.Options{
		Upstream: up, Store: st,
		Policy:      store.Policy{DedupWindow: 10 * time.Minute},
		TaskTimeout: time.Minute,
		Backoff:     wait.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Factor: 2},
		Poller:      wait.PollerOptions{MaxPollRate: 1e6},
	})
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

func TestReplicasFollowEachPendingTaskOnce(t *testing.T) {
	url := pgtest.URL(t)
	g := &gate{}
	shared := &upstream{queryFn: g.query}
	upA, upB := &replicaUpstream{upstream: shared}, &replicaUpstream{upstream: shared}
	a, b := replica(t, url, upA), replica(t, url, upB)

	out, err := a.Generate(t.Context(), panda, as(alice))
	require.NoError(t, err)
	id := out.Task.TaskID
	require.Eventually(t, func() bool { return upA.queries.Load() > 3 }, 30*time.Second, time.Millisecond, "a follows its task")

	// b, asked to wait for it, reads what a records instead of polling too.
	pending, err := b.Check(t.Context(), id, paint.CallOptions{WaitSeconds: 1, Person: alice})
	require.NoError(t, err)
	assert.Equal(t, paint.StatusPending, pending.Task.Status)
	assert.Zero(t, upB.queries.Load(), "a holds the lease: b never asks the upstream")
	var open sync.Once // the task finishes once b waits for it
	done, err := b.Check(t.Context(), id, paint.CallOptions{WaitSeconds: 60, Person: alice,
		OnPoll: func() { open.Do(func() { g.set(true) }) }})
	require.NoError(t, err)
	assert.Equal(t, paint.StatusDone, done.Task.Status, "b sees the images a recorded")
	assert.Len(t, done.Task.Images, 2)
	assert.Zero(t, upB.queries.Load())

	// a stops with a task pending: it lets go of the lease, and b's sweep
	// takes the task over and finishes it.
	g.set(false)
	other := panda
	other.Text = "山水"
	before := upA.queries.Load() // a's first task is done: a polls only the new one
	out, err = a.Generate(t.Context(), other, as(bob))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return upA.queries.Load() > before }, 30*time.Second, time.Millisecond, "a follows it, holding its lease")
	// b sweeps for tasks nobody follows: started once a holds the lease, as
	// a sweep between a's commit and a's claim would take the task first
	// (and b, not a, would rightly follow it from the start).
	b.ResumeInBackground()
	require.NoError(t, a.Close())
	g.set(true)
	require.Eventually(t, func() bool {
		got, err := b.Get(t.Context(), bob, out.Task.TaskID)
		return err == nil && got.Status == paint.StatusDone
	}, 60*time.Second, 20*time.Millisecond, "b takes over a's pending task within a sweep")
	assert.Positive(t, upB.queries.Load())
}

// staleGets answers Get with ErrNotFound while hide is set: a read that
// missed a task committed a moment later (commitLater on another replica).
type staleGets struct {
	store.Store
	hide atomic.Bool
}

func (s *staleGets) Get(ctx context.Context, id string) (store.Record, error) {
	if s.hide.Load() {
		return store.Record{}, store.ErrNotFound
	}
	return s.Store.Get(ctx, id)
}

func TestCheckNeverAnswersWithSomeoneElsesTaskRecordedMeanwhile(t *testing.T) {
	stale := &staleGets{}
	e := newEnv(t, &upstream{}, func(o *paint.Options) {
		stale.Store = o.Store
		o.Store = stale
	})
	out, err := e.svc.Generate(t.Context(), panda, paint.CallOptions{Wait: true, WaitSeconds: 5, Person: alice})
	require.NoError(t, err)
	require.Equal(t, paint.StatusDone, out.Task.Status)

	stale.hide.Store(true) // bob's read misses it; his record finds alice's
	got, err := e.svc.Check(t.Context(), out.Task.TaskID, as(bob))
	require.ErrorIs(t, err, paint.ErrNotFound, "bob must not get alice's task: %+v", got.Task)
	stale.hide.Store(false)
	rec, err := e.store.Get(t.Context(), out.Task.TaskID)
	require.NoError(t, err)
	assert.Equal(t, "alice", rec.Owner, "and it stays hers")
}

func TestACommitThatFailedIsTriedOnceMoreAtClose(t *testing.T) {
	flaky := &flakyCommits{}
	flaky.fails.Store(1)
	e := newEnv(t, &upstream{}, func(o *paint.Options) {
		flaky.Store = o.Store
		o.Store = flaky
	})
	out, err := e.svc.Generate(t.Context(), panda, paint.CallOptions{Person: alice})
	require.NoError(t, err)
	require.NoError(t, e.svc.Close(), "closing before the first retry is due")
	got, err := e.open().Get(t.Context(), out.Task.TaskID)
	require.NoError(t, err, "a paid task is recorded before the store closes, not only logged")
	assert.Equal(t, "alice", got.Owner)
}

func TestAWaitForAnotherServersTaskEndsWhenItFails(t *testing.T) {
	url := pgtest.URL(t)
	shared := &upstream{queryFn: (&gate{}).query} // pending for good
	upA, upB := &replicaUpstream{upstream: shared}, &replicaUpstream{upstream: shared}
	a, b := replica(t, url, upA), replica(t, url, upB)
	out, err := a.Generate(t.Context(), panda, as(alice))
	require.NoError(t, err)
	id := out.Task.TaskID
	require.Eventually(t, func() bool { return upA.queries.Load() > 1 }, 5*time.Second, time.Millisecond, "a follows its task")

	done, polled := make(chan error, 1), make(chan struct{})
	var once sync.Once
	go func() {
		_, err := b.Check(t.Context(), id, paint.CallOptions{WaitSeconds: 30, Person: alice,
			OnPoll: func() { once.Do(func() { close(polled) }) }})
		done <- err
	}()
	select {
	case <-polled: // b is in its wait, reading the store
	case err := <-done:
		t.Fatalf("b answered without waiting: %v", err)
	}
	st, err := postgres.Open(t.Context(), url, postgres.Options{})
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Update(t.Context(), id, func(r *store.Record) { r.Status, r.Error = store.StatusFailed, "the upstream forgot it" })
	require.NoError(t, err)
	select {
	case err := <-done:
		var failed *paint.TaskFailedError
		require.ErrorAs(t, err, &failed, "b's wait reads the failure a recorded")
		assert.Equal(t, "the upstream forgot it", failed.Task.Error)
	case <-time.After(20 * time.Second):
		t.Fatal("b kept waiting for a task recorded as failed")
	}
	assert.Zero(t, upB.queries.Load(), "a holds the lease: b never asks the upstream")
}
