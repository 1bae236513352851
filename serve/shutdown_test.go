package serve

import (
	"context"
	"io"
	"net/http"
	"strings"
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

			answer := make(chan string, 1)
			if tr == TransportSSE {
				stream := openSSE(t, r, nil)
				path := strings.TrimPrefix(messageURL(t, r, stream.next(t, "endpoint")), r.base)
				readAll(t, r.post(t, path, initializeRequest, nil))
				stream.next(t, "message")
				resp := r.post(t, path, toolCall(2, "wait_tool", `{}`), nil)
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
			} else {
				id := streamableSession(t, r, nil)
				req, err := http.NewRequest(http.MethodPost, r.base+"/mcp", strings.NewReader(toolCall(2, "wait_tool", `{}`)))
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
			}
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
