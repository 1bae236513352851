package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/schema"
)

// listStyles is the free tool: the style and resolution tables.
func listStyles() server.ServerTool {
	tool := newTool("list_styles", "绘画风格 List styles",
		fmt.Sprintf("List the %d painting styles (Chinese name, English name, aliases, look) and the %d resolutions that generate_image accepts. Free, no network.",
			len(schema.Styles), len(schema.Resolutions)),
		schema.NoInputSchema(), schema.StylesOutputSchema(),
		hints{readOnly: true, destructive: false, idempotent: true, openWorld: false})
	return server.ServerTool{Tool: tool, Handler: answerStyles}
}

func answerStyles(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, bad := arguments(req)
	if bad != nil {
		return bad, nil
	}
	if err := schema.NormalizeNone(args); err != nil {
		return argError(err), nil
	}
	text, raw := stylesAnswer()
	res := mcp.NewToolResultStructured(schema.ListStyles(), text)
	res.RawStructuredContent = raw // what goes on the wire, encoded once
	return res, nil
}

// stylesAnswer is list_styles' text and encoded structured content, built
// once: the tables never change, and encoding them was most of the call.
var stylesAnswer = sync.OnceValues(func() (string, json.RawMessage) {
	raw, err := json.Marshal(schema.ListStyles())
	if err != nil {
		panic(err) // a table that does not encode is a bug caught by every test
	}
	return stylesText(), raw
})

func stylesText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "风格 Styles (%d; pass the Chinese name or the English name as style; default %s):\n", len(schema.Styles), schema.DefaultStyle().Name)
	for _, s := range schema.Styles {
		fmt.Fprintf(&b, "- %s (%s): %s\n", s.Name, s.English, s.Description)
	}
	fmt.Fprintf(&b, "\n分辨率 Resolutions (default %s):\n", schema.DefaultResolution().Value)
	for _, r := range schema.Resolutions {
		fmt.Fprintf(&b, "- %s (%s, also %s)\n", r.Value, r.English, strings.Join(r.Aliases, ", "))
	}
	fmt.Fprintf(&b, "\ntext: at most %d characters; num: %d-%d images, each billed.", schema.MaxTextChars, schema.MinNum, schema.MaxNum)
	return b.String()
}
