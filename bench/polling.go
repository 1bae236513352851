package main

import (
	"math"
	"time"

	"aipaint-mcp/wait"
)

// pollStrategy is one way of choosing the hint for a task that usually takes typical.
type pollStrategy struct {
	name string
	hint func(typical time.Duration) time.Duration
}

// createTime has whole seconds, so the age the server computes, and the
// durations the Estimator learns, are on average half a second longer.
const truncation = 500 * time.Millisecond

var pollStrategies = []pollStrategy{
	{"exponential backoff, no hint (before this change)", func(time.Duration) time.Duration { return 0 }},
	{"hint = the Estimator's median", func(t time.Duration) time.Duration { return t + truncation }},
	{"hint 30 % too short", func(t time.Duration) time.Duration { return t * 7 / 10 }},
	{"hint 50 % too long", func(t time.Duration) time.Duration { return t * 3 / 2 }},
}

type pollResult struct {
	queries           float64 // per task
	meanLate, maxLate time.Duration
}

// simulatePolling runs the client's Schedule on a simulated clock for tasks
// that take typical ±20 % (evenly spread), with createTime's truncation
// spread over [0, 1 s): upstream queries per task and the delay between the
// task finishing and the server noticing. The first look is right after the
// submit, as in generate_image.
func simulatePolling(sched wait.Schedule, typical time.Duration) pollResult {
	const tasks = 1000
	var queries int
	var total, worst time.Duration
	for i := range tasks {
		finish := time.Duration(float64(typical) * (0.8 + 0.4*float64(i)/(tasks-1)))
		_, frac := math.Modf(float64(i) * 0.6180339887) // low-discrepancy spread of the truncation
		offset := time.Duration(frac * float64(time.Second))
		t := time.Duration(0)
		for n := 0; ; n++ {
			if t >= finish {
				queries += n + 1
				late := t - finish
				total += late
				worst = max(worst, late)
				break
			}
			t += sched.Delay(n, t+offset)
		}
	}
	return pollResult{queries: float64(queries) / tasks, meanLate: total / tasks, maxLate: worst}
}
