// Command baseline is the yardstick of the bench command: a bare mcp-go
// server (the same version as aipaint-mcp) with one trivial tool, on the same
// transports, built with mcp-go's defaults.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // served only when AIPAINT_PPROF_ADDR is set
	"os"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

func main() {
	transport := flag.String("transport", "stdio", "stdio or http (streamable HTTP at /mcp)")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address for http")
	answerFile := flag.String("answer", "", "a tools/call result (JSON) for echo to answer instead of \"ok\"")
	flag.Parse()
	answer := mcp.NewToolResultText("ok")
	if *answerFile != "" {
		raw, err := os.ReadFile(*answerFile)
		if err == nil {
			answer, err = mcp.ParseCallToolResult((*json.RawMessage)(&raw))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "baseline: -answer:", err)
			os.Exit(2)
		}
	}
	if a := os.Getenv("AIPAINT_PPROF_ADDR"); a != "" {
		go func() { _ = http.ListenAndServe(a, http.DefaultServeMux) }()
	}

	s := server.NewMCPServer("baseline", "1", server.WithToolCapabilities(false))
	// echo answers "ok" (or the -answer result, to compare answers of the
	// same size); sleep_ms holds the call that long first, as a waiting
	// generate_image does.
	s.AddTool(mcp.NewTool("echo", mcp.WithNumber("sleep_ms")),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if ms := req.GetFloat("sleep_ms", 0); ms > 0 {
				t := time.NewTimer(time.Duration(ms) * time.Millisecond)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
				}
			}
			a := *answer // a copy per call: the server may set fields on it
			return &a, nil
		})

	var err error
	switch *transport {
	case "stdio":
		err = server.NewStdioServer(s).Listen(context.Background(), os.Stdin, os.Stdout)
	case "http":
		err = server.NewStreamableHTTPServer(s).Start(*addr)
	default:
		err = fmt.Errorf("unknown transport %q", *transport)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}
