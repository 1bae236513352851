package tools

import (
	"context"
	"errors"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/schema"
	"aipaint-mcp/store"
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
	out := outcome{preview: c.Preview}
	if u, err := h.Store.Usage(h.Spending.DailyLimit); err == nil {
		out.usage = u
	}
	rec, err := h.Store.Get(c.TaskID)
	switch {
	case err == nil && rec.Status == store.StatusDone:
		// Answered from the store: no upstream call.
		return h.showRecorded(ctx, rec, started, out), nil
	case err == nil && rec.Status == store.StatusFailed:
		return mcp.NewToolResultError("任务已失效 / The API no longer knows task " + rec.TaskID + " (" + rec.Error +
			"). Task ids expire one month after submission. Nothing more can be fetched for it."), nil
	case errors.Is(err, store.ErrNotFound):
		rec = store.Record{TaskID: c.TaskID} // not ours, or from before the store: looked up and recorded
	case err != nil:
		h.Logger.Warn("task store: read failed", "task_id", c.TaskID, "err", err)
		rec = store.Record{TaskID: c.TaskID}
	}
	return h.awaitAndShow(ctx, req, rec, c.WaitSeconds, started, out), nil
}
