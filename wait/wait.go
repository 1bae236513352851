// Package wait polls an upstream task until it is done: the polling schedule,
// the Estimator that hints it, and the Poller that shares one poll rate among
// all the waits of a server. It knows nothing about MCP.
package wait

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"aipaint-mcp/client"
)

// ErrStillPending is returned by Wait when its deadline passes before the task is done.
var ErrStillPending = errors.New("task still pending")

// LastPollGrace is how far the poll made at the deadline may run past it.
const LastPollGrace = 3 * time.Second

// DefaultMaxPollRate bounds the polls per second of all the waits of one
// Poller together. One user's few waits never reach it; a server holding
// hundreds of waits (profiled: 1,000) polls each of them less often, instead
// of spending a core on polls and the package's query quota with it. The
// servers of a team share it (paint divides it among them).
const DefaultMaxPollRate = 50

// Poll reports one query made by Wait.
type Poll struct {
	N       int           // 1-based
	Elapsed time.Duration // since Wait started
	Task    client.Task   // the latest known state (Done false until done)
	Err     error         // this poll's transient failure, if any
}

// Final marks a query failure that no later poll can mend (a Querier's own
// verdict, such as a task recorded as failed): Wait returns it at once.
// Other failures than the upstream's permanent ones are polled through.
func Final(err error) error { return finalError{err} }

type finalError struct{ error }

func (e finalError) Unwrap() error { return e.error }

// Options bound and report a Wait.
type Options struct {
	Timeout time.Duration // total bound; 0 = a single query
	Backoff Backoff
	// Expect is the expected duration of the task (Schedule.Expect); 0 = plain
	// Backoff. The task's age counts from its createTime once a query has
	// returned it, else from the start of the wait.
	Expect time.Duration
	OnPoll func(Poll) // called after every poll, one call at a time
}

// Querier reads a task's state with one request: a wait does its own
// retrying, so a retry inside the query would only delay the next poll. The
// upstream's client is one; a store that another server records into is
// another.
type Querier interface {
	QueryOnce(ctx context.Context, taskID string) (client.Task, error)
}

// PollerOptions configure a Poller.
type PollerOptions struct {
	MaxPollRate float64        // polls per second across all waits; 0 = DefaultMaxPollRate
	Jitter      func() float64 // in [0,1); nil = math/rand
}

// Poller runs waits against one upstream. Its waits share one poll rate. It
// is safe for concurrent use.
type Poller struct {
	q      Querier
	rate   atomic.Uint64 // math.Float64bits of polls per second
	jitter func() float64
	waits  atomic.Int64 // Waits in progress
}

// NewPoller returns a Poller that queries q.
func NewPoller(q Querier, o PollerOptions) *Poller {
	if o.MaxPollRate <= 0 {
		o.MaxPollRate = DefaultMaxPollRate
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	p := &Poller{q: q, jitter: o.Jitter}
	p.rate.Store(math.Float64bits(o.MaxPollRate))
	return p
}

// SetMaxPollRate changes the poll rate the waits share (> 0), as when
// several servers share the account's.
func (p *Poller) SetMaxPollRate(rate float64) {
	if rate > 0 {
		p.rate.Store(math.Float64bits(rate))
	}
}

// MaxPollRate is the poll rate the waits share.
func (p *Poller) MaxPollRate() float64 { return math.Float64frombits(p.rate.Load()) }

// Wait polls a task until it is done, the timeout passes, or ctx ends.
// On timeout it returns the last known state and ErrStillPending; a transient
// query failure does not end the wait. Permanent failures (unknown task,
// credentials) end it at once. Waiting never cancels the task upstream.
func (p *Poller) Wait(ctx context.Context, taskID string, o Options) (client.Task, error) {
	w := &waiting{taskID: taskID, o: o, start: time.Now(), last: client.Task{TaskID: taskID}}
	w.born = w.start // the task's creation as far as we know
	// A negative timeout would put the context's deadline in the past and
	// make not even the one promised query.
	deadline := w.start.Add(max(o.Timeout, 0))
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(LastPollGrace))
	defer cancel()

	p.waits.Add(1)
	defer p.waits.Add(-1)

	for n := 1; ; n++ {
		var end bool
		var err error
		// The query and OnPoll run apart: this goroutine stays parked
		// between polls (see OnOwnStack).
		OnOwnStack(func() { end, err = w.poll(ctx, p.q, n) })
		if end {
			return w.last, err
		}
		if ctx.Err() != nil && time.Now().Before(deadline) {
			return w.last, ctx.Err() // the caller gave up
		}
		sched := Schedule{Backoff: o.Backoff, Expect: o.Expect}
		d := jittered(max(sched.Delay(n-1, time.Since(w.born)), pollFloor(p.waits.Load(), p.MaxPollRate())), p.jitter())
		d = onTick(time.Now(), d)
		if remaining := time.Until(deadline); remaining <= 0 {
			return w.last, stillPending(w.lastErr)
		} else if d > remaining {
			d = remaining // one last look right at the deadline
		}
		if err := client.Sleep(ctx, d); err != nil {
			if time.Now().Before(deadline) {
				return w.last, err
			}
			return w.last, stillPending(w.lastErr)
		}
	}
}

// waiting is one Wait's state between its polls.
type waiting struct {
	taskID  string
	o       Options
	start   time.Time
	last    client.Task // the latest known state
	lastErr error       // the last query's transient failure
	born    time.Time   // the task's creation as far as known
}

// poll queries once and reports it to OnPoll; end says the wait is over:
// the task is done (err nil), or the failure err is permanent.
func (w *waiting) poll(ctx context.Context, q Querier, n int) (end bool, _ error) {
	t, err := q.QueryOnce(ctx, w.taskID)
	var apiErr *client.APIError
	switch {
	case err == nil:
		w.last, w.lastErr = t, nil
		if !t.CreatedAt.IsZero() {
			// Upstream clock, as the Estimator's observations are: a skew
			// between the clocks cancels out.
			w.born = t.CreatedAt
		}
	case errors.As(err, &apiErr) && !apiErr.Retryable && apiErr.Category != client.CategoryNotRunning,
		errors.As(err, new(finalError)):
		return true, err
	default:
		w.lastErr = err
	}
	if w.o.OnPoll != nil {
		w.o.OnPoll(Poll{N: n, Elapsed: time.Since(w.start), Task: w.last, Err: w.lastErr})
	}
	return w.last.Done, nil
}

// pollFloor is the shortest pause between two polls of one wait when waits
// waits share rate polls per second.
func pollFloor(waits int64, rate float64) time.Duration {
	if waits <= 0 || rate <= 0 {
		return 0
	}
	return time.Duration(float64(waits) / rate * float64(time.Second))
}

// pollJitter spreads each pause over ±10 %: calls that arrived together
// (profiled: 1,000 at once) would otherwise poll in lockstep, in bursts that
// open a connection per poll.
const pollJitter = 0.2

// jittered is d spread by j in [0,1): from (1-pollJitter/2)×d to (1+pollJitter/2)×d.
func jittered(d time.Duration, j float64) time.Duration {
	return time.Duration(float64(d) * (1 - pollJitter/2 + pollJitter*min(max(j, 0), 1)))
}

// pollTick is the grid on which the pauses of sparse polling end: the
// waits of a server then wake together, a few queries a wake-up, instead
// of one wake-up of the process (a futex, an epoll, a scheduler pass) per
// query. Profiled with 1,000 waits at 50 queries a second, the wake-ups
// cost more CPU than the queries.
const pollTick = 100 * time.Millisecond

// onTick lengthens a pause of a second or more, starting at now, to end on
// the next pollTick; shorter pauses (a task about to finish, tests) are
// left alone. It adds less than a tenth of the pause.
func onTick(now time.Time, d time.Duration) time.Duration {
	if d < time.Second {
		return d
	}
	end := now.Add(d)
	next := end.Truncate(pollTick)
	if next.Before(end) {
		next = next.Add(pollTick)
	}
	return next.Sub(now)
}

// OnOwnStack runs f on a goroutine of its own and returns once f has. A
// call parks its goroutine for up to a minute in a wait; the deep calls
// of a query or a submit (HTTP, signing, JSON, the store) would grow that
// goroutine's stack to 16 or 32 KB, which it would keep while parked. Run
// apart, they leave the parked goroutine the stack it started with
// (profiled: 1,000 parked calls held 16 MB more of stacks than bare
// mcp-go's 1,000 sleeping ones).
// A panic in f is raised again in the caller, where recovery middleware
// expects it, as a *PanicError that carries f's stack; runtime.Goexit in f
// (a test's FailNow) ends the caller's goroutine too.
func OnOwnStack(f func()) {
	done := make(chan struct{})
	var panicked *PanicError
	returned := false
	go func() {
		defer close(done)
		defer func() {
			if !returned {
				if p := recover(); p != nil {
					panicked = &PanicError{Value: p, Stack: debug.Stack()}
				}
			}
		}()
		f()
		returned = true
	}()
	<-done
	switch {
	case panicked != nil:
		panic(panicked)
	case !returned:
		runtime.Goexit()
	}
}

// PanicError is a panic raised again away from where it happened, with
// the stack of where it did.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("%v\n\n%s", e.Value, e.Stack) }

// Unwrap is the panic's error, when it was one.
func (e *PanicError) Unwrap() error { err, _ := e.Value.(error); return err }

// stillPending wraps ErrStillPending with the last transient failure, if any.
func stillPending(lastErr error) error {
	if lastErr == nil {
		return ErrStillPending
	}
	return errors.Join(ErrStillPending, lastErr)
}
