package paint

import (
	"context"
	"sync"
	"time"

	"aipaint-mcp/wait"
)

// Follow polls a pending task in the background until it is done, the task
// timeout (counted from its submit) passes, or the Service closes.
func (s *Service) Follow(task Task) {
	if task.Status != StatusPending || s.Unavailable() != nil {
		return
	}
	left := s.o.TaskTimeout - s.o.Now().Sub(task.SubmittedAt)
	if left <= 0 {
		return
	}
	s.background(task.TaskID, func() { s.follow(task, left) })
}

func (s *Service) follow(task Task, left time.Duration) {
	ctx, release, ok := s.acquire(s.bg, task.TaskID)
	defer release()
	if !ok {
		return // another server follows it
	}
	defer s.polled(task.TaskID)()
	var watch wait.FinishWatch
	seen, err := s.upstream.Wait(ctx, task.TaskID, wait.Options{Timeout: left, Backoff: s.o.Backoff, Expect: s.expect(&task), OnPoll: watch.Poll})
	switch {
	case err == nil:
		took, _ := watch.Took(seen)
		recorded, err := s.Record(s.bg, seen, took)
		if err != nil {
			s.o.Logger.Error("recording a finished task failed", "task_id", task.TaskID, "err", err)
			return
		}
		s.o.Logger.Info("background: task finished", "task_id", task.TaskID, "images", len(seen.Images))
		if unsaved(recorded) {
			s.SaveLater(recorded)
		}
	case taskUnknown(err):
		_, _ = s.fail(s.bg, task.TaskID, err)
		s.o.Logger.Warn("background: the upstream does not know the task", "task_id", task.TaskID)
	case ctx.Err() != nil:
		// Shutting down, or another server took the task over: it stays
		// pending in the store, for that server or the next start.
	default:
		s.o.Logger.Info("background: stopped following a task", "task_id", task.TaskID, "err", err)
	}
}

// saveBound limits one attempt at saving one task's images.
const saveBound = 60 * time.Second

// SaveImages downloads the images of a finished task that have no file
// yet. Only the URLs the upstream returned for the task are fetched. A
// failed download is noted on the image, not returned as an error.
func (s *Service) SaveImages(ctx context.Context, task Task) (Task, error) {
	if !s.o.Save || s.o.Download == nil || task.Status != StatusDone {
		return task, nil
	}
	if err := s.Unavailable(); err != nil {
		return task, err
	}
	ctx, cancel := context.WithTimeout(ctx, saveBound)
	defer cancel()
	type saved struct{ path, err string }
	results := map[int]saved{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, img := range task.Images {
		if img.Path != "" {
			continue
		}
		wg.Go(func() {
			p, err := s.o.Download.TaskImage(ctx, s.o.OutputDir, task.Created(), task.TaskID, img.Index, img.URL)
			r := saved{path: p}
			if err != nil {
				r.err = err.Error()
				s.o.Observer.DownloadFailed()
				s.o.Logger.Warn("saving an image failed", "task_id", task.TaskID, "index", img.Index, "err", err)
			}
			mu.Lock()
			results[img.Index] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(results) == 0 {
		return task, nil
	}
	return s.o.Store.Update(ctx, task.TaskID, func(t *Task) {
		for i, img := range t.Images {
			if r, ok := results[img.Index]; ok && img.Path == "" {
				t.Images[i].Path, t.Images[i].SaveError = r.path, r.err
			}
		}
	})
}

// DefaultSaveRetry paces the background retries of a failed download:
// from 10 s up to an hour apart.
var DefaultSaveRetry = wait.Backoff{Initial: 10 * time.Second, Max: time.Hour, Factor: 2}

// saveAttempts bounds the background attempts at saving one task's images
// in one run of the server (about a day at DefaultSaveRetry); the next
// start tries again, until the image URLs expire.
const saveAttempts = 30

// saveParallel is how many tasks the background saves at once. A resume
// may find a week of tasks whose files were never saved (a full disk, an
// output folder that was not writable, a long time offline), and each
// image is held in memory (up to save.MaxImageBytes) until it is written:
// all of them at once would be thousands of downloads.
const saveParallel = 2

// SaveLater saves a finished task's missing images in the background,
// trying again with backoff until they are saved, the image URLs expire,
// the attempts run out or the Service closes.
func (s *Service) SaveLater(task Task) {
	if !s.o.Save || s.o.Download == nil || task.Status != StatusDone || s.Unavailable() != nil {
		return
	}
	s.background("save:"+task.TaskID, func() {
		for n := 0; n < saveAttempts; n++ {
			if n > 0 {
				if !s.pause(s.o.SaveRetry.Delay(n - 1)) {
					return
				}
				// A call, or another process on the same store, may have
				// saved some of them meanwhile: fetch only what is missing.
				if stored, err := s.o.Store.Get(s.bg, task.TaskID); err == nil {
					task = stored
				}
			}
			if !unsaved(task) || !s.o.Now().Before(task.ImagesExpireAt()) {
				return
			}
			select {
			case s.saving <- struct{}{}:
			case <-s.bg.Done():
				return
			}
			saved, err := s.SaveImages(s.bg, task)
			<-s.saving
			if err != nil {
				s.o.Logger.Error("recording saved images failed", "task_id", task.TaskID, "err", err)
				continue
			}
			if task = saved; !unsaved(task) {
				return // no pause after the last success
			}
		}
		if unsaved(task) && s.bg.Err() == nil {
			s.o.Logger.Warn("background: gave up saving images for now; the next start tries again", "task_id", task.TaskID)
		}
	})
}

// pause waits d unless the Service closes first.
func (s *Service) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.bg.Done():
		return false
	}
}

// resumeLearn is how many recent tasks Resume reads durations from.
const resumeLearn = 200

// resumeSave is how far back Resume looks for finished tasks whose images
// were not saved (a process killed between recording a task done and
// saving its files, or downloads that kept failing).
const resumeSave = 7 * 24 * time.Hour

// Resume follows the stored pending tasks still within the task timeout,
// saves the missing images of recently finished tasks (with ResumeSaves),
// and teaches the Estimator the durations of recent tasks. Tasks submitted
// since New are left to the calls that submitted them. It returns how many tasks it
// follows or saves.
func (s *Service) Resume() (int, error) {
	if s.Unavailable() != nil {
		return 0, nil
	}
	if s.leases != nil {
		s.background("sweep", s.sweep)
	}
	recent, err := s.o.Store.List(s.bg, "", resumeLearn)
	if err != nil {
		return 0, err
	}
	for i := len(recent) - 1; i >= 0; i-- { // oldest first: the Estimator keeps the latest
		if t := recent[i]; t.TookSeconds > 0 && t.Resolution != "" {
			s.o.Estimator.Observe(wait.Key(t.Resolution, t.Num), time.Duration(t.TookSeconds*float64(time.Second)))
		}
	}
	now := s.o.Now()
	saves := s.o.Save && s.o.ResumeSaves
	since := now.Add(-s.o.TaskTimeout)
	if saves && s.o.TaskTimeout < resumeSave {
		since = now.Add(-resumeSave)
	}
	// A pending task within the timeout was written within it too.
	tasks, err := s.o.Store.UpdatedSince(s.bg, since)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range tasks {
		if !t.SubmittedAt.Before(s.started) {
			continue // a call of this run submitted it, and waits for it or follows it
		}
		switch {
		case t.Status == StatusPending && now.Sub(t.SubmittedAt) < s.o.TaskTimeout:
			s.Follow(t)
			n++
		case t.Status == StatusDone && saves && unsaved(t) && now.Before(t.ImagesExpireAt()):
			s.SaveLater(t)
			n++
		}
	}
	return n, nil
}

// ResumeInBackground runs Resume as background work (Close waits for it),
// so that nothing it reads delays the server's start.
func (s *Service) ResumeInBackground() {
	s.background("resume", func() {
		if n, err := s.Resume(); err != nil {
			s.o.Logger.Error("resuming tasks failed", "err", err)
		} else if n > 0 {
			s.o.Logger.Info("resumed tasks", "count", n)
		}
	})
}
