package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A tool call in flight when the server is told to stop gets its answer,
// even when the answer leaves well after its handler has returned (held
// here by an outer middleware, as mcp-go's encoding and SSE stream hold it
// for a moment in real life): HTTP waits for the answer to be written, not
// for a fixed time, before it closes the sessions.
func TestShutdownWaitsForTheAnswersOwed(t *testing.T) {
	for _, tr := range []string{TransportHTTP, TransportSSE} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			called, stopping, held := make(chan struct{}), make(chan struct{}), make(chan struct{})
			s := server.NewMCPServer("t", "1", server.WithToolCapabilities(false))
			// Added before HTTP adds its own, so outermost: the call counts as
			// returned while its answer is held here.
			s.Use(func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
				return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
					res, err := next(ctx, req)
					<-held
					return res, err
				}
			})
			s.AddTool(mcp.Tool{Name: "wait_tool", InputSchema: mcp.ToolInputSchema{Type: "object"}},
				func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
					close(called)
					<-stopping
					return mcp.NewToolResultText("pending: task sbx-1"), nil
				})
			// The limit on that wait is long here: an answer held 300 ms must
			// not be lost however long the machine stalls the test meanwhile.
			r := startHTTPWith(t, s, HTTPOptions{Transport: tr}, Tuning{FlushLimit: time.Minute})

			answer := callInFlight(t, r, tr, "wait_tool")
			select {
			case <-called:
			case <-time.After(startBound):
				t.Fatal("the tool was not called")
			}

			r.once.Do(func() {
				r.cancel()
				close(stopping)
				// The old code slept 200 ms for the answer to leave, then closed
				// the sessions: holding it longer than that lost it.
				hold := time.NewTimer(300 * time.Millisecond)
				defer hold.Stop()
				select {
				case r.err = <-r.done:
					t.Error("HTTP returned while an answer was still owed")
				case <-hold.C:
				}
				close(held)
				if r.err == nil {
					select {
					case r.err = <-r.done:
					case <-time.After(stopBound):
						t.Error("HTTP did not return once the answer had left")
					}
				}
			})
			assert.NoError(t, r.err)
			select {
			case got := <-answer:
				assert.Contains(t, got, "pending: task sbx-1")
			case <-time.After(startBound):
				t.Fatal("no answer")
			}
		})
	}
}

// An SSE stream that has just carried an answer stays open at shutdown until
// its client hangs up (within ReadGrace): some clients drop a message that
// arrives just before their stream ends.
func TestShutdownLeavesAnsweredStreamsToTheirClients(t *testing.T) {
	t.Parallel()
	called, stopping := make(chan struct{}), make(chan struct{})
	s := server.NewMCPServer("t", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.Tool{Name: "wait_tool", InputSchema: mcp.ToolInputSchema{Type: "object"}},
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			close(called)
			<-stopping
			return mcp.NewToolResultText("pending: task sbx-2"), nil
		})
	r := startHTTPWith(t, s, HTTPOptions{Transport: TransportSSE}, Tuning{ReadGrace: time.Minute, FlushLimit: time.Minute})
	stream := openSSE(t, r, nil)
	path := strings.TrimPrefix(messageURL(t, r, stream.next(t, "endpoint")), r.base)
	readAll(t, r.post(t, path, initializeRequest, nil))
	stream.next(t, "message")
	readAll(t, r.post(t, path, toolCall(2, "wait_tool", `{}`), nil))
	select {
	case <-called:
	case <-time.After(startBound):
		t.Fatal("the tool was not called")
	}

	r.once.Do(func() {
		r.cancel()
		close(stopping)
		assert.Contains(t, stream.next(t, "message").data, "pending: task sbx-2")
		hold := time.NewTimer(100 * time.Millisecond)
		defer hold.Stop()
		select {
		case r.err = <-r.done:
			t.Error("HTTP closed the stream right after its answer, before the client could read it")
			return
		case <-hold.C:
		}
		_ = stream.resp.Body.Close() // the client hangs up
		select {
		case r.err = <-r.done:
		case <-time.After(stopBound):
			t.Error("HTTP still waits after the client hung up")
		}
	})
	assert.NoError(t, r.err)
}

// callInFlight calls the tool name on a new session of r and returns where
// its answer will arrive: the response's body on streamable HTTP, the
// message on the session's stream on SSE.
func callInFlight(t *testing.T, r *running, tr, name string) <-chan string {
	t.Helper()
	answer := make(chan string, 1)
	if tr == TransportSSE {
		stream := openSSE(t, r, nil)
		path := strings.TrimPrefix(messageURL(t, r, stream.next(t, "endpoint")), r.base)
		readAll(t, r.post(t, path, initializeRequest, nil))
		stream.next(t, "message")
		resp := r.post(t, path, toolCall(2, name, `{}`), nil)
		readAll(t, resp)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		go func() {
			for ev := range stream.events {
				if ev.name == "message" {
					answer <- ev.data
					return
				}
			}
			answer <- "the stream ended without an answer"
		}()
		return answer
	}
	id := streamableSession(t, r, nil)
	req, err := http.NewRequest(http.MethodPost, r.base+"/mcp", strings.NewReader(toolCall(2, name, `{}`)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(server.HeaderKeySessionID, id)
	go func() {
		resp, err := r.client.Do(req)
		if err != nil {
			answer <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answer <- string(body)
	}()
	return answer
}

// pingOnNewSession opens a new session on r and calls ping_tool in it.
func pingOnNewSession(t *testing.T, r *running, tr string) string {
	t.Helper()
	if tr == TransportSSE {
		stream := openSSE(t, r, nil)
		path := strings.TrimPrefix(messageURL(t, r, stream.next(t, "endpoint")), r.base)
		readAll(t, r.post(t, path, initializeRequest, nil))
		stream.next(t, "message")
		readAll(t, r.post(t, path, toolCall(2, "ping_tool", `{}`), nil))
		return stream.next(t, "message").data
	}
	id := streamableSession(t, r, nil)
	return readAll(t, r.post(t, "/mcp", toolCall(2, "ping_tool", `{}`), withSession(nil, id)))
}

// waitingServer is newMCPServer with wait_tool, whose calls wait until
// release is closed and then answer answer.
func waitingServer(called chan<- struct{}, release <-chan struct{}, answer string) *server.MCPServer {
	s := newMCPServer()
	s.AddTool(mcp.Tool{Name: "wait_tool", InputSchema: mcp.ToolInputSchema{Type: "object"}},
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			called <- struct{}{}
			<-release
			return mcp.NewToolResultText(answer), nil
		})
	return s
}

func awaitCalled(t *testing.T, called <-chan struct{}) {
	t.Helper()
	select {
	case <-called:
	case <-time.After(startBound):
		t.Fatal("the tool was not called")
	}
}

// untilHealth asks /healthz on fresh connections until it answers code,
// within startBound, and returns its body.
func untilHealth(t *testing.T, r *running, code int) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: startBound}
	deadline := time.Now().Add(startBound)
	for {
		resp, err := c.Get(r.base + "/healthz")
		require.NoError(t, err, "/healthz must answer while the server drains")
		body := readAll(t, resp)
		_ = resp.Body.Close()
		if resp.StatusCode == code {
			return body
		}
		require.True(t, time.Now().Before(deadline), "/healthz still answers %d %q", resp.StatusCode, body)
		time.Sleep(10 * time.Millisecond)
	}
}

// refused reports whether a new connection to r is refused, within
// startBound.
func untilRefused(t *testing.T, r *running) {
	t.Helper()
	deadline := time.Now().Add(startBound)
	for {
		conn, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err != nil {
			return
		}
		_ = conn.Close()
		require.True(t, time.Now().Before(deadline), "the server still accepts connections")
		time.Sleep(10 * time.Millisecond)
	}
}

func returned(r *running) bool {
	select {
	case r.err = <-r.done:
		return true
	default:
		return false
	}
}

// At the stop signal /healthz answers 503 at once, but everything else is
// still served for the grace (a new session, a new call); then the server
// stops accepting, the call in flight finishes by itself (Drain is not
// needed, so not called before it), and HTTP returns.
func TestDrainServesThroughTheGrace(t *testing.T) {
	for _, tr := range []string{TransportHTTP, TransportSSE} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			called, release, endGrace := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
			var drained atomic.Bool
			r := startHTTPWith(t, waitingServer(called, release, "done: task sbx-3"), HTTPOptions{
				Transport: tr, Grace: time.Hour, CallLimit: time.Hour, Drain: func() { drained.Store(true) },
				Health: func(context.Context) error { return nil },
			}, Tuning{EndGrace: endGrace})
			answer := callInFlight(t, r, tr, "wait_tool")
			awaitCalled(t, called)
			assert.Equal(t, "ok\n", untilHealth(t, r, http.StatusOK))

			r.once.Do(func() {
				r.cancel()
				assert.Equal(t, "draining\n", untilHealth(t, r, http.StatusServiceUnavailable))
				assert.Contains(t, pingOnNewSession(t, r, tr), "pong", "a new session and call during the grace")
				assert.False(t, returned(r), "HTTP returned during the grace")

				close(endGrace)
				untilRefused(t, r)
				assert.False(t, returned(r), "HTTP returned with a call in flight")
				assert.False(t, drained.Load(), "the call in flight was cut short")
				close(release)
				select {
				case got := <-answer:
					assert.Contains(t, got, "done: task sbx-3")
				case <-time.After(stopBound):
					t.Error("no answer")
				}
				select {
				case r.err = <-r.done:
				case <-time.After(stopBound):
					t.Error("HTTP did not return once the call had finished")
				}
			})
			assert.NoError(t, r.err)
			assert.True(t, drained.Load(), "paid calls must be refused once the server has stopped")
			logged, err := os.ReadFile(r.logs.Name())
			require.NoError(t, err)
			i, j := strings.Index(string(logged), "msg=draining"), strings.Index(string(logged), `msg="stopped accepting"`)
			assert.True(t, i >= 0 && j > i, "want draining, then stopped accepting, in the log:\n%s", logged)
		})
	}
}

// A second signal (Abort), or a call outlasting CallLimit, ends the waits
// at once through Drain; their answers ("pending") still reach the clients.
func TestDrainEndsWaitsWhenCutShort(t *testing.T) {
	for _, tr := range []string{TransportHTTP, TransportSSE} {
		for _, how := range []string{"abort", "call limit"} {
			t.Run(tr+"/"+how, func(t *testing.T) {
				t.Parallel()
				called, release, abort := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
				var once sync.Once
				o := HTTPOptions{Transport: tr, Grace: time.Hour, CallLimit: time.Hour, Abort: abort,
					Drain: func() { once.Do(func() { close(release) }) }}
				want := ErrAborted
				if how == "call limit" {
					o.Grace, o.CallLimit, o.Abort, want = 0, 50*time.Millisecond, nil, nil
				}
				r := startHTTPWith(t, waitingServer(called, release, "pending: task sbx-4"), o)
				answer := callInFlight(t, r, tr, "wait_tool")
				awaitCalled(t, called)
				var err error // not r.err, which the cleanup wants nil
				r.once.Do(func() {
					r.cancel()
					if how == "abort" {
						untilHealth(t, r, http.StatusServiceUnavailable)
						close(abort)
					}
					select {
					case err = <-r.done:
					case <-time.After(stopBound):
						t.Error("HTTP did not return")
					}
				})
				assert.Equal(t, want, err)
				select {
				case got := <-answer:
					assert.Contains(t, got, "pending: task sbx-4")
				case <-time.After(stopBound):
					t.Error("no answer")
				}
			})
		}
	}
}
