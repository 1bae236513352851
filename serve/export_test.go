package serve

import (
	"context"
	"net"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// Tuning holds the settings only tests change; zero fields keep the
// release's values. The release binary has no way to set them.
type Tuning struct {
	SessionIdleTTL    time.Duration   // frees an idle streamable HTTP session
	ReadHeaderTimeout time.Duration   // bounds the wait for a request's headers
	ReadBodyTimeout   time.Duration   // bounds the wait for a request's body
	HealthTimeout     time.Duration   // bounds a Health check
	ReadGrace         time.Duration   // keeps an SSE stream open at shutdown for its client to read its answer
	FlushLimit        time.Duration   // bounds the wait at shutdown for the answers owed to be written
	Ready             func(net.Addr)  // called once listening
	EndGrace          <-chan struct{} // closed: the grace is over, whatever HTTPOptions.Grace says
}

// HTTPTuned is HTTP with test-only settings.
func HTTPTuned(ctx context.Context, s *server.MCPServer, o HTTPOptions, t Tuning) error {
	return serveHTTP(ctx, s, o, tuning{
		sessionIdleTTL:    t.SessionIdleTTL,
		readHeaderTimeout: t.ReadHeaderTimeout,
		readBodyTimeout:   t.ReadBodyTimeout,
		healthTimeout:     t.HealthTimeout,
		readGrace:         t.ReadGrace,
		flushLimit:        t.FlushLimit,
		ready:             t.Ready,
		endGrace:          t.EndGrace,
	})
}
