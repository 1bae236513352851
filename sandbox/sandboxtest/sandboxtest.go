// Package sandboxtest gives tests an upstream: the sandbox served on a
// loopback port, with real signing and real HTTP, and a client configured
// for it, with the fault injection (Faults) in front of it. One helper for
// every package's tests, instead of one hand-built server each. Only tests
// import it: the release binary holds the sandbox, not its faults.
package sandboxtest

import (
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"aipaint-mcp/client"
	"aipaint-mcp/sandbox"
)

// Upstream is a sandbox serving on loopback for one test.
type Upstream struct {
	*sandbox.Sandbox
	*Faults // FailNext, SetChaos, FaultCounts
	// URL is the base URL the sandbox is served at.
	URL string
	srv *httptest.Server
}

type config struct {
	opts  sandbox.Options
	front func(w http.ResponseWriter, r *http.Request, next http.Handler)
	tls   bool
}

// Option shapes an Upstream.
type Option func(*config)

// Delay is how long each task stays pending.
func Delay(d time.Duration) Option { return func(c *config) { c.opts.Delay = d } }

// Clock gives the sandbox a clock of the test's.
func Clock(now func() time.Time) Option { return func(c *config) { c.opts.Now = now } }

// Front puts a handler before the sandbox and its faults (to hold or count
// requests); it calls next to pass a request on.
func Front(f func(w http.ResponseWriter, r *http.Request, next http.Handler)) Option {
	return func(c *config) { c.front = f }
}

// TLS serves over HTTPS with httptest's certificate (see Certificate),
// which clients do not trust by default; refused handshakes are not logged.
func TLS() Option { return func(c *config) { c.tls = true } }

// Start serves a sandbox until the test ends.
func Start(tb testing.TB, opts ...Option) *Upstream {
	tb.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	sb := sandbox.New(c.opts)
	faults := NewFaults(sb, c.opts.Now)
	h := faults.Handler(sb)
	if c.front != nil {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.front(w, r, inner) })
	}
	srv := httptest.NewUnstartedServer(h)
	if c.tls {
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
	} else {
		srv.Start()
	}
	tb.Cleanup(srv.Close)
	return &Upstream{Sandbox: sb, Faults: faults, URL: srv.URL, srv: srv}
}

// Close stops serving before the test ends (to count what outlives the
// upstream) and waits for requests in flight; it may be called again.
func (u *Upstream) Close() { u.srv.Close() }

// Certificate is the server's certificate when served with TLS.
func (u *Upstream) Certificate() *x509.Certificate { return u.srv.Certificate() }

// SubmitURL and QueryURL are the two request URLs, as a user configures them.
func (u *Upstream) SubmitURL() string { return u.URL + sandbox.SubmitPath }
func (u *Upstream) QueryURL() string  { return u.URL + sandbox.QueryPath }

// Config is a client configuration for this upstream, with the sandbox's
// credentials and fast retries.
func (u *Upstream) Config() client.Config {
	return client.Config{
		SubmitURL: u.SubmitURL(), QueryURL: u.QueryURL(),
		AppKey: sandbox.AppKey, AppSecret: sandbox.AppSecret,
		RetryBase: time.Millisecond,
	}
}

// Client is a client for this upstream; adjust changes its configuration.
func (u *Upstream) Client(tb testing.TB, adjust ...func(*client.Config)) *client.Client {
	tb.Helper()
	cfg := u.Config()
	for _, f := range adjust {
		f(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		tb.Fatalf("sandboxtest: client: %v", err)
	}
	return c
}

// Env is the environment that points a server process at this upstream,
// the way a user points it at the real API.
func (u *Upstream) Env() []string {
	return []string{
		"AIPAINT_SUBMIT_URL=" + u.SubmitURL(), "AIPAINT_QUERY_URL=" + u.QueryURL(),
		"AIPAINT_APP_KEY=" + sandbox.AppKey, "AIPAINT_APP_SECRET=" + sandbox.AppSecret,
	}
}
