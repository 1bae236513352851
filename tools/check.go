package tools

import (
	"context"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/paint"
	"aipaint-mcp/schema"
)

// checkTask looks at a task; it never submits: parse → paint.Check → render.
func (h *handlers) checkTask() server.ServerTool {
	tool := newTool("check_task", "查询绘画任务 Check task",
		"Get the status and images of a task that generate_image started. It submits nothing, so no new image is billed. "+
			"Use it when generate_image returned status \"pending\". With wait_seconds > 0 it waits up to that long for the images.",
		schema.CheckInputSchema(h.Limits), schema.TaskOutputSchema(),
		hints{readOnly: true, destructive: false, idempotent: true, openWorld: true})
	tool.Meta = uiMeta("model", "app") // the gallery shows the result, and polls with it
	return server.ServerTool{Tool: tool, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		started := time.Now()
		c, refused := parse(h.forHost(ctx), req, schema.NormalizeCheck)
		if refused != nil {
			return refusedArguments(ctx, refused), nil
		}
		h.ignored(ctx, req, c.Ignored)
		out, err := h.Paint.Check(ctx, c.TaskID, paint.CallOptions{Started: started, WaitSeconds: c.WaitSeconds,
			OnPoll: progressReporter(ctx, req, started), Person: person(ctx)})
		if err != nil {
			r, category := h.failed(err)
			note(ctx).outcome = category
			return r, nil
		}
		note(ctx).task(out)
		return h.show(ctx, out, started, c.Preview), nil
	}}
}
