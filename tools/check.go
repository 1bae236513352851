package tools

import (
	"context"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/schema"
)

func checkTool(lim schema.Limits) mcp.Tool {
	return newTool("check_task", "查询绘画任务 Check task",
		"Get the status and images of a task that generate_image started. It submits nothing, so no new image is billed. "+
			"Use it when generate_image returned status \"pending\". With wait_seconds > 0 it waits up to that long for the images.",
		schema.CheckInputSchema(lim), schema.TaskOutputSchema(),
		hints{readOnly: true, destructive: false, idempotent: true, openWorld: true})
}

func (h *handlers) check(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	started := time.Now()
	c, refused := validate(h, req, schema.NormalizeCheck)
	if refused != nil {
		return refused, nil
	}
	res := schema.TaskResult{TaskID: c.TaskID, Sandbox: h.Sandbox}
	kind := ""
	if g, ok := h.recent.get(c.TaskID); ok {
		res, kind = h.request(c.TaskID, g), kindOf(g)
	}
	task, err := h.await(ctx, req, c.TaskID, kind, c.WaitSeconds, started)
	return h.taskResult(res, task, err, started, false), nil
}
