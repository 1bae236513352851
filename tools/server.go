// Package tools is the only package that speaks MCP: it defines the three
// tools, shapes their results and maps upstream failures to advice a model
// can act on.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/client"
	"aipaint-mcp/schema"
	"aipaint-mcp/store"
	"aipaint-mcp/track"
	"aipaint-mcp/wait"
)

// Options wires the tools to their upstream.
type Options struct {
	Client  *client.Client // nil when credentials or URLs are missing
	Poller  *wait.Poller   // waits on Client's tasks; required with Client
	Missing []string       // the settings to set when Client is nil
	Invalid string         // invalid settings, when Client is nil because of them
	Limits  schema.Limits
	Backoff wait.Backoff // polling schedule; zero = wait.DefaultBackoff
	// Estimator learns how long tasks take, to poll densely only around the
	// expected finish; seed it with Observe. nil = a fresh one.
	Estimator *wait.Estimator
	Sandbox   bool // results say the images are sandbox images
	Logger    *slog.Logger
	Version   string
	// Drain, when done, ends every wait early with a "pending" answer that
	// carries the task id: a shutdown must not lose a submitted task.
	Drain context.Context

	// Store records every task and guards spending; required with Client.
	Store *store.Store
	// Tracker records task states, saves images and polls in the background.
	Tracker *track.Tracker
	// Spending is the deduplication window and daily limit (ForceNew unused).
	Spending store.Policy
	// StoreProblem, when Store is nil, says why the task store is unusable.
	StoreProblem string
	// SaveBound, when set, is how long a call may spend saving images; by
	// default 10 s and never past 55 s into the call (MCP clients give up
	// at 60 s). The terminal's generate command has a timeout of its own.
	SaveBound time.Duration
}

const instructions = `aipaint-mcp draws pictures with the paid 聚美智数 AI绘画 text-to-image API.
Call generate_image when the user asks for an image: put what to draw in text (at most 100 characters, Chinese works best) and the look in style (call list_styles to see the 17 styles).
Every image is billed. If generate_image answers status "pending", call check_task with its task_id later; never call generate_image again for the same request (an identical request within minutes returns the same task anyway; force_new: true pays for new variations, only when the user asks for them).
Show the images to the user with the Markdown image lines from the result.`

type handlers struct {
	Options
}

// NewServer builds the MCP server: the three tools, the styles resource, the
// draw and style_explore prompts, and completions for their arguments.
func NewServer(o Options) *server.MCPServer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Estimator == nil {
		o.Estimator = wait.NewEstimator()
	}
	h := &handlers{Options: o}
	complete := completer{}
	if o.Store != nil {
		complete.recentTaskIDs = h.recentTaskIDs
	}
	s := server.NewMCPServer("aipaint-mcp", o.Version,
		server.WithTitle("AI绘画 AI Paint"),
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithPromptCapabilities(false),
		server.WithCompletions(),
		server.WithPromptCompletionProvider(complete),
		server.WithResourceCompletionProvider(complete),
		server.WithInstructions(instructions),
		server.WithRecovery(),
	)
	s.AddTools(
		server.ServerTool{Tool: generateTool(o.Limits), Handler: h.generate},
		server.ServerTool{Tool: checkTool(o.Limits), Handler: h.check},
		server.ServerTool{Tool: listStylesTool(), Handler: listStyles},
	)
	tasks, taskTemplates := h.taskResources()
	s.AddResources(append(tasks, stylesResource())...)
	s.AddResourceTemplates(taskTemplates...)
	s.AddPrompts(prompts()...)
	return s
}

// oneLookBound limits check_task's answer-at-once query, retries included.
const oneLookBound = 15 * time.Second

// await gets a task's state within the call's budget: wait_seconds counts
// from the start of the call, so a slow submit shortens the wait instead of
// pushing the call past the client's own timeout (and into a paid retry).
// The wait also ends when the server starts draining. kind is the task's
// wait.Key, "" when unknown; took is how long the task took when
// the wait saw it finish (0 otherwise), for the tracker to learn from.
func (h *handlers) await(ctx context.Context, req mcp.CallToolRequest, taskID, kind string, waitSeconds int, started time.Time) (_ client.Task, took time.Duration, _ error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if h.Drain != nil {
		defer context.AfterFunc(h.Drain, cancel)()
	}
	if waitSeconds == 0 {
		ctx, cancel := context.WithTimeout(ctx, oneLookBound)
		defer cancel()
		task, err := h.Client.Query(ctx, taskID)
		if err == nil && !task.Done {
			err = wait.ErrStillPending
		}
		return task, 0, err
	}
	expect, _ := h.Estimator.Expect(kind)
	report := progressReporter(ctx, req, started)
	var watch wait.FinishWatch
	task, err := h.Poller.Wait(ctx, taskID, wait.Options{
		Timeout: max(time.Duration(waitSeconds)*time.Second-time.Since(started), 0),
		Backoff: h.Backoff,
		Expect:  expect,
		OnPoll: func(p wait.Poll) {
			watch.Poll(p)
			if report != nil {
				report(p)
			}
		},
	})
	took, _ = watch.Took(task)
	return task, took, err
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

// validate normalises the arguments of a tool that needs the upstream; a
// non-nil result refuses the call before anything is sent.
func validate[T any](h *handlers, req mcp.CallToolRequest, normalize func(map[string]any, schema.Limits) (T, error)) (T, *mcp.CallToolResult) {
	var zero T
	args, bad := arguments(req)
	if bad != nil {
		return zero, bad
	}
	v, err := normalize(args, h.Limits)
	if err != nil {
		return zero, argError(err)
	}
	if h.Client == nil {
		return zero, h.notConfigured()
	}
	if h.Store == nil || h.Tracker == nil {
		return zero, h.storeUnavailable()
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
