package tools

import (
	"context"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/client"
	"aipaint-mcp/schema"
)

// submitBound limits a submit that the caller abandoned: it still runs to
// its end, because its outcome decides whether the user was charged.
const submitBound = 2 * time.Minute

func generateTool(lim schema.Limits) mcp.Tool {
	return newTool("generate_image", "AI绘画 Generate image",
		"Draw images from a text prompt with the paid 聚美智数 AI绘画 API (每张图片计费 / every image is billed). "+
			"Call it when the user asks for a picture. Put what to draw in text (≤100 characters; Chinese gives the best results) "+
			"and the look in style (one of the 17 styles; do not write the style into text). "+
			"By default it waits for the images and returns their URLs with Markdown image lines to show the user. "+
			"If it returns status \"pending\", call check_task with the task_id; never call generate_image again for the same request: that would be billed again.",
		schema.GenerateInputSchema(lim), schema.TaskOutputSchema(),
		hints{readOnly: false, destructive: false, idempotent: false, openWorld: true})
}

func (h *handlers) generate(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	started := time.Now()
	g, refused := validate(h, req, schema.NormalizeGenerate)
	if refused != nil {
		return refused, nil
	}
	if h.Drain != nil && h.Drain.Err() != nil {
		return mcp.NewToolResultError("服务正在关闭 / The server is shutting down; nothing was submitted or billed. Try again once it is back."), nil
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), submitBound)
	sub, err := h.Client.Submit(sctx, client.SubmitRequest{
		Text: g.Text, Style: g.Style.Name, Resolution: g.Resolution.Value, Num: g.Num,
	})
	cancel()
	if err != nil {
		h.Logger.Warn("submit failed", "err", err)
		return upstreamError(err, ""), nil
	}
	// Logged so that a task survives a caller that has already gone away.
	h.Logger.Info("task submitted", "task_id", sub.TaskID, "taskNo", sub.TaskNo, "num", g.Num,
		"style", g.Style.Name, "resolution", g.Resolution.Value)
	h.recent.add(sub.TaskID, g)

	res := h.request(sub.TaskID, g)
	res.TaskNo = sub.TaskNo
	if !g.Wait {
		return h.taskResult(res, client.Task{TaskID: sub.TaskID}, nil, started, true), nil
	}
	task, err := h.await(ctx, req, sub.TaskID, kindOf(g), g.WaitSeconds, started)
	return h.taskResult(res, task, err, started, true), nil
}

// kindOf is the Estimator's key of a task.
func kindOf(g schema.Generate) string { return client.EstimateKey(g.Resolution.Value, g.Num) }

// request fills the result fields that echo the request as understood.
func (h *handlers) request(taskID string, g schema.Generate) schema.TaskResult {
	return schema.TaskResult{
		TaskID:     taskID,
		Text:       g.Text,
		Style:      g.Style.Name,
		Resolution: g.Resolution.Value,
		Num:        g.Num,
		Sandbox:    h.Sandbox,
	}
}
