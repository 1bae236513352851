package tools

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/mark3labs/mcp-go/tracing"
)

// OperationFunc observes one MCP request as the server answered it: its
// method, the tool of a tools/call, errorType when it failed, and how long
// it took. The names are bounded: a method or tool this server does not
// serve is "_OTHER", as the OpenTelemetry conventions say.
type OperationFunc func(method, tool, errorType string, took time.Duration)

// Attributes of the spans mcp-go opens (server/tracing.go) and of the
// OpenTelemetry MCP semantic conventions.
const (
	attrMethod    = "mcp.method"    // mcp-go's, on the server span
	attrToolName  = "mcp.tool.name" // mcp-go's, set on the server span by its tool middleware
	attrErrorType = "error.type"
	errorTypeTool = "tool_error" // a tools/call answered with isError: true
	otherName     = "_OTHER"
)

// servedMethods are the requests a server answers (notifications have no
// span); any other name a client sends is counted as _OTHER.
var servedMethods = []mcp.MCPMethod{
	mcp.MethodInitialize, mcp.MethodPing, mcp.MethodServerDiscover,
	mcp.MethodToolsList, mcp.MethodToolsCall,
	mcp.MethodResourcesList, mcp.MethodResourcesTemplatesList, mcp.MethodResourcesRead,
	mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe,
	mcp.MethodPromptsList, mcp.MethodPromptsGet, mcp.MethodCompletionComplete,
	mcp.MethodSetLogLevel,
}

// operations measures every request through mcp-go's tracing hook: a span
// per request, ended as the answer goes out. The JSON-RPC code of a failed
// one comes through hooks, the server's (WithHooks keeps one set).
func operations(observe OperationFunc, tools []string, hooks *server.Hooks) server.ServerOption {
	t := opTracer{observe: observe, tools: tools}
	hooks.AddOnError(func(ctx context.Context, _ any, _ mcp.MCPMethod, _ any, err error) {
		// mcp-go's request errors carry their JSON-RPC code.
		if e, ok := err.(interface{ ToJSONRPCError() mcp.JSONRPCError }); ok {
			code := strconv.Itoa(e.ToJSONRPCError().Error.Code)
			tracing.SpanFromContext(ctx).SetAttributes(tracing.String(attrErrorType, code))
		}
	})
	return server.WithTracer(t)
}

type opTracer struct {
	observe OperationFunc
	tools   []string
}

func (t opTracer) Start(ctx context.Context, _ string, kind tracing.SpanKind, attrs ...tracing.Attribute) (context.Context, tracing.Span) {
	if kind != tracing.SpanKindServer {
		// mcp-go's span around a tool handler: the request's span measures
		// the call, and stays the one handlers find in ctx.
		return ctx, noSpan{}
	}
	s := &opSpan{t: t, start: time.Now()}
	s.SetAttributes(attrs...)
	return tracing.ContextWithSpan(ctx, s), s
}

// opSpan is one request being answered.
type opSpan struct {
	t                       opTracer
	start                   time.Time
	mu                      sync.Mutex
	method, tool, errorType string
	ended                   bool
}

func (s *opSpan) SetAttributes(attrs ...tracing.Attribute) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range attrs {
		switch a.Key {
		case attrMethod:
			s.method = otherName
			if slices.Contains(servedMethods, mcp.MCPMethod(a.Value)) {
				s.method = a.Value
			}
		case attrToolName:
			s.tool = otherName
			if slices.Contains(s.t.tools, a.Value) {
				s.tool = a.Value
			}
		case attrErrorType:
			s.errorType = a.Value
		}
	}
}

func (s *opSpan) RecordError(error) {}

// SetStatus: mcp-go marks a request answered with a JSON-RPC error; its
// code came with the error hook, else it is _OTHER.
func (s *opSpan) SetStatus(code tracing.StatusCode, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == tracing.StatusError && s.errorType == "" {
		s.errorType = otherName
	}
}

func (s *opSpan) End() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	method, tool, errorType := s.method, s.tool, s.errorType
	s.mu.Unlock()
	s.t.observe(method, tool, errorType, time.Since(s.start))
}

type noSpan struct{}

func (noSpan) SetAttributes(...tracing.Attribute)   {}
func (noSpan) RecordError(error)                    {}
func (noSpan) SetStatus(tracing.StatusCode, string) {}
func (noSpan) End()                                 {}
