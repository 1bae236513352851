package tools_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/paint"
	"aipaint-mcp/schema"
	"aipaint-mcp/wait"
)

// A wait that sees a task finish teaches the Estimator how long that kind of
// task takes; a task already done at the first look teaches nothing.
func TestWaitTeachesTheEstimator(t *testing.T) {
	est := wait.NewEstimator()
	// 300 ms: long enough that a submit slowed by a busy machine still finds
	// the task pending at the first look (a finish must be seen to be learnt).
	h := newHarness(t, delay(300*time.Millisecond), withPaint(func(o *paint.Options) { o.Estimator = est }))
	portrait2 := wait.Key("1024*1536", 2)
	for i := range 3 {
		_, ok := est.Expect(portrait2)
		assert.False(t, ok, "after %d tasks", i)
		r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": fmt.Sprint("竹林里的熊猫 ", i), "resolution": "portrait", "num": 2}, nil))
		require.Equal(t, schema.StatusDone, r.Status)
	}
	d, ok := est.Expect(portrait2)
	require.True(t, ok)
	// createTime has whole seconds: the 300 ms task looks up to a second longer.
	assert.Positive(t, d)
	assert.Less(t, d, 2*time.Second)
	_, ok = est.Expect(wait.Key("1024*1024", 1))
	assert.False(t, ok, "per resolution and num")

	h.sb.SetDelay(0)
	instant := wait.Key("1024*1024", 1)
	for i := range 3 {
		r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": fmt.Sprint("竹林里的熊猫 ", i)}, nil))
		require.Equal(t, schema.StatusDone, r.Status)
	}
	_, ok = est.Expect(instant)
	assert.False(t, ok, "done at the first look: when it finished is unknown")

	// What was learnt is kept in the store, for the next start.
	recs, err := h.store.List(t.Context(), "", 0)
	require.NoError(t, err)
	learnt := 0
	for _, r := range recs {
		if r.TookSeconds > 0 {
			learnt++
			assert.Equal(t, "1024*1536", r.Resolution)
		}
	}
	assert.Equal(t, 3, learnt)
}
