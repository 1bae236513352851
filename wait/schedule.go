package wait

import (
	"math"
	"time"
)

// Backoff is the plain polling schedule of a wait.
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

// Schedule is a wait's polling plan. Without a hint it is plain Backoff. With
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
