// Package track carries every submitted task to its end, whether or not a
// caller is still waiting: it records each state seen in the store, saves
// finished images to files, and keeps polling pending tasks in the
// background (resuming them after a restart).
package track

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/save"
	"aipaint-mcp/store"
	"aipaint-mcp/wait"
)

// Options configure a Tracker.
type Options struct {
	Poller    *wait.Poller // waits on the upstream's tasks
	Store     *store.Store
	Save      bool        // save images to files
	OutputDir string      // where
	Download  save.Client // how (the zero value: system roots)
	Timeout   time.Duration
	Backoff   wait.Backoff
	// Estimator learns task durations from the finishes seen here (and
	// from the store on Resume) and hints the background polls; nil = none.
	Estimator *wait.Estimator
	Logger    *slog.Logger
}

// saveBound limits saving one task's images; a failed download is retried
// by the next check_task.
const saveBound = 60 * time.Second

// Tracker follows tasks. Safe for concurrent use.
type Tracker struct {
	o      Options
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	active map[string]bool // task ids followed in the background
}

// New makes a Tracker; Close stops its background work.
func New(o Options) *Tracker {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Tracker{o: o, ctx: ctx, cancel: cancel, active: map[string]bool{}}
}

// Close stops background polling and waits for it to end. Pending tasks stay
// pending in the store, to be resumed by the next start.
func (t *Tracker) Close() {
	t.mu.Lock() // no background job starts after this
	t.cancel()
	t.mu.Unlock()
	t.wg.Wait()
}

// Record stores a task state seen by anyone. A finished task gets its image
// URLs and, when saving is on, its files; the returned record has the paths.
// took, when not 0, is how long the task took as a poll saw it finish.
func (t *Tracker) Record(ctx context.Context, task client.Task, took time.Duration) (store.Record, error) {
	rec, err := t.o.Store.Update(task.TaskID, func(r *store.Record) {
		if took > 0 && r.Status != store.StatusDone {
			r.TookSeconds = took.Seconds()
		}
		if task.TaskNo != "" {
			r.TaskNo = task.TaskNo
		}
		if !task.CreatedAt.IsZero() {
			r.CreatedAt = task.CreatedAt
		}
		if task.Done && r.Status != store.StatusDone {
			r.Status, r.DoneAt = store.StatusDone, time.Now()
			r.SetImages(task.Images)
		}
	})
	if err != nil || rec.Status != store.StatusDone {
		return rec, err
	}
	if took > 0 && rec.Resolution != "" {
		t.o.Estimator.Observe(wait.Key(rec.Resolution, rec.Num), took)
	}
	return t.SaveImages(ctx, rec)
}

// notFoundGrace is how long after its submit a task the upstream says it
// does not know (201) stays pending: a task id may take a moment to become
// queryable, and a failed task no longer answers identical requests, which
// would then be paid for again.
const notFoundGrace = 2 * time.Minute

// Fail marks a task the upstream no longer knows, unless it was submitted
// within notFoundGrace.
func (t *Tracker) Fail(taskID string, why error) (store.Record, error) {
	return t.o.Store.Update(taskID, func(r *store.Record) {
		if r.Status != store.StatusDone && time.Since(r.SubmittedAt) >= notFoundGrace {
			r.Status, r.Error = store.StatusFailed, why.Error()
		}
	})
}

// SaveImages downloads the images of a finished record that have no file
// yet. Only the URLs the upstream returned for the task are fetched. A
// failed download is noted on the image, not returned as an error.
func (t *Tracker) SaveImages(ctx context.Context, rec store.Record) (store.Record, error) {
	if !t.o.Save || rec.Status != store.StatusDone {
		return rec, nil
	}
	ctx, cancel := context.WithTimeout(ctx, saveBound)
	defer cancel()
	type saved struct{ path, err string }
	results := map[int]saved{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, img := range rec.Images {
		if img.Path != "" {
			continue
		}
		wg.Go(func() {
			p, err := t.o.Download.TaskImage(ctx, t.o.OutputDir, rec.Created(), rec.TaskID, img.Index, img.URL)
			s := saved{path: p}
			if err != nil {
				s.err = err.Error()
				t.o.Logger.Warn("saving an image failed", "task_id", rec.TaskID, "index", img.Index, "err", err)
			}
			mu.Lock()
			results[img.Index] = s
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(results) == 0 {
		return rec, nil
	}
	return t.o.Store.Update(rec.TaskID, func(r *store.Record) {
		for i, img := range r.Images {
			if s, ok := results[img.Index]; ok && img.Path == "" {
				r.Images[i].Path, r.Images[i].SaveError = s.path, s.err
			}
		}
	})
}

// SaveLater saves a finished record's missing images in the background.
func (t *Tracker) SaveLater(rec store.Record) {
	if !t.o.Save {
		return
	}
	t.background("save:"+rec.TaskID, func() {
		if _, err := t.SaveImages(t.ctx, rec); err != nil {
			t.o.Logger.Error("recording saved images failed", "task_id", rec.TaskID, "err", err)
		}
	})
}

// background runs f once per key at a time, until the Tracker closes.
func (t *Tracker) background(key string, f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active[key] || t.ctx.Err() != nil {
		return
	}
	t.active[key] = true
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() {
			t.mu.Lock()
			delete(t.active, key)
			t.mu.Unlock()
		}()
		f()
	}()
}

// FetchImage reads an image URL the way saving does (for previews).
func (t *Tracker) FetchImage(ctx context.Context, rawURL string) ([]byte, error) {
	data, _, err := t.o.Download.Fetch(ctx, rawURL)
	return data, err
}

// Follow polls a pending task in the background until it is done, the task
// timeout (counted from its submit) passes, or the Tracker closes.
func (t *Tracker) Follow(rec store.Record) {
	if rec.Status != store.StatusPending {
		return
	}
	left := t.o.Timeout - time.Since(rec.SubmittedAt)
	if left <= 0 {
		return
	}
	t.background(rec.TaskID, func() { t.follow(rec, left) })
}

func (t *Tracker) follow(rec store.Record, left time.Duration) {
	taskID := rec.TaskID
	var expect time.Duration
	if rec.Resolution != "" {
		expect, _ = t.o.Estimator.Expect(wait.Key(rec.Resolution, rec.Num))
	}
	var watch wait.FinishWatch
	task, err := t.o.Poller.Wait(t.ctx, taskID, wait.Options{Timeout: left, Backoff: t.o.Backoff, Expect: expect, OnPoll: watch.Poll})
	var apiErr *client.APIError
	switch {
	case err == nil:
		took, _ := watch.Took(task)
		if _, err := t.Record(t.ctx, task, took); err != nil {
			t.o.Logger.Error("recording a finished task failed", "task_id", taskID, "err", err)
			return
		}
		t.o.Logger.Info("background: task finished", "task_id", taskID, "images", len(task.Images))
	case errors.As(err, &apiErr) && apiErr.Category == client.CategoryNotFound:
		_, _ = t.Fail(taskID, err)
		t.o.Logger.Warn("background: the upstream does not know the task", "task_id", taskID)
	case t.ctx.Err() != nil:
		// Shutting down: the task stays pending and is resumed on the next start.
	default:
		t.o.Logger.Info("background: stopped following a task", "task_id", taskID, "err", err)
	}
}

// Resume follows the stored pending tasks still within the task timeout,
// and teaches the Estimator the durations of recent tasks; it returns how
// many tasks it follows.
func (t *Tracker) Resume() (int, error) {
	recent, err := t.o.Store.List(resumeLearn)
	if err != nil {
		return 0, err
	}
	for i := len(recent) - 1; i >= 0; i-- { // oldest first: the Estimator keeps the latest
		if r := recent[i]; r.TookSeconds > 0 && r.Resolution != "" {
			t.o.Estimator.Observe(wait.Key(r.Resolution, r.Num), time.Duration(r.TookSeconds*float64(time.Second)))
		}
	}
	// A pending record within the timeout was written within it too.
	pending, err := t.o.Store.UpdatedSince(time.Now().Add(-t.o.Timeout))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range pending {
		if rec.Status == store.StatusPending && time.Since(rec.SubmittedAt) < t.o.Timeout {
			t.Follow(rec)
			n++
		}
	}
	return n, nil
}

// resumeLearn is how many recent tasks Resume reads durations from.
const resumeLearn = 200

// ResumeInBackground runs Resume as background work (Close waits for it).
func (t *Tracker) ResumeInBackground() {
	t.background("resume", func() {
		if n, err := t.Resume(); err != nil {
			t.o.Logger.Error("resuming pending tasks failed", "err", err)
		} else if n > 0 {
			t.o.Logger.Info("resumed pending tasks", "count", n)
		}
	})
}

// Active reports how many tasks are followed in the background.
func (t *Tracker) Active() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.active)
}
