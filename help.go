package main

import (
	"context"
	"fmt"
	"io"

	"aipaint-mcp/config"
)

const usage = `aipaint-mcp — MCP server for the 聚美智数 AI绘画 text-to-image API (Huawei Cloud Marketplace)

Usage:
  aipaint-mcp [serve] [--transport stdio|sse|http|http,sse] [--addr host:port] [--sandbox]
  aipaint-mcp generate [--style S] [--resolution R] [--num N] [--out DIR] [--timeout 5m] [--sandbox] TEXT
  aipaint-mcp styles
  aipaint-mcp doctor [--sandbox]
  aipaint-mcp usage
  aipaint-mcp install --client HOST [--npx] [--with-env] [--sandbox] [--print] [--config PATH] [--open] [--url https://…/mcp [--token-env NAME [--token]]]
  aipaint-mcp --version | --help

serve (default) speaks MCP: stdio for desktop clients; streamable HTTP at /mcp; SSE at /sse + /message.
generate draws from the terminal: progress on stderr, a summary on stdout, images saved to --out.
doctor checks settings, network, clock, credentials (one free query, never a submit) and folders, and says what to fix.
usage prints the images each person submitted today and this month, from the task store (a team server's database, or this machine's).
install adds this binary to an MCP client's config file (a backup is written first; comments are kept);
  with --npx the entry runs "npx -y aipaint-mcp" (on Windows "cmd /c npx -y aipaint-mcp") instead;
  with --url it connects to a team server, sending the token the host reads from $NAME (--token writes it in).
  HOST: claude-desktop cursor vscode cline windsurf cherry-studio (prints its import link; --open opens it)
  trae trae-cn lingma qwen-code kimi gemini-cli claude-code codex.
--sandbox (or AIPAINT_SANDBOX=1) uses a built-in stand-in upstream: no account, no cost.

Settings (environment):
`

// HelpCommand prints the usage and every setting; it takes no flags.
type HelpCommand struct{ process }

func (c *HelpCommand) Run(context.Context, []string) error {
	printUsage(c.stdout)
	return nil
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	width := 0 // the longest name, so that every help starts in one column
	for _, s := range config.Settings {
		width = max(width, len(s.Name))
	}
	for _, s := range config.Settings {
		def := ""
		if s.Default != "" {
			def = " (default " + s.Default + ")"
		}
		fmt.Fprintf(w, "  %-*s %s%s\n", width, s.Name, s.Help, def)
	}
}
