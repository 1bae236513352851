// Package app assembles the server from the configuration: the upstream
// client (or the embedded sandbox in its place) and the MCP tools.
package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/client"
	"aipaint-mcp/config"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/schema"
	"aipaint-mcp/tools"
)

// App is a built server and what must be closed with it.
type App struct {
	Server  *server.MCPServer
	Sandbox *sandbox.Sandbox // nil unless sandbox mode
}

// Close stops the sandbox, if any.
func (a *App) Close() {
	if a.Sandbox != nil {
		_ = a.Sandbox.Close()
	}
}

// Build wires the tools to the configured upstream. With no credentials it
// still builds: list_styles works and the other tools say what to set.
// When drain ends (shutdown), waiting tool calls answer "pending" at once.
// cfgErr, when not nil, lists invalid settings: the upstream tools then
// refuse with that list rather than guess.
func Build(drain context.Context, cfg config.Config, cfgErr error, logger *slog.Logger, version string) (*App, error) {
	a := &App{}
	if cfg.Sandbox {
		sb, err := sandbox.Start(sandbox.Options{Delay: cfg.SandboxDelay, Logger: logger.With("component", "sandbox")})
		if err != nil {
			return nil, fmt.Errorf("start sandbox: %w", err)
		}
		a.Sandbox = sb
		cfg.SubmitURL, cfg.QueryURL = sb.SubmitURL(), sb.QueryURL()
		cfg.AppKey, cfg.AppSecret, cfg.AppCode = sandbox.AppKey, sandbox.AppSecret, ""
		logger.Info("sandbox upstream started: images are stand-ins, nothing is billed", "url", sb.URL())
	}
	opts := tools.Options{
		Limits:  schema.Limits{MaxWaitSeconds: cfg.MaxWaitSeconds},
		Sandbox: cfg.Sandbox,
		Logger:  logger,
		Version: version,
		Drain:   drain,
	}
	roots, caErr := loadCA(cfg.CAFile)
	cfgErr = errors.Join(cfgErr, caErr)
	if cfgErr != nil {
		opts.Invalid = cfgErr.Error()
		logger.Error("invalid settings; list_styles works, the other tools will report them", "problems", opts.Invalid)
	} else if missing := cfg.Missing(); len(missing) > 0 {
		opts.Missing = missing
		logger.Warn("not configured for the real API; list_styles works, the other tools will ask for settings (or use --sandbox)",
			"missing", strings.Join(missing, ", "))
	} else {
		c, err := client.New(client.Config{
			SubmitURL:      cfg.SubmitURL,
			QueryURL:       cfg.QueryURL,
			AppKey:         cfg.AppKey,
			AppSecret:      cfg.AppSecret,
			AppCode:        cfg.AppCode,
			Format:         client.Format(cfg.Format),
			RequestTimeout: cfg.RequestTimeout,
			RootCAs:        roots,
			MaxConcurrency: cfg.MaxConcurrency,
			Logger:         logger.With("component", "upstream"),
		})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("upstream client: %w", err)
		}
		opts.Client = c
		logger.Info("upstream configured", "auth", c.AuthMode(), "format", cfg.Format)
	}
	a.Server = tools.NewServer(opts)
	return a, nil
}

// loadCA reads AIPAINT_CA_FILE, if set. The error names the setting, not the path.
func loadCA(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	roots, err := client.LoadCAFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.CAFile, err)
	}
	return roots, nil
}
