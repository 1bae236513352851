// Package app assembles the server from the configuration: the upstream
// (or the embedded sandbox in its place), the task store, the paint service
// and the MCP tools.
package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/client"
	"aipaint-mcp/config"
	"aipaint-mcp/metrics"
	"aipaint-mcp/paint"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/save"
	"aipaint-mcp/schema"
	"aipaint-mcp/store"
	"aipaint-mcp/store/postgres"
	"aipaint-mcp/tools"
)

// App is a built server and what must be closed with it.
type App struct {
	Server  *server.MCPServer
	Paint   *paint.Service
	Tools   tools.Options    // what Server was built from
	Sandbox *sandbox.Sandbox // nil unless sandbox mode
	// Metrics is the server's metrics, for a listener of their own; nil
	// unless AIPAINT_METRICS_ADDR is set (nothing is counted then).
	Metrics *metrics.Registry
	tempDir string // the sandbox's task store, removed on Close
}

// Drain starts the shutdown at the signal: waiting calls answer "pending"
// at once and new paid calls are refused.
func (a *App) Drain() {
	if a.Paint != nil {
		a.Paint.Drain()
	}
}

// Close, once the transport has returned, stops background polling (pending
// tasks stay pending in the store, resumed by the next start), then closes
// the store and the sandbox.
func (a *App) Close() {
	if a.Paint != nil {
		_ = a.Paint.Close()
	}
	if a.Sandbox != nil {
		_ = a.Sandbox.Close()
	}
	if a.tempDir != "" {
		_ = os.RemoveAll(a.tempDir)
	}
}

// Option adjusts the paint service of a Build.
type Option func(*paint.Options)

// ForTerminal shapes the paint service for the terminal's generate
// command: saving may take its whole timeout (not the seconds an MCP call
// can spare), and it saves only the images of its own task, since its
// output folder is the user's --out, not the server's folder.
func ForTerminal(timeout time.Duration) Option {
	return func(o *paint.Options) { o.SaveBound, o.ResumeSaves = timeout, false }
}

// Resume follows the store's pending tasks and saves the missing images of
// recent ones, in the background. Build leaves it to the caller, which
// knows when: it reads the store, so a stdio server puts it off until its
// client has its first answer (main's afterFirstAnswer).
func (a *App) Resume() {
	if a.Paint != nil {
		a.Paint.ResumeInBackground()
	}
}

// Build wires the tools to the configured upstream. With no credentials or
// with invalid settings (cfg.Invalid) it still builds: list_styles works
// and the paid tools say what to set.
func Build(cfg config.Config, logger *slog.Logger, version string, adjust ...Option) (*App, error) {
	a := &App{}
	if cfg.MetricsAddr != "" {
		a.Metrics = metrics.New()
	}
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
	opts := paint.Options{
		Policy:      store.Policy{DedupWindow: cfg.DedupWindow, DailyLimit: cfg.DailyImageLimit},
		TaskTimeout: cfg.TaskTimeout,
		Save:        cfg.Save,
		OutputDir:   cfg.OutputDir,
		ResumeSaves: true,
		Logger:      logger.With("component", "paint"),
	}
	if a.Metrics != nil {
		opts.Observer = a.Metrics
	}
	if err := a.connect(cfg, &opts, logger); err != nil {
		a.Close()
		return nil, err
	}
	for _, f := range adjust {
		f(&opts)
	}
	a.Paint = paint.New(opts)
	a.Tools = tools.Options{
		Paint:   a.Paint,
		Limits:  schema.Limits{MaxWaitSeconds: cfg.MaxWaitSeconds, MaxNum: cfg.MaxImagesPerCall, Preview: cfg.Preview},
		Sandbox: cfg.Sandbox,
		Logger:  logger,
		Version: version,
	}
	if a.Metrics != nil {
		a.Tools.Operation = a.Metrics.Operation
		a.Metrics.Gauges(a.Paint.Pending, a.Paint.Waiting)
		a.Metrics.DailyUsage(a.todayImages, cfg.DailyImageLimit)
	}
	a.Server = tools.NewServer(a.Tools)
	return a, nil
}

// connect gives the paint service its upstream and store, or says in
// opts.Unusable why it has none: a server that cannot pay still starts,
// and its paid tools say what to fix.
func (a *App) connect(cfg config.Config, opts *paint.Options, logger *slog.Logger) error {
	roots, caErr := loadCA(cfg.CAFile)
	var invalid error
	if cfg.Invalid != nil {
		invalid = fmt.Errorf("configuration: %w", cfg.Invalid)
	}
	if invalid = errors.Join(invalid, caErr); invalid != nil {
		opts.Unusable = &paint.UnavailableError{Invalid: invalid.Error()}
		logger.Error("invalid settings; list_styles works, the other tools will report them", "problems", opts.Unusable.Invalid)
		return nil
	}
	if missing := cfg.Missing(); len(missing) > 0 {
		opts.Unusable = &paint.UnavailableError{Missing: missing}
		logger.Warn("not configured for the real API; list_styles works, the other tools will ask for settings (or use --sandbox)",
			"missing", strings.Join(missing, ", "))
		return nil
	}
	var observe func(client.Op, string, time.Duration)
	if a.Metrics != nil {
		observe = func(op client.Op, outcome string, took time.Duration) { a.Metrics.Upstream(string(op), outcome, took) }
	}
	up, err := client.New(client.Config{
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
		Observe:        observe,
	})
	if err != nil {
		return fmt.Errorf("upstream client: %w", err)
	}
	logger.Info("upstream configured", "auth", up.AuthMode(), "format", cfg.Format)
	st, setting, err := OpenStore(cfg, logger)
	opts.StoreSetting = setting
	if err != nil {
		opts.Unusable = &paint.UnavailableError{StoreProblem: err.Error()}
		logger.Error("task store unusable; generate_image and check_task will refuse", "setting", setting, "err", err)
		return nil
	}
	if a.Metrics != nil {
		st = store.Observe(st, a.Metrics.StoreFailed)
	}
	opts.Upstream, opts.Store, opts.Download = up, st, save.NewClient(roots)
	logger.Info("task store", "setting", setting, "save", cfg.Save, "output", cfg.OutputDir)
	return nil
}

// OpenStore opens the configured task store: a team server's PostgreSQL
// (AIPAINT_STORE_URL), else the file store in AIPAINT_DATA_DIR. setting
// names the one in use. A database that does not answer yet is no error:
// the store's calls fail until it does, and it reconnects by itself.
func OpenStore(cfg config.Config, logger *slog.Logger) (_ store.Store, setting string, _ error) {
	if cfg.StoreURL != "" {
		st, err := postgres.Open(context.Background(), cfg.StoreURL, postgres.Options{
			Location: cfg.Location, Logger: logger.With("component", "store"),
		})
		if err != nil {
			return nil, config.StoreURL, fmt.Errorf("%s: %w", config.StoreURL, err)
		}
		return st, config.StoreURL, nil
	}
	st, err := store.Open(cfg.DataDir, store.WithLocation(cfg.Location))
	return st, config.DataDir, err
}

// Health is nil while the paid tools can work: for a team server's load
// balancer, whether its database answers.
func (a *App) Health(ctx context.Context) error {
	if a.Paint == nil {
		return errors.New("not built")
	}
	return a.Paint.Health(ctx)
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

// todayImages is the account's images today, for the metrics: one read of
// the store, bounded so a scrape never hangs on a database that is down.
func (a *App) todayImages() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeStoreTimeout)
	defer cancel()
	u, err := a.Paint.Usage(ctx, paint.Person{})
	return u.Today, err
}

// scrapeStoreTimeout bounds the store read of one /metrics scrape.
const scrapeStoreTimeout = 2 * time.Second
