// Package app assembles the server from the configuration: the upstream
// client (or the embedded sandbox in its place) and the MCP tools.
package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/client"
	"aipaint-mcp/config"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/save"
	"aipaint-mcp/schema"
	"aipaint-mcp/store"
	"aipaint-mcp/tools"
	"aipaint-mcp/track"
)

// App is a built server and what must be closed with it.
type App struct {
	Server  *server.MCPServer
	Sandbox *sandbox.Sandbox // nil unless sandbox mode
	Store   *store.Store     // nil when not configured or not usable
	Tracker *track.Tracker   // nil when Store is
	tempDir string           // the sandbox's task store, removed on Close
}

// Close stops background polling (pending tasks stay pending in the store,
// resumed by the next start), then the store and the sandbox.
func (a *App) Close() {
	if a.Tracker != nil {
		a.Tracker.Close()
	}
	if a.Store != nil {
		_ = a.Store.Close()
	}
	if a.Sandbox != nil {
		_ = a.Sandbox.Close()
	}
	if a.tempDir != "" {
		_ = os.RemoveAll(a.tempDir)
	}
}

// Build wires the tools to the configured upstream. With no credentials it
// still builds: list_styles works and the other tools say what to set.
// When drain ends (shutdown), waiting tool calls answer "pending" at once.
// cfgErr, when not nil, lists invalid settings: the upstream tools then
// refuse with that list rather than guess. adjust changes the tools' options
// (the terminal's generate command gives saving its own bound).
func Build(drain context.Context, cfg config.Config, cfgErr error, logger *slog.Logger, version string, adjust ...func(*tools.Options)) (*App, error) {
	a := &App{}
	if cfg.Sandbox {
		sb, sbCfg, err := StartSandbox(cfg, logger)
		if err != nil {
			return nil, err
		}
		a.Sandbox, cfg = sb, sbCfg
		// Sandbox tasks live and die with this process's sandbox: a store of
		// their own, so they neither count against the real daily limit nor
		// come back (with dead links) as duplicates in a later run. Their
		// saved files are told apart by the sbx prefix of their task ids.
		dir, err := os.MkdirTemp("", "aipaint-sandbox-")
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("sandbox task store: %w", err)
		}
		a.tempDir, cfg.DataDir = dir, dir
		logger.Info("sandbox upstream started: images are stand-ins, nothing is billed", "url", sb.URL())
	}
	opts := tools.Options{
		Limits:  schema.Limits{MaxWaitSeconds: cfg.MaxWaitSeconds, MaxNum: cfg.MaxImagesPerCall, Preview: cfg.Preview},
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
		a.openStore(cfg, c, save.NewClient(roots), &opts, logger)
	}
	for _, f := range adjust {
		f(&opts)
	}
	a.Server = tools.NewServer(opts)
	return a, nil
}

// openStore opens the task store (Resume follows its pending tasks).
// A store that cannot be opened does not stop the server: the paid tools
// then refuse, saying which folder to fix.
func (a *App) openStore(cfg config.Config, c *client.Client, download save.Client, opts *tools.Options, logger *slog.Logger) {
	st, err := store.Open(cfg.DataDir)
	if err != nil {
		opts.StoreProblem = err.Error()
		logger.Error("task store unusable; generate_image and check_task will refuse", "dir", cfg.DataDir, "err", err)
		return
	}
	a.Store = st
	// One Estimator: the tracker teaches it (from the finishes it records and
	// from the store), the tools and the tracker poll by it.
	opts.Estimator = client.NewEstimator()
	a.Tracker = track.New(track.Options{
		Client: c, Store: st, Save: cfg.Save, OutputDir: cfg.OutputDir, Download: download,
		Timeout: cfg.TaskTimeout, Backoff: opts.Backoff, Estimator: opts.Estimator,
		Logger: logger.With("component", "tracker"),
	})
	opts.Store, opts.Tracker = st, a.Tracker
	opts.Spending = store.Policy{DedupWindow: cfg.DedupWindow, DailyLimit: cfg.DailyImageLimit}
	logger.Info("task store", "dir", cfg.DataDir, "save", cfg.Save, "output", cfg.OutputDir)
}

// Resume follows the store's pending tasks in the background and teaches
// the Estimator the durations of recent ones. Build leaves it to the caller:
// it reads the store, which on a desktop took longer than answering
// initialize, so stdio resumes once the client is answered.
func (a *App) Resume() {
	if a.Tracker != nil {
		a.Tracker.ResumeInBackground()
	}
}

// StartSandbox starts the embedded sandbox on loopback and returns cfg
// pointed at it: its URLs and the credentials it accepts. Close the sandbox
// when done.
func StartSandbox(cfg config.Config, logger *slog.Logger) (*sandbox.Sandbox, config.Config, error) {
	sb, err := sandbox.Start(sandbox.Options{Delay: cfg.SandboxDelay, Logger: logger.With("component", "sandbox")})
	if err != nil {
		return nil, cfg, fmt.Errorf("start sandbox: %w", err)
	}
	cfg.SubmitURL, cfg.QueryURL = sb.SubmitURL(), sb.QueryURL()
	cfg.AppKey, cfg.AppSecret, cfg.AppCode = sandbox.AppKey, sandbox.AppSecret, ""
	return sb, cfg, nil
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
