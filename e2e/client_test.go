package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// progressLog collects notifications/progress by progress token.
type progressLog struct {
	mu      sync.Mutex
	byToken map[string][]*mcp.ProgressNotificationParams
}

func newProgressLog() *progressLog {
	return &progressLog{byToken: map[string][]*mcp.ProgressNotificationParams{}}
}

func (p *progressLog) handle(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	if req == nil || req.Params == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tok := fmt.Sprint(req.Params.ProgressToken)
	p.byToken[tok] = append(p.byToken[tok], req.Params)
}

func (p *progressLog) get(token string) []*mcp.ProgressNotificationParams {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*mcp.ProgressNotificationParams(nil), p.byToken[token]...)
}

// newClient is the official SDK client, with a progress handler.
func newClient(progress *progressLog) *mcp.Client {
	opts := &mcp.ClientOptions{}
	if progress != nil {
		opts.ProgressNotificationHandler = progress.handle
	}
	return mcp.NewClient(&mcp.Implementation{Name: "aipaint-e2e", Version: "0.0.1"}, opts)
}

// wireCapture keeps a copy of every HTTP response body the client reads, so a
// test can see the JSON exactly as the server wrote it (the SDK's typed
// structs cannot tell an absent false from a present one).
type wireCapture struct {
	mu     sync.Mutex
	bodies []*bytes.Buffer
}

type teeBody struct {
	rc  io.ReadCloser
	cap *wireCapture
	buf *bytes.Buffer
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.cap.mu.Lock()
		b.buf.Write(p[:n])
		b.cap.mu.Unlock()
	}
	return n, err
}

func (b *teeBody) Close() error { return b.rc.Close() }

// messages returns every JSON object seen in a body, either a whole JSON line
// or the data of a server-sent event.
func (c *wireCapture) messages() []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []json.RawMessage
	for _, b := range c.bodies {
		sc := bufio.NewScanner(bytes.NewReader(b.Bytes()))
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			line = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			if strings.HasPrefix(line, "{") && json.Valid([]byte(line)) {
				out = append(out, json.RawMessage(line))
			}
		}
	}
	return out
}

// rawResult returns the raw "result" of the last response on the wire whose
// result has the given top-level key (e.g. "tools" for tools/list).
func (c *wireCapture) rawResult(key string) (json.RawMessage, error) {
	var found json.RawMessage
	for _, m := range c.messages() {
		var msg struct {
			Result map[string]json.RawMessage `json:"result"`
		}
		if json.Unmarshal(m, &msg) == nil && msg.Result[key] != nil {
			found, _ = json.Marshal(msg.Result)
		}
	}
	if found == nil {
		return nil, fmt.Errorf("a result with %q: %w", key, errNotFound)
	}
	return found, nil
}

// roundTripper adds headers to every request and, with a capture, records
// every response body.
type roundTripper struct {
	base    http.RoundTripper
	headers http.Header
	capture *wireCapture
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(rt.headers) > 0 {
		req = req.Clone(req.Context())
		for k, v := range rt.headers {
			req.Header[k] = v
		}
	}
	resp, err := rt.base.RoundTrip(req)
	if err != nil || rt.capture == nil || resp.Body == nil {
		return resp, err
	}
	buf := &bytes.Buffer{}
	rt.capture.mu.Lock()
	rt.capture.bodies = append(rt.capture.bodies, buf)
	rt.capture.mu.Unlock()
	resp.Body = &teeBody{rc: resp.Body, cap: rt.capture, buf: buf}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the base
// transport: the connections it dialed but never used would otherwise hold
// a server's graceful shutdown (see TestShutdownWithIdleConnection).
func (rt *roundTripper) CloseIdleConnections() { rt.base.(*http.Transport).CloseIdleConnections() }

// httpClient is a loopback client for the SDK's HTTP transports. No overall
// timeout: SSE streams are long-lived; every call is bounded by its context.
func httpClient(headers http.Header, capture *wireCapture) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil // loopback only, whatever the environment says
	return &http.Client{Transport: &roundTripper{base: base, headers: headers, capture: capture}}
}

// connect opens an SDK session over tr and closes it at cleanup, checking
// that Close returns in bounded time; onClosed, if set, then sees how Close
// went.
func connect(t *testing.T, ctx context.Context, client *mcp.Client, tr mcp.Transport, opts *mcp.ClientSessionOptions, onClosed func(err error, took time.Duration)) *mcp.ClientSession {
	t.Helper()
	cs, err := client.Connect(ctx, tr, opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- cs.Close() }()
		select {
		case err := <-done:
			if onClosed != nil {
				onClosed(err, time.Since(start))
			} else if err != nil {
				t.Logf("close session: %v", err)
			}
		case <-time.After(3 * exitTimeout):
			t.Errorf("closing the session did not return within %s", 3*exitTimeout)
		}
	})
	return cs
}
