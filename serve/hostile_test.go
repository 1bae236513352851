package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/paint"
	"aipaint-mcp/sandbox/sandboxtest"
	"aipaint-mcp/schema"
	"aipaint-mcp/tools"
)

// toolsServer is the real MCP server in front of a sandbox that counts what
// reaches it.
func toolsServer(t *testing.T) (*server.MCPServer, *sandboxtest.Upstream) {
	t.Helper()
	sb := sandboxtest.Start(t)
	// No task store: even a well-formed paid call would be refused.
	svc := paint.New(paint.Options{Upstream: sb.Client(t)})
	t.Cleanup(func() { _ = svc.Close() })
	return tools.NewServer(tools.Options{Paint: svc, Limits: schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds}, Sandbox: true}), sb
}

func toolCall(id int, name string, args string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, name, args)
}

// hostileMessages are JSON-RPC messages no client should send. want is what
// the answer body must contain: a JSON-RPC error code, or a tool error text.
var hostileMessages = []struct{ name, body, want string }{
	{"truncated JSON", `{"jsonrpc":"2.0","id":1,"method":`, "-32700"},
	{"not JSON", "\x00\x01garbage\xff", "-32700"},
	{"array", `[1,2,3]`, "-32700"},
	{"string", `"hello"`, "-32700"},
	{"null", `null`, "-32600"},
	{"empty object", `{}`, "-32600"},
	{"wrong version", `{"jsonrpc":"1.0","id":2,"method":"tools/list"}`, "-32600"},
	{"unknown method", `{"jsonrpc":"2.0","id":3,"method":"no/such/method"}`, "-32601"},
	{"method not a string", `{"jsonrpc":"2.0","id":4,"method":42}`, "-32700"},
	{"unknown tool", toolCall(5, "no_such_tool", `{}`), "-32602"},
	{"arguments a string", toolCall(6, "generate_image", `"draw a cat"`), "must be a JSON object"},
	{"arguments an array", toolCall(7, "generate_image", `["cat"]`), "must be a JSON object"},
	{"text a number", toolCall(8, "generate_image", `{"text":123}`), "text must be a string"},
	{"num a word", toolCall(9, "generate_image", `{"text":"猫","num":"many"}`), "num must be a whole number"},
	{"num huge", toolCall(10, "generate_image", `{"text":"猫","num":1e308}`), "num must be a whole number"},
	{"wait a string", toolCall(11, "generate_image", `{"text":"猫","wait":"yes please"}`), "wait must be true or false"},
	{"wait_seconds negative", toolCall(12, "generate_image", `{"text":"猫","wait_seconds":-5}`), "wait_seconds must be 0 or more"},
	{"unknown argument", toolCall(13, "generate_image", `{"text":"猫","model":"dall-e"}`), "unknown argument"},
	{"huge text", toolCall(14, "generate_image", `{"text":"`+strings.Repeat("猫", 300_000)+`"}`), "the limit is 100"},
	{"huge style", toolCall(15, "generate_image", `{"text":"猫","style":"`+strings.Repeat("x", 900_000)+`"}`), "unknown style"},
	{"control characters", toolCall(16, "generate_image", `{"text":"猫\u0000\u0007\u001b[31m红"}`), "control characters"},
	{"invalid UTF-8", toolCall(17, "generate_image", "{\"text\":\"\xff\xfe\xc3\x28 猫\"}"), "control characters or invalid bytes"},
	{"lone surrogate", toolCall(18, "generate_image", `{"text":"\ud800猫"}`), "control characters or invalid bytes"},
	{"task_id control", toolCall(19, "check_task", `{"task_id":"sbx\u0000../../etc/passwd"}`), "does not look like a task id"},
	{"task_id huge", toolCall(20, "check_task", `{"task_id":"`+strings.Repeat("a", 500_000)+`"}`), "does not look like a task id"},
	{"task_id object", toolCall(21, "check_task", `{"task_id":{"$ne":null}}`), "task_id must be a string"},
	{"deep nesting", toolCall(22, "generate_image", `{"text":`+strings.Repeat("[", 10_000)+strings.Repeat("]", 10_000)+`}`), "-32700"},
}

// TestHostileMessagesStreamableHTTP: none of the hostile messages crashes the
// server, holds a handler, or reaches the upstream; each gets an answer.
func TestHostileMessagesStreamableHTTP(t *testing.T) {
	s, sb := toolsServer(t)
	r := startHTTPWith(t, s, HTTPOptions{Transport: TransportHTTP})
	resp := r.post(t, "/mcp", initializeRequest, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	session := map[string]string{"Mcp-Session-Id": resp.Header.Get("Mcp-Session-Id")}
	readAll(t, resp)
	readAll(t, r.post(t, "/mcp", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, session))
	before := runtime.NumGoroutine()

	for _, m := range hostileMessages {
		t.Run(m.name, func(t *testing.T) {
			resp := r.post(t, "/mcp", m.body, session)
			body := readAll(t, resp)
			assert.Contains(t, []int{http.StatusOK, http.StatusBadRequest}, resp.StatusCode)
			assert.Contains(t, body, m.want)
			assert.Less(t, len(body), 4096, "an answer does not echo a huge argument")
		})
	}
	// Still serving.
	resp = r.post(t, "/mcp", toolCall(99, "list_styles", `{}`), session)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, readAll(t, resp), "赛博朋克")
	st := sb.Stats()
	assert.Zero(t, st.SubmitRequests, "nothing reached the upstream")
	assert.Zero(t, st.Queries, "nothing reached the upstream")
	settleGoroutines(t, before)
}

// settleGoroutines waits (boundedly) until no more goroutines run than before.
func settleGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after: a handler is stuck\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHostileMessagesSSE: the same messages over the legacy SSE transport.
func TestHostileMessagesSSE(t *testing.T) {
	s, sb := toolsServer(t)
	r := startHTTPWith(t, s, HTTPOptions{Transport: TransportSSE})
	before := runtime.NumGoroutine()
	stream := openSSE(t, r, nil)
	require.Equal(t, http.StatusOK, stream.resp.StatusCode)
	msgPath := strings.TrimPrefix(messageURL(t, r, stream.next(t, "endpoint")), r.base)
	readAll(t, r.post(t, msgPath, initializeRequest, nil))
	stream.next(t, "message")
	readAll(t, r.post(t, msgPath, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil))

	for _, m := range hostileMessages {
		resp := r.post(t, msgPath, m.body, nil)
		readAll(t, resp)
		assert.Contains(t, []int{http.StatusOK, http.StatusAccepted, http.StatusBadRequest}, resp.StatusCode, m.name)
	}
	readAll(t, r.post(t, msgPath, toolCall(99, "list_styles", `{}`), nil))
	for {
		ev := stream.next(t, "message")
		if strings.HasPrefix(ev.data, `{"jsonrpc":"2.0","id":99,`) {
			assert.Contains(t, ev.data, "赛博朋克", "still serving")
			break
		}
	}
	st := sb.Stats()
	assert.Zero(t, st.SubmitRequests+st.Queries, "nothing reached the upstream")
	_ = stream.resp.Body.Close()
	r.client.CloseIdleConnections() // the client's own connection goroutines
	settleGoroutines(t, before)
}

// TestAbandonedSessionsAreFreed opens thousands of streamable HTTP sessions
// (and some event streams) and walks away: the idle TTL frees them, and the
// memory and goroutines they held come back.
func TestAbandonedSessionsAreFreed(t *testing.T) {
	const sessions, streams = 2000, 100
	const ttl = 300 * time.Millisecond
	s, sb := toolsServer(t)
	r := startHTTPWith(t, s, HTTPOptions{Transport: TransportHTTP}, Tuning{SessionIdleTTL: ttl})
	readAll(t, r.post(t, "/mcp", initializeRequest, nil)) // warm up the server's lazy state
	goroutines, heap := runtime.NumGoroutine(), heapInUse()

	for i := range sessions {
		status, id := exchange(t, r, initializeRequest, "")
		require.Equal(t, http.StatusOK, status)
		exchange(t, r, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, id)
		if i < streams {
			// An event stream, dropped without a DELETE.
			ctx, cancel := context.WithCancel(context.Background())
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/mcp", nil)
			require.NoError(t, err)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Mcp-Session-Id", id)
			resp, err := r.client.Do(req)
			require.NoError(t, err)
			cancel()
			_ = resp.Body.Close()
		}
	}
	peak := heapInUse()
	t.Logf("%d sessions: live heap %d KiB before, %d KiB after opening them", sessions, heap>>10, peak>>10)

	deadline := time.Now().Add(15 * time.Second) // the sweeper runs every max(ttl/2, 1s)
	for heapInUse() > heap+(peak-heap)/4 || runtime.NumGoroutine() > goroutines+2 {
		if time.Now().After(deadline) {
			t.Fatalf("after the idle TTL: live heap %d KiB (was %d before, %d at the peak), %d goroutines (was %d)",
				heapInUse()>>10, heap>>10, peak>>10, runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after the idle TTL: live heap %d KiB, %d goroutines (was %d)", heapInUse()>>10, runtime.NumGoroutine(), goroutines)
	assert.Zero(t, sb.Stats().SubmitRequests)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// exchange posts body to /mcp in session id ("" = none) and closes the
// answer at once (r.post keeps it until the test ends, which would count as
// the server's memory here). It returns the status and the session id sent back.
func exchange(t *testing.T, r *running, body, id string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.base+"/mcp", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if id != "" {
		req.Header.Set("Mcp-Session-Id", id)
	}
	resp, err := r.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id")
}
