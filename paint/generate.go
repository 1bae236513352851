package paint

import (
	"context"
	"errors"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/store"
)

// Budgets of one call. MCP clients give up at 60 s: a call answers within
// callBudget of its start, and saving inside it takes at most
// foregroundSave (what is not saved by then is saved in the background).
const (
	callBudget     = 55 * time.Second
	foregroundSave = 10 * time.Second
	minSave        = 2 * time.Second
	// submitBound limits a submit that the caller abandoned: it still runs
	// to its end, because its outcome decides whether the user was charged.
	submitBound = 2 * time.Minute
	// oneLookBound limits an answer-at-once query, retries included.
	oneLookBound = 15 * time.Second
)

// CallOptions shape one call.
type CallOptions struct {
	// Started is when the call began (zero = now): waits count from it, so
	// a slow submit shortens the wait instead of pushing the call past the
	// client's own timeout (and into a paid retry).
	Started time.Time
	// Wait for the images (generate); without it a new task is followed in
	// the background and answered as pending at once.
	Wait bool
	// WaitSeconds bounds the wait from Started; 0 = one look, no wait.
	WaitSeconds int
	// ForceNew pays for a new task even when an identical recent request
	// has one.
	ForceNew bool
	// OnPoll, when set, is told of every poll that found the task still
	// pending (for progress notifications; nothing depends on them).
	OnPoll func()
}

func (o CallOptions) started() time.Time {
	if o.Started.IsZero() {
		return time.Now()
	}
	return o.Started
}

// Outcome is a task as a call leaves it, and what the call did besides.
type Outcome struct {
	Task         Task
	Usage        Usage // today's images, after this call
	Billed       int   // images this call submitted (and paid for)
	Deduplicated bool  // an identical recent request's task was returned
	Submitted    bool  // this call created the task
	// WaitErr is how the wait ended when the task is still pending: nil,
	// wait.ErrStillPending (possibly joined with the last failed query), or
	// the drain.
	WaitErr error
}

// Generate is one paid request: reserved (an identical recent request
// returns its task instead, the daily limit refuses), submitted once,
// recorded, and waited for when asked. Errors: *UnavailableError,
// ErrShuttingDown, *LimitError, ErrInFlight, *StoreError, *UpstreamError.
func (s *Service) Generate(ctx context.Context, req Request, o CallOptions) (Outcome, error) {
	started := o.started()
	if err := s.Unavailable(); err != nil {
		return Outcome{}, err
	}
	if s.draining() {
		return Outcome{}, ErrShuttingDown
	}
	policy := s.o.Policy
	policy.ForceNew = o.ForceNew
	res, err := s.reserve(ctx, req, policy, started)
	var limit *LimitError
	switch {
	case errors.As(err, &limit):
		return Outcome{}, limit
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return Outcome{}, ErrInFlight
	case err != nil:
		s.o.Logger.Error("task store: reserve failed", "err", err)
		return Outcome{}, &StoreError{Err: err}
	case res.Existing != nil:
		s.o.Logger.Info("identical request: returning the existing task", "task_id", res.Existing.TaskID)
		out := Outcome{Usage: res.Usage, Deduplicated: true}
		if res.Existing.Status == StatusPending && o.Wait {
			return s.await(ctx, *res.Existing, o, started, out)
		}
		return s.recorded(ctx, *res.Existing, started, out), nil
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), submitBound)
	sub, err := s.o.Upstream.Submit(sctx, client.SubmitRequest{
		Text: req.Text, Style: req.Style, Resolution: req.Resolution, Num: req.Num,
	})
	cancel()
	if err != nil {
		s.o.Logger.Warn("submit failed", "err", err)
		if mayHaveBilled(err) {
			err = errors.Join(err, s.o.Store.Abandon(res))
		} else {
			err = errors.Join(err, s.o.Store.Release(res))
		}
		return Outcome{}, &UpstreamError{Err: err}
	}
	// Logged too, so that a task survives even a store that fails below.
	s.o.Logger.Info("task submitted", "task_id", sub.TaskID, "taskNo", sub.TaskNo, "num", req.Num,
		"style", req.Style, "resolution", req.Resolution)
	pending := Task{TaskID: sub.TaskID, TaskNo: sub.TaskNo, Request: req, Status: StatusPending}
	task, err := s.o.Store.Commit(res, pending)
	if err != nil {
		s.o.Logger.Error("task store: recording a submitted task failed", "task_id", sub.TaskID, "err", err)
		task = pending
		task.SubmittedAt = started
	}
	out := Outcome{Usage: res.Usage, Billed: req.Num, Submitted: true}
	if !o.Wait {
		s.Follow(task)
		out.Task = task
		return out, nil
	}
	return s.await(ctx, task, o, started, out)
}

// mayHaveBilled reads the client's verdict on a failed submit.
func mayHaveBilled(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.MaybeBilled
}

// reserve is Store.Reserve bounded by the call's budget and the drain: a
// call waiting behind an identical in-flight submit must still answer
// before the client gives up.
func (s *Service) reserve(ctx context.Context, req Request, p store.Policy, started time.Time) (store.Reservation, error) {
	ctx, cancel := context.WithTimeout(ctx, max(callBudget-time.Since(started), minSave))
	defer cancel()
	ctx, stop := s.bounded(ctx)
	defer stop()
	return s.o.Store.Reserve(ctx, req, p)
}

// Check answers for a task: a finished one from the store without asking
// the upstream (saving first what a failed download left), others after a
// look or a wait of o.WaitSeconds. An id the store does not know is looked
// up and recorded. Errors: *UnavailableError, *TaskFailedError,
// *UpstreamError.
func (s *Service) Check(ctx context.Context, taskID string, o CallOptions) (Outcome, error) {
	started := o.started()
	if err := s.Unavailable(); err != nil {
		return Outcome{}, err
	}
	var out Outcome
	if u, err := s.o.Store.Usage(s.o.Policy); err == nil {
		out.Usage = u
	}
	task, err := s.o.Store.Get(taskID)
	switch {
	case err == nil && task.Status == StatusDone:
		return s.recorded(ctx, task, started, out), nil
	case err == nil && task.Status == StatusFailed:
		return Outcome{}, &TaskFailedError{Task: task}
	case errors.Is(err, store.ErrNotFound):
		task = Task{TaskID: taskID} // not ours, or from before the store: looked up and recorded
	case err != nil:
		s.o.Logger.Warn("task store: read failed", "task_id", taskID, "err", err)
		task = Task{TaskID: taskID}
	}
	o.Wait = true
	return s.await(ctx, task, o, started, out)
}

// recorded answers with a finished task from the store, saving first the
// images a failed download left without a file.
func (s *Service) recorded(ctx context.Context, task Task, started time.Time, out Outcome) Outcome {
	if task.Status == StatusDone && unsaved(task) {
		sctx, cancel := s.saveContext(ctx, started)
		if saved, err := s.SaveImages(sctx, task); err == nil {
			task = saved
		}
		cancel()
		if unsaved(task) {
			s.SaveLater(task) // what the call's bounded attempt left
		}
	}
	out.Task = task
	return out
}

// saveContext bounds saving inside a call.
func (s *Service) saveContext(ctx context.Context, started time.Time) (context.Context, context.CancelFunc) {
	if s.o.SaveBound > 0 {
		return context.WithTimeout(context.WithoutCancel(ctx), s.o.SaveBound)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), min(foregroundSave, max(minSave, callBudget-time.Since(started))))
}

func unsaved(task Task) bool {
	for _, img := range task.Images {
		if img.Path == "" {
			return true
		}
	}
	return false
}
