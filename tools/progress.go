package tools

import (
	"context"
	"fmt"
	"math"
	"time"

	"aipaint-mcp/wait"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// progressReporter turns Wait's polls into notifications/progress when the
// caller sent a progress token. Nothing depends on their delivery.
// progress is the seconds since the call started (submit included).
func progressReporter(ctx context.Context, req mcp.CallToolRequest, started time.Time) func(wait.Poll) {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	token := req.Params.Meta.ProgressToken
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return nil
	}
	var last float64
	return func(p wait.Poll) {
		if p.Task.Done {
			return // the result itself says so; a late notification would only trail it
		}
		waited := time.Since(started)
		v := math.Round(waited.Seconds()*10) / 10
		if v <= last {
			v = last + 0.1 // progress must grow with every notification
		}
		last = v
		msg := fmt.Sprintf("排队或绘制中 queued/drawing %ds", int(waited.Seconds()))
		_ = srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), map[string]any{
			"progressToken": token,
			"progress":      v,
			"message":       msg,
		})
	}
}
