package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"aipaint-mcp/app"
	"aipaint-mcp/client"
	"aipaint-mcp/config"
	"aipaint-mcp/oauth"
	"aipaint-mcp/paint"
	"aipaint-mcp/people"
	"aipaint-mcp/serve"
)

// ServeCommand speaks MCP: over stdio for a desktop client, or over SSE or
// streamable HTTP for a team.
type ServeCommand struct{ process }

func (c *ServeCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	transport := fs.String("transport", serve.TransportStdio, "stdio, sse, http (streamable HTTP) or http,sse (both on one address)")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address for sse and http")
	sandbox := fs.Bool("sandbox", false, "use the built-in sandbox upstream (no account, no cost)")
	if err := c.parseFlags(fs, args, nil); err != nil {
		return err
	}
	// A bad setting does not stop the server: a desktop client would only
	// show "disconnected". The tools say what to fix instead.
	cfg, _ := c.settings(*sandbox)                                                 // cfg.Invalid lists what is wrong
	logger := c.logger(cfg, cfg.ServeLogLevel(*transport == serve.TransportStdio)) // stderr only: stdout is the protocol in stdio mode
	defer stdLogTo(logger)()
	var err error
	switch *transport {
	case serve.TransportStdio:
		err = c.stdio(ctx, cfg, logger)
	case serve.TransportSSE, serve.TransportHTTP, serve.TransportBoth:
		err = c.http(ctx, cfg, logger, *transport, *addr)
	default:
		fmt.Fprintf(c.stderr, "--transport %q: want stdio, sse, http or http,sse\n", *transport)
		return errUsage
	}
	if err != nil && cfg.LogJSON && !errors.Is(err, errReported) {
		// The reason it stopped (or never started: no token, a port
		// taken) is a JSON line too, for the log collector.
		logger.Error("aipaint-mcp stopped", "err", err.Error())
		return errReported
	}
	return err
}

// stdLogTo sends what other packages write with the standard log package
// (mcp-go does, for a few failures) through logger, at error, so that with
// AIPAINT_LOG_FORMAT=json every line on stderr is JSON; undo restores it.
func stdLogTo(logger *slog.Logger) (undo func()) {
	w, flags := log.Writer(), log.Flags()
	log.SetOutput(slog.NewLogLogger(logger.Handler(), slog.LevelError).Writer())
	log.SetFlags(0) // the handler writes the time
	return func() {
		log.SetOutput(w)
		log.SetFlags(flags)
	}
}

// stdio serves one desktop client. Until it has its first answer, the
// start is a bare mcp-go server's: see afterFirstAnswer.
func (c *ServeCommand) stdio(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	ctx, shutdown := context.WithCancel(ctx)
	defer shutdown()
	a, err := app.Build(cfg, logger, versionString())
	if err != nil {
		return err
	}
	defer a.Close()
	stopMetrics, err := serveMetrics(a, cfg, logger)
	if err != nil {
		// As with a bad setting, a desktop server still starts: a second
		// client that starts it with the same settings finds the port taken.
		logger.Error("metrics not served", "err", err)
		stopMetrics = func() {}
	}
	defer stopMetrics()
	// At the signal, waits answer "pending" with their task ids and new
	// paid calls are refused; Close follows once the transport has returned.
	defer context.AfterFunc(ctx, a.Drain)()
	stdout, end := afterFirstAnswer(c.stdout, shutdown, a.Resume)
	defer end()
	return serve.Stdio(ctx, a.Server, c.stdin, stdout, logger)
}

// http serves a team (or one person's browser) over SSE or streamable HTTP.
func (c *ServeCommand) http(ctx context.Context, cfg config.Config, logger *slog.Logger, transport, addr string) error {
	// stdio reads neither token setting: only the HTTP transports refuse both.
	if err := cfg.CheckTokens(); err != nil {
		return err
	}
	if err := serve.CheckBind(addr, cfg.HTTPToken, cfg.TokensFile, cfg.OAuthIssuer); err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		if err := serve.CheckMetricsAddr(cfg.MetricsAddr, addr); err != nil {
			return err
		}
	}
	stopping, abort, unwatch := stopSignals(ctx, signalEcho)
	defer unwatch()
	var team serve.People // nil: one shared token (or none)
	if cfg.TokensFile != "" {
		w, stop, err := watchTokensFile(ctx, cfg.TokensFile, logger)
		if err != nil {
			return err
		}
		defer stop()
		team = w
	}
	signIn, err := newVerifier(ctx, cfg, logger)
	if err != nil {
		return err
	}
	a, err := app.Build(cfg, logger, versionString())
	if err != nil {
		return err
	}
	defer func() {
		// Lets go of the leases of the pending tasks this server follows:
		// another replica takes them over at once.
		a.Close()
		logger.Info("stopped")
	}()
	stopMetrics, err := serveMetrics(a, cfg, logger)
	if err != nil {
		return err
	}
	defer stopMetrics()
	a.Resume()
	err = serve.HTTP(stopping, a.Server, serve.HTTPOptions{
		Transport:         transport,
		Addr:              addr,
		Token:             cfg.HTTPToken,
		People:            team,
		OAuth:             signIn,
		OAuthDefaultLimit: cfg.OAuthDefaultLimit,
		OAuthGroups:       cfg.OAuthGroups,
		AllowedOrigins:    cfg.AllowedOrigins,
		Logger:            logger,
		Health:            a.Health,
		Grace:             cfg.ShutdownGrace,
		CallLimit:         paint.LongestCall(time.Duration(cfg.MaxWaitSeconds)*time.Second, cfg.RequestTimeout),
		Drain:             a.Drain,
		Abort:             abort,
	})
	if errors.Is(err, serve.ErrAborted) {
		logger.Warn("stopped at once by a second signal: calls in flight answered pending where they could")
		return errReported // exit status 1
	}
	return err
}

// signalEcho: a signal within this time of the first is the same stop
// delivered twice, not a second one. A supervisor that signals the process
// and then its group (GNU timeout, systemd's control-group kill of a server
// under the npm launcher, which forwards the signal it got too) sends two at
// once; a person who wants it to stop now presses Ctrl-C again later.
const signalEcho = 500 * time.Millisecond

// stopSignals follows SIGINT and SIGTERM for an HTTP server: stopping ends
// at the first (the server drains, then stops), abort is closed at the
// second one that comes echo or more after it (it stops at once). unwatch
// stops following them.
func stopSignals(ctx context.Context, echo time.Duration) (stopping context.Context, abort <-chan struct{}, unwatch func()) {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	stopping, stop := context.WithCancel(ctx)
	second, done := make(chan struct{}), make(chan struct{})
	go func() {
		var first time.Time
		for {
			select {
			case <-signals:
			case <-done:
				return
			}
			switch {
			case first.IsZero():
				first = time.Now()
				stop()
			case time.Since(first) >= echo:
				close(second)
				return
			}
		}
	}()
	return stopping, second, func() {
		signal.Stop(signals)
		close(done)
		stop()
	}
}

// serveMetrics serves the app's metrics on AIPAINT_METRICS_ADDR, when set,
// until stop (a stdio server's too: it costs nothing unless set).
func serveMetrics(a *app.App, cfg config.Config, logger *slog.Logger) (stop func(), _ error) {
	if a.Metrics == nil {
		return func() {}, nil
	}
	return serve.Metrics(cfg.MetricsAddr, a.Metrics, logger)
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

// newVerifier is the checker of the identity provider's access tokens, or
// nil without AIPAINT_OAUTH_ISSUER. It reaches the provider only later.
func newVerifier(ctx context.Context, cfg config.Config, logger *slog.Logger) (*oauth.Verifier, error) {
	if cfg.OAuthIssuer == "" {
		return nil, nil
	}
	var roots *x509.CertPool
	if cfg.CAFile != "" {
		var err error
		if roots, err = client.LoadCAFile(cfg.CAFile); err != nil {
			return nil, fmt.Errorf("%s: %w", config.CAFile, err)
		}
	}
	var groupsClaim string // read only when they decide who may sign in
	if len(cfg.OAuthGroups) > 0 {
		groupsClaim = cfg.OAuthGroupsClaim
	}
	return oauth.New(ctx, oauth.Options{
		Issuer:       cfg.OAuthIssuer,
		Resource:     cfg.Resource(),
		Scopes:       cfg.OAuthScopes,
		ClientID:     cfg.OAuthClientID,
		ClientSecret: cfg.OAuthClientSecret,
		GroupsClaim:  groupsClaim,
		RootCAs:      roots,
		Logger:       logger.With("component", "oauth"),
	})
}
