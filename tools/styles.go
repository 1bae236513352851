package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/schema"
)

func listStylesTool() mcp.Tool {
	return newTool("list_styles", "绘画风格 List styles",
		"List the 17 painting styles (Chinese name, English name, aliases, look) and the 3 resolutions that generate_image accepts. Free, no network.",
		schema.NoInputSchema(), schema.StylesOutputSchema(),
		hints{readOnly: true, destructive: false, idempotent: true, openWorld: false})
}

func listStyles(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args, bad := arguments(req)
	if bad != nil {
		return bad, nil
	}
	if err := schema.NormalizeNone(args); err != nil {
		return argError(err), nil
	}
	return mcp.NewToolResultStructured(schema.ListStyles(), stylesText()), nil
}

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
