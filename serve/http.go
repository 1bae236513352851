package serve

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/config"
)

// HTTP serves s over SSE (/sse + /message), streamable HTTP (/mcp) or both until ctx ends.
func HTTP(ctx context.Context, s *server.MCPServer, o HTTPOptions) error {
	return serveHTTP(ctx, s, o, tuning{})
}

func serveHTTP(ctx context.Context, s *server.MCPServer, o HTTPOptions, t tuning) error {
	addr := o.Addr
	if o.Listener != nil {
		addr = o.Listener.Addr().String()
	}
	err := checkOptions(o, addr)
	if err != nil {
		if o.Listener != nil {
			_ = o.Listener.Close()
		}
		return err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	answers := newOwed()
	mux, closeSessions := mount(s, o, t, answers)
	calls := trackCalls(s)
	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", addr); err != nil {
			// The streamable HTTP server started its session sweeper when built.
			_ = closeSessions(context.Background())
			return fmt.Errorf("listen: %w", err)
		}
	}
	h := &health{check: o.Health, timeout: cmp.Or(t.healthTimeout, healthTimeout), logger: o.Logger}
	srv := &http.Server{
		Handler:           withHealth(withMetadata(guard(mux, o, cmp.Or(t.readBodyTimeout, readBodyTimeout)), o), h),
		ReadHeaderTimeout: cmp.Or(t.readHeaderTimeout, readHeaderTimeout),
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	o.Logger.Info("serving MCP", "transport", o.Transport, "addr", ln.Addr().String(), "token", o.Token != "", "tokens_file", o.People != nil, "oauth", o.OAuth != nil)
	if o.OAuth != nil {
		// Not waited for: a provider that does not answer yet does not
		// stop the server; the log says so now rather than at the first call.
		go o.OAuth.Prepare(ctx)
	}
	if t.ready != nil {
		t.ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = closeSessions(context.Background())
		return err
	case <-ctx.Done():
	}

	// Draining: the balancers see /healthz fail and route elsewhere, while
	// whatever still reaches this server (a balancer notices within seconds)
	// is served. Without keep-alive, clients come back on new connections,
	// which a balancer sends to another server.
	h.draining.Store(true)
	srv.SetKeepAlivesEnabled(false)
	o.Logger.Info("draining", "grace", o.Grace.String(), "healthz", http.StatusServiceUnavailable)
	pause(o.Grace, t.endGrace, o.Abort)

	// Stopping: no new connection; the calls in flight finish their waits,
	// which their wait_seconds (at most AIPAINT_MAX_WAIT_SECONDS) bound.
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	o.Logger.Info("stopped accepting", "calls_in_flight", calls.count())
	if !calls.wait(cmp.Or(o.CallLimit, inFlightGrace), o.Abort) && !closed(o.Abort) {
		o.Logger.Warn("calls still running past their limit: their waits end now and answer pending", "calls_in_flight", calls.count())
	}
	if o.Drain != nil {
		o.Drain() // ends the waits left (none, unless cut short) and refuses paid calls still arriving
	}
	// Only a submit already on the wire outlives Drain.
	calls.wait(inFlightGrace, o.Abort)
	flush := cmp.Or(t.flushLimit, flushLimit)
	answers.all.wait(flush, nil)
	answers.settle(cmp.Or(t.readGrace, readGrace)) // even when cut short: readGrace is short
	// Idle SSE streams and session streams end here, once every answer has
	// left: their clients reconnect (through a balancer, to another server).
	sctx, cancel := context.WithTimeout(context.Background(), flush)
	defer cancel()
	_ = closeSessions(sctx)
	select {
	case err := <-shut:
		if err != nil {
			_ = srv.Close()
		}
	case <-sctx.Done():
		_ = srv.Close() // connections that never sent a request are not worth waiting for
	}
	if closed(o.Abort) {
		return ErrAborted
	}
	return nil
}

// checkOptions refuses what cannot be served: two kinds of token, no token
// beyond loopback, sign-in over plain http beyond loopback, an unknown
// transport.
func checkOptions(o HTTPOptions, addr string) error {
	if o.Token != "" && o.People != nil {
		return fmt.Errorf("both %s and %s are set: set one", config.HTTPToken, config.TokensFile)
	}
	if o.Token != "" && o.OAuth != nil {
		return fmt.Errorf("both %s and %s are set: with sign-in, static tokens go in %s", config.HTTPToken, config.OAuthIssuer, config.TokensFile)
	}
	if err := checkBind(addr, o.Token != "" || o.People != nil || o.OAuth != nil); err != nil {
		return err
	}
	if err := checkSignIn(o.OAuth, addr); err != nil {
		return err
	}
	if o.Transport != TransportHTTP && o.Transport != TransportSSE && o.Transport != TransportBoth {
		return fmt.Errorf("unknown transport %q: want stdio, sse, http or http,sse", o.Transport)
	}
	return nil
}

// mount puts the transports' handlers on a mux; closeSessions ends their
// sessions (and their streams).
func mount(s *server.MCPServer, o HTTPOptions, t tuning, answers *owed) (mux *http.ServeMux, closeSessions func(context.Context) error) {
	mux = http.NewServeMux()
	var closers []func(context.Context) error
	if o.Transport == TransportHTTP || o.Transport == TransportBoth {
		opts := []server.StreamableHTTPOption{
			server.WithEndpointPath("/mcp"),
			server.WithSessionIdleTTL(cmp.Or(t.sessionIdleTTL, sessionIdleTTL)),
			server.WithStreamableHTTPLogger(o.Logger),
		}
		if o.People != nil || o.OAuth != nil {
			opts = append(opts, server.WithSessionIdManagerResolver(sealedSessions{&server.StatelessGeneratingSessionIdManager{}}))
		}
		h := server.NewStreamableHTTPServer(s, opts...)
		mux.Handle("/mcp", answers.post(h))
		closers = append(closers, h.Shutdown)
	}
	if o.Transport == TransportSSE || o.Transport == TransportBoth {
		opts := []server.SSEOption{server.WithKeepAlive(true), server.WithUseFullURLForMessageEndpoint(false)}
		if o.People != nil || o.OAuth != nil {
			opts = append(opts, server.WithSessionIDGenerator(func(ctx context.Context, _ *http.Request) (string, error) {
				return sealSession(ctx, rand.Text()), nil
			}))
		}
		h := server.NewSSEServer(s, opts...)
		mux.Handle("/sse", answers.sseStream(h.SSEHandler()))
		mux.Handle("/message", answers.sseMessage(h.MessageHandler()))
		// Not h.Shutdown: it only closes sessions when the SSEServer runs
		// its own http.Server, which it does not here.
		closers = append(closers, func(context.Context) error { h.CloseSessions(); return nil })
	}
	return mux, func(ctx context.Context) error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c(ctx))
		}
		return errors.Join(errs...)
	}
}
