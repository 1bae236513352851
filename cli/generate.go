// Package cli holds the terminal commands besides serving: generate (the
// same tool path as an MCP client, in process) and styles.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/schema"
)

// GenerateOptions are the generate command's inputs.
type GenerateOptions struct {
	Text       string
	Style      string // empty = the tool's default
	Resolution string
	Num        int           // 0 = the tool's default
	Timeout    time.Duration // overall bound, including check_task rounds
	Stdout     io.Writer     // the summary
	Stderr     io.Writer     // progress
}

// ErrToolFailed is returned when the tool answered with isError.
var ErrToolFailed = errors.New("generation failed")

// Generate calls generate_image (then check_task while pending) through an
// in-process MCP client, prints progress and a summary with the paths of the saved images.
func Generate(ctx context.Context, s *server.MCPServer, o GenerateOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c, err := mcpclient.NewInProcessClient(s)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		return err
	}
	// Notifications arrive on another goroutine, possibly after the result:
	// one lock for every stderr line, and none once Generate has returned.
	progress := &lockedWriter{w: o.Stderr}
	defer progress.close()
	o.Stderr = progress
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationProgress) {
			fmt.Fprintf(progress, "  … %v\n", n.Params.AdditionalFields["message"])
		}
	})
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "aipaint-mcp-cli", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		return err
	}

	args := map[string]any{"text": o.Text}
	if o.Style != "" {
		args["style"] = o.Style
	}
	if o.Resolution != "" {
		args["resolution"] = o.Resolution
	}
	if o.Num != 0 {
		args["num"] = o.Num
	}
	fmt.Fprintln(o.Stderr, "提交中 submitting…")
	args["wait_seconds"] = waitSeconds(ctx)
	res, err := callTool(ctx, c, "generate_image", args)
	for err == nil && res.Status == schema.StatusPending {
		w := waitSeconds(ctx)
		if w == 0 { // no time left for a real wait: never poll in a tight loop
			err = fmt.Errorf("gave up waiting after --timeout %s", o.Timeout)
			break
		}
		fmt.Fprintf(o.Stderr, "  … 仍在生成 still drawing, task_id %s\n", res.TaskID)
		var next schema.TaskResult
		next, err = callTool(ctx, c, "check_task", map[string]any{"task_id": res.TaskID, "wait_seconds": w})
		if err == nil {
			next.Text, next.Style, next.Resolution, next.Num = res.Text, res.Style, res.Resolution, res.Num
			res = next
		}
	}
	if err != nil {
		if res.TaskID != "" {
			// Submitted and billed: never let the id vanish with the error.
			return fmt.Errorf("%w; task_id %s was submitted and may still finish upstream: ask an MCP client to check_task it", err, res.TaskID)
		}
		return err
	}
	fmt.Fprintf(o.Stdout, "task_id: %s\nstyle: %s  resolution: %s  images: %d\n", res.TaskID, res.Style, res.Resolution, len(res.Images))
	if res.Sandbox {
		fmt.Fprintln(o.Stdout, "(sandbox images: from the built-in stand-in, not the real API)")
	}
	failed := 0
	for _, img := range res.Images {
		if img.Path == "" {
			failed++
			fmt.Fprintf(o.Stdout, "image %d: %s (not saved: %s)\n", img.Index, img.URL, img.SaveError)
			continue
		}
		fmt.Fprintf(o.Stdout, "image %d: %s\n  saved: %s\n", img.Index, img.URL, img.Path)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be saved", failed, len(res.Images))
	}
	return nil
}

// waitSeconds is the wait to ask a tool for: what is left of the timeout,
// less a margin for the answer to come back, so the tool (not the deadline)
// ends the wait and the task id always comes back.
func waitSeconds(ctx context.Context) int {
	w := schema.DefaultWaitSeconds
	if deadline, ok := ctx.Deadline(); ok {
		w = min(w, int((time.Until(deadline)-2*time.Second)/time.Second))
	}
	return max(w, 0)
}

type lockedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *lockedWriter) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

func callTool(ctx context.Context, c *mcpclient.Client, name string, args map[string]any) (schema.TaskResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	req.Params.Meta = &mcp.Meta{ProgressToken: "cli-" + name}
	out, err := c.CallTool(ctx, req)
	if err != nil {
		return schema.TaskResult{}, err
	}
	if out.IsError {
		return schema.TaskResult{}, fmt.Errorf("%w: %s", ErrToolFailed, resultText(out))
	}
	var r schema.TaskResult
	raw, err := json.Marshal(out.StructuredContent)
	if err == nil {
		err = json.Unmarshal(raw, &r)
	}
	if err != nil || r.TaskID == "" {
		return schema.TaskResult{}, fmt.Errorf("unexpected %s result: %s", name, resultText(out))
	}
	return r, nil
}

func resultText(r *mcp.CallToolResult) string {
	var parts []string
	for _, c := range r.Content {
		if t, ok := mcp.AsTextContent(c); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}
