package paint_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/sandbox/sandboxtest"
	"aipaint-mcp/save"
	"aipaint-mcp/store"
	"aipaint-mcp/wait"
)

type fixture struct {
	sb     *sandboxtest.Upstream
	client *client.Client
	store  *store.File
	svc    *paint.Service
	out    string
}

// newFixture is a paint service on the sandbox: tasks take delay, and are
// followed for timeout after their submit.
func newFixture(t *testing.T, delay, timeout time.Duration) *fixture {
	t.Helper()
	sb := sandboxtest.Start(t, sandboxtest.Delay(delay))
	st, err := store.Open(filepath.Join(t.TempDir(), "data"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{sb: sb, client: sb.Client(t), store: st, out: filepath.Join(t.TempDir(), "out")}
	f.svc = f.service(t, func(o *paint.Options) { o.TaskTimeout = timeout })
	return f
}

// service is another paint service on the fixture's upstream and store.
func (f *fixture) service(t *testing.T, adjust ...func(*paint.Options)) *paint.Service {
	o := paint.Options{Upstream: f.client, Store: f.store, Save: true, OutputDir: f.out, Download: save.NewClient(nil),
		TaskTimeout: time.Minute,
		Backoff:     wait.Backoff{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, Factor: 2}}
	for _, a := range adjust {
		a(&o)
	}
	svc := paint.New(o)
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

func (f *fixture) submit(t *testing.T, text string) store.Record {
	t.Helper()
	sub, err := f.client.Submit(context.Background(), client.Request{Text: text, Style: "古风", Resolution: "1024*1024", Num: 2})
	require.NoError(t, err)
	rec, err := f.store.Put(t.Context(), store.Record{TaskID: sub.TaskID, Request: client.Request{Text: text, Num: 2}})
	require.NoError(t, err)
	return rec
}

func TestFollowFinishesAndSaves(t *testing.T) {
	f := newFixture(t, 200*time.Millisecond, time.Minute)
	rec := f.submit(t, "熊猫")
	f.svc.Follow(rec)
	f.svc.Follow(rec) // a second Follow of the same task is a no-op
	assert.Equal(t, 1, f.svc.Active())
	require.Eventually(t, func() bool { return f.svc.Active() == 0 }, 10*time.Second, 5*time.Millisecond)
	got, err := f.store.Get(t.Context(), rec.TaskID)
	require.NoError(t, err)
	require.Equal(t, store.StatusDone, got.Status)
	require.Len(t, got.Images, 2)
	for _, img := range got.Images {
		rel, err := filepath.Rel(f.out, img.Path)
		require.NoError(t, err)
		assert.False(t, strings.HasPrefix(rel, ".."), img.Path)
		_, err = os.Stat(img.Path)
		assert.NoError(t, err)
	}
}

func TestFollowGivesUpAfterTheTaskTimeout(t *testing.T) {
	f := newFixture(t, time.Hour, 300*time.Millisecond)
	rec := f.submit(t, "熊猫")
	f.svc.Follow(rec)
	require.Eventually(t, func() bool { return f.svc.Active() == 0 }, 10*time.Second, 5*time.Millisecond)
	got, err := f.store.Get(t.Context(), rec.TaskID)
	require.NoError(t, err)
	assert.Equal(t, store.StatusPending, got.Status, "a task past the timeout stays pending, for check_task")

	old := rec
	old.SubmittedAt = time.Now().Add(-time.Hour)
	f.svc.Follow(old)
	assert.Zero(t, f.svc.Active(), "a task older than the timeout is not followed")
}

func TestCloseStopsBackgroundWork(t *testing.T) {
	f := newFixture(t, time.Hour, time.Hour)
	rec := f.submit(t, "熊猫")
	f.svc.Follow(rec)
	require.Equal(t, 1, f.svc.Active())
	done := make(chan struct{})
	go func() { _ = f.svc.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the background poll")
	}
	f.svc.Follow(rec)
	assert.Zero(t, f.svc.Active(), "nothing starts after Close")
	got, err := f.store.Get(t.Context(), rec.TaskID)
	require.NoError(t, err)
	assert.Equal(t, store.StatusPending, got.Status, "left pending, to be resumed")
}

func TestResumeFollowsStoredPendingTasks(t *testing.T) {
	f := newFixture(t, 100*time.Millisecond, time.Minute)
	a, b := f.submit(t, "a"), f.submit(t, "b")
	_, err := f.store.Put(t.Context(), store.Record{TaskID: "done-one", Status: store.StatusDone})
	require.NoError(t, err)
	next := f.service(t) // the next start resumes what this one left
	n, err := next.Resume()
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	require.Eventually(t, func() bool { return next.Active() == 0 }, 10*time.Second, 5*time.Millisecond)
	for _, id := range []string{a.TaskID, b.TaskID} {
		got, err := f.store.Get(t.Context(), id)
		require.NoError(t, err)
		assert.Equal(t, store.StatusDone, got.Status)
		assert.NotEmpty(t, got.Images[0].Path)
	}
}

func TestUnknownTaskIsMarkedFailed(t *testing.T) {
	f := newFixture(t, 0, 10*time.Minute)
	old, err := f.store.Put(t.Context(), store.Record{TaskID: "sbx-unknown-old", SubmittedAt: time.Now().Add(-3 * time.Minute)})
	require.NoError(t, err)
	fresh, err := f.store.Put(t.Context(), store.Record{TaskID: "sbx-unknown-new"})
	require.NoError(t, err)
	f.svc.Follow(old)
	f.svc.Follow(fresh)
	require.Eventually(t, func() bool { return f.svc.Active() == 0 }, 10*time.Second, 5*time.Millisecond)
	got, err := f.store.Get(t.Context(), old.TaskID)
	require.NoError(t, err)
	assert.Equal(t, store.StatusFailed, got.Status)
	assert.Contains(t, got.Error, "201")
	got, err = f.store.Get(t.Context(), fresh.TaskID)
	require.NoError(t, err)
	assert.Equal(t, store.StatusPending, got.Status, "a task just submitted may not be queryable yet: not failed, so identical requests still find it")
}

func TestFailedDownloadIsNotedAndRetried(t *testing.T) {
	f := newFixture(t, 0, time.Minute)
	broken := true
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken {
			http.Error(w, "<html>maintenance</html>", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\nrest"))
	}))
	defer cdn.Close()
	rec, err := f.svc.Record(context.Background(), client.Task{TaskID: "t1", Done: true,
		Images: []string{cdn.URL + "/1.png"}, CreatedAt: time.Now()}, 0)
	require.NoError(t, err, "a failed download is not fatal")
	require.Len(t, rec.Images, 1)
	assert.Empty(t, rec.Images[0].Path)
	assert.Contains(t, rec.Images[0].SaveError, "HTTP 502")

	broken = false
	rec, err = f.svc.SaveImages(context.Background(), rec)
	require.NoError(t, err)
	assert.NotEmpty(t, rec.Images[0].Path)
	stored, err := f.store.Get(t.Context(), "t1")
	require.NoError(t, err)
	assert.Equal(t, rec.Images[0].Path, stored.Images[0].Path)
}

func TestNothingIsSavedWhenSavingIsOff(t *testing.T) {
	f := newFixture(t, 0, time.Minute)
	quiet := f.service(t, func(o *paint.Options) { o.Save = false })
	sub, err := f.client.Submit(context.Background(), client.Request{Text: "x", Style: "古风", Resolution: "1024*1024", Num: 1})
	require.NoError(t, err)
	task, err := wait.NewPoller(f.client, wait.PollerOptions{}).Wait(context.Background(), sub.TaskID, wait.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	rec, err := quiet.Record(context.Background(), task, 0)
	require.NoError(t, err)
	assert.Equal(t, store.StatusDone, rec.Status)
	assert.Empty(t, rec.Images[0].Path)
	_, err = os.Stat(f.out)
	assert.True(t, os.IsNotExist(err), "no output folder is created")
}

func TestResumeTeachesTheEstimatorFromTheStore(t *testing.T) {
	f := newFixture(t, 0, time.Minute)
	est := wait.NewEstimator()
	tr := f.service(t, func(o *paint.Options) { o.Estimator = est })
	for i, took := range []float64{6, 7, 8} {
		_, err := f.store.Put(t.Context(), store.Record{TaskID: "done-" + string(rune('a'+i)), Status: store.StatusDone, TookSeconds: took,
			Request: client.Request{Text: "x", Resolution: "1024*1536", Num: 2}})
		require.NoError(t, err)
	}
	_, err := f.store.Put(t.Context(), store.Record{TaskID: "no-duration", Status: store.StatusDone,
		Request: client.Request{Text: "y", Resolution: "1024*1024", Num: 1}})
	require.NoError(t, err)
	_, err = tr.Resume()
	require.NoError(t, err)
	d, ok := est.Expect(wait.Key("1024*1536", 2))
	require.True(t, ok)
	assert.Equal(t, 7*time.Second, d)
	_, ok = est.Expect(wait.Key("1024*1024", 1))
	assert.False(t, ok)
}

func TestBackgroundFollowLearnsHowLongTasksTake(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond, time.Minute)
	est := wait.NewEstimator()
	tr := f.service(t, func(o *paint.Options) { o.Estimator = est })
	defer tr.Close()
	rec := f.submit(t, "熊猫")
	rec, err := f.store.Update(t.Context(), rec.TaskID, func(r *store.Record) { r.Resolution = "1024*1024" })
	require.NoError(t, err)
	tr.Follow(rec)
	require.Eventually(t, func() bool { return tr.Active() == 0 }, 10*time.Second, 5*time.Millisecond)
	got, err := f.store.Get(t.Context(), rec.TaskID)
	require.NoError(t, err)
	assert.Positive(t, got.TookSeconds, "a finish seen by the background poll is recorded")
}
