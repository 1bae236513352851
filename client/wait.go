package client

import (
	"context"
	"errors"
	"math"
	"time"
)

// Backoff is the polling schedule of Wait.
type Backoff struct {
	Initial time.Duration // first delay; default 1s
	Max     time.Duration // cap; default 5s
	Factor  float64       // growth per poll; default 1.5
}

// DefaultBackoff starts at 1 s and grows to a 5 s cap: a task usually takes
// 10-30 s, so a finished task is noticed within a few seconds at small cost.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 5 * time.Second, Factor: 1.5}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Max < b.Initial {
		b.Max = max(DefaultBackoff.Max, b.Initial)
	}
	if !(b.Factor >= 1) { // also NaN
		b.Factor = DefaultBackoff.Factor
	}
	return b
}

// Delay is the pause before poll number n+1 (n counts from 0). It is pure.
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	// In closed form: a loop would spin for a huge n with Factor 1, and the
	// cap is compared as a float because a huge product overflows Duration.
	d := float64(b.Initial) * math.Pow(b.Factor, float64(max(n, 0)))
	if d >= float64(b.Max) {
		return b.Max
	}
	return time.Duration(d)
}

// Schedule is Wait's polling plan. Without a hint it is plain Backoff. With
// the expected duration of the task it polls sparsely early, when the task
// is almost surely still running, and densely around the expected finish,
// where a finished task is most likely to be noticed late: fewer paid-for
// queries and a shorter delay between the task finishing and the answer.
type Schedule struct {
	Backoff Backoff
	// Expect is how long a task like this one usually takes from its
	// creation upstream to done (see Estimator); 0 = no hint.
	Expect time.Duration
}

// Shape of the hinted schedule, in fractions of Expect: dense polling from
// windowFrom to windowTo, with a step of Expect/denseParts (kept between
// Initial and Max); before the window, gaps of at most max(2*Max, Expect/4).
const (
	windowFrom = 0.8
	windowTo   = 1.25
	denseParts = 10
)

// Delay is the pause before the next poll, after n polls, when the task is
// age old (counted from its creation). It is pure.
func (s Schedule) Delay(n int, age time.Duration) time.Duration {
	if s.Expect <= 0 {
		return s.Backoff.Delay(n)
	}
	b := s.Backoff.withDefaults()
	e := float64(s.Expect)
	a := float64(max(age, 0))
	step := min(max(e/denseParts, float64(b.Initial)), float64(b.Max))
	from, to := e*windowFrom, e*windowTo
	var d float64
	switch {
	case a < from:
		// Sparse: evenly spaced polls up to the window, never closer than a
		// dense step (a near miss of a grid point would waste a query).
		parts := math.Ceil(from / max(2*float64(b.Max), e/4))
		unit := from / parts
		d = (math.Floor(a/unit)+1)*unit - a
		if d < step {
			d += unit
		}
		d = max(min(d, from-a), step)
	case a < to:
		d = step
	default:
		// Later than expected: back off toward the cap, as without a hint.
		d = min(step+(a-to)/4, float64(b.Max))
	}
	return time.Duration(d)
}

// LastPollGrace is how far the poll made at the deadline may run past it.
const LastPollGrace = 3 * time.Second

// Poll reports one query made by Wait.
type Poll struct {
	N       int           // 1-based
	Elapsed time.Duration // since Wait started
	Task    Task          // the latest known state (Done false until done)
	Err     error         // this poll's transient failure, if any
}

// WaitOptions bound and report a Wait.
type WaitOptions struct {
	Timeout time.Duration // total bound; 0 = a single query
	Backoff Backoff
	// Expect is the expected duration of the task (Schedule.Expect); 0 = plain
	// Backoff. The task's age counts from its createTime once a query has
	// returned it, else from the start of the wait.
	Expect time.Duration
	OnPoll func(Poll) // called after every poll, from Wait's goroutine
}

// Wait polls a task until it is done, the timeout passes, or ctx ends.
// On timeout it returns the last known state and ErrStillPending; a transient
// query failure does not end the wait. Permanent failures (unknown task,
// credentials) end it at once. Waiting never cancels the task upstream.
func (c *Client) Wait(ctx context.Context, taskID string, opts WaitOptions) (Task, error) {
	start := time.Now()
	// A negative timeout would put the context's deadline in the past and
	// make not even the one promised query.
	deadline := start.Add(max(opts.Timeout, 0))
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(LastPollGrace))
	defer cancel()

	c.waits.Add(1)
	defer c.waits.Add(-1)

	last := Task{TaskID: taskID}
	var lastErr error
	sched := Schedule{Backoff: opts.Backoff, Expect: opts.Expect}
	born := start // the task's creation as far as we know
	for n := 1; ; n++ {
		t, err := c.query(ctx, taskID, 1)
		var apiErr *APIError
		switch {
		case err == nil:
			last, lastErr = t, nil
			if !t.CreatedAt.IsZero() {
				// Upstream clock, as the Estimator's observations are: a skew
				// between the clocks cancels out.
				born = t.CreatedAt
			}
		case errors.As(err, &apiErr) && !apiErr.Retryable && apiErr.Category != CategoryNotRunning:
			return last, err
		default:
			lastErr = err
		}
		if opts.OnPoll != nil {
			opts.OnPoll(Poll{N: n, Elapsed: time.Since(start), Task: last, Err: lastErr})
		}
		if last.Done {
			return last, nil
		}
		if ctx.Err() != nil && time.Now().Before(deadline) {
			return last, ctx.Err() // the caller gave up
		}
		d := jittered(max(sched.Delay(n-1, time.Since(born)), pollFloor(c.waits.Load(), c.cfg.MaxPollRate)), c.cfg.Jitter())
		if remaining := time.Until(deadline); remaining <= 0 {
			return last, stillPending(lastErr)
		} else if d > remaining {
			d = remaining // one last look right at the deadline
		}
		if err := sleep(ctx, d); err != nil {
			if time.Now().Before(deadline) {
				return last, err
			}
			return last, stillPending(lastErr)
		}
	}
}

// DefaultMaxPollRate bounds the polls per second of all the waits of one
// Client together. One user's few waits never reach it; a server holding
// hundreds of waits (profiled: 1,000) polls each of them less often, instead
// of spending a core on polls and the package's query quota with it.
const DefaultMaxPollRate = 50

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

// stillPending wraps ErrStillPending with the last transient failure, if any.
func stillPending(lastErr error) error {
	if lastErr == nil {
		return ErrStillPending
	}
	return errors.Join(ErrStillPending, lastErr)
}
