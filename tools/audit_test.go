package tools_test

import (
	"aipaint-mcp/internal/syncbuf"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/sandbox"
	"aipaint-mcp/sandbox/sandboxtest"
	"aipaint-mcp/tools"
)

// audits are the log's audit records, each line parsed.
func audits(t *testing.T, log *syncbuf.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(log.String()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a log line is not JSON: %s", line)
		if rec["msg"] == tools.AuditMessage {
			out = append(out, rec)
		}
	}
	return out
}

// operation is one request as the tools' OperationFunc saw it.
type operation struct{ method, tool, errorType string }

type operations struct {
	mu  sync.Mutex
	all []operation
}

func (o *operations) observe(method, tool, errorType string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all = append(o.all, operation{method, tool, errorType})
}

func (o *operations) calls() []operation {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []operation
	for _, op := range o.all {
		if op.method == "tools/call" {
			out = append(out, op)
		}
	}
	return out
}

// TestAuditRecordPerCall: every tool call leaves exactly one record, with
// who and what, its outcome (done, pending, or the failure's category), its
// task, what it paid and how long it took; never the prompt. Every request
// is measured once, with the tool of a tools/call and tool_error when its
// result is an error.
func TestAuditRecordPerCall(t *testing.T) {
	var log syncbuf.Buffer
	ops := &operations{}
	h := newHarness(t, named("Cherry Studio"), withTools(func(o *tools.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
		o.Operation = ops.observe
	}))
	const prompt = "审计里不该出现的提示词"

	type want struct {
		tool, outcome string
		billed        float64
		task          bool
		errorType     string
	}
	var wants []want
	h.call(t, "list_styles", map[string]any{}, nil)
	wants = append(wants, want{tool: "list_styles", outcome: "done"})
	first := taskResult(t, h.call(t, "generate_image", map[string]any{"text": prompt, "wait_seconds": 10}, nil))
	wants = append(wants, want{tool: "generate_image", outcome: "done", billed: 1, task: true})
	again := taskResult(t, h.call(t, "generate_image", map[string]any{"text": prompt, "wait_seconds": 10}, nil))
	require.Equal(t, first.TaskID, again.TaskID, "deduplicated")
	wants = append(wants, want{tool: "generate_image", outcome: "done", task: true})
	h.call(t, "generate_image", map[string]any{"text": prompt, "num": 99}, nil)
	wants = append(wants, want{tool: "generate_image", outcome: "arguments", errorType: "tool_error"})
	h.call(t, "check_task", map[string]any{"task_id": first.TaskID}, nil)
	wants = append(wants, want{tool: "check_task", outcome: "done", task: true})
	h.sb.FailNext(sandbox.OpSubmit, sandboxtest.Fault{Business: 202})
	h.call(t, "generate_image", map[string]any{"text": "另一只" + prompt, "force_new": true}, nil)
	wants = append(wants, want{tool: "generate_image", outcome: "upstream_content", errorType: "tool_error"})

	recs := audits(t, &log)
	require.Len(t, recs, len(wants), "one record per call")
	for i, w := range wants {
		r := recs[i]
		assert.Equal(t, "INFO", r["level"], "record %d", i)
		assert.Equal(t, w.tool, r["tool"], "record %d", i)
		assert.Equal(t, w.outcome, r["outcome"], "record %d", i)
		assert.Equal(t, w.billed, r["images_billed"], "record %d", i)
		assert.Equal(t, "Cherry Studio", r["client"], "record %d", i)
		assert.Contains(t, r, "person", "record %d", i)
		assert.Contains(t, r, "duration_ms", "record %d", i)
		assert.Contains(t, r, "time", "record %d", i)
		if w.task {
			assert.Equal(t, first.TaskID, r["task_id"], "record %d", i)
		} else {
			assert.NotContains(t, r, "task_id", "record %d", i)
		}
	}
	assert.NotContains(t, log.String(), prompt, "the prompt reached the log")

	calls := ops.calls()
	require.Len(t, calls, len(wants), "one operation per call: %v", calls)
	for i, w := range wants {
		assert.Equal(t, operation{"tools/call", w.tool, w.errorType}, calls[i], "operation %d", i)
	}
	ops.mu.Lock()
	defer ops.mu.Unlock()
	// Besides the calls, the handshake: server/discover under 2026-07-28.
	assert.Len(t, ops.all, len(wants)+1, "%v", ops.all)
	assert.Contains(t, ops.all, operation{method: "server/discover"})
}

// TestOperationErrorCode: a request answered with a JSON-RPC error is
// measured with its code as error_type, and a tool name the server does not
// have never becomes a label.
func TestOperationErrorCode(t *testing.T) {
	ops := &operations{}
	h := newHarness(t, withTools(func(o *tools.Options) { o.Operation = ops.observe }))
	req := mcp.CallToolRequest{}
	req.Params.Name = "no_such_tool_" + strings.Repeat("x", 40)
	_, err := h.c.CallTool(t.Context(), req)
	require.Error(t, err)
	calls := ops.calls()
	require.Len(t, calls, 1)
	assert.Equal(t, "", calls[0].tool)
	assert.Regexp(t, `^-32\d{3}$`, calls[0].errorType)
}
