package tools

import (
	"context"
	"errors"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/client"
	"aipaint-mcp/schema"
	"aipaint-mcp/store"
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

	want := store.Request{Text: g.Text, Style: g.Style.Name, Resolution: g.Resolution.Value, Num: g.Num}
	policy := h.Spending
	policy.ForceNew = g.ForceNew
	res, err := h.reserve(ctx, want, policy, started)
	var limit *store.LimitError
	switch {
	case errors.As(err, &limit):
		return limitReached(limit), nil
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return mcp.NewToolResultError("相同的请求正在提交中 / An identical request is being submitted right now (by another call, maybe from another client); " +
			"this call submitted nothing and billed nothing. Call generate_image again with the same arguments in a minute: " +
			"it will return that task instead of paying again."), nil
	case err != nil:
		h.Logger.Error("task store: reserve failed", "err", err)
		return storeFailed(err), nil
	case res.Existing != nil:
		h.Logger.Info("identical request: returning the existing task", "task_id", res.Existing.TaskID)
		out := outcome{usage: res.Usage, deduplicated: true, preview: g.Preview}
		if res.Existing.Status == store.StatusPending && g.Wait {
			return h.awaitAndShow(ctx, req, *res.Existing, g.WaitSeconds, started, out), nil
		}
		return h.showRecorded(ctx, *res.Existing, started, out), nil
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), submitBound)
	sub, err := h.Client.Submit(sctx, client.SubmitRequest{
		Text: g.Text, Style: g.Style.Name, Resolution: g.Resolution.Value, Num: g.Num,
	})
	cancel()
	if err != nil {
		h.Logger.Warn("submit failed", "err", err)
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.MaybeBilled {
			err = errors.Join(err, h.Store.Abandon(res))
		} else {
			err = errors.Join(err, h.Store.Release(res))
		}
		return upstreamError(err, ""), nil
	}
	// Logged too, so that a task survives even a store that fails below.
	h.Logger.Info("task submitted", "task_id", sub.TaskID, "taskNo", sub.TaskNo, "num", g.Num,
		"style", g.Style.Name, "resolution", g.Resolution.Value)
	rec, err := h.Store.Commit(res, store.Record{TaskID: sub.TaskID, TaskNo: sub.TaskNo, Request: want, Status: store.StatusPending})
	if err != nil {
		h.Logger.Error("task store: recording a submitted task failed", "task_id", sub.TaskID, "err", err)
		rec = store.Record{TaskID: sub.TaskID, TaskNo: sub.TaskNo, Request: want, Status: store.StatusPending, SubmittedAt: started}
	}
	out := outcome{usage: res.Usage, billed: g.Num, preview: g.Preview, submitted: true}
	if !g.Wait {
		h.Tracker.Follow(rec)
		return h.show(ctx, rec, nil, started, out), nil
	}
	return h.awaitAndShow(ctx, req, rec, g.WaitSeconds, started, out), nil
}

// reserve is Store.Reserve bounded by the call's budget and the drain: a
// call waiting behind an identical in-flight submit must still answer
// before the client gives up.
func (h *handlers) reserve(ctx context.Context, want store.Request, policy store.Policy, started time.Time) (store.Reservation, error) {
	ctx, cancel := context.WithTimeout(ctx, max(callBudget-time.Since(started), minSave))
	defer cancel()
	if h.Drain != nil {
		defer context.AfterFunc(h.Drain, cancel)()
	}
	return h.Store.Reserve(ctx, want, policy)
}
