package tools

import (
	"context"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// reads is what a host hands its model of a tool result.
type reads int

const (
	readsAll        reads = iota // the text blocks and the structured content (the MCP default)
	readsText                    // the text blocks only: structuredContent is dropped
	readsStructured              // structuredContent only: the text blocks are dropped
)

// Host is what the server knows of one MCP client, found by the
// clientInfo.name it sends at initialize.
type Host struct {
	Title string
	// Names are the clientInfo.name values it sends, compared without
	// regard to case.
	Names []string
	// Images: the host draws a result's image blocks but neither the
	// Markdown image lines nor the resource links, so generate_image and
	// check_task attach downscaled pictures unless preview: false.
	Images bool
	reads  reads
	// Source is where the name and the behaviour were read.
	Source string
}

// Hosts is the one table of the hosts whose results differ from the
// default, and of the ones checked and found to need nothing; the READMEs
// show it (TestREADMEShowsTheHostsTable).
var Hosts = []Host{
	{Title: "Cherry Studio", Names: []string{"Cherry Studio"}, Images: true, reads: readsText,
		Source: "CherryHQ/cherry-studio src/main/services/MCPService.ts (new Client({name: 'Cherry Studio'}), 60 s call timeout); its model gets content[0]"},
	{Title: "5ire", Names: []string{"5ire"}, Images: true, reads: readsAll,
		Source: "nanbingxyz/5ire src/main/services/mcp-connections-manager.ts (name: \"5ire\"); mcp-content-converter.ts turns image blocks into files shown in the chat, resource links into references"},
	{Title: "Claude Code", Names: []string{"claude-code"}, reads: readsStructured,
		Source: "@anthropic-ai/claude-code (name:\"claude-code\"); the model gets structuredContent only (e2e/hosts)"},
	{Title: "Codex CLI", Names: []string{"codex-mcp-client"}, reads: readsStructured,
		Source: "@openai/codex (codex-mcp-client/<version>); the model gets structuredContent only, without resource links (e2e/hosts)"},
	{Title: "Gemini CLI", Names: []string{"gemini-cli-mcp-client"}, reads: readsText,
		Source: "@google/gemini-cli (name: \"gemini-cli-mcp-client\"); structuredContent is dropped, every tool gets a wait_for_previous argument (e2e/hosts)"},
	{Title: "Qwen Code", Names: []string{"qwen-code-mcp-client"}, reads: readsText,
		Source: "@qwen-code/qwen-code (name: \"qwen-code-mcp-client\"), a Gemini CLI fork (e2e/hosts)"},
}

// hostNamed finds a host by its clientInfo.name; the zero Host (all
// defaults) when it is not in the table.
func hostNamed(name string) Host {
	name = strings.TrimSpace(name)
	for _, h := range Hosts {
		for _, n := range h.Names {
			if strings.EqualFold(n, name) {
				return h
			}
		}
	}
	return Host{}
}

// hostOf is the host behind a call, by the name it gave: under 2026-07-28
// in the request's _meta, on earlier revisions at initialize (kept by the
// session).
func hostOf(ctx context.Context) Host {
	return hostNamed(clientName(ctx))
}

// forHost is h with the defaults of the host behind ctx: a host that draws
// image blocks but not links gets previews unless the call says preview:
// false.
func (h *handlers) forHost(ctx context.Context) *handlers {
	if !hostOf(ctx).Images || h.Limits.Preview {
		return h
	}
	c := *h
	c.Limits.Preview = true
	return &c
}

// ignored logs the arguments a host injected into a call, which the
// arguments' parser let through (schema.InjectedArgs).
func (h *handlers) ignored(ctx context.Context, req mcp.CallToolRequest, names []string) {
	if len(names) > 0 {
		h.Logger.DebugContext(ctx, "ignored arguments the host added", "tool", req.Params.Name, "arguments", names)
	}
}
