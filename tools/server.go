// Package tools is the only package that speaks MCP: it defines the three
// tools, shapes their results and maps upstream failures to advice a model
// can act on.
package tools

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/paint"
	"aipaint-mcp/schema"
)

// Options wire the tools to the paint service.
type Options struct {
	// Paint runs every paid call and every read of tasks; required.
	Paint   *paint.Service
	Limits  schema.Limits
	Sandbox bool // results say the images are sandbox images
	Logger  *slog.Logger
	Version string
	// Operation, when set, observes every request answered (metrics);
	// nil = nothing is measured and no tracer is installed.
	Operation OperationFunc
}

var instructions = fmt.Sprintf(`aipaint-mcp draws pictures with the paid 聚美智数 AI绘画 text-to-image API.
Call generate_image when the user asks for an image: put what to draw in text (at most %d characters, Chinese works best) and the look in style (call list_styles to see the %d styles).
Every image is billed. If generate_image answers status "pending", call check_task with its task_id later; never call generate_image again for the same request (an identical request within minutes returns the same task anyway; force_new: true pays for new variations, only when the user asks for them).
Show the images to the user with the Markdown image lines from the result.`, schema.MaxTextChars, len(schema.Styles))

// handlers are the tools' shared dependencies.
type handlers struct {
	Options
}

// NewServer builds the MCP server: the three tools, the styles and task
// resources, the draw and style_explore prompts, completions for their
// arguments, and the gallery (an MCP App, for clients that render them).
func NewServer(o Options) *server.MCPServer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Paint == nil {
		o.Paint = paint.New(paint.Options{}) // list_styles only: the paid tools refuse
	}
	h := &handlers{Options: o}
	complete := completer{recentTaskIDs: h.recentTaskIDs}
	tools := []server.ServerTool{h.generateImage(), h.checkTask(), listStyles(), h.galleryImageTool()}
	hooks := appsHooks()
	opts := []server.ServerOption{
		server.WithTitle("AI绘画 AI Paint"),
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithPromptCapabilities(false),
		server.WithCompletions(),
		server.WithPromptCompletionProvider(complete),
		server.WithResourceCompletionProvider(complete),
		server.WithInstructions(instructions),
		server.WithExtensions(map[string]any{UIExtension: map[string]any{"mimeTypes": []string{AppMIMEType}}}),
	}
	if o.Operation != nil {
		names := make([]string, len(tools))
		for i, t := range tools {
			names[i] = t.Tool.Name
		}
		opts = append(opts, operations(o.Operation, names, hooks))
	}
	// Tool middleware runs outermost first: the audit record sees what
	// recovery made of a panic.
	opts = append(opts, server.WithToolHandlerMiddleware(h.audit), server.WithRecovery(), server.WithHooks(hooks))
	s := server.NewMCPServer("aipaint-mcp", o.Version, opts...)
	s.AddTools(tools...)
	tasks, taskTemplates := h.taskResources()
	s.AddResources(append(tasks, stylesResource(), galleryResource())...)
	s.AddResourceTemplates(append(taskTemplates, h.imageTemplate())...)
	s.AddPrompts(prompts()...)
	return s
}

// hints are the four tool annotations, always all set.
type hints struct{ readOnly, destructive, idempotent, openWorld bool }

func newTool(name, title, description string, in, out json.RawMessage, h hints) mcp.Tool {
	return mcp.Tool{
		Name:            name,
		Title:           title,
		Description:     description,
		RawInputSchema:  in,
		RawOutputSchema: out,
		Annotations: mcp.ToolAnnotation{
			Title:           title,
			ReadOnlyHint:    &h.readOnly,
			DestructiveHint: &h.destructive,
			IdempotentHint:  &h.idempotent,
			OpenWorldHint:   &h.openWorld,
		},
	}
}

// arguments returns the call's arguments, or an error result when they are
// not a JSON object.
func arguments(req mcp.CallToolRequest) (map[string]any, *mcp.CallToolResult) {
	if req.Params.Arguments == nil {
		return map[string]any{}, nil
	}
	args := req.GetArguments()
	if args == nil {
		return nil, mcp.NewToolResultError("arguments must be a JSON object, e.g. {\"text\": \"竹林里的熊猫\"}")
	}
	return args, nil
}

// parse normalises a tool's arguments; a non-nil result refuses the call
// before anything is sent.
func parse[T any](h *handlers, req mcp.CallToolRequest, normalize func(map[string]any, schema.Limits) (T, error)) (T, *mcp.CallToolResult) {
	var zero T
	args, bad := arguments(req)
	if bad != nil {
		return zero, bad
	}
	v, err := normalize(args, h.Limits)
	if err != nil {
		return zero, argError(err)
	}
	return v, nil
}

func argError(err error) *mcp.CallToolResult {
	var ae *schema.ArgError
	if !errors.As(err, &ae) || len(ae.Problems) == 0 {
		return mcp.NewToolResultError("参数有误 Invalid arguments: " + err.Error())
	}
	if len(ae.Problems) == 1 {
		return mcp.NewToolResultError("参数有误 Invalid argument: " + ae.Problems[0])
	}
	return mcp.NewToolResultError("参数有误 Invalid arguments:\n- " + strings.Join(ae.Problems, "\n- "))
}
