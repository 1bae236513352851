package tools_test

import (
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/sandbox/sandboxtest"
	"aipaint-mcp/schema"
	"aipaint-mcp/store"
)

// faultTimeout is the per-request timeout of the fault tests: a slow answer
// (sandboxtest.DefaultSlowDelay) outlasts it.
const faultTimeout = 300 * time.Millisecond

// newFaultHarness is newHarness with a short request timeout, so that a slow
// upstream answer becomes a timeout.
func newFaultHarness(t *testing.T) *harness {
	t.Helper()
	return newHarness(t,
		withClient(func(c *client.Config) { c.RequestTimeout = faultTimeout }),
		withPaint(func(o *paint.Options) { o.Policy = store.Policy{} }), // every call submits
		noBackground()) // a poller would take the faults queued for check_task
}

// Outcomes of a call under a fault: done, or an error result saying this.
const (
	outDone      = "done"
	outUncertain = "may have been billed"    // a submit whose outcome is unknown
	outLater     = "temporarily unavailable" // transient: nothing billed, try again later
	outBlocked   = "Rephrase"
	outOther     = "The API reported an error"
	outClock     = "clock is more than 15m0s off"
)

// TestEveryFaultKind: for each fault kind, once on the submit and once on the
// query, generate_image and check_task end with a clear result within the
// call's bound (the harness's call context), the server keeps serving, and a
// submit that may have been billed is never sent again.
func TestEveryFaultKind(t *testing.T) {
	expect := map[sandboxtest.FaultKind]struct{ submit, query string }{
		sandboxtest.FaultDrop:      {outUncertain, outDone},
		sandboxtest.FaultSlow:      {outUncertain, outDone},
		sandboxtest.Fault502:       {outLater, outDone},
		sandboxtest.Fault503:       {outLater, outDone},
		sandboxtest.Fault504:       {outUncertain, outDone},
		sandboxtest.Fault429:       {outDone, outDone},
		sandboxtest.Fault500:       {outDone, outDone},
		sandboxtest.Fault501:       {outDone, outDone},
		sandboxtest.Fault999:       {outOther, outOther},
		sandboxtest.Fault202:       {outBlocked, outBlocked},
		sandboxtest.FaultGarbage:   {outUncertain, outDone},
		sandboxtest.FaultTruncated: {outUncertain, outDone},
		sandboxtest.FaultHTML:      {outLater, outDone},
		sandboxtest.FaultOversized: {outUncertain, outDone},
		sandboxtest.FaultSkew:      {outClock, outClock},
	}
	require.Len(t, expect, len(sandboxtest.FaultKinds()), "every kind has an expectation")
	for _, kind := range sandboxtest.FaultKinds() {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			h := newFaultHarness(t)
			f, _ := sandboxtest.FaultOf(kind)
			want := expect[kind]

			h.sb.FailNext(sandbox.OpSubmit, f)
			res := h.call(t, "generate_image", map[string]any{"text": "提交故障 " + string(kind), "wait_seconds": 5}, nil)
			checkOutcome(t, res, want.submit)
			var submitted int64
			if want.submit == outDone {
				submitted = 1
			}
			assert.Equal(t, submitted, h.sb.Stats().Submits)

			// Still serving. wait:false leaves the task pending in the store,
			// so that check_task asks the upstream.
			r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "然后正常 " + string(kind), "wait": false}, nil))
			require.Equal(t, schema.StatusPending, r.Status)
			require.NotEmpty(t, r.TaskID)

			h.sb.FailNext(sandbox.OpQuery, f)
			res = h.call(t, "check_task", map[string]any{"task_id": r.TaskID}, nil)
			checkOutcome(t, res, want.query)
			if want.query == outClock {
				// The Date header has whole seconds.
				assert.Regexp(t, `The local clock is 20m[01]s ahead of the gateway's clock\.`, text(res))
			}

			assert.Zero(t, h.sb.Stats().RepeatedSubmits, "a submit that may have been billed was sent again")
		})
	}
}

func checkOutcome(t *testing.T, res *mcp.CallToolResult, want string) {
	t.Helper()
	if want == outDone {
		assert.Equal(t, schema.StatusDone, taskResult(t, res).Status)
		return
	}
	require.True(t, res.IsError, "want an error result saying %q, got %s", want, text(res))
	assert.Contains(t, text(res), want)
	assert.NotContains(t, text(res), "internal error")
}
