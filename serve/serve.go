// Package serve runs an MCP server on a transport: stdio, SSE or streamable
// HTTP, the HTTP ones behind our own http.Server with a bearer token, an
// Origin check, body limits, timeouts and graceful shutdown.
//
// One file per concern: stdio.go and http.go (the transports), guard.go
// (token, Origin, body limits), signin.go (OAuth access tokens: challenges,
// the protected resource metadata, the person behind a token),
// sessions.go (sessions bound to their token or person), health.go
// (/healthz), shutdown.go (calls in flight and the answers they owe,
// waited for at shutdown).
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"aipaint-mcp/config"
	"aipaint-mcp/oauth"
	"aipaint-mcp/people"
)

// Transports.
const (
	TransportStdio = "stdio"
	TransportSSE   = "sse"
	TransportHTTP  = "http"
	// TransportBoth serves streamable HTTP (/mcp) and SSE (/sse, /message)
	// from one listener: the container image's default.
	TransportBoth = "http,sse"
)

// Limits of the HTTP transports.
const (
	maxBodyBytes   = 1 << 20
	idleTimeout    = 2 * time.Minute
	sessionIdleTTL = 30 * time.Minute
	// inFlightGrace bounds the wait for tool calls at shutdown once their
	// waits have ended (Drain): only a submit already on the wire takes
	// longer, and its answer (a billed task id) is worth the default
	// AIPAINT_REQUEST_TIMEOUT of 30 s. It is also the CallLimit when the
	// caller gives none.
	inFlightGrace = 40 * time.Second
	// flushLimit bounds the wait, once the tool calls have returned, for
	// their answers to be written to the clients.
	flushLimit = time.Second
	// readGrace is how long an SSE stream that has just carried an answer
	// stays open at shutdown for its client to read it (see owed.settle).
	readGrace = 200 * time.Millisecond
	// stdioWorkers: each waiting generate_image holds a worker for up to
	// AIPAINT_MAX_WAIT_SECONDS, so the default pool of 5 is too small.
	stdioWorkers = 32
	// Read timeouts of the HTTP transports.
	readHeaderTimeout = 10 * time.Second
	readBodyTimeout   = 30 * time.Second
	// healthTimeout bounds the answer of /healthz: a balancer wants one
	// quickly, and a store that takes longer is not healthy.
	healthTimeout = 2 * time.Second
)

// People finds who a bearer token belongs to: the tokens file
// (a *people.Watcher, or a *people.Set); and, by Named, a person who signs
// in (by their verified email or sub).
type People interface {
	Lookup(token string) (people.Person, bool)
	Named(name string) (people.Person, bool)
}

// HTTPOptions configure the SSE and streamable HTTP transports.
type HTTPOptions struct {
	Transport string // TransportSSE, TransportHTTP or TransportBoth
	Addr      string
	// Listener, if set, is served instead of a new listener on Addr (for a
	// caller that must know the port first, e.g. one listening on port 0);
	// HTTP closes it when it returns.
	Listener net.Listener
	// Token is the one bearer token every request must carry; People,
	// instead, the tokens of a team: every request must carry one of them,
	// and its person goes into the request's context (people.FromContext)
	// down to the tool handlers. One of them is required for a non-loopback
	// address; not both.
	Token          string
	People         People
	AllowedOrigins []string // besides loopback origins
	Logger         *slog.Logger
	// Health answers GET /healthz, which needs no token: nil or an error
	// (the shared store unreachable). nil Health = always healthy.
	Health func(ctx context.Context) error

	// The stop, once ctx has ended. For Grace the server keeps serving
	// everything, /healthz answering 503 "draining" so that load balancers
	// route elsewhere first (0 = no grace); then it stops accepting and
	// lets the calls in flight finish, for at most CallLimit (the longest a
	// call may take: its longest wait and what surrounds it; 0 =
	// inFlightGrace). Drain then ends the waits still running: they answer
	// "pending" with their task ids (app.Drain). Abort, once closed (a
	// second signal), cuts all of that short: Drain at once, flushLimit for
	// the answers to leave, every connection closed, and HTTP returns
	// ErrAborted.
	Grace     time.Duration
	CallLimit time.Duration
	Drain     func()
	Abort     <-chan struct{}

	// OAuth, when set, makes the server an OAuth 2.1 resource server:
	// requests carry access tokens of the identity provider, issued for
	// the Verifier's resource (or, with People, a static token of the
	// tokens file). It is enough for a non-loopback address; not with Token.
	OAuth *oauth.Verifier
	// OAuthDefaultLimit is the daily limit of a person who signs in and
	// is not in People (nil = no personal limit).
	OAuthDefaultLimit *int
	// OAuthGroups, if any, are the groups (oauth.Identity.Groups, which
	// OAuth reads when its Options.GroupsClaim is set) a person who signs
	// in must be in, one at least, unless People names them.
	OAuthGroups []string
}

// ErrAborted: Abort cut the stop short; calls in flight may have answered
// "pending", or not at all.
var ErrAborted = errors.New("stop cut short")

// tuning holds the settings only tests change (export_test.go): shorter
// timeouts, and a hook that learns the address. The zero value is the
// release's.
type tuning struct {
	sessionIdleTTL    time.Duration // 0 = sessionIdleTTL
	readHeaderTimeout time.Duration // 0 = readHeaderTimeout
	readBodyTimeout   time.Duration // 0 = readBodyTimeout
	healthTimeout     time.Duration // 0 = healthTimeout
	readGrace         time.Duration // 0 = readGrace
	flushLimit        time.Duration // 0 = flushLimit
	ready             func(net.Addr)
	endGrace          <-chan struct{} // closed: the grace is over
}

// CheckBind refuses to listen beyond loopback without credentials: the
// token, the tokens file's path or the issuer (any of credentials not empty).
func CheckBind(addr string, credentials ...string) error {
	return checkBind(addr, slices.ContainsFunc(credentials, func(c string) bool { return c != "" }))
}

func checkBind(addr string, authenticated bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port, e.g. 127.0.0.1:8080", addr)
	}
	if !authenticated && !config.IsLoopbackHost(host) {
		return fmt.Errorf("refusing to listen on %q without a token: bind a loopback address (127.0.0.1:8080) or set %s (or %s, or %s)", addr, config.HTTPToken, config.TokensFile, config.OAuthIssuer)
	}
	return nil
}
