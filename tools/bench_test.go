package tools_test

import (
	"context"
	"net/http/httptest"
	"testing"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/client"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/schema"
	"aipaint-mcp/tools"
)

// benchServer is the tools behind an in-process MCP client, with the sandbox
// (tasks done at once) over loopback HTTP as the upstream.
func benchServer(b *testing.B) *mcpclient.Client {
	b.Helper()
	sb := sandbox.New(sandbox.Options{})
	up := httptest.NewServer(sb)
	b.Cleanup(up.Close)
	c, err := client.New(client.Config{
		SubmitURL: up.URL + sandbox.SubmitPath, QueryURL: up.URL + sandbox.QueryPath,
		AppKey: sandbox.AppKey, AppSecret: sandbox.AppSecret,
	})
	if err != nil {
		b.Fatal(err)
	}
	mc, err := mcpclient.NewInProcessClient(tools.NewServer(tools.Options{
		Client: c, Limits: schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds}, Sandbox: true, Version: "bench",
	}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mc.Close() })
	if err := mc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	if _, err := mc.Initialize(context.Background(), mcp.InitializeRequest{}); err != nil {
		b.Fatal(err)
	}
	return mc
}

func benchCall(b *testing.B, mc *mcpclient.Client, name string, args map[string]any) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	b.ReportAllocs()
	for b.Loop() {
		res, err := mc.CallTool(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if res.IsError {
			b.Fatalf("%s: error result", name)
		}
	}
}

// BenchmarkCallListStyles is a list_styles call through the MCP server, in process.
func BenchmarkCallListStyles(b *testing.B) {
	benchCall(b, benchServer(b), "list_styles", nil)
}

// BenchmarkCallGenerateImage is a whole generate_image call in process:
// submit and one query, signed, over loopback HTTP to the sandbox.
func BenchmarkCallGenerateImage(b *testing.B) {
	benchCall(b, benchServer(b), "generate_image", map[string]any{"text": "竹林里的熊猫", "style": "古风", "num": 2})
}

// BenchmarkToolsList is the tools/list answer (schemas built once at start).
func BenchmarkToolsList(b *testing.B) {
	mc := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mc.ListTools(context.Background(), mcp.ListToolsRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}
