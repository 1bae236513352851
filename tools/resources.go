package tools

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/schema"
)

// StylesURI is the resource with the style and resolution tables.
const StylesURI = "aipaint://styles"

func stylesResource() server.ServerResource {
	return server.ServerResource{
		Resource: mcp.NewResource(StylesURI, "styles",
			mcp.WithResourceTitle("绘画风格 Styles and resolutions"),
			mcp.WithResourceDescription(fmt.Sprintf(
				"The %d painting styles (Chinese name, English name, aliases, look) and the %d resolutions generate_image accepts, as JSON: the same content as list_styles.",
				len(schema.Styles), len(schema.Resolutions))),
			mcp.WithMIMEType("application/json"),
		),
		Handler: readStyles,
	}
}

func readStyles(_ context.Context, _ mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	return jsonContents(StylesURI, schema.ListStyles())
}
