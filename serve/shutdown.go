package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// A stop of an HTTP server loses no call (see HTTP): at the signal /healthz
// answers 503 while everything is still served for the grace period; then
// the server stops accepting and lets the calls in flight finish their
// waits. Request contexts are not tied to the server's: when the calls must
// end sooner (a second signal, or past CallLimit) their waits end on Drain
// (app.Drain, paint.Service.Drain) and answer "pending" with the task id.
// Every answer must still reach its client, so HTTP waits for the tool calls
// in flight, then for the answers they owe to be written, and then for the
// clients to read them (see settle), and only then closes the sessions and
// the server.

// inFlight counts what is in flight and tells when nothing is.
type inFlight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed while n == 0
}

func newInFlight() *inFlight {
	c := &inFlight{zero: make(chan struct{})}
	close(c.zero)
	return c
}

func (c *inFlight) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 && d > 0 {
		c.zero = make(chan struct{})
	}
	c.n += d
	if c.n == 0 && d < 0 {
		close(c.zero)
	}
}

// wait returns true once nothing is in flight, or false when limit has
// passed or abort is closed (nil: never).
func (c *inFlight) wait(limit time.Duration, abort <-chan struct{}) bool {
	c.mu.Lock()
	zero := c.zero
	c.mu.Unlock()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-zero:
		return true
	case <-t.C:
	case <-abort:
	}
	return false
}

func (c *inFlight) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// pause waits d, or until end or abort is closed (nil: never).
func pause(d time.Duration, end, abort <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-end:
	case <-abort:
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// trackCalls counts the tool calls of s in flight.
func trackCalls(s *server.MCPServer) *inFlight {
	c := newInFlight()
	s.Use(func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			c.add(1)
			defer c.add(-1)
			return next(ctx, req)
		}
	})
	return c
}

// owed counts the answers the server owes its clients. On streamable HTTP
// an answer leaves in the response to its POST: one is owed while a POST's
// handler runs. On SSE the POST is accepted at once and its answer leaves
// later through the session's stream: one is owed from the POST of a request
// until a response is written to that stream, or the stream ends.
type owed struct {
	all *inFlight
	mu  sync.Mutex
	sse map[string]*stream // by the session id of each open SSE stream
	// closed is closed, and replaced, when an SSE stream ends.
	closed chan struct{}
}

type stream struct {
	owed     int
	answered time.Time // when it last carried an answer
}

func newOwed() *owed {
	return &owed{all: newInFlight(), sse: map[string]*stream{}, closed: make(chan struct{})}
}

// post counts the answer a streamable HTTP POST owes while it is handled.
func (o *owed) post(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			o.all.add(1)
			defer o.all.add(-1)
		}
		next.ServeHTTP(w, r)
	})
}

// sseMessage counts the answer a request posted to an open SSE session
// owes. mcp-go accepts every well-formed message to an open session; one
// refused because its session closed meanwhile is forgotten with the
// session's stream (end).
func (o *owed) sseMessage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every POST has passed the guard, which read its body whole.
		body, read := r.Body.(*wholeBody)
		if id := r.URL.Query().Get("sessionId"); r.Method == http.MethodPost && read && id != "" && isRequest(body.bytes) {
			o.change(id, 1)
		}
		next.ServeHTTP(w, r)
	})
}

// sseStream follows an SSE stream: its session, from the endpoint event it
// starts with, and the responses it writes.
func (o *owed) sseStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &streamWriter{ResponseWriter: w, owed: o}
		defer sw.end()
		next.ServeHTTP(sw, r)
	})
}

// change adds d to the answers owed on an open SSE session; false if the
// session has no open stream.
func (o *owed) change(id string, d int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.sse[id]
	if s == nil || s.owed+d < 0 {
		return false
	}
	s.owed += d
	if d < 0 {
		s.answered = time.Now()
	}
	o.all.add(d)
	return true
}

func (o *owed) open(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sse[id] = &stream{}
}

// end forgets a stream and what it owed: nothing more can reach its client.
func (o *owed) end(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s := o.sse[id]; s != nil {
		o.all.add(-s.owed)
	}
	delete(o.sse, id)
	close(o.closed)
	o.closed = make(chan struct{})
}

// settle waits, once the answers have been written, until every SSE stream
// that carried one within grace has been closed by its client, or until
// grace after that answer has passed. Some clients (the official Go SDK's
// among them) race their reader against the end of the stream and drop a
// message that arrives just before it: a stream that has just carried an
// answer stays open a moment for its client to read it.
func (o *owed) settle(grace time.Duration) {
	limit := time.Now().Add(grace)
	for {
		o.mu.Lock()
		var last time.Time
		for _, s := range o.sse {
			if s.answered.After(last) {
				last = s.answered
			}
		}
		closed := o.closed
		o.mu.Unlock()
		wait := min(time.Until(last.Add(grace)), time.Until(limit))
		if last.IsZero() || wait <= 0 {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-closed:
			t.Stop()
		case <-t.C:
			return
		}
	}
}

// message is what tells a JSON-RPC request, response and notification apart.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
}

// isRequest: a request gets an answer; a notification or a response the
// client sends (to a ping, a sampling request) gets none.
func isRequest(body []byte) bool {
	var m message
	return json.Unmarshal(body, &m) == nil && m.Method != "" && hasID(m.ID)
}

func hasID(id json.RawMessage) bool { return len(id) > 0 && string(id) != "null" }

// streamWriter sees an SSE stream's events as mcp-go writes them, one Write
// each, each followed by a Flush.
type streamWriter struct {
	http.ResponseWriter
	owed    *owed
	session string
	written int // responses written since the last Flush
}

const (
	endpointEvent = "event: endpoint\ndata: "
	messageEvent  = "event: message\ndata: "
)

func (w *streamWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	switch {
	case w.session == "" && bytes.HasPrefix(p, []byte(endpointEvent)):
		if u, err := url.Parse(string(bytes.TrimSpace(p[len(endpointEvent):]))); err == nil {
			if w.session = u.Query().Get("sessionId"); w.session != "" {
				w.owed.open(w.session)
			}
		}
	case w.session != "" && bytes.HasPrefix(p, []byte(messageEvent)):
		var m message
		if json.Unmarshal(p[len(messageEvent):], &m) == nil && m.Method == "" && hasID(m.ID) {
			w.written++
		}
	}
	return n, err
}

// Flush sends what was written; the answers in it are no longer owed.
func (w *streamWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	for ; w.written > 0; w.written-- {
		w.owed.change(w.session, -1)
	}
}

func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *streamWriter) end() {
	if w.session != "" {
		w.owed.end(w.session)
	}
}
