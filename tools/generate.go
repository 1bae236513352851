package tools

import (
	"context"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/schema"
)

// generateImage is the paid tool: parse → paint.Generate → render.
func (h *handlers) generateImage() server.ServerTool {
	tool := newTool("generate_image", "AI绘画 Generate image",
		"Draw images from a text prompt with the paid 聚美智数 AI绘画 API (每张图片计费 / every image is billed). "+
			fmt.Sprintf("Call it when the user asks for a picture. Put what to draw in text (≤%d characters; Chinese gives the best results) ", schema.MaxTextChars)+
			fmt.Sprintf("and the look in style (one of the %d styles; do not write the style into text). ", len(schema.Styles))+
			"By default it waits for the images and returns their URLs with Markdown image lines to show the user. "+
			"If it returns status \"pending\", call check_task with the task_id; never call generate_image again for the same request: that would be billed again.",
		schema.GenerateInputSchema(h.Limits), schema.TaskOutputSchema(),
		hints{readOnly: false, destructive: false, idempotent: false, openWorld: true})
	tool.Meta = uiMeta("model", "app") // the gallery shows the result, and calls it on a click
	return server.ServerTool{Tool: tool, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		started := time.Now()
		g, refused := parse(h.forHost(ctx), req, schema.NormalizeGenerate)
		if refused != nil {
			return refusedArguments(ctx, refused), nil
		}
		h.ignored(ctx, req, g.Ignored)
		out, err := h.Paint.Generate(ctx, Request(g),
			paint.CallOptions{Started: started, Wait: g.Wait, WaitSeconds: g.WaitSeconds, ForceNew: g.ForceNew,
				OnPoll: progressReporter(ctx, req, started), Person: person(ctx)})
		if err != nil {
			r, category := h.failed(err)
			note(ctx).outcome = category
			return r, nil
		}
		note(ctx).task(out)
		return h.show(ctx, out, started, g.Preview), nil
	}}
}

// Request is what a normalised generate_image call asks the upstream for:
// the one place the tool's arguments become the request shape (client.Request)
// that the paint service reserves, submits and stores.
func Request(g schema.Generate) client.Request {
	return client.Request{Text: g.Text, Style: g.Style.Name, Resolution: g.Resolution.Value, Num: g.Num}
}
