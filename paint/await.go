package paint

import (
	"context"
	"errors"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/wait"
)

// await waits for c's task within the call's budget, records what it saw
// and answers in c.out with the recorded task. A task still pending is
// followed in the background; one whose images are not all saved is saved
// there. Its frames, and look's, stay parked for the wait: they hold
// little (see call).
func (s *Service) await(ctx context.Context, c *call) error {
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	poller := s.upstream
	if c.task.Status == StatusPending {
		var release func()
		var ours bool
		ctx, release, ours = s.acquire(ctx, c.task.TaskID)
		defer release()
		if !ours {
			// Another server polls it and records what it sees: this call
			// reads the store, and never asks the upstream.
			poller = s.stored
		} else {
			defer s.polled(c.task.TaskID)()
		}
	}
	seen, took, err := s.look(ctx, poller, c)
	return s.settle(ctx, c, &seen, took, err)
}

// settle records what a look saw, for await.
func (s *Service) settle(ctx context.Context, c *call, seen *client.Task, took time.Duration, err error) error {
	task := c.task
	var failed *TaskFailedError
	if errors.As(err, &failed) {
		return failed
	}
	switch {
	case err == nil || errors.Is(err, wait.ErrStillPending) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		if seen.TaskID == "" {
			seen.TaskID = task.TaskID
		}
		sctx, cancel := s.saveContext(ctx, c.started)
		recorded, rerr := s.record(sctx, *seen, took, task.Owner)
		cancel()
		if rerr != nil {
			s.o.Logger.Error("task store: recording a task state failed", "task_id", task.TaskID, "err", rerr)
			recorded = task
			if seen.Done {
				recorded.Status = StatusDone
				recorded.SetImages(seen.Images)
			}
		}
		if recorded.Status == StatusPending {
			s.Follow(recorded)
		} else if unsaved(recorded) {
			s.SaveLater(recorded)
		}
		c.out.Task, c.out.WaitErr = recorded, err
		return nil
	case taskUnknown(err) && task.Status == StatusPending:
		if _, ferr := s.fail(ctx, task.TaskID, err); ferr != nil {
			s.o.Logger.Error("task store: recording a failed task failed", "task_id", task.TaskID, "err", ferr)
		}
	}
	ue := &UpstreamError{Err: err}
	if c.out.Submitted {
		ue.SubmittedTask = task.TaskID
	}
	return ue
}

// look gets a task's state within the call's budget from poller: one query
// when WaitSeconds is 0 (retried when it asks the upstream), else a wait
// that also ends at the drain. took is how long the task took when the
// upstream's wait saw it finish (0 otherwise: a read of the store sees
// another server's record, not the finish).
func (s *Service) look(ctx context.Context, poller *wait.Poller, c *call) (_ client.Task, took time.Duration, _ error) {
	if c.o.WaitSeconds == 0 && poller == s.upstream {
		return s.lookOnce(ctx, c.task.TaskID)
	}
	ctx, stop := s.bounded(ctx)
	defer stop()
	watch := new(wait.FinishWatch)
	seen, err := poller.Wait(ctx, c.task.TaskID, wait.Options{
		Timeout: max(time.Duration(c.o.WaitSeconds)*time.Second-time.Since(c.started), 0),
		Backoff: s.o.Backoff,
		Expect:  s.expect(&c.task),
		OnPoll:  c.onPoll(watch),
	})
	if poller == s.upstream {
		took, _ = watch.Took(seen)
	}
	return seen, took, err
}

// onPoll notes every poll in watch and tells the caller of those that found
// the task still pending.
func (c *call) onPoll(watch *wait.FinishWatch) func(wait.Poll) {
	return func(p wait.Poll) {
		watch.Poll(p)
		if c.o.OnPoll != nil && !p.Task.Done {
			c.o.OnPoll()
		}
	}
}

// lookOnce is one query, retried, within oneLookBound and the drain.
func (s *Service) lookOnce(ctx context.Context, taskID string) (client.Task, time.Duration, error) {
	ctx, stop := s.bounded(ctx)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, oneLookBound)
	defer cancel()
	seen, err := s.o.Upstream.Query(ctx, taskID)
	if err == nil && !seen.Done {
		err = wait.ErrStillPending
	}
	return seen, 0, err
}

// storeReader is the Querier of the waits for a task another server polls:
// that server records what the upstream says, and the store tells.
type storeReader struct{ s *Service }

func (r storeReader) QueryOnce(ctx context.Context, taskID string) (client.Task, error) {
	t, err := r.s.o.Store.Get(ctx, taskID)
	if err != nil {
		r.s.o.Logger.Warn("task store: read failed", "task_id", taskID, "err", err)
		return client.Task{}, err // polled again, as a failed query is
	}
	if t.Status == StatusFailed {
		return client.Task{}, wait.Final(&TaskFailedError{Task: t})
	}
	seen := client.Task{TaskID: t.TaskID, TaskNo: t.TaskNo, Done: t.Status == StatusDone, CreatedAt: t.CreatedAt}
	for _, img := range t.Images {
		seen.Images = append(seen.Images, img.URL)
	}
	return seen, nil
}

// expect is how long a task like this one usually takes; 0 when unknown.
func (s *Service) expect(task *Task) time.Duration {
	if task.Resolution == "" {
		return 0
	}
	d, _ := s.o.Estimator.Expect(wait.Key(task.Resolution, task.Num))
	return d
}

// Record stores a task state seen by anyone. A finished task gets its image
// URLs and, when saving is on, its files; the returned task has the paths.
// took, when not 0, is how long the task took as a poll saw it finish.
func (s *Service) Record(ctx context.Context, seen client.Task, took time.Duration) (Task, error) {
	return s.record(ctx, seen, took, "")
}

// record is Record, giving a task the store did not know to owner.
func (s *Service) record(ctx context.Context, seen client.Task, took time.Duration, owner string) (Task, error) {
	if err := s.Unavailable(); err != nil {
		return Task{}, err
	}
	task, err := s.o.Store.Update(ctx, seen.TaskID, func(t *Task) {
		if t.Status == "" && t.Owner == "" {
			t.Owner = owner
		}
		if took > 0 && t.Status != StatusDone {
			t.TookSeconds = took.Seconds()
		}
		if seen.TaskNo != "" {
			t.TaskNo = seen.TaskNo
		}
		if !seen.CreatedAt.IsZero() {
			t.CreatedAt = seen.CreatedAt
		}
		if seen.Done && t.Status != StatusDone {
			t.Status, t.DoneAt = StatusDone, s.o.Now()
			t.SetImages(seen.Images)
		}
	})
	if err != nil || task.Status != StatusDone {
		return task, err
	}
	if took > 0 && task.Resolution != "" {
		s.o.Estimator.Observe(wait.Key(task.Resolution, task.Num), took)
	}
	return s.SaveImages(ctx, task)
}

// notFoundGrace is how long after its submit a task the upstream says it
// does not know (201) stays pending: a task id may take a moment to become
// queryable, and a failed task no longer answers identical requests, which
// would then be paid for again.
const notFoundGrace = 2 * time.Minute

// fail marks a task the upstream no longer knows, unless it was submitted
// within notFoundGrace.
func (s *Service) fail(ctx context.Context, taskID string, why error) (Task, error) {
	return s.o.Store.Update(ctx, taskID, func(t *Task) {
		if t.Status != StatusDone && s.o.Now().Sub(t.SubmittedAt) >= notFoundGrace {
			t.Status, t.Error = StatusFailed, why.Error()
		}
	})
}
