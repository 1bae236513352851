package paint

import (
	"context"
	"errors"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/store"
	"aipaint-mcp/wait"
)

// LongestCall bounds one tool call of a server whose waits last at most
// maxWait and whose upstream requests time out after requestTimeout: the
// wait counts from the call's start, a submit on a slow upstream takes one
// request timeout more, and saving the images after the wait at most
// foregroundSave. A stopping server lets its calls run this long (serve's
// CallLimit), and a deployment's termination grace must cover it.
func LongestCall(maxWait, requestTimeout time.Duration) time.Duration {
	return maxWait + requestTimeout + foregroundSave
}

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
	// Person is who asks (a team server's tokens file): the task is
	// theirs, their daily limit applies, and they see only their own tasks.
	Person Person
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
// ErrShuttingDown, ErrBusy, *LimitError, ErrInFlight, *StoreError, *UpstreamError.
func (s *Service) Generate(ctx context.Context, req client.Request, o CallOptions) (Outcome, error) {
	c := &call{o: o, started: o.started()}
	if err := s.queue(ctx, c.started); err != nil {
		return Outcome{}, err
	}
	err := s.answer(ctx, c, func() (bool, error) {
		defer func() { <-s.paying }()
		return s.pay(ctx, req, c)
	})
	if err != nil {
		return Outcome{}, err
	}
	return c.out, nil
}

// payParallel bounds the calls reserving, submitting and committing at
// once (the upstream takes 8 requests at a time by default, and the file
// store one reservation): a burst of calls queues before that work rather
// than inside it, where each would hold a stack grown by the store and the
// HTTP client (profiled: 1,000 calls at once peaked 13–20 MB higher).
const payParallel = 16

// queue waits for one of the payParallel places, within the call's budget
// (on SSE a client that hangs up does not end ctx: a call must not start
// paying after its client stopped listening) and until the drain.
func (s *Service) queue(ctx context.Context, started time.Time) error {
	select {
	case s.paying <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(max(callBudget-time.Since(started), 0))
	defer t.Stop()
	select {
	case s.paying <- struct{}{}:
		return nil
	case <-s.drain.Done():
		return ErrShuttingDown
	case <-ctx.Done():
		return ErrBusy
	case <-t.C:
		return ErrBusy
	}
}

// answer runs prepare (the store and upstream work of a call) on a stack of
// its own, then waits for c's task when prepare says so.
func (s *Service) answer(ctx context.Context, c *call, prepare func() (waits bool, _ error)) error {
	var waits bool
	var err error
	wait.OnOwnStack(func() { waits, err = prepare() })
	if err == nil && waits {
		err = s.await(ctx, c)
	}
	return err
}

// call is one call as it waits: its task, options and start, and the
// outcome so far. Generate and Check do their store and upstream work on
// a stack of its own (wait.OnOwnStack) and keep only a *call in the frames
// that stay parked in the wait: profiled with 1,000 waiting calls, the
// frames they kept (a Task, an Outcome and a Reservation by value in each
// of four) made every waiting goroutine's stack 32 KB instead of 16 KB.
type call struct {
	task    Task
	o       CallOptions
	started time.Time
	out     Outcome
}

// pay reserves, submits and commits, leaving the answer in c.out, or in
// c.task the task to wait for when waits.
func (s *Service) pay(ctx context.Context, req client.Request, c *call) (waits bool, _ error) {
	if err := s.Unavailable(); err != nil {
		return false, err
	}
	if s.draining() {
		return false, ErrShuttingDown
	}
	policy := s.policy(c.o.Person)
	policy.ForceNew = c.o.ForceNew
	res, err := s.reserve(ctx, req, policy, c.started)
	var limit *LimitError
	switch {
	case errors.As(err, &limit):
		return false, limit
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return false, ErrInFlight
	case err != nil:
		s.o.Logger.Error("task store: reserve failed", "err", err)
		return false, &StoreError{Err: err}
	case res.Existing != nil:
		s.o.Logger.Info("identical request: returning the existing task", "task_id", res.Existing.TaskID)
		c.out = Outcome{Usage: res.Usage, Deduplicated: true}
		if res.Existing.Status == StatusPending && c.o.Wait {
			c.task = *res.Existing
			return true, nil
		}
		c.out = s.recorded(ctx, *res.Existing, c.started, c.out)
		return false, nil
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), submitBound)
	sub, err := s.o.Upstream.Submit(sctx, req)
	cancel()
	if err != nil {
		s.o.Logger.Warn("submit failed", "err", err)
		if mayHaveBilled(err) {
			err = errors.Join(err, s.o.Store.Abandon(ctx, res))
		} else {
			err = errors.Join(err, s.o.Store.Release(ctx, res))
		}
		return false, &UpstreamError{Err: err}
	}
	// Logged too, so that a task survives even a store that fails below.
	s.o.Logger.Info("task submitted", "task_id", sub.TaskID, "taskNo", sub.TaskNo, "num", req.Num,
		"style", req.Style, "resolution", req.Resolution)
	pending := Task{TaskID: sub.TaskID, TaskNo: sub.TaskNo, Request: req, Status: StatusPending}
	task, err := s.o.Store.Commit(ctx, res, pending)
	c.out = Outcome{Usage: res.Usage, Billed: req.Num, Submitted: true}
	s.o.Observer.Billed(c.o.Person.Name, req.Num)
	if err != nil {
		// The id reaches the caller at once; recording it is retried until
		// the store is back, and only then is the task followed.
		s.o.Logger.Error("task store: recording a submitted task failed; retrying", "task_id", sub.TaskID, "err", err)
		pending.SubmittedAt, pending.Owner = c.started, res.Owner
		s.commitLater(res, pending)
		c.out.Task = pending
		return false, nil
	}
	if !c.o.Wait {
		s.Follow(task)
		c.out.Task = task
		return false, nil
	}
	c.task = task
	return true, nil
}

// commitRetry paces the retries of a commit that failed.
var commitRetry = wait.Backoff{Initial: time.Second, Max: 30 * time.Second, Factor: 2}

// commitLater records a submitted (and paid) task whose commit failed, as
// soon as the store takes it, then follows it. Until then the task lives in
// this process and in the log line "task submitted". Close waits for it
// before it closes the store: a server stopping tries once more.
func (s *Service) commitLater(res store.Reservation, task Task) {
	s.background("commit:"+task.TaskID, func() {
		for n := 0; ; n++ {
			if !s.pause(commitRetry.Delay(n)) {
				if _, err := s.o.Store.Commit(s.bg, res, task); err != nil {
					s.o.Logger.Error("task store: a submitted task was never recorded; check_task with its id recovers it",
						"task_id", task.TaskID, "err", err)
				} else {
					s.o.Logger.Info("task store: recorded a submitted task after a failure, while stopping", "task_id", task.TaskID)
				}
				return // the next start, or another server, follows it
			}
			committed, err := s.o.Store.Commit(s.bg, res, task)
			if err == nil {
				s.o.Logger.Info("task store: recorded a submitted task after a failure", "task_id", task.TaskID)
				s.Follow(committed)
				return
			}
			s.o.Logger.Warn("task store: recording a submitted task failed again", "task_id", task.TaskID, "err", err)
		}
	})
}

// mayHaveBilled reads the upstream client's verdict on a failed submit.
func mayHaveBilled(err error) bool {
	var apiErr *client.APIError
	return errors.As(err, &apiErr) && apiErr.MaybeBilled
}

// taskUnknown is the upstream saying it does not know a task (201).
func taskUnknown(err error) bool {
	var apiErr *client.APIError
	return errors.As(err, &apiErr) && apiErr.Category == client.CategoryNotFound
}

// reserve is Store.Reserve bounded by the call's budget and the drain: a
// call waiting behind an identical in-flight submit must still answer
// before the client gives up.
func (s *Service) reserve(ctx context.Context, req client.Request, p store.Policy, started time.Time) (store.Reservation, error) {
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
	o.Wait = true
	c := &call{o: o, started: o.started()}
	err := s.answer(ctx, c, func() (bool, error) { return s.find(ctx, taskID, c) })
	if err == nil && !visible(c.out.Task, o.Person) {
		// The store did not have it when read, but had it when the look
		// was recorded (another server's commit landed meanwhile): it is
		// someone else's after all.
		err = ErrNotFound
	}
	if err != nil {
		return Outcome{}, err
	}
	return c.out, nil
}

// find reads a task for Check, leaving the answer in c.out, or in c.task
// the task to look at when waits.
func (s *Service) find(ctx context.Context, taskID string, c *call) (waits bool, _ error) {
	if err := s.Unavailable(); err != nil {
		return false, err
	}
	if u, err := s.o.Store.Usage(ctx, s.policy(c.o.Person)); err == nil {
		c.out.Usage = u
	}
	task, err := s.o.Store.Get(ctx, taskID)
	switch {
	case err == nil && !visible(task, c.o.Person):
		return false, ErrNotFound // someone else's: as if it did not exist
	case err == nil && task.Status == StatusDone:
		c.out = s.recorded(ctx, task, c.started, c.out)
		return false, nil
	case err == nil && task.Status == StatusFailed:
		return false, &TaskFailedError{Task: task}
	case errors.Is(err, store.ErrNotFound):
		// From before the store, or a commit that failed: looked up and
		// recorded as the asker's.
		task = Task{TaskID: taskID, Owner: c.o.Person.Name}
	case err != nil && c.o.Person.Name != "":
		// Whose task it is cannot be told: show nothing.
		s.o.Logger.Warn("task store: read failed", "task_id", taskID, "err", err)
		return false, &StoreError{Err: err}
	case err != nil:
		s.o.Logger.Warn("task store: read failed", "task_id", taskID, "err", err)
		task = Task{TaskID: taskID}
	}
	c.task = task
	return true, nil
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
