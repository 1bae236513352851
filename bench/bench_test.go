package main

import (
	"testing"
	"time"

	"aipaint-mcp/wait"

	"github.com/stretchr/testify/assert"
)

func TestPct(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(101-i)) // unsorted on purpose
	}
	assert.Equal(t, time.Duration(50), median(ds))
	assert.Equal(t, time.Duration(90), pct(ds, 0.9))
	assert.Equal(t, time.Duration(99), pct(ds, 0.99))
	assert.Equal(t, time.Duration(1), pct(ds, 0))
	assert.Equal(t, time.Duration(100), pct(ds, 1))
	assert.Equal(t, time.Duration(100), ds[0], "the input is not reordered")
	assert.Zero(t, pct(nil, 0.5))
}

func TestSimulatePolling(t *testing.T) {
	// Plain backoff polls at 0, 1, 2.5, 4.75, 8.125 s, then every 5 s: a task
	// done at 4 to 6 s is seen at 4.75 s (4th query) or 8.125 s (5th).
	p := simulatePolling(wait.Schedule{Backoff: wait.DefaultBackoff}, 5*time.Second)
	assert.InDelta(t, 0.375*4+0.625*5, p.queries, 0.01)
	assert.InDelta(t, float64(3375*time.Millisecond), float64(p.maxLate), float64(5*time.Millisecond), "done just after 4.75 s, seen at 8.125 s")

	// The target for 20 s tasks, with the Estimator's hint.
	p = simulatePolling(wait.Schedule{Backoff: wait.DefaultBackoff, Expect: 20*time.Second + truncation}, 20*time.Second)
	assert.LessOrEqual(t, p.queries, 10.0)
	assert.LessOrEqual(t, p.meanLate, 1500*time.Millisecond)
}
