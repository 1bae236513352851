package serve

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/config"
)

// HTTP serves s over SSE (/sse + /message) or streamable HTTP (/mcp) until ctx ends.
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
	flush := cmp.Or(t.flushLimit, flushLimit)
	calls.wait(inFlightGrace)
	answers.all.wait(flush)
	answers.settle(cmp.Or(t.readGrace, readGrace))
	sctx, cancel := context.WithTimeout(context.Background(), flush)
	defer cancel()
	_ = closeSessions(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // connections that never sent a request are not worth waiting for
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
	if o.Transport != TransportHTTP && o.Transport != TransportSSE {
		return fmt.Errorf("unknown transport %q: want stdio, sse or http", o.Transport)
	}
	return nil
}

// mount puts the transport's handlers on a mux; closeSessions ends its
// sessions (and their streams).
func mount(s *server.MCPServer, o HTTPOptions, t tuning, answers *owed) (mux *http.ServeMux, closeSessions func(context.Context) error) {
	mux = http.NewServeMux()
	if o.Transport == TransportHTTP {
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
		return mux, h.Shutdown
	}
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
	return mux, func(context.Context) error { h.CloseSessions(); return nil }
}
