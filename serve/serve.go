// Package serve runs an MCP server on a transport: stdio, SSE or streamable
// HTTP, the HTTP ones behind our own http.Server with a bearer token, an
// Origin check, body limits, timeouts and graceful shutdown.
package serve

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/config"
	"aipaint-mcp/people"
)

// Transports.
const (
	TransportStdio = "stdio"
	TransportSSE   = "sse"
	TransportHTTP  = "http"
)

// Limits of the HTTP transports.
const (
	MaxBodyBytes   = 1 << 20
	idleTimeout    = 2 * time.Minute
	sessionIdleTTL = 30 * time.Minute
	// inFlightGrace bounds the wait for tool calls at shutdown. Waits end at
	// once (app.Drain); only a submit already on the wire takes
	// longer, and its answer (a billed task id) is worth the default
	// AIPAINT_REQUEST_TIMEOUT of 30 s.
	inFlightGrace = 40 * time.Second
	// stdioWorkers: each waiting generate_image holds a worker for up to
	// AIPAINT_MAX_WAIT_SECONDS, so the default pool of 5 is too small.
	stdioWorkers = 32
	// Read timeouts of the HTTP transports, unless HTTPOptions say otherwise.
	readHeaderTimeout = 10 * time.Second
	readBodyTimeout   = 30 * time.Second
	// healthTimeout bounds the answer of /healthz: a balancer wants one
	// quickly, and a store that takes longer is not healthy.
	healthTimeout = 2 * time.Second
)

// Stdio serves s on in/out until in closes or ctx ends. Only protocol goes to out.
func Stdio(ctx context.Context, s *server.MCPServer, in io.Reader, out io.Writer, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ss := server.NewStdioServer(s)
	server.WithWorkerPoolSize(stdioWorkers)(ss)
	server.WithQueueSize(1000)(ss)
	ss.SetErrorLogger(slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	err := ss.Listen(ctx, in, out)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// People finds who a bearer token belongs to: the tokens file
// (a *people.Watcher, or a *people.Set).
type People interface {
	Lookup(token string) (people.Person, bool)
}

// HTTPOptions configure the SSE and streamable HTTP transports.
type HTTPOptions struct {
	Transport string // TransportSSE or TransportHTTP
	Addr      string
	// Token is the one bearer token every request must carry; People,
	// instead, the tokens of a team: every request must carry one of them,
	// and its person goes into the request's context (people.FromContext)
	// down to the tool handlers. One of them is required for a non-loopback
	// Addr; not both.
	Token          string
	People         People
	AllowedOrigins []string // besides loopback origins
	Logger         *slog.Logger
	Ready          func(addr net.Addr) // called once listening (tests use port 0)
	// SessionIdleTTL frees a streamable HTTP session idle this long;
	// 0 = 30 minutes. Tests shorten it.
	SessionIdleTTL time.Duration
	// ReadHeaderTimeout bounds the wait for a request's headers and
	// ReadBodyTimeout the wait for its body; 0 = 10 s and 30 s. Tests shorten them.
	ReadHeaderTimeout time.Duration
	ReadBodyTimeout   time.Duration
	// Health answers GET /healthz, which needs no token: nil or an error
	// (the shared store unreachable). nil Health = always healthy.
	Health func(ctx context.Context) error
	// HealthTimeout bounds a Health check; 0 = 2 s. Tests shorten it.
	HealthTimeout time.Duration
}

// CheckBind refuses to listen beyond loopback without credentials: the
// token, or the tokens file's path (any of credentials not empty).
func CheckBind(addr string, credentials ...string) error {
	return checkBind(addr, slices.ContainsFunc(credentials, func(c string) bool { return c != "" }))
}

func checkBind(addr string, authenticated bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port, e.g. 127.0.0.1:8080", addr)
	}
	if !authenticated && !config.IsLoopbackHost(host) {
		return fmt.Errorf("refusing to listen on %q without a token: bind a loopback address (127.0.0.1:8080) or set %s (or %s)", addr, config.HTTPToken, config.TokensFile)
	}
	return nil
}

// HTTP serves s over SSE (/sse + /message) or streamable HTTP (/mcp) until ctx ends.
func HTTP(ctx context.Context, s *server.MCPServer, o HTTPOptions) error {
	if o.Token != "" && o.People != nil {
		return fmt.Errorf("both %s and %s are set: set one", config.HTTPToken, config.TokensFile)
	}
	if err := checkBind(o.Addr, o.Token != "" || o.People != nil); err != nil {
		return err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.ReadHeaderTimeout = cmp.Or(o.ReadHeaderTimeout, readHeaderTimeout)
	o.ReadBodyTimeout = cmp.Or(o.ReadBodyTimeout, readBodyTimeout)
	mux := http.NewServeMux()
	var closeSessions func(context.Context) error
	switch o.Transport {
	case TransportHTTP:
		opts := []server.StreamableHTTPOption{
			server.WithEndpointPath("/mcp"),
			server.WithSessionIdleTTL(cmp.Or(o.SessionIdleTTL, sessionIdleTTL)),
			server.WithStreamableHTTPLogger(o.Logger),
		}
		if o.People != nil {
			opts = append(opts, server.WithSessionIdManagerResolver(sealedSessions{&server.StatelessGeneratingSessionIdManager{}}))
		}
		h := server.NewStreamableHTTPServer(s, opts...)
		mux.Handle("/mcp", h)
		closeSessions = h.Shutdown
	case TransportSSE:
		opts := []server.SSEOption{server.WithKeepAlive(true), server.WithUseFullURLForMessageEndpoint(false)}
		if o.People != nil {
			opts = append(opts, server.WithSessionIDGenerator(func(ctx context.Context, _ *http.Request) (string, error) {
				return sealSession(ctx, rand.Text()), nil
			}))
		}
		h := server.NewSSEServer(s, opts...)
		mux.Handle("/sse", h.SSEHandler())
		mux.Handle("/message", h.MessageHandler())
		// Not h.Shutdown: it only closes sessions when the SSEServer runs
		// its own http.Server, which it does not here.
		closeSessions = func(context.Context) error { h.CloseSessions(); return nil }
	default:
		return fmt.Errorf("unknown transport %q: want stdio, sse or http", o.Transport)
	}

	calls := trackCalls(s)
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		// The streamable HTTP server started its session sweeper when built.
		_ = closeSessions(context.Background())
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           withHealth(guard(mux, o), o),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	o.Logger.Info("serving MCP", "transport", o.Transport, "addr", ln.Addr().String(), "token", o.Token != "", "tokens_file", o.People != nil)
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = closeSessions(context.Background())
		return err
	case <-ctx.Done():
	}
	// Request contexts are not tied to ctx: the tools end their waits on the
	// same signal (app.Drain, paint.Service.Drain) and answer "pending" with the task id.
	// Those answers must still reach the clients, so: wait for in-flight tool
	// calls, let the SSE streams flush them, then close sessions and the server.
	calls.wait(inFlightGrace)
	time.Sleep(flushGrace)
	sctx, cancel := context.WithTimeout(context.Background(), flushGrace*5)
	defer cancel()
	_ = closeSessions(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // connections that never sent a request are not worth waiting for
	}
	return nil
}

// flushGrace is how long an answer takes to leave through an SSE stream
// once its handler has returned.
const flushGrace = 200 * time.Millisecond

// callTracker counts tool calls in flight, so shutdown can wait for their answers.
type callTracker struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed while n == 0
}

func trackCalls(s *server.MCPServer) *callTracker {
	t := &callTracker{zero: make(chan struct{})}
	close(t.zero)
	s.Use(func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			t.add(1)
			defer t.add(-1)
			return next(ctx, req)
		}
	})
	return t
}

func (t *callTracker) add(d int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 && d > 0 {
		t.zero = make(chan struct{})
	}
	t.n += d
	if t.n == 0 {
		close(t.zero)
	}
}

func (t *callTracker) wait(limit time.Duration) {
	t.mu.Lock()
	zero := t.zero
	t.mu.Unlock()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-zero:
	case <-timer.C:
	}
}

// guard applies, in order: the Origin rule (DNS rebinding), the bearer
// token (or the tokens file's, whose person then goes into the request's
// context), and a bounded, time-limited read of the request body.
func guard(next http.Handler, o HTTPOptions) http.Handler {
	want := sha256.Sum256([]byte(o.Token))
	unauthorized := func(w http.ResponseWriter, setting string) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aipaint-mcp"`)
		http.Error(w, "未授权 / unauthorized: send Authorization: Bearer <"+setting+">", http.StatusUnauthorized)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(origin, o.AllowedOrigins) {
			http.Error(w, "forbidden origin: add it to "+config.AllowedOrigins, http.StatusForbidden)
			return
		}
		switch {
		case o.People != nil:
			got, _ := bearer(r.Header.Get("Authorization"))
			p, ok := o.People.Lookup(got)
			if !ok {
				unauthorized(w, "a token of "+config.TokensFile)
				return
			}
			ctx := context.WithValue(r.Context(), sessionKeyOf{}, sessionKey(got))
			if !sessionIsTheirs(ctx, r) {
				// Someone else's session: as unknown to this person as one
				// that never existed (404 makes a client start a new one).
				http.Error(w, "Invalid session ID", http.StatusNotFound)
				return
			}
			r = r.WithContext(people.NewContext(ctx, p))
		case o.Token != "":
			got, ok := bearer(r.Header.Get("Authorization"))
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				unauthorized(w, config.HTTPToken)
				return
			}
		}
		if r.Body != nil && r.Method == http.MethodPost {
			body, err := readBody(w, r, o.ReadBodyTimeout)
			if err != nil {
				status, msg := http.StatusBadRequest, "cannot read request body"
				var mbe *http.MaxBytesError
				var ne net.Error
				switch {
				case errors.As(err, &mbe):
					status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", MaxBodyBytes)
				case errors.As(err, &ne) && ne.Timeout():
					status, msg = http.StatusRequestTimeout, "request body not received in time"
				}
				http.Error(w, msg, status)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// bearer returns the credentials of an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive (RFC 9110 section 11.1).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return token, true
}

// readBody reads the whole body within timeout and MaxBodyBytes, so a
// slow or huge upload cannot hold a handler; long SSE responses stay unaffected.
func readBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) ([]byte, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		// Once the handler returns, net/http drains up to 256 KiB of an
		// unread body before it answers. Without a deadline a client that
		// stopped sending would hold the connection (and Shutdown) forever:
		// keep the deadline expired and close the connection instead.
		_ = rc.SetReadDeadline(time.Now())
		w.Header().Set("Connection", "close")
		return nil, err
	}
	_ = rc.SetReadDeadline(time.Time{})
	return body, nil
}

// originAllowed: loopback origins on any port, or one listed in AIPAINT_ALLOWED_ORIGINS.
func originAllowed(origin string, allowed []string) bool {
	o := strings.ToLower(strings.TrimRight(origin, "/"))
	for _, a := range allowed {
		if o == a {
			return true
		}
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return config.IsLoopbackHost(u.Hostname())
}

// With a tokens file, a session belongs to the token that opened it: its id
// ends in a MAC of the id keyed by (a hash of) that token, so another
// person's requests cannot join it, end it or read its streams. The MAC
// needs no state and no shared key, so a session works across replicas
// exactly as one without it.

type sessionKeyOf struct{}

// sessionKey is the MAC key of a token's sessions.
func sessionKey(token string) []byte {
	k := sha256.Sum256([]byte("aipaint-mcp session\x00" + token))
	return k[:]
}

// sealSession appends to base the MAC of the token in ctx.
func sealSession(ctx context.Context, base string) string {
	key, _ := ctx.Value(sessionKeyOf{}).([]byte)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(base))
	return base + "." + hex.EncodeToString(m.Sum(nil)[:16])
}

// sessionIsTheirs: every session the request names (streamable HTTP's
// header, SSE's query parameter, each as often as it is given) is sealed
// with its token.
func sessionIsTheirs(ctx context.Context, r *http.Request) bool {
	ids := append(r.Header.Values(server.HeaderKeySessionID), r.URL.Query()["sessionId"]...)
	for _, id := range ids {
		base, _ := unsealSession(id)
		if !hmac.Equal([]byte(sealSession(ctx, base)), []byte(id)) {
			return false
		}
	}
	return true
}

// unsealSession is the id mcp-go's own session manager made.
func unsealSession(id string) (base string, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return id, false
	}
	return id[:i], true
}

// sealedSessions gives streamable HTTP sessions sealed ids; mcp-go's own
// manager (inner) sees them without their seal. The guard checks the seal.
type sealedSessions struct{ inner server.SessionIdManager }

func (s sealedSessions) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	ctx := context.Background() // the idle sweeper's: it only ends sessions
	if r != nil {
		ctx = r.Context()
	}
	return sealedManager{inner: s.inner, ctx: ctx}
}

type sealedManager struct {
	inner server.SessionIdManager
	ctx   context.Context
}

func (m sealedManager) Generate() string {
	if base := m.inner.Generate(); base != "" {
		return sealSession(m.ctx, base)
	}
	return ""
}

func (m sealedManager) Validate(id string) (bool, error) {
	base, ok := unsealSession(id)
	if !ok {
		return false, errors.New("invalid session id")
	}
	return m.inner.Validate(base)
}

func (m sealedManager) Terminate(id string) (bool, error) {
	base, _ := unsealSession(id)
	return m.inner.Terminate(base)
}

// withHealth answers GET /healthz before anything else: no token, no
// Origin rule, for a load balancer. The body is only "ok" or "not ok": the
// error stays in the log.
func withHealth(next http.Handler, o HTTPOptions) http.Handler {
	h := &health{check: o.Health, timeout: cmp.Or(o.HealthTimeout, healthTimeout), logger: o.Logger}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if h.ok(r.Context()) {
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ok\n")
	})
}

// health runs at most one check at a time: requests arriving meanwhile
// share its outcome, so a flood of /healthz (which needs no token) costs
// the store one check in flight, not one each.
type health struct {
	check   func(context.Context) error
	timeout time.Duration
	logger  *slog.Logger

	mu       sync.Mutex
	inflight *healthCall
	failing  bool // the last check failed (logged when it changes)
}

type healthCall struct {
	done chan struct{}
	err  error
}

// ok reports whether a check (this request's or the one in flight) passed
// within the timeout. A check that outlives it is abandoned, not waited for:
// until it returns, requests answer "not ok" after the timeout.
func (h *health) ok(ctx context.Context) bool {
	if h.check == nil {
		return true
	}
	h.mu.Lock()
	c := h.inflight
	if c == nil {
		c = &healthCall{done: make(chan struct{})}
		h.inflight = c
		go h.run(c)
	}
	h.mu.Unlock()
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return c.err == nil
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (h *health) run(c *healthCall) {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			c.err = fmt.Errorf("health check panicked: %v", p)
		}
		h.mu.Lock()
		h.inflight = nil
		if failing := c.err != nil; failing != h.failing {
			h.failing = failing
			if failing {
				h.logger.Warn("health check failing: /healthz answers not ok", "err", c.err)
			} else {
				h.logger.Info("health check passing again: /healthz answers ok")
			}
		}
		h.mu.Unlock()
		close(c.done)
	}()
	c.err = h.check(ctx)
}
