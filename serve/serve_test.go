package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Bounds for things that should happen at once; generous so that a loaded
// machine under -race does not fail them.
const (
	startBound = 5 * time.Second
	// stopBound: with no tool call in flight, HTTP returns through a clean
	// Shutdown, not by giving up on a hung connection.
	stopBound = 8 * time.Second
)

const initializeRequest = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"serve-test","version":"1"}}}`

func newMCPServer() *server.MCPServer {
	s := server.NewMCPServer("t", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.Tool{
		Name:        "ping_tool",
		Description: "answers pong",
		InputSchema: mcp.ToolInputSchema{Type: "object", Properties: map[string]any{}},
	}, func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("pong"), nil
	})
	return s
}

// running is an HTTP transport served on a loopback port.
type running struct {
	base   string // http://127.0.0.1:port
	addr   string
	client *http.Client
	logs   *os.File // the server's log, written from many goroutines
	// secrets must never appear in the log (checked once the server has stopped)
	secrets []string
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
	err     error
}

// stop cancels the server's context and waits, within stopBound, for HTTP to return.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(stopBound):
			r.err = errors.New("HTTP did not return after its context was cancelled")
		}
		r.client.CloseIdleConnections()
	})
	return r.err
}

// startHTTP serves a fresh MCP server with o on 127.0.0.1:0 and stops it when the test ends.
func startHTTP(t *testing.T, o HTTPOptions, tune ...Tuning) *running {
	t.Helper()
	return startHTTPWith(t, newMCPServer(), o, tune...)
}

// startHTTPWith is startHTTP for a given MCP server.
func startHTTPWith(t *testing.T, s *server.MCPServer, o HTTPOptions, tune ...Tuning) *running {
	t.Helper()
	logs, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = logs.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{logs: logs, cancel: cancel, done: make(chan error, 1), client: &http.Client{Transport: &http.Transport{}}}
	o.Addr = "127.0.0.1:0"
	o.Logger = slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ready := make(chan net.Addr, 1)
	var tn Tuning
	if len(tune) > 0 {
		tn = tune[0]
	}
	tn.Ready = func(a net.Addr) { ready <- a }
	go func() { r.done <- HTTPTuned(ctx, s, o, tn) }()
	select {
	case a := <-ready:
		r.addr = a.String()
		r.base = "http://" + r.addr
	case err := <-r.done:
		cancel()
		t.Fatalf("HTTP returned before listening: %v", err)
	case <-time.After(startBound):
		cancel()
		t.Fatal("HTTP did not call Ready")
	}
	if o.Token != "" {
		r.secrets = append(r.secrets, o.Token)
	}
	t.Cleanup(func() {
		assert.NoError(t, r.stop(t))
		logged, err := os.ReadFile(r.logs.Name())
		assert.NoError(t, err)
		for _, secret := range r.secrets {
			assert.NotContains(t, string(logged), secret, "a bearer token must never be logged")
		}
	})
	return r
}

// post sends body to path with the headers a streamable HTTP client sends, plus extra.
// status sends a bodiless request (GET, DELETE) with headers and returns
// the answer's status.
func (r *running) status(t *testing.T, method, path string, headers map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func (r *running) post(t *testing.T, path, body string, extra map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestCheckBind(t *testing.T) {
	tests := []struct {
		addr          string
		loopback      bool // allowed without a token
		malformedAddr bool // refused whatever the token
	}{
		{addr: "127.0.0.1:8080", loopback: true},
		{addr: "127.0.0.2:8080", loopback: true},
		{addr: "[::1]:8080", loopback: true},
		{addr: "localhost:8080", loopback: true},
		{addr: "LocalHost:8080", loopback: true},
		{addr: ":8080"},
		{addr: "0.0.0.0:8080"},
		{addr: "[::]:8080"},
		{addr: "192.168.1.5:8080"},
		{addr: "example.com:8080"},
		{addr: "nonsense", malformedAddr: true},
		{addr: "127.0.0.1", malformedAddr: true},
		{addr: "", malformedAddr: true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := CheckBind(tt.addr, "")
			switch {
			case tt.malformedAddr:
				require.Error(t, err)
				assert.Contains(t, err.Error(), "host:port")
			case tt.loopback:
				assert.NoError(t, err)
			default:
				require.Error(t, err)
				assert.Contains(t, err.Error(), "AIPAINT_HTTP_TOKEN")
			}

			err = CheckBind(tt.addr, "a-token")
			if tt.malformedAddr {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}

			// The tokens file counts as a token; two empty credentials do not.
			err = CheckBind(tt.addr, "", "/etc/aipaint/tokens")
			assert.Equal(t, tt.malformedAddr, err != nil, err)
			err = CheckBind(tt.addr, "", "")
			assert.Equal(t, !tt.loopback, err != nil, err)
			if err != nil && !tt.malformedAddr {
				assert.Contains(t, err.Error(), "AIPAINT_HTTP_TOKENS_FILE")
			}
		})
	}
}

func TestStreamableHTTPInitializeWithoutToken(t *testing.T) {
	t.Parallel()
	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP})

	resp := r.post(t, "/mcp", initializeRequest, nil)
	body := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.NotEmpty(t, resp.Header.Get(server.HeaderKeySessionID))

	var msg struct {
		ID     int `json:"id"`
		Result struct {
			ServerInfo struct{ Name string } `json:"serverInfo"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &msg), body)
	assert.Equal(t, 1, msg.ID)
	assert.Equal(t, "t", msg.Result.ServerInfo.Name)

	// The handler is mounted on /mcp only.
	resp = r.post(t, "/other", initializeRequest, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestStreamableHTTPBearerToken(t *testing.T) {
	t.Parallel()
	const token = "tok-3f9c2a71e5"
	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP, Token: token})

	tests := []struct {
		name          string
		authorization string // "" sends no header
		want          int
	}{
		{"missing header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer wrong-token", http.StatusUnauthorized},
		{"token prefix", "Bearer " + token[:len(token)-1], http.StatusUnauthorized},
		{"token plus suffix", "Bearer " + token + "x", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"scheme only", "Bearer", http.StatusUnauthorized},
		{"no scheme", token, http.StatusUnauthorized},
		{"basic scheme", "Basic " + token, http.StatusUnauthorized},
		{"right token", "Bearer " + token, http.StatusOK},
		{"scheme is case-insensitive", "bearer " + token, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.authorization != "" {
				h["Authorization"] = tt.authorization
			}
			resp := r.post(t, "/mcp", initializeRequest, h)
			body := readAll(t, resp)
			require.Equal(t, tt.want, resp.StatusCode, body)
			if tt.want == http.StatusUnauthorized {
				assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
				assert.Contains(t, body, "AIPAINT_HTTP_TOKEN")
				assert.NotContains(t, body, token, "a 401 must not echo credentials")
			}
		})
	}
}

func TestStreamableHTTPOrigin(t *testing.T) {
	t.Parallel()
	const token = "tok-origin-77"
	r := startHTTP(t, HTTPOptions{
		Transport:      TransportHTTP,
		Token:          token,
		AllowedOrigins: []string{"https://app.example.com"},
	})

	tests := []struct {
		origin string // "" sends no Origin header
		want   int
	}{
		{"", http.StatusOK},
		{"http://localhost:3000", http.StatusOK},
		{"http://127.0.0.1:9999", http.StatusOK},
		{"http://[::1]:8080", http.StatusOK},
		{"https://localhost", http.StatusOK},
		{"https://app.example.com", http.StatusOK},
		{"https://APP.example.com/", http.StatusOK},
		{"http://evil.example", http.StatusForbidden},
		{"null", http.StatusForbidden},
		{"http://app.example.com", http.StatusForbidden},       // other scheme
		{"https://app.example.com:8443", http.StatusForbidden}, // other port
		{"http://localhost.evil.example", http.StatusForbidden},
		{"http://127.0.0.1.evil.example", http.StatusForbidden},
		{"file://localhost", http.StatusForbidden},
		{"http://192.168.1.5:8080", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			h := map[string]string{"Authorization": "Bearer " + token}
			if tt.origin != "" {
				h["Origin"] = tt.origin
			}
			resp := r.post(t, "/mcp", initializeRequest, h)
			body := readAll(t, resp)
			require.Equal(t, tt.want, resp.StatusCode, body)
			if tt.want == http.StatusForbidden {
				assert.Contains(t, body, "AIPAINT_ALLOWED_ORIGINS")
			}
		})
	}

	t.Run("checked before the token", func(t *testing.T) {
		resp := r.post(t, "/mcp", initializeRequest, map[string]string{"Origin": "http://evil.example"})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
}

func TestOriginAllowedWithoutToken(t *testing.T) {
	t.Parallel()
	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP})
	for origin, want := range map[string]int{
		"http://localhost:3000": http.StatusOK,
		"http://evil.example":   http.StatusForbidden,
		"null":                  http.StatusForbidden,
	} {
		resp := r.post(t, "/mcp", initializeRequest, map[string]string{"Origin": origin})
		assert.Equal(t, want, resp.StatusCode, origin)
	}
}

// A loopback listener refuses a foreign Host header (DNS rebinding), on the
// SSE endpoints as on /mcp: mcp-go's own check, kept on and pinned here.
func TestForeignHostHeaderRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ transport, method, path string }{
		{TransportHTTP, http.MethodPost, "/mcp"},
		{TransportSSE, http.MethodGet, "/sse"},
		{TransportSSE, http.MethodPost, "/message"},
	} {
		r := startHTTP(t, HTTPOptions{Transport: tc.transport})
		for host, want := range map[string]int{"evil.example": http.StatusForbidden, "evil.example:80": http.StatusForbidden} {
			req, err := http.NewRequest(tc.method, r.base+tc.path, strings.NewReader(initializeRequest))
			require.NoError(t, err)
			req.Host = host
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := r.client.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, want, resp.StatusCode, tc.path+" Host "+host)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP})

	t.Run("at the limit", func(t *testing.T) {
		body := initializeRequest + strings.Repeat(" ", maxBodyBytes-len(initializeRequest))
		resp := r.post(t, "/mcp", body, nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp))
	})
	t.Run("one byte over", func(t *testing.T) {
		body := initializeRequest + strings.Repeat(" ", maxBodyBytes-len(initializeRequest)+1)
		resp := r.post(t, "/mcp", body, nil)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, readAll(t, resp))
	})
	t.Run("chunked, no length", func(t *testing.T) {
		// io.MultiReader hides the length, so the client sends it chunked.
		body := io.MultiReader(strings.NewReader(strings.Repeat(" ", 2*maxBodyBytes)))
		req, err := http.NewRequest(http.MethodPost, r.base+"/mcp", body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(req)
		if err != nil {
			// The server may close before the client has sent it all; that
			// is a refusal too, but the usual outcome is the 413.
			t.Logf("oversized chunked body: %v", err)
			return
		}
		defer resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	})
}

// rawExchange sends raw on a fresh connection and reads until the server
// closes it; it fails the test if that takes longer than within.
func rawExchange(t *testing.T, addr, raw string, within time.Duration) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, startBound)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, raw)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(within)))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server still holds the connection after %v; read so far: %q", within, got)
	}
	// A reset instead of a clean close also ends the exchange.
	return string(got)
}

func TestSlowBodyIsCutOff(t *testing.T) {
	for _, tr := range []struct{ transport, path string }{
		{TransportHTTP, "/mcp"},
		{TransportSSE, "/message?sessionId=x"},
	} {
		t.Run(tr.transport, func(t *testing.T) {
			r := startHTTP(t, HTTPOptions{Transport: tr.transport}, Tuning{ReadBodyTimeout: 200 * time.Millisecond})
			// Headers promise 100 bytes of body; none follow.
			raw := "POST " + tr.path + " HTTP/1.1\r\nHost: " + r.addr +
				"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
			got := rawExchange(t, r.addr, raw, 5*time.Second)
			assert.True(t, strings.HasPrefix(got, "HTTP/1.1 408 "), "response: %q", got)

			// The server is still fine for everybody else, and stops promptly.
			resp := r.post(t, "/mcp", initializeRequest, nil)
			if tr.transport == TransportHTTP {
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
			require.NoError(t, r.stop(t))
		})
	}
}

func TestSlowBodyAfterSomeBytesIsCutOff(t *testing.T) {
	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP}, Tuning{ReadBodyTimeout: 200 * time.Millisecond})
	raw := "POST /mcp HTTP/1.1\r\nHost: " + r.addr +
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":"
	got := rawExchange(t, r.addr, raw, 5*time.Second)
	assert.True(t, strings.HasPrefix(got, "HTTP/1.1 408 "), "response: %q", got)
	require.NoError(t, r.stop(t))
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP}, Tuning{ReadHeaderTimeout: 200 * time.Millisecond})
	raw := "POST /mcp HTTP/1.1\r\nHost: " + r.addr + "\r\nContent-Type: appl"
	got := rawExchange(t, r.addr, raw, 5*time.Second)
	assert.Empty(t, got, "net/http closes a connection whose headers time out without replying")
	require.NoError(t, r.stop(t))
}

// sseStream is an open GET /sse.
type sseStream struct {
	resp   *http.Response
	events chan sseEvent
}

type sseEvent struct{ name, data string }

func openSSE(t *testing.T, r *running, headers map[string]string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/sse", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	s := &sseStream{resp: resp, events: make(chan sseEvent, 16)}
	if resp.StatusCode != http.StatusOK {
		close(s.events)
		return s
	}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			switch {
			case line == "":
				if ev.name != "" || ev.data != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event:"):
				ev.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				ev.data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			}
		}
	}()
	return s
}

func (s *sseStream) next(t *testing.T, name string) sseEvent {
	t.Helper()
	deadline := time.After(startBound)
	for {
		select {
		case ev, ok := <-s.events:
			require.True(t, ok, "SSE stream ended before a %q event", name)
			if ev.name == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %q event", name)
		}
	}
}

// messageURL resolves the endpoint event's data against the server's address.
func messageURL(t *testing.T, r *running, ev sseEvent) string {
	t.Helper()
	u, err := url.Parse(ev.data)
	require.NoError(t, err, ev.data)
	base, err := url.Parse(r.base + "/sse")
	require.NoError(t, err)
	u = base.ResolveReference(u)
	assert.Equal(t, "/message", u.Path)
	assert.NotEmpty(t, u.Query().Get("sessionId"), ev.data)
	assert.Equal(t, r.addr, u.Host)
	return u.String()
}

func TestSSE(t *testing.T) {
	t.Parallel()
	r := startHTTP(t, HTTPOptions{Transport: TransportSSE})
	s := openSSE(t, r, nil)
	require.Equal(t, http.StatusOK, s.resp.StatusCode)
	assert.Contains(t, s.resp.Header.Get("Content-Type"), "text/event-stream")

	msgURL := messageURL(t, r, s.next(t, "endpoint"))
	resp := r.post(t, strings.TrimPrefix(msgURL, r.base), initializeRequest, nil)
	assert.Contains(t, []int{http.StatusOK, http.StatusAccepted}, resp.StatusCode, readAll(t, resp))

	ev := s.next(t, "message")
	var msg struct {
		ID     int `json:"id"`
		Result struct {
			ServerInfo struct{ Name string } `json:"serverInfo"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal([]byte(ev.data), &msg), ev.data)
	assert.Equal(t, 1, msg.ID)
	assert.Equal(t, "t", msg.Result.ServerInfo.Name)

	// Shutting down with a stream still open is prompt and clean.
	require.NoError(t, r.stop(t))
}

func TestSSEBearerToken(t *testing.T) {
	t.Parallel()
	const token = "tok-sse-5b1d"
	r := startHTTP(t, HTTPOptions{Transport: TransportSSE, Token: token})

	s := openSSE(t, r, nil)
	assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
	assert.Contains(t, s.resp.Header.Get("WWW-Authenticate"), "Bearer")

	s = openSSE(t, r, map[string]string{"Authorization": "Bearer wrong"})
	assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)

	auth := map[string]string{"Authorization": "Bearer " + token}
	s = openSSE(t, r, auth)
	require.Equal(t, http.StatusOK, s.resp.StatusCode)
	path := strings.TrimPrefix(messageURL(t, r, s.next(t, "endpoint")), r.base)

	resp := r.post(t, path, initializeRequest, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp = r.post(t, path, initializeRequest, map[string]string{"Authorization": "Bearer wrong"})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp = r.post(t, path, initializeRequest, auth)
	assert.Contains(t, []int{http.StatusOK, http.StatusAccepted}, resp.StatusCode, readAll(t, resp))
	s.next(t, "message")

	resp = r.post(t, path, initializeRequest, map[string]string{"Authorization": "Bearer " + token, "Origin": "http://evil.example"})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestHTTPRefusals(t *testing.T) {
	t.Parallel()
	called := false
	ready := func(net.Addr) { called = true }
	logger := slog.New(slog.DiscardHandler)

	t.Run("unknown transport", func(t *testing.T) {
		for _, tr := range []string{"grpc", TransportStdio, ""} {
			err := HTTPTuned(context.Background(), newMCPServer(), HTTPOptions{Transport: tr, Addr: "127.0.0.1:0", Logger: logger}, Tuning{Ready: ready})
			require.Error(t, err, tr)
			assert.Contains(t, err.Error(), "unknown transport")
		}
	})
	t.Run("non-loopback without token", func(t *testing.T) {
		err := HTTPTuned(context.Background(), newMCPServer(), HTTPOptions{Transport: TransportHTTP, Addr: "0.0.0.0:0", Logger: logger}, Tuning{Ready: ready})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "AIPAINT_HTTP_TOKEN")
	})
	t.Run("address in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		for _, tr := range []string{TransportHTTP, TransportSSE} {
			err = HTTPTuned(context.Background(), newMCPServer(), HTTPOptions{Transport: tr, Addr: ln.Addr().String(), Logger: logger}, Tuning{Ready: ready})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "listen")
		}
	})
	t.Run("nil logger", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- HTTPTuned(ctx, newMCPServer(), HTTPOptions{Transport: TransportHTTP, Addr: "127.0.0.1:0"}, Tuning{Ready: func(net.Addr) { cancel() }})
		}()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(stopBound):
			t.Fatal("HTTP did not return")
		}
	})
	assert.False(t, called, "Ready must not be called when HTTP does not listen")
}

// Not parallel: another test's server could be given the freed port.
func TestHTTPShutdownClosesPort(t *testing.T) {
	for _, tr := range []string{TransportHTTP, TransportSSE} {
		t.Run(tr, func(t *testing.T) {
			// A port below the ephemeral range: once freed, no outgoing
			// connection of another test can take it before it is bound again.
			r := startHTTP(t, HTTPOptions{Transport: tr, Listener: belowEphemeral(t)})
			conn, err := net.DialTimeout("tcp", r.addr, startBound)
			require.NoError(t, err)
			_ = conn.Close()

			require.NoError(t, r.stop(t))
			// Binding the address again proves the listener is gone; dialing
			// it could self-connect, since the port is in the ephemeral range.
			ln, err := net.Listen("tcp", r.addr)
			require.NoError(t, err, "the port must be released once HTTP has returned")
			_ = ln.Close()
		})
	}
}

// belowEphemeral listens on a free loopback port under Linux's ephemeral
// range (32768 and up), which outgoing connections never take.
func belowEphemeral(t *testing.T) net.Listener {
	t.Helper()
	for i := 0; i < 200; i++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err == nil {
			return ln
		}
	}
	t.Fatal("no free port found between 20000 and 32000")
	return nil
}

// stdioSession drives Stdio through pipes.
type stdioSession struct {
	in    *io.PipeWriter
	lines chan string
	done  chan error
}

func startStdio(t *testing.T, ctx context.Context) *stdioSession {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &stdioSession{in: inW, lines: make(chan string, 16), done: make(chan error, 1)}
	go func() {
		err := Stdio(ctx, newMCPServer(), inR, outW, slog.New(slog.DiscardHandler))
		_ = outW.Close()
		s.done <- err
	}()
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { _ = inW.Close(); _ = outR.Close() })
	return s
}

func (s *stdioSession) send(t *testing.T, line string) {
	t.Helper()
	_, err := io.WriteString(s.in, line+"\n")
	require.NoError(t, err)
}

// reply reads the next line of output, which must be one JSON-RPC message.
func (s *stdioSession) reply(t *testing.T) map[string]any {
	t.Helper()
	select {
	case line, ok := <-s.lines:
		require.True(t, ok, "stdout closed early")
		var msg map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &msg), "stdout line is not JSON: %q", line)
		assert.Equal(t, "2.0", msg["jsonrpc"], line)
		return msg
	case <-time.After(startBound):
		t.Fatal("no reply on stdout")
		return nil
	}
}

func (s *stdioSession) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(stopBound):
		t.Fatal("Stdio did not return")
		return nil
	}
}

func TestStdio(t *testing.T) {
	s := startStdio(t, context.Background())

	s.send(t, initializeRequest)
	msg := s.reply(t)
	assert.EqualValues(t, 1, msg["id"])
	require.Contains(t, msg, "result")
	assert.Equal(t, "t", msg["result"].(map[string]any)["serverInfo"].(map[string]any)["name"])

	s.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	s.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	msg = s.reply(t)
	assert.EqualValues(t, 2, msg["id"])
	tools := msg["result"].(map[string]any)["tools"].([]any)
	require.Len(t, tools, 1)
	assert.Equal(t, "ping_tool", tools[0].(map[string]any)["name"])

	// tools/call goes through the worker pool.
	s.send(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ping_tool","arguments":{}}}`)
	msg = s.reply(t)
	assert.EqualValues(t, 3, msg["id"])
	assert.Contains(t, msg["result"].(map[string]any)["content"], map[string]any{"type": "text", "text": "pong"})

	// Garbage in still gives JSON out.
	s.send(t, `this is not json`)
	msg = s.reply(t)
	require.Contains(t, msg, "error")
	assert.EqualValues(t, mcp.PARSE_ERROR, msg["error"].(map[string]any)["code"])

	require.NoError(t, s.in.Close())
	require.NoError(t, s.wait(t), "end of input is a normal end")
	for line := range s.lines {
		assert.True(t, json.Valid([]byte(line)), "stray output on stdout: %q", line)
	}
}

func TestStdioContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := startStdio(t, ctx)
	s.send(t, initializeRequest)
	s.reply(t)
	cancel()
	assert.NoError(t, s.wait(t), "a cancelled context is a normal end")
}
