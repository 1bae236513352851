package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/paint"
	"aipaint-mcp/people"
	"aipaint-mcp/schema"
)

// TasksURI lists recent tasks from the store.
const TasksURI = "aipaint://tasks"

// recentTasks is how many tasks aipaint://tasks lists and task ids complete to.
const recentTasks = 50

// TaskList is the content of aipaint://tasks.
type TaskList struct {
	Tasks []schema.TaskResult `json:"tasks"`
	Usage schema.Usage        `json:"usage"`
}

func (h *handlers) taskResources() ([]server.ServerResource, []server.ServerResourceTemplate) {
	list := server.ServerResource{
		Resource: mcp.NewResource(TasksURI, "tasks",
			mcp.WithResourceTitle("最近的绘画任务 Recent tasks"),
			mcp.WithResourceDescription(fmt.Sprintf("The %d most recent tasks of this machine's task store, newest first, as JSON: "+
				"status, request, image URLs with expiry dates and saved file paths; and today's usage against the daily limit.", recentTasks)),
			mcp.WithMIMEType("application/json"),
		),
		Handler: h.readTasks,
	}
	one := server.ServerResourceTemplate{
		Template: mcp.NewResourceTemplate(TaskTemplateURI, "task",
			mcp.WithTemplateTitle("绘画任务 Task"),
			mcp.WithTemplateDescription("One task from the task store, as JSON (the same fields as check_task's result). "+
				"Reading it never calls the API; use check_task for a task that is still pending."),
			mcp.WithTemplateMIMEType("application/json"),
		),
		Handler: h.readTask,
	}
	return []server.ServerResource{list}, []server.ServerResourceTemplate{one}
}

func (h *handlers) readTasks(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	who := person(ctx)
	recs, err := h.Paint.List(ctx, who, recentTasks)
	if err != nil {
		return nil, noStore(err)
	}
	out := TaskList{Tasks: make([]schema.TaskResult, 0, len(recs))}
	for _, rec := range recs {
		out.Tasks = append(out.Tasks, h.taskResult(paint.Outcome{Task: rec}))
	}
	if u, err := h.Paint.Usage(ctx, who); err == nil {
		out.Usage = *wireUsage(u)
	}
	return jsonContents(req.Params.URI, out)
}

func (h *handlers) readTask(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	if err := h.Paint.Unavailable(); err != nil {
		return nil, noStore(err)
	}
	id := ""
	if v, ok := req.Params.Arguments["task_id"]; ok {
		switch x := v.(type) {
		case string:
			id = x
		case []string: // a template variable may match as a list
			if len(x) == 1 {
				id = x[0]
			}
		}
	}
	if _, err := schema.NormalizeCheck(map[string]any{"task_id": id}, h.Limits); err != nil {
		return nil, err
	}
	rec, err := h.Paint.Get(ctx, person(ctx), id)
	if errors.Is(err, paint.ErrNotFound) {
		return nil, fmt.Errorf("task %q is not in the task store; check_task looks it up upstream", id)
	}
	if err != nil {
		return nil, err
	}
	return jsonContents(req.Params.URI, h.taskResult(paint.Outcome{Task: rec}))
}

func jsonContents(uri string, v any) ([]mcp.ResourceContents, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", uri, err)
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, MIMEType: "application/json", Text: string(b)}}, nil
}

// recentTaskIDs completes the task template from the store.
func (h *handlers) recentTaskIDs(ctx context.Context) []string {
	return h.Paint.RecentIDs(ctx, person(ctx), recentTasks)
}

// person is who calls: the person of the bearer token on a team server
// (AIPAINT_HTTP_TOKENS_FILE), else the single user, who sees every task.
func person(ctx context.Context) paint.Person {
	p, _ := people.FromContext(ctx) // the zero Person when there is none
	return p
}

// noStore is the error of a task resource read while the paid paths are
// not usable.
func noStore(err error) error {
	if errors.Is(err, paint.ErrUnavailable) {
		return errors.New("the task store is not available: the server is not configured for the API, or its data folder is not usable")
	}
	return err
}
