package tools

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/schema"
)

// Explain is what generate_image or check_task answers, as plain text, for
// a call that normalisation (a *schema.ArgError) or the paint service
// refused or failed with err: the terminal's generate command calls the
// paint service itself and says what an MCP client would read.
func Explain(o Options, err error) string {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var (
		r   *mcp.CallToolResult
		bad *schema.ArgError
	)
	if errors.As(err, &bad) {
		r = argError(err)
	} else {
		r = (&handlers{Options: o}).failure(err)
	}
	var parts []string
	for _, c := range r.Content {
		if t, ok := mcp.AsTextContent(c); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}
