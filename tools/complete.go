package tools

import (
	"context"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/schema"
)

// TaskTemplateURI is the resource template of one task (tasks.go); the
// completion of its task_id lives here with the others.
const TaskTemplateURI = "aipaint://tasks/{task_id}"

// maxCompletions is the protocol's limit on values in one answer.
const maxCompletions = 100

// completer answers completion/complete for prompt arguments (styles and
// resolutions, from the schema tables) and for the task template (recent
// task ids, from the task store; none without one).
type completer struct {
	recentTaskIDs func(context.Context) []string
}

func (c completer) CompletePromptArgument(_ context.Context, prompt string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	switch {
	case prompt != PromptDraw && prompt != PromptStyleExplore:
		return completion(nil), nil
	case arg.Name == argStyle || (prompt == PromptStyleExplore && slices.Contains(exploreStyles, arg.Name)):
		return completion(schema.CompleteStyle(arg.Value)), nil
	case arg.Name == argResolution && prompt == PromptDraw:
		return completion(schema.CompleteResolution(arg.Value)), nil
	}
	return completion(nil), nil
}

func (c completer) CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	if uri != TaskTemplateURI || arg.Name != "task_id" {
		return completion(nil), nil
	}
	var out []string
	for _, id := range c.recentTaskIDs(ctx) {
		if strings.HasPrefix(strings.ToLower(id), strings.ToLower(strings.TrimSpace(arg.Value))) {
			out = append(out, id)
		}
	}
	return completion(out), nil
}

func completion(values []string) *mcp.Completion {
	c := &mcp.Completion{Values: values, Total: len(values)}
	if len(values) > maxCompletions {
		c.Values, c.HasMore = values[:maxCompletions], true
	}
	if c.Values == nil {
		c.Values = []string{}
	}
	return c
}
