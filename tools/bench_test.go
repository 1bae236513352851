package tools_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/schema"
	"aipaint-mcp/tools"
)

// benchServer is the tools with the sandbox (tasks done at once) over
// loopback HTTP as the upstream.
func benchServer(b *testing.B) *server.MCPServer {
	b.Helper()
	// The task store as in production: every paid call records its task.
	h := newHarness(b, noBackground())
	return tools.NewServer(tools.Options{Paint: h.svc, Limits: schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds}, Sandbox: true, Version: "bench"})
}

// benchMessage handles one JSON-RPC request as a transport does: the raw
// message in, the encoded answer out. Client-side decoding is left out, so
// the figure is the server's.
func benchMessage(b *testing.B, s *server.MCPServer, msg string) {
	raw := json.RawMessage(msg)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(s.HandleMessage(ctx, raw))
		if err != nil {
			b.Fatal(err)
		}
		if !strings.Contains(string(out[:min(len(out), 64)]), `"result"`) || strings.Contains(string(out), `"isError":true`) {
			b.Fatalf("not a successful answer: %.300s", out)
		}
	}
}

func callMessage(name string, args map[string]any) string {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	p, _ := json.Marshal(req.Params)
	return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":` + string(p) + `}`
}

// BenchmarkCallListStyles is a list_styles call through the MCP server.
func BenchmarkCallListStyles(b *testing.B) {
	benchMessage(b, benchServer(b), callMessage("list_styles", nil))
}

// BenchmarkCallGenerateImage is a whole generate_image call: submit and one
// query, signed, over loopback HTTP to the sandbox (which it includes).
func BenchmarkCallGenerateImage(b *testing.B) {
	benchMessage(b, benchServer(b), callMessage("generate_image", map[string]any{"text": "竹林里的熊猫", "style": "古风", "num": 2}))
}

// BenchmarkToolsList is the tools/list answer.
func BenchmarkToolsList(b *testing.B) {
	benchMessage(b, benchServer(b), `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
}

// BenchmarkNewServer is the server's construction at start: the tools and
// their JSON schemas.
func BenchmarkNewServer(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		tools.NewServer(tools.Options{Limits: schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds}})
	}
}
