package paint_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/store"
	"aipaint-mcp/store/storetest"
	"aipaint-mcp/wait"
)

// upstream is a fake paid API: submits and queries are counted, and each
// can be scripted.
type upstream struct {
	mu       sync.Mutex
	submits  int
	queries  int
	next     int
	submitFn func(n int) (client.SubmitResult, error)    // nil: accept
	queryFn  func(id string, n int) (client.Task, error) // nil: done at once
	release  chan struct{}                               // when set, submits wait for it
	entered  atomic.Int32                                // submits begun
}

func (u *upstream) Submit(ctx context.Context, req client.Request) (client.SubmitResult, error) {
	u.entered.Add(1)
	if u.release != nil {
		<-u.release
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.submits++
	if u.submitFn != nil {
		return u.submitFn(u.submits)
	}
	u.next++
	return client.SubmitResult{TaskID: fmt.Sprintf("t%d", u.next), TaskNo: "no"}, nil
}

func (u *upstream) QueryOnce(ctx context.Context, id string) (client.Task, error) {
	u.mu.Lock()
	u.queries++
	n, fn := u.queries, u.queryFn
	u.mu.Unlock()
	if fn != nil {
		return fn(id, n)
	}
	return doneTask(id), nil
}

func (u *upstream) Query(ctx context.Context, id string) (client.Task, error) {
	return u.QueryOnce(ctx, id)
}

func (u *upstream) counts() (submits, queries int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.submits, u.queries
}

func doneTask(id string) client.Task {
	return client.Task{TaskID: id, Done: true, Images: []string{"http://img/" + id + "/1.png", "http://img/" + id + "/2.png"},
		CreatedAt: time.Now().Add(-time.Second)}
}

// downloads is a fake image host: the first fails downloads fail.
type downloads struct {
	mu    sync.Mutex
	fails int
	tries int
}

func (d *downloads) TaskImage(ctx context.Context, dir string, created time.Time, id string, n int, url string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tries++
	if d.tries <= d.fails {
		return "", errors.New("download failed")
	}
	return filepath.Join(dir, fmt.Sprintf("%s_%d.png", id, n)), nil
}

func (d *downloads) Fetch(ctx context.Context, url string) ([]byte, string, error) {
	return nil, "", errors.New("not in this test")
}

type env struct {
	up    *upstream
	dl    *downloads
	store store.Store
	svc   *paint.Service
	open  func() store.Store // another handle on the same folder
	opts  paint.Options
}

// restart replaces the service with the next start's, on the same store:
// what the first one left is now an earlier run's.
func (e *env) restart(t *testing.T) {
	svc := paint.New(e.opts)
	t.Cleanup(func() { _ = svc.Close() })
	e.svc = svc
}

type option func(*paint.Options)

func newEnv(t *testing.T, up *upstream, opts ...option) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	open := func() store.Store {
		st, err := store.Open(dir)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	e := &env{up: up, dl: &downloads{}, store: open(), open: open}
	o := paint.Options{
		Upstream: up, Store: e.store,
		Policy:      store.Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(100)},
		TaskTimeout: time.Minute,
		Save:        true, OutputDir: "/out", Download: e.dl,
		SaveRetry:   wait.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Factor: 2},
		ResumeSaves: true,
		Backoff:     wait.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Factor: 2},
		Poller:      wait.PollerOptions{MaxPollRate: 1e6},
	}
	for _, f := range opts {
		f(&o)
	}
	e.opts = o
	e.restart(t)
	return e
}

var panda = client.Request{Text: "竹林里的熊猫", Style: "古风", Resolution: "1024*1024", Num: 2}

func waiting() paint.CallOptions { return paint.CallOptions{Wait: true, WaitSeconds: 5} }

func usage(t *testing.T, e *env) int {
	u, err := e.svc.Usage(t.Context(), paint.Person{})
	require.NoError(t, err)
	return u.Today
}

func TestGenerate(t *testing.T) {
	apiErr := func(cat client.Category, billed bool) error {
		return &client.APIError{Op: client.OpSubmit, Category: cat, MaybeBilled: billed, Message: string(cat)}
	}
	finished := &gate{} // opened once a call's wait has run out
	tests := []struct {
		name     string
		up       *upstream
		opts     []option
		before   func(t *testing.T, e *env) // e.g. an earlier call
		call     paint.CallOptions
		want     func(t *testing.T, e *env, out paint.Outcome, err error)
		submits  int
		usageNow int
	}{
		{
			name: "unconfigured refuses before anything",
			opts: []option{func(o *paint.Options) {
				o.Upstream, o.Unusable = nil, &paint.UnavailableError{Missing: []string{"AIPAINT_APP_KEY"}}
			}},
			want: func(t *testing.T, e *env, _ paint.Outcome, err error) {
				require.ErrorIs(t, err, paint.ErrUnavailable)
				var ue *paint.UnavailableError
				require.ErrorAs(t, err, &ue)
				assert.Equal(t, []string{"AIPAINT_APP_KEY"}, ue.Missing)
			},
		},
		{
			name:   "draining refuses",
			before: func(t *testing.T, e *env) { e.svc.Drain() },
			want: func(t *testing.T, e *env, _ paint.Outcome, err error) {
				require.ErrorIs(t, err, paint.ErrShuttingDown)
			},
		},
		{
			name: "over the daily limit refuses",
			opts: []option{func(o *paint.Options) { o.Policy.DailyLimit = new(1) }},
			want: func(t *testing.T, e *env, _ paint.Outcome, err error) {
				var le *paint.LimitError
				require.ErrorAs(t, err, &le)
				assert.Equal(t, 2, le.Requested)
				assert.Equal(t, new(1), le.Usage.Limit)
			},
		},
		{
			name: "submitted and waited for: recorded done, saved, billed",
			call: waiting(),
			want: func(t *testing.T, e *env, out paint.Outcome, err error) {
				require.NoError(t, err)
				assert.True(t, out.Submitted)
				assert.Equal(t, 2, out.Billed)
				assert.Equal(t, paint.StatusDone, out.Task.Status)
				require.Len(t, out.Task.Images, 2)
				assert.Equal(t, filepath.Join("/out", "t1_1.png"), out.Task.Images[0].Path)
				stored, err := e.svc.Get(t.Context(), paint.Person{}, "t1")
				require.NoError(t, err)
				assert.Equal(t, paint.StatusDone, stored.Status)
				assert.Equal(t, panda, stored.Request)
			},
			submits: 1, usageNow: 2,
		},
		{
			name: "submitted without waiting: pending, followed in the background",
			up:   &upstream{queryFn: func(id string, n int) (client.Task, error) { return doneTask(id), nil }},
			call: paint.CallOptions{},
			want: func(t *testing.T, e *env, out paint.Outcome, err error) {
				require.NoError(t, err)
				assert.Equal(t, paint.StatusPending, out.Task.Status)
				assert.Equal(t, 2, out.Billed)
				require.Eventually(t, func() bool {
					got, err := e.svc.Get(t.Context(), paint.Person{}, "t1")
					return err == nil && got.Status == paint.StatusDone
				}, 5*time.Second, 5*time.Millisecond, "the background follower records the finish")
			},
			submits: 1, usageNow: 2,
		},
		{
			name: "an identical request returns the task: no submit, nothing billed",
			before: func(t *testing.T, e *env) {
				_, err := e.svc.Generate(t.Context(), panda, waiting())
				require.NoError(t, err)
			},
			call: waiting(),
			want: func(t *testing.T, e *env, out paint.Outcome, err error) {
				require.NoError(t, err)
				assert.True(t, out.Deduplicated)
				assert.Zero(t, out.Billed)
				assert.Equal(t, "t1", out.Task.TaskID)
			},
			submits: 1, usageNow: 2,
		},
		{
			name: "force_new pays again",
			before: func(t *testing.T, e *env) {
				_, err := e.svc.Generate(t.Context(), panda, waiting())
				require.NoError(t, err)
			},
			call: paint.CallOptions{Wait: true, WaitSeconds: 5, ForceNew: true},
			want: func(t *testing.T, e *env, out paint.Outcome, err error) {
				require.NoError(t, err)
				assert.False(t, out.Deduplicated)
				assert.Equal(t, "t2", out.Task.TaskID)
			},
			submits: 2, usageNow: 4,
		},
		{
			name: "a rejected submit is released: nothing counts",
			up: &upstream{submitFn: func(int) (client.SubmitResult, error) {
				return client.SubmitResult{}, apiErr(client.CategoryContent, false)
			}},
			call: waiting(),
			want: func(t *testing.T, e *env, _ paint.Outcome, err error) {
				var ue *paint.UpstreamError
				require.ErrorAs(t, err, &ue)
				assert.Empty(t, ue.SubmittedTask)
				var ae *client.APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, client.CategoryContent, ae.Category)
			},
			submits: 1, usageNow: 0,
		},
		{
			name: "a submit that may have billed is abandoned: it keeps counting, and the next identical request is not kept waiting",
			up: &upstream{submitFn: func(n int) (client.SubmitResult, error) {
				if n == 1 {
					return client.SubmitResult{}, apiErr(client.CategoryUncertain, true)
				}
				return client.SubmitResult{TaskID: "t9"}, nil
			}},
			call: waiting(),
			want: func(t *testing.T, e *env, _ paint.Outcome, err error) {
				require.ErrorAs(t, err, new(*paint.UpstreamError))
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				defer cancel()
				out, err := e.svc.Generate(ctx, panda, waiting())
				require.NoError(t, err, "an abandoned reservation must not make identical requests wait")
				assert.Equal(t, "t9", out.Task.TaskID)
			},
			submits: 2, usageNow: 4,
		},
		{
			name: "a wait that runs out answers pending and follows the task",
			up:   &upstream{queryFn: finished.query},
			call: paint.CallOptions{Wait: true, WaitSeconds: 1},
			want: func(t *testing.T, e *env, out paint.Outcome, err error) {
				require.NoError(t, err)
				assert.Equal(t, paint.StatusPending, out.Task.Status)
				assert.ErrorIs(t, out.WaitErr, wait.ErrStillPending)
				assert.True(t, out.Submitted)
				finished.set(true)
				require.Eventually(t, func() bool {
					got, err := e.svc.Get(t.Context(), paint.Person{}, out.Task.TaskID)
					return err == nil && got.Status == paint.StatusDone
				}, 30*time.Second, 10*time.Millisecond, "the background follows the task to its end")
			},
			submits: 1, usageNow: 2,
		},
		{
			name: "a wait that fails for good names the paid task",
			up: &upstream{queryFn: func(id string, n int) (client.Task, error) {
				return client.Task{}, &client.APIError{Op: client.OpQuery, Category: client.CategoryAuth}
			}},
			call: waiting(),
			want: func(t *testing.T, e *env, _ paint.Outcome, err error) {
				var ue *paint.UpstreamError
				require.ErrorAs(t, err, &ue)
				assert.Equal(t, "t1", ue.SubmittedTask)
				got, gerr := e.svc.Get(t.Context(), paint.Person{}, "t1")
				require.NoError(t, gerr, "the billed task is recorded whatever the wait did")
				assert.Equal(t, paint.StatusPending, got.Status)
			},
			submits: 1, usageNow: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := tc.up
			if up == nil {
				up = &upstream{}
			}
			e := newEnv(t, up, tc.opts...)
			if tc.before != nil {
				tc.before(t, e)
			}
			out, err := e.svc.Generate(t.Context(), panda, tc.call)
			tc.want(t, e, out, err)
			submits, _ := up.counts()
			assert.Equal(t, tc.submits, submits, "submits")
			if e.svc.Unavailable() == nil {
				assert.Equal(t, tc.usageNow, usage(t, e), "images counted today")
			}
		})
	}
}

func TestConcurrentIdenticalRequestsSubmitOnce(t *testing.T) {
	up := &upstream{release: make(chan struct{})}
	e := newEnv(t, up)
	var wg sync.WaitGroup
	outs := make([]paint.Outcome, 6)
	for i := range outs {
		wg.Go(func() {
			var err error
			outs[i], err = e.svc.Generate(t.Context(), panda, waiting())
			assert.NoError(t, err)
		})
	}
	time.Sleep(50 * time.Millisecond) // let them all reach the reservation
	close(up.release)
	wg.Wait()
	submits, _ := up.counts()
	assert.Equal(t, 1, submits)
	billed := 0
	for _, o := range outs {
		billed += o.Billed
		assert.Equal(t, "t1", o.Task.TaskID)
	}
	assert.Equal(t, 2, billed, "one call paid, the others were answered with its task")
}

func TestWaitingBehindAnIdenticalSubmitEndsWithTheCall(t *testing.T) {
	reserves := &storetest.Reserves{}
	e := newEnv(t, &upstream{}, func(o *paint.Options) {
		reserves.Store = o.Store
		o.Store = reserves
	})
	other := e.open() // another process's handle holds a reservation with no outcome yet
	_, err := other.Reserve(t.Context(), panda, store.Policy{DedupWindow: time.Minute})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = e.svc.Generate(ctx, panda, waiting())
	require.ErrorIs(t, err, paint.ErrInFlight)
	submits, _ := e.up.counts()
	assert.Zero(t, submits)

	// The drain ends such a wait too.
	done := make(chan error, 1)
	go func() { _, err := e.svc.Generate(t.Context(), panda, waiting()); done <- err }()
	// Drained once the call waits behind the reservation: a call that
	// starts after the drain is refused before it reserves.
	require.Eventually(t, func() bool { return reserves.Entered() == 2 }, 30*time.Second, time.Millisecond)
	e.svc.Drain()
	select {
	case err := <-done:
		require.ErrorIs(t, err, paint.ErrInFlight)
	case <-time.After(5 * time.Second):
		t.Fatal("the drain did not end the wait")
	}
}

func TestDrainAnswersAWaitAtOnce(t *testing.T) {
	up := &upstream{queryFn: func(id string, n int) (client.Task, error) { return client.Task{TaskID: id}, nil }}
	e := newEnv(t, up)
	got := make(chan paint.Outcome, 1)
	go func() {
		out, err := e.svc.Generate(t.Context(), panda, paint.CallOptions{Wait: true, WaitSeconds: 50})
		assert.NoError(t, err)
		got <- out
	}()
	require.Eventually(t, func() bool { _, q := up.counts(); return q > 0 }, 5*time.Second, time.Millisecond)
	e.svc.Drain()
	select {
	case out := <-got:
		assert.Equal(t, paint.StatusPending, out.Task.Status)
		assert.Equal(t, "t1", out.Task.TaskID, "the answer carries the billed task's id")
	case <-time.After(5 * time.Second):
		t.Fatal("the drain did not end the wait")
	}
}

func TestCheck(t *testing.T) {
	t.Run("a finished task is answered from the store", func(t *testing.T) {
		e := newEnv(t, &upstream{})
		_, err := e.svc.Generate(t.Context(), panda, waiting())
		require.NoError(t, err)
		_, before := e.up.counts()
		out, err := e.svc.Check(t.Context(), "t1", paint.CallOptions{WaitSeconds: 5})
		require.NoError(t, err)
		assert.Equal(t, paint.StatusDone, out.Task.Status)
		_, after := e.up.counts()
		assert.Equal(t, before, after, "no query for a finished task")
		assert.Equal(t, 2, out.Usage.Today)
	})
	t.Run("a task it did not submit is looked up once and recorded", func(t *testing.T) {
		e := newEnv(t, &upstream{})
		out, err := e.svc.Check(t.Context(), "elsewhere", paint.CallOptions{})
		require.NoError(t, err)
		assert.Equal(t, paint.StatusDone, out.Task.Status)
		_, queries := e.up.counts()
		assert.Equal(t, 1, queries)
		stored, err := e.svc.Get(t.Context(), paint.Person{}, "elsewhere")
		require.NoError(t, err)
		assert.Len(t, stored.Images, 2)
	})
	t.Run("a task the API forgot is failed after the grace, and answered so", func(t *testing.T) {
		notFound := &client.APIError{Op: client.OpQuery, Category: client.CategoryNotFound, Code: 201}
		e := newEnv(t, &upstream{queryFn: func(string, int) (client.Task, error) { return client.Task{}, notFound }})
		_, err := e.store.Update(t.Context(), "old", func(r *store.Record) { r.SubmittedAt = time.Now().Add(-time.Hour) })
		require.NoError(t, err)
		_, err = e.svc.Check(t.Context(), "old", paint.CallOptions{})
		require.ErrorAs(t, err, new(*paint.UpstreamError))
		_, err = e.svc.Check(t.Context(), "old", paint.CallOptions{})
		var failed *paint.TaskFailedError
		require.ErrorAs(t, err, &failed)
		assert.Equal(t, "old", failed.Task.TaskID)

		_, err = e.store.Update(t.Context(), "young", func(r *store.Record) {})
		require.NoError(t, err)
		_, err = e.svc.Check(t.Context(), "young", paint.CallOptions{})
		require.ErrorAs(t, err, new(*paint.UpstreamError))
		young, err := e.svc.Get(t.Context(), paint.Person{}, "young")
		require.NoError(t, err)
		assert.Equal(t, paint.StatusPending, young.Status, "within the grace a 201 leaves the task pending")
	})
	t.Run("unconfigured refuses", func(t *testing.T) {
		e := newEnv(t, &upstream{}, func(o *paint.Options) { o.Store, o.Unusable = nil, &paint.UnavailableError{StoreProblem: "read-only"} })
		_, err := e.svc.Check(t.Context(), "t1", paint.CallOptions{})
		require.ErrorIs(t, err, paint.ErrUnavailable)
	})
}

func TestFailedDownloadsAreRetriedInTheBackground(t *testing.T) {
	e := newEnv(t, &upstream{})
	e.dl.fails = 5 // the call's own attempt and a few background ones fail
	out, err := e.svc.Generate(t.Context(), panda, waiting())
	require.NoError(t, err)
	assert.NotEmpty(t, out.Task.Images[0].SaveError, "the call says the download failed")
	require.Eventually(t, func() bool {
		got, err := e.svc.Get(t.Context(), paint.Person{}, "t1")
		return err == nil && got.Images[0].Path != "" && got.Images[1].Path != ""
	}, 5*time.Second, 5*time.Millisecond, "retried until saved, without any call")
}

func TestResume(t *testing.T) {
	up := &upstream{}
	e := newEnv(t, up)
	// As a killed process leaves them: one pending task, one done without its files.
	_, err := e.store.Update(t.Context(), "pending", func(r *store.Record) { r.Request = panda })
	require.NoError(t, err)
	_, err = e.store.Update(t.Context(), "unsaved", func(r *store.Record) {
		r.Request, r.Status = panda, store.StatusDone
		r.SetImages([]string{"http://img/unsaved/1.png"})
	})
	require.NoError(t, err)
	_, err = e.store.Update(t.Context(), "expired", func(r *store.Record) {
		r.Request, r.Status, r.SubmittedAt = panda, store.StatusDone, time.Now().AddDate(-1, 0, 0)
		r.SetImages([]string{"http://img/expired/1.png"})
	})
	require.NoError(t, err)

	e.restart(t)
	n, err := e.svc.Resume()
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the pending task is followed and the unsaved one saved; the expired one is left")
	require.Eventually(t, func() bool {
		p, err1 := e.svc.Get(t.Context(), paint.Person{}, "pending")
		u, err2 := e.svc.Get(t.Context(), paint.Person{}, "unsaved")
		return err1 == nil && err2 == nil && p.Status == paint.StatusDone && p.Images[0].Path != "" && u.Images[0].Path != ""
	}, 5*time.Second, 5*time.Millisecond)
	expired, err := e.svc.Get(t.Context(), paint.Person{}, "expired")
	require.NoError(t, err)
	assert.Empty(t, expired.Images[0].Path)
}

// slowDownloads is an image host that takes a moment per image and notes
// the most downloads it served at once.
type slowDownloads struct{ running, most atomic.Int32 }

func (d *slowDownloads) TaskImage(ctx context.Context, dir string, created time.Time, id string, n int, url string) (string, error) {
	now := d.running.Add(1)
	defer d.running.Add(-1)
	for m := d.most.Load(); now > m && !d.most.CompareAndSwap(m, now); m = d.most.Load() {
	}
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return filepath.Join(dir, fmt.Sprintf("%s_%d.png", id, n)), nil
}

func (d *slowDownloads) Fetch(ctx context.Context, url string) ([]byte, string, error) {
	return nil, "", errors.New("not in this test")
}

func TestResumeSavesAFewTasksAtATime(t *testing.T) {
	dl := &slowDownloads{}
	e := newEnv(t, &upstream{}, func(o *paint.Options) { o.Download = dl })
	// A week of tasks whose files were never saved (say, a full disk).
	const tasks = 12
	for i := range tasks {
		_, err := e.store.Update(t.Context(), fmt.Sprintf("u%d", i), func(r *store.Record) {
			r.Request, r.Status = panda, store.StatusDone
			r.SetImages([]string{fmt.Sprintf("http://img/u%d/1.png", i), fmt.Sprintf("http://img/u%d/2.png", i)})
		})
		require.NoError(t, err)
	}
	e.restart(t)
	n, err := e.svc.Resume()
	require.NoError(t, err)
	assert.Equal(t, tasks, n)
	require.Eventually(t, func() bool {
		list, err := e.svc.List(t.Context(), paint.Person{}, tasks)
		if err != nil || len(list) != tasks {
			return false
		}
		for _, task := range list {
			if task.Images[0].Path == "" || task.Images[1].Path == "" {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond)
	assert.LessOrEqual(t, dl.most.Load(), int32(4), "two tasks of two images at a time, not all %d images at once", 2*tasks)
}

// callCtx marks the contexts of the test's own calls.
type callCtx struct{}

// heldReads holds the store reads of the background (any read without
// callCtx) until release is closed.
type heldReads struct {
	store.Store
	release chan struct{}
}

func (h *heldReads) Get(ctx context.Context, id string) (store.Record, error) {
	if ctx.Value(callCtx{}) == nil {
		select {
		case <-h.release:
		case <-ctx.Done():
			return store.Record{}, ctx.Err()
		}
	}
	return h.Store.Get(ctx, id)
}

func TestRetriesFetchOnlyWhatIsStillMissing(t *testing.T) {
	held := &heldReads{release: make(chan struct{})}
	e := newEnv(t, &upstream{}, func(o *paint.Options) {
		o.SaveRetry = wait.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, Factor: 1}
		held.Store = o.Store
		o.Store = held
	})
	call := context.WithValue(t.Context(), callCtx{}, true)
	e.dl.fails = 4 // the call's attempt and the first background one
	_, err := e.svc.Generate(call, panda, waiting())
	require.NoError(t, err)
	tries := func() int { e.dl.mu.Lock(); defer e.dl.mu.Unlock(); return e.dl.tries }
	require.Eventually(t, func() bool { return tries() == 4 }, 30*time.Second, time.Millisecond)
	// While the background's retry is held before it reads the task,
	// check_task saves them.
	out, err := e.svc.Check(call, "t1", paint.CallOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, out.Task.Images[0].Path)
	require.NotEmpty(t, out.Task.Images[1].Path)
	close(held.release)
	require.Eventually(t, func() bool { return e.svc.Active() == 0 }, 30*time.Second, time.Millisecond)
	assert.Equal(t, 6, tries(), "the retry found the images saved and fetched nothing again")
}

func TestCloseStopsTheBackgroundThenTheStore(t *testing.T) {
	up := &upstream{queryFn: func(id string, n int) (client.Task, error) { return client.Task{TaskID: id}, nil }}
	e := newEnv(t, up)
	_, err := e.svc.Generate(t.Context(), panda, paint.CallOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.svc.Active() == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, e.svc.Close())
	assert.Zero(t, e.svc.Active())
	got, err := e.open().Get(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, paint.StatusPending, got.Status, "still pending, for the next start to resume")
}

// brokenStore fails the operations a test names, as a full disk would.
type brokenStore struct {
	store.Store
	reserveErr, commitErr error
}

func (b brokenStore) Reserve(ctx context.Context, req client.Request, p store.Policy) (store.Reservation, error) {
	if b.reserveErr != nil {
		return store.Reservation{}, b.reserveErr
	}
	return b.Store.Reserve(ctx, req, p)
}

func (b brokenStore) Commit(ctx context.Context, res store.Reservation, r store.Record) (store.Record, error) {
	if b.commitErr != nil {
		return store.Record{}, b.commitErr
	}
	return b.Store.Commit(ctx, res, r)
}

func TestStoreFailures(t *testing.T) {
	t.Run("a reservation that cannot be written submits nothing", func(t *testing.T) {
		up := &upstream{}
		e := newEnv(t, up, func(o *paint.Options) {
			o.Store = brokenStore{Store: o.Store, reserveErr: errors.New("no space left on device")}
		})
		_, err := e.svc.Generate(t.Context(), panda, waiting())
		var se *paint.StoreError
		require.ErrorAs(t, err, &se)
		assert.Contains(t, se.Error(), "no space left")
		submits, _ := up.counts()
		assert.Zero(t, submits)
	})
	t.Run("a submitted task whose record fails is still answered with its id", func(t *testing.T) {
		up := &upstream{}
		e := newEnv(t, up, func(o *paint.Options) {
			o.Store = brokenStore{Store: o.Store, commitErr: errors.New("disk full")}
		})
		out, err := e.svc.Generate(t.Context(), panda, paint.CallOptions{})
		require.NoError(t, err, "the task was paid for: its id must reach the caller")
		assert.Equal(t, "t1", out.Task.TaskID)
		assert.Equal(t, paint.StatusPending, out.Task.Status)
		assert.Equal(t, 2, out.Billed)
		assert.False(t, out.Task.SubmittedAt.IsZero())
	})
}

func TestCheckLeavesAFailedSaveToTheBackground(t *testing.T) {
	e := newEnv(t, &upstream{})
	_, err := e.store.Update(t.Context(), "done-unsaved", func(r *store.Record) {
		r.Request, r.Status = panda, store.StatusDone
		r.SetImages([]string{"http://img/done-unsaved/1.png", "http://img/done-unsaved/2.png"})
	})
	require.NoError(t, err)
	e.dl.fails = 2 // the call's own attempt fails for both images
	out, err := e.svc.Check(t.Context(), "done-unsaved", paint.CallOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, out.Task.Images[0].SaveError, "the call says the download failed")
	require.Eventually(t, func() bool {
		got, err := e.svc.Get(t.Context(), paint.Person{}, "done-unsaved")
		return err == nil && got.Images[0].Path != "" && got.Images[1].Path != ""
	}, 5*time.Second, 5*time.Millisecond, "retried in the background, without another call")
	_, queries := e.up.counts()
	assert.Zero(t, queries, "a finished task is answered from the store")
}

func TestResumeLeavesThisRunsTasksToTheirCalls(t *testing.T) {
	release := make(chan struct{})
	up := &upstream{queryFn: func(id string, n int) (client.Task, error) {
		<-release // the call's wait is on the wire when Resume runs
		return doneTask(id), nil
	}}
	e := newEnv(t, up)
	_, err := e.store.Update(t.Context(), "left-by-a-crash", func(r *store.Record) { r.Request = panda })
	require.NoError(t, err)
	e.restart(t)
	done := make(chan error, 1)
	go func() {
		_, err := e.svc.Generate(t.Context(), panda, waiting())
		done <- err
	}()
	require.Eventually(t, func() bool { s, _ := up.counts(); return s == 1 }, 5*time.Second, time.Millisecond)
	n, err := e.svc.Resume() // as a stdio server does, once its first call is answered
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only the task an earlier run left is resumed, not the one this run's call waits for")
	close(release)
	require.NoError(t, <-done)
	require.Eventually(t, func() bool { return e.svc.Active() == 0 }, 5*time.Second, time.Millisecond)
	e.dl.mu.Lock()
	defer e.dl.mu.Unlock()
	assert.Equal(t, 4, e.dl.tries, "each image of the two tasks is downloaded once")
}

func TestABurstOfCallsQueuesBeforePaying(t *testing.T) {
	up := &upstream{release: make(chan struct{})}
	e := newEnv(t, up)
	const calls = 20
	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			req := panda
			req.Text = fmt.Sprint("request ", i)
			_, err := e.svc.Generate(t.Context(), req, paint.CallOptions{})
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return up.entered.Load() == 16 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := e.svc.Generate(ctx, panda, paint.CallOptions{})
	require.ErrorIs(t, err, paint.ErrBusy, "a caller that gave up in the queue")
	// On SSE a client that hangs up does not end ctx: the call's budget
	// does, so nothing starts paying after its client stopped listening.
	_, err = e.svc.Generate(t.Context(), panda, paint.CallOptions{Started: time.Now().Add(-time.Hour)})
	require.ErrorIs(t, err, paint.ErrBusy, "a call whose budget ran out in the queue")
	assert.Equal(t, int32(16), up.entered.Load(), "16 calls pay at once, the others wait their turn")
	close(up.release)
	for range calls {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, int32(calls), up.entered.Load())
	assert.Equal(t, 2*calls, usage(t, e), "every queued call was paid for in turn")
}
