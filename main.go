// Command aipaint-mcp is an MCP server for the 聚美智数 AI绘画 text-to-image
// API on Huawei Cloud Marketplace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"aipaint-mcp/app"
	"aipaint-mcp/cli"
	"aipaint-mcp/config"
	"aipaint-mcp/doctor"
	"aipaint-mcp/install"
	"aipaint-mcp/people"
	"aipaint-mcp/schema"
	"aipaint-mcp/serve"
	"aipaint-mcp/store"
)

const usage = `aipaint-mcp — MCP server for the 聚美智数 AI绘画 text-to-image API (Huawei Cloud Marketplace)

Usage:
  aipaint-mcp [serve] [--transport stdio|sse|http] [--addr host:port] [--sandbox]
  aipaint-mcp generate [--style S] [--resolution R] [--num N] [--out DIR] [--timeout 5m] [--sandbox] TEXT
  aipaint-mcp styles
  aipaint-mcp doctor [--sandbox]
  aipaint-mcp usage
  aipaint-mcp install --client claude-desktop|cursor|vscode|cline|windsurf [--npx] [--with-env] [--sandbox] [--print] [--config PATH]
  aipaint-mcp --version | --help

serve (default) speaks MCP: stdio for desktop clients; streamable HTTP at /mcp; SSE at /sse + /message.
generate draws from the terminal: progress on stderr, a summary on stdout, images saved to --out.
doctor checks settings, network, clock, credentials (one free query, never a submit) and folders, and says what to fix.
usage prints the images each person submitted today and this month, from the task store (a team server's database, or this machine's).
install adds this binary to an MCP client's config file (a backup is written first; comments are kept);
  with --npx the entry runs "npx -y aipaint-mcp" (on Windows "cmd /c npx -y aipaint-mcp") instead.
--sandbox (or AIPAINT_SANDBOX=1) uses a built-in stand-in upstream: no account, no cost.

Settings (environment):
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	for _, s := range config.Settings {
		def := ""
		if s.Default != "" {
			def = " (default " + s.Default + ")"
		}
		fmt.Fprintf(w, "  %-26s %s%s\n", s.Name, s.Help, def)
	}
}

// run is main without the process: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchSignals, unwatch := shutdownSignals(cancel)
	defer unwatch()
	if cmd != "serve" {
		watchSignals() // serve starts watching when it is ready to
	}

	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, watchSignals, args, stdin, stdout, stderr, getenv)
	case "generate":
		err = runGenerate(ctx, args, stdout, stderr, getenv)
	case "styles":
		err = parseFlags(flag.NewFlagSet("styles", flag.ContinueOnError), args, stdout, stderr, nil)
		if err == nil {
			cli.Styles(stdout)
		}
	case "doctor":
		err = runDoctor(ctx, args, stdout, stderr, getenv)
	case "usage":
		err = runUsage(ctx, args, stdout, stderr, getenv)
	case "install":
		err = runInstall(args, stdout, stderr, getenv, os.Executable)
	case "help":
		printUsage(stdout)
	case "version":
		fmt.Fprintln(stdout, versionLine())
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n", cmd)
		printUsage(stderr)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelpShown):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errReported):
		return 1
	}
	fmt.Fprintln(stderr, "aipaint-mcp:", err)
	return 1
}

// shutdownSignals makes SIGINT and SIGTERM cancel the run (a graceful
// shutdown) from the first call of watch; unwatch undoes it when the run
// ends (tests call run many times in one process). Watching starts a thread
// (os/signal's): 0.15-0.2 ms of CPU, about 0.5 ms on a busy 2-core machine,
// which a stdio server spends only once it has answered its client's first
// request (initialize). Until then a signal ends the process as one during
// the runtime's start always has; no call is in flight yet.
func shutdownSignals(cancel context.CancelFunc) (watch, unwatch func()) {
	var mu sync.Mutex
	var watching, ended bool
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	watch = func() {
		mu.Lock()
		defer mu.Unlock()
		if watching || ended {
			return
		}
		watching = true
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		go func() {
			select {
			case <-sigs:
				cancel()
			case <-done:
			}
		}()
	}
	unwatch = func() {
		mu.Lock()
		defer mu.Unlock()
		ended = true
		signal.Stop(sigs)
		close(done)
	}
	return watch, unwatch
}

var (
	errHelpShown = errors.New("help shown")
	errUsage     = errors.New("usage error")
	errReported  = errors.New("failure already reported")
)

// parseFlags parses flags anywhere among the arguments (generate TEXT --sandbox
// works too) and handles --help and --version. Positional arguments go to pos.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, pos *[]string) error {
	showVersion := fs.Bool("version", false, "print the version")
	fs.SetOutput(stderr)
	fs.Usage = func() {} // asked-for help goes to stdout, below; flag errors stay on stderr
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(stdout)
				fmt.Fprintf(stdout, "\nFlags of %s:\n", fs.Name())
				fs.SetOutput(stdout)
				fs.PrintDefaults()
				return errHelpShown
			}
			fmt.Fprintln(stderr, "run aipaint-mcp --help for usage")
			return errUsage
		}
		if *showVersion {
			fmt.Fprintln(stdout, versionLine())
			return errHelpShown
		}
		args = fs.Args()
		if len(args) == 0 {
			return nil
		}
		if pos == nil {
			fmt.Fprintf(stderr, "%s takes no arguments, got %q\n", fs.Name(), args[0])
			return errUsage
		}
		*pos = append(*pos, args[0])
		args = args[1:]
	}
}

func loadConfig(getenv func(string) string, sandbox bool) (config.Config, error) {
	cfg, err := config.FromEnv(getenv)
	cfg.Sandbox = cfg.Sandbox || sandbox
	if err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// A stdio server resumes its stored tasks resumeLag after its first answer
// (to initialize), out of the way of the tools/list, prompts/list and
// resources/list a client sends right after it (reading a desktop's store
// takes 5-10 ms of CPU), or resumeAfter after the start if no client has
// asked anything by then. Pending tasks are polled seconds apart: the lag
// costs nothing.
const (
	resumeLag   = 250 * time.Millisecond
	resumeAfter = time.Second
)

func runServe(ctx context.Context, watchSignals func(), args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	transport := fs.String("transport", serve.TransportStdio, "stdio, sse or http (streamable HTTP)")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address for sse and http")
	sandbox := fs.Bool("sandbox", false, "use the built-in sandbox upstream (no account, no cost)")
	if err := parseFlags(fs, args, stdout, stderr, nil); err != nil {
		return err
	}
	// A bad setting does not stop the server: a desktop client would only
	// show "disconnected". The tools say what to fix instead.
	cfg, _ := loadConfig(getenv, *sandbox)    // cfg.Invalid lists what is wrong
	logger := newLogger(stderr, cfg.LogLevel) // stderr only: stdout is the protocol in stdio mode
	switch *transport {
	case serve.TransportStdio:
	case serve.TransportSSE, serve.TransportHTTP:
		// stdio reads neither token setting: only the HTTP transports refuse both.
		if err := cfg.CheckTokens(); err != nil {
			return err
		}
		if err := serve.CheckBind(*addr, cfg.HTTPToken, cfg.TokensFile); err != nil {
			return err
		}
		watchSignals()
	default:
		fmt.Fprintf(stderr, "--transport %q: want stdio, sse or http\n", *transport)
		return errUsage
	}
	var team serve.People // nil: one shared token (or none)
	if *transport != serve.TransportStdio && cfg.TokensFile != "" {
		w, stop, err := watchTokensFile(ctx, cfg.TokensFile, logger)
		if err != nil {
			return err
		}
		defer stop()
		team = w
	}
	a, err := app.Build(cfg, logger, versionString())
	if err != nil {
		return err
	}
	defer a.Close()
	// At the signal, waits answer "pending" with their task ids and new
	// paid calls are refused; Close follows once the transport has returned.
	defer context.AfterFunc(ctx, a.Drain)()
	if *transport == serve.TransportStdio {
		// Nothing expensive before initialize is answered: a desktop client
		// waits for it, on a start that is otherwise a bare mcp-go server's.
		// Watching signals (a thread) and resuming (reading the store) wait
		// for the first answer to be written.
		stdout = serve.AfterFirstAnswer(stdout, resumeAfter, func() {
			watchSignals()
			time.AfterFunc(resumeLag, a.Resume)
		})
		return serve.Stdio(ctx, a.Server, stdin, stdout, logger)
	}
	a.Resume()
	return serve.HTTP(ctx, a.Server, serve.HTTPOptions{
		Transport:      *transport,
		Addr:           *addr,
		Token:          cfg.HTTPToken,
		People:         team,
		AllowedOrigins: cfg.AllowedOrigins,
		Logger:         logger,
		Health:         a.Health,
	})
}

// watchTokensFile loads the tokens file (a malformed one stops the server,
// naming the line) and follows it until stop: re-read on SIGHUP (where
// there is one) and when it changes.
func watchTokensFile(ctx context.Context, path string, logger *slog.Logger) (w *people.Watcher, stop func(), err error) {
	hangup, unwatch := hangupSignals()
	w, err = people.NewWatcher(path, people.WatchOptions{Logger: logger, Hangup: hangup})
	if err != nil {
		unwatch()
		return nil, nil, fmt.Errorf("%s: %w", config.TokensFile, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := w.Start(ctx)
	return w, func() {
		cancel()
		<-done
		unwatch()
	}, nil
}

func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	style := fs.String("style", "", "style: a Chinese name or an English alias (see: aipaint-mcp styles)")
	resolution := fs.String("resolution", "", "1024*1024 (square), 1024*1536 (portrait) or 1536*1024 (landscape)")
	num := fs.Int("num", 0, fmt.Sprintf("number of images, %d-%d (each is billed)", schema.MinNum, schema.MaxNum))
	out := fs.String("out", ".", "folder to save the images in; they go to <folder>/<date>/<task id>_<n>.png")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up waiting after this long (the task keeps running upstream)")
	sandbox := fs.Bool("sandbox", false, "use the built-in sandbox upstream (no account, no cost)")
	var words []string
	if err := parseFlags(fs, args, stdout, stderr, &words); err != nil {
		return err
	}
	if len(words) == 0 {
		fmt.Fprintln(stderr, "generate needs the text to draw, e.g.: aipaint-mcp generate --sandbox --style 古风 \"竹林里的熊猫\"")
		return errUsage
	}
	cfg, err := loadConfig(getenv, *sandbox)
	if err != nil {
		return err
	}
	cfg.Save = true // saving the images is this command's job
	if cfg.OutputDir, err = filepath.Abs(*out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	level := cfg.LogLevel
	if config.Value(getenv, config.LogLevel) == "" {
		level = slog.LevelWarn // a terminal wants the progress lines, not the info log
	}
	// Saving the images is this command's job: it may take the whole
	// --timeout, not the few seconds an MCP client's call can spare.
	a, err := app.Build(cfg, newLogger(stderr, level), versionString(),
		app.ForTerminal(*timeout))
	if err != nil {
		return err
	}
	defer a.Close()
	defer context.AfterFunc(ctx, a.Drain)()
	a.Resume()
	return cli.Generate(ctx, a.Server, cli.GenerateOptions{
		Text: strings.Join(words, " "), Style: *style, Resolution: *resolution, Num: *num,
		Timeout: *timeout, Stdout: stdout, Stderr: stderr,
	})
}

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	sandbox := fs.Bool("sandbox", false, "check against the built-in sandbox upstream (no account, no cost)")
	if err := parseFlags(fs, args, stdout, stderr, nil); err != nil {
		return err
	}
	cfg, cfgErr := config.FromEnv(getenv) // the raw list of problems: doctor gives each its own fix
	cfg.Sandbox = cfg.Sandbox || *sandbox
	opts := doctor.Options{Config: cfg, ConfigErr: cfgErr}
	if cfg.StoreURL != "" && !cfg.Sandbox {
		st, _, err := app.OpenStore(cfg, newLogger(stderr, slog.LevelError))
		switch {
		case err != nil:
			// A URL the server cannot use (say an unknown sslmode) makes the
			// paid tools refuse: the check fails with why, never skips.
			opts.PingStore = func(context.Context) error { return err }
		default:
			defer st.Close()
			if p, ok := st.(store.Pinger); ok {
				opts.PingStore = p.Ping
			}
		}
	}
	if cfg.Sandbox {
		sb, sbCfg, err := app.StartSandbox(cfg, newLogger(stderr, slog.LevelWarn))
		if err != nil {
			return err
		}
		defer sb.Close()
		opts.Config, opts.Sandbox = sbCfg, sb.URL()
	}
	fmt.Fprintln(stdout, "aipaint-mcp doctor: 检查配置 checking the setup")
	fmt.Fprintln(stdout)
	if !doctor.Report(stdout, doctor.Run(ctx, opts)) {
		return errReported
	}
	return nil
}

func runUsage(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if err := parseFlags(flag.NewFlagSet("usage", flag.ContinueOnError), args, stdout, stderr, nil); err != nil {
		return err
	}
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	st, setting, err := app.OpenStore(cfg, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer st.Close()
	spends, err := st.Spending(ctx)
	if err != nil {
		return fmt.Errorf("reading the task store (%s): %w", setting, err)
	}
	limits := map[string]int{}
	if cfg.TokensFile != "" {
		set, err := people.Load(cfg.TokensFile)
		if err != nil {
			return fmt.Errorf("%s: %w", config.TokensFile, err)
		}
		for _, p := range set.People() {
			if p.Limit != nil {
				limits[p.Name] = *p.Limit
			}
		}
	}
	cli.Usage(stdout, spends, cfg.DailyImageLimit, limits)
	return nil
}

func runInstall(args []string, stdout, stderr io.Writer, getenv func(string) string, executable func() (string, error)) error {
	fs := flag.NewFlagSet("install", flag.ContinueOnError)
	clientName := fs.String("client", "", "the MCP client: "+strings.Join(install.ClientNames(), ", "))
	withEnv := fs.Bool("with-env", false, "copy the AIPAINT_ settings of this shell into the entry (VS Code prompts for secrets instead)")
	sandbox := fs.Bool("sandbox", false, "add --sandbox to the entry: try it without an account")
	printOnly := fs.Bool("print", false, "print the aipaint entry that would be written instead of writing it (secrets hidden, other servers left out)")
	configPath := fs.String("config", "", "write this config file instead of the client's usual one")
	npx := fs.Bool("npx", false, `start the server with "npx -y aipaint-mcp" (the npm package) instead of this binary's path`)
	if err := parseFlags(fs, args, stdout, stderr, nil); err != nil {
		return err
	}
	if *clientName == "" {
		fmt.Fprintf(stderr, "install needs --client: one of %s\n", strings.Join(install.ClientNames(), ", "))
		return errUsage
	}
	var exe string
	if !*npx { // npx needs no binary here: npm brings it
		var err error
		if exe, err = executable(); err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
		if exe, err = install.ExecutablePath(exe); err != nil { // as invoked: a Homebrew link survives upgrades
			return fmt.Errorf("install: %w", err)
		}
	}
	opts := install.Options{
		Client: *clientName, ConfigPath: *configPath, Executable: exe, NPX: *npx,
		WithEnv: *withEnv, Sandbox: *sandbox,
		Platform: install.Platform{GOOS: runtime.GOOS, Getenv: getenv},
	}
	plan, err := install.Plan(opts)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if *withEnv {
		if _, cfgErr := config.FromEnv(getenv); cfgErr != nil {
			fmt.Fprintf(stderr, "warning: settings in this environment are invalid and were copied as they are:\n%s\n", cfgErr)
		}
	}
	if *printOnly {
		_, _ = stdout.Write(plan.Preview)
		fmt.Fprint(stderr, install.PreviewNote(plan))
		return nil
	}
	if err := install.Write(plan, nil); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	install.Summary(stdout, plan)
	return nil
}
