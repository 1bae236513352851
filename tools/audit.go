package tools

import (
	"context"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/mark3labs/mcp-go/tracing"

	"aipaint-mcp/paint"
)

// AuditMessage is the message of the one record every tool call leaves in
// the log: who (person, client) called what (tool), how it ended (outcome:
// done, pending, or the category of the failure), the task, the images
// this call paid for and how long it took. Never a token, a secret or the
// prompt: the prompt stays in the task store, which its owner can read.
const AuditMessage = "tool call"

// Outcomes of a call that did not fail with a category of its own.
const (
	outcomeDone      = "done"
	outcomePending   = "pending"
	outcomeArguments = "arguments" // refused before anything was done
	outcomeError     = "error"     // a tool's error result of no other category
	outcomeInternal  = "internal"  // a Go error: JSON-RPC -32603
)

// callNote is what a handler tells the audit record of its call.
type callNote struct {
	outcome string
	taskID  string
	billed  int
}

type noteKey struct{}

// note is the call's note; a handler called without the audit (the
// terminal's generate command, tests) writes to one nobody reads.
func note(ctx context.Context) *callNote {
	if n, ok := ctx.Value(noteKey{}).(*callNote); ok {
		return n
	}
	return &callNote{}
}

// task notes a call's task: done or pending, and what it paid.
func (n *callNote) task(out paint.Outcome) {
	n.outcome, n.taskID, n.billed = outcomeDone, out.Task.TaskID, out.Billed
	if out.Task.Status == paint.StatusPending {
		n.outcome = outcomePending
	}
}

// audit logs one record per tool call, at info, whatever the call does
// (a panic recovered inside it too: WithRecovery runs within). A tool's
// error result also marks the call's span (error.type tool_error, as the
// OpenTelemetry MCP conventions name it) for the operation metric.
func (h *handlers) audit(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		started := time.Now()
		n := &callNote{}
		res, err := next(context.WithValue(ctx, noteKey{}, n), req)
		switch {
		case err != nil:
			n.outcome = outcomeInternal
		case res != nil && res.IsError:
			tracing.SpanFromContext(ctx).SetAttributes(tracing.String(attrErrorType, errorTypeTool))
			if n.outcome == "" || n.outcome == outcomeDone || n.outcome == outcomePending {
				n.outcome = outcomeError
			}
		case n.outcome == "":
			n.outcome = outcomeDone
		}
		if !h.Logger.Enabled(ctx, slog.LevelInfo) {
			return res, err // a stdio server at warn: build nothing
		}
		attrs := []slog.Attr{
			slog.String("person", person(ctx).Name),
			slog.String("client", clientName(ctx)),
			slog.String("tool", req.Params.Name),
			slog.String("outcome", n.outcome),
		}
		if n.taskID != "" {
			attrs = append(attrs, slog.String("task_id", n.taskID))
		}
		attrs = append(attrs, slog.Int("images_billed", n.billed), slog.Int64("duration_ms", time.Since(started).Milliseconds()))
		h.Logger.LogAttrs(ctx, slog.LevelInfo, AuditMessage, attrs...)
		return res, err
	}
}

// refusedArguments notes a call refused for its arguments.
func refusedArguments(ctx context.Context, r *mcp.CallToolResult) *mcp.CallToolResult {
	note(ctx).outcome = outcomeArguments
	return r
}

// clientName is the name the client gave: under 2026-07-28 in the
// request's _meta, on earlier revisions at initialize (kept by the session).
func clientName(ctx context.Context) string {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.ClientInfo != nil {
		return info.ClientInfo.Name
	}
	if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		return s.GetClientInfo().Name
	}
	return ""
}
