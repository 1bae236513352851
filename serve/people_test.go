package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/people"
)

// Tokens of the team in these tests.
const (
	aliceToken = "alice-tok-1f6b0c9e2d"
	bobToken   = "bob-tok-77a1e4c08f3b"
	carolToken = "carol-tok-5d2c9b8a61"
)

// team is a tokens file followed by a people.Watcher, which a hangup
// (sent by the test) makes read the file again.
type team struct {
	path    string
	watcher *people.Watcher
	hangup  chan os.Signal
	logs    *os.File
}

func newTeam(t *testing.T, content string) *team {
	t.Helper()
	dir := t.TempDir()
	tm := &team{path: filepath.Join(dir, "tokens"), hangup: make(chan os.Signal)}
	require.NoError(t, os.WriteFile(tm.path, []byte(content), 0o600))
	logs, err := os.Create(filepath.Join(dir, "watcher.log"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = logs.Close() })
	tm.logs = logs
	tm.watcher, err = people.NewWatcher(tm.path, people.WatchOptions{
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		Interval: time.Hour, // only the hangups of the test reload it
		Hangup:   tm.hangup,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := tm.watcher.Start(ctx)
	t.Cleanup(func() { cancel(); <-done })
	return tm
}

// edit replaces the file (by a rename) and sends a hangup; it returns once
// the reload is over.
func (tm *team) edit(t *testing.T, content string) {
	t.Helper()
	tmp := tm.path + ".new"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, tm.path))
	tm.hangup <- os.Interrupt
	tm.hangup <- os.Interrupt // received once the first reload is over
}

func bearerOf(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// Hostile and revoked tokens with a tokens file: every request needs one of
// its tokens, edits take effect at the hangup, a malformed edit changes
// nothing, and no token reaches a log or an answer.
func TestTokensFile(t *testing.T) {
	tm := newTeam(t, "alice "+aliceToken+" 3\nbob "+bobToken+"\n")
	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP, People: tm.watcher})
	r.secrets = append(r.secrets, aliceToken, bobToken, carolToken)

	status := func(headers map[string]string) int {
		t.Helper()
		resp := r.post(t, "/mcp", initializeRequest, headers)
		body := readAll(t, resp)
		if resp.StatusCode == http.StatusUnauthorized {
			assert.Contains(t, body, "AIPAINT_HTTP_TOKENS_FILE")
			assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
			for _, tok := range []string{aliceToken, bobToken, carolToken} {
				assert.NotContains(t, body, tok, "a 401 echoes no credentials")
			}
		}
		return resp.StatusCode
	}
	for name, tc := range map[string]struct {
		headers map[string]string
		want    int
	}{
		"alice":                 {bearerOf(aliceToken), http.StatusOK},
		"bob":                   {bearerOf(bobToken), http.StatusOK},
		"bearer in lower case":  {map[string]string{"Authorization": "bearer " + bobToken}, http.StatusOK},
		"no header":             {nil, http.StatusUnauthorized},
		"unknown token":         {bearerOf(carolToken), http.StatusUnauthorized},
		"empty bearer":          {bearerOf(""), http.StatusUnauthorized},
		"token prefix":          {bearerOf(aliceToken[:len(aliceToken)-1]), http.StatusUnauthorized},
		"token plus a suffix":   {bearerOf(aliceToken + "0"), http.StatusUnauthorized},
		"two tokens":            {bearerOf(aliceToken + " " + bobToken), http.StatusUnauthorized},
		"the name, not a token": {bearerOf("alice"), http.StatusUnauthorized},
		"basic scheme":          {map[string]string{"Authorization": "Basic " + aliceToken}, http.StatusUnauthorized},
		"no scheme":             {map[string]string{"Authorization": aliceToken}, http.StatusUnauthorized},
	} {
		assert.Equal(t, tc.want, status(tc.headers), name)
	}

	// Revoke bob, add carol.
	tm.edit(t, "alice "+aliceToken+" 3\ncarol "+carolToken+"\n")
	assert.Equal(t, http.StatusUnauthorized, status(bearerOf(bobToken)), "revoked")
	assert.Equal(t, http.StatusOK, status(bearerOf(carolToken)))
	assert.Equal(t, http.StatusOK, status(bearerOf(aliceToken)))

	// A malformed edit (bob back, but with a broken line) is rejected whole.
	tm.edit(t, "alice "+aliceToken+" 3\nbob "+bobToken+"\ncarol "+carolToken+" 2 extra\n")
	assert.Equal(t, http.StatusUnauthorized, status(bearerOf(bobToken)), "nothing of a rejected file is taken")
	assert.Equal(t, http.StatusOK, status(bearerOf(carolToken)), "the previous set stays")

	logged, err := os.ReadFile(tm.logs.Name())
	require.NoError(t, err)
	assert.Contains(t, string(logged), "tokens file rejected")
	assert.Contains(t, string(logged), "line 3:")
	for _, tok := range []string{aliceToken, bobToken, carolToken} {
		assert.NotContains(t, string(logged), tok, "the watcher never logs a token")
	}
}

func TestTokensFileAndTokenRefused(t *testing.T) {
	tm := newTeam(t, "alice "+aliceToken+"\n")
	err := HTTPTuned(context.Background(), newMCPServer(), HTTPOptions{
		Transport: TransportHTTP, Addr: "127.0.0.1:0", Token: "shared-token-12345", People: tm.watcher,
	}, Tuning{Ready: func(net.Addr) { t.Error("listened") }})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AIPAINT_HTTP_TOKEN")
	assert.Contains(t, err.Error(), "AIPAINT_HTTP_TOKENS_FILE")
	assert.NotContains(t, err.Error(), "shared-token-12345")
}

// whoServer has one tool, whoami, that answers with what
// people.FromContext finds in its handler's context.
func whoServer() *server.MCPServer {
	s := server.NewMCPServer("t", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.Tool{
		Name:        "whoami",
		Description: "the caller",
		InputSchema: mcp.ToolInputSchema{Type: "object", Properties: map[string]any{}},
	}, func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		p, ok := people.FromContext(ctx)
		limit := "none"
		if p.Limit != nil {
			limit = fmt.Sprint(*p.Limit)
		}
		return mcp.NewToolResultText(fmt.Sprintf("name=%q limit=%s found=%v", p.Name, limit, ok)), nil
	})
	return s
}

// textOf is the text of a tools/call result in a JSON-RPC message (a
// plain JSON body or the data of one SSE event).
func textOf(t *testing.T, body string) string {
	t.Helper()
	if i := strings.Index(body, "data: "); i >= 0 { // an SSE-framed answer
		body = strings.TrimSpace(strings.SplitN(body[i+len("data: "):], "\n", 2)[0])
	}
	var msg struct {
		Result struct {
			Content []struct{ Text string } `json:"content"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &msg), body)
	require.NotEmpty(t, msg.Result.Content, body)
	return msg.Result.Content[0].Text
}

// streamableSession initializes a streamable HTTP session with headers and
// returns its id.
func streamableSession(t *testing.T, r *running, headers map[string]string) string {
	t.Helper()
	resp := r.post(t, "/mcp", initializeRequest, headers)
	require.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp))
	readAll(t, resp)
	id := resp.Header.Get(server.HeaderKeySessionID)
	require.NotEmpty(t, id)
	h := map[string]string{server.HeaderKeySessionID: id}
	for k, v := range headers {
		h[k] = v
	}
	resp = r.post(t, "/mcp", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, h)
	readAll(t, resp)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	return id
}

func withSession(headers map[string]string, id string) map[string]string {
	h := map[string]string{server.HeaderKeySessionID: id}
	for k, v := range headers {
		h[k] = v
	}
	return h
}

// The person of the token reaches the tool handler's context over
// streamable HTTP; with one shared token (or none) nobody is there: the
// zero Person, as on a desktop.
func TestPersonReachesToolsStreamableHTTP(t *testing.T) {
	tm := newTeam(t, "alice "+aliceToken+" 3\nbob "+bobToken+"\n")
	r := startHTTPWith(t, whoServer(), HTTPOptions{Transport: TransportHTTP, People: tm.watcher})
	r.secrets = append(r.secrets, aliceToken, bobToken)
	for token, want := range map[string]string{
		aliceToken: `name="alice" limit=3 found=true`,
		bobToken:   `name="bob" limit=none found=true`,
	} {
		id := streamableSession(t, r, bearerOf(token))
		resp := r.post(t, "/mcp", toolCall(2, "whoami", `{}`), withSession(bearerOf(token), id))
		body := readAll(t, resp)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Equal(t, want, textOf(t, body))
	}

	for _, o := range []HTTPOptions{{Transport: TransportHTTP, Token: "shared-token-98765"}, {Transport: TransportHTTP}} {
		r := startHTTPWith(t, whoServer(), o)
		h := bearerOf(o.Token)
		id := streamableSession(t, r, h)
		resp := r.post(t, "/mcp", toolCall(2, "whoami", `{}`), withSession(h, id))
		body := readAll(t, resp)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Equal(t, `name="" limit=none found=false`, textOf(t, body), "the single user, as today")
	}
}

// The same over SSE: the person of the POST /message carrying the call.
func TestPersonReachesToolsSSE(t *testing.T) {
	tm := newTeam(t, "alice "+aliceToken+" 3\nbob "+bobToken+"\n")
	r := startHTTPWith(t, whoServer(), HTTPOptions{Transport: TransportSSE, People: tm.watcher})
	r.secrets = append(r.secrets, aliceToken, bobToken)
	for token, want := range map[string]string{
		aliceToken: `name="alice" limit=3 found=true`,
		bobToken:   `name="bob" limit=none found=true`,
	} {
		auth := bearerOf(token)
		stream := openSSE(t, r, auth)
		require.Equal(t, http.StatusOK, stream.resp.StatusCode)
		path := strings.TrimPrefix(messageURL(t, r, stream.next(t, "endpoint")), r.base)
		readAll(t, r.post(t, path, initializeRequest, auth))
		stream.next(t, "message")
		readAll(t, r.post(t, path, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, auth))
		resp := r.post(t, path, toolCall(2, "whoami", `{}`), auth)
		readAll(t, resp)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		assert.Equal(t, want, textOf(t, stream.next(t, "message").data))
	}

	r = startHTTPWith(t, whoServer(), HTTPOptions{Transport: TransportSSE, Token: "shared-token-98765"})
	auth := bearerOf("shared-token-98765")
	stream := openSSE(t, r, auth)
	path := strings.TrimPrefix(messageURL(t, r, stream.next(t, "endpoint")), r.base)
	readAll(t, r.post(t, path, initializeRequest, auth))
	stream.next(t, "message")
	readAll(t, r.post(t, path, toolCall(2, "whoami", `{}`), auth))
	assert.Equal(t, `name="" limit=none found=false`, textOf(t, stream.next(t, "message").data))
}

// A session belongs to the token that opened it: another person of the
// team can neither call in it, nor end it, nor listen to it.
func TestSessionsAreTheirOwners(t *testing.T) {
	tm := newTeam(t, "alice "+aliceToken+"\nbob "+bobToken+"\n")
	t.Run("streamable HTTP", func(t *testing.T) {
		r := startHTTPWith(t, whoServer(), HTTPOptions{Transport: TransportHTTP, People: tm.watcher})
		alice := streamableSession(t, r, bearerOf(aliceToken))

		resp := r.post(t, "/mcp", toolCall(2, "whoami", `{}`), withSession(bearerOf(bobToken), alice))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, readAll(t, resp))
		bobOnAlice := withSession(bearerOf(bobToken), alice)
		bobOnAlice["Accept"] = "text/event-stream"
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			assert.Equal(t, http.StatusNotFound, r.status(t, method, "/mcp", bobOnAlice), method)
		}
		// A forged or truncated seal is no better.
		flipped := "0" // the seal's last hex digit changed (to "1" when it is "0" already)
		if strings.HasSuffix(alice, "0") {
			flipped = "1"
		}
		for _, id := range []string{alice[:len(alice)-1] + flipped, alice[:strings.LastIndexByte(alice, '.')], alice + ".00"} {
			resp := r.post(t, "/mcp", toolCall(3, "whoami", `{}`), withSession(bearerOf(aliceToken), id))
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, id)
		}

		// Alice's session still works for her.
		resp = r.post(t, "/mcp", toolCall(4, "whoami", `{}`), withSession(bearerOf(aliceToken), alice))
		body := readAll(t, resp)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Contains(t, textOf(t, body), `name="alice"`)
		// And she can end it.
		assert.Equal(t, http.StatusOK, r.status(t, http.MethodDelete, "/mcp", withSession(bearerOf(aliceToken), alice)))
	})
	t.Run("SSE", func(t *testing.T) {
		r := startHTTPWith(t, whoServer(), HTTPOptions{Transport: TransportSSE, People: tm.watcher})
		stream := openSSE(t, r, bearerOf(aliceToken))
		path := strings.TrimPrefix(messageURL(t, r, stream.next(t, "endpoint")), r.base)
		resp := r.post(t, path, initializeRequest, bearerOf(bobToken))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, readAll(t, resp))

		// Bob's own session named too, in the header or the query, does not
		// make Alice's his.
		bobStream := openSSE(t, r, bearerOf(bobToken))
		bobPath := strings.TrimPrefix(messageURL(t, r, bobStream.next(t, "endpoint")), r.base)
		bobID := strings.TrimPrefix(bobPath, "/message?sessionId=")
		require.NotEqual(t, bobPath, bobID)
		resp = r.post(t, path, initializeRequest, withSession(bearerOf(bobToken), bobID))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, readAll(t, resp))
		resp = r.post(t, path+"&sessionId="+bobID, initializeRequest, bearerOf(bobToken))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, readAll(t, resp))
		resp = r.post(t, bobPath+"&sessionId="+strings.TrimPrefix(path, "/message?sessionId="), initializeRequest, bearerOf(bobToken))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, readAll(t, resp))
		resp = r.post(t, bobPath, initializeRequest, bearerOf(bobToken))
		assert.Equal(t, http.StatusAccepted, resp.StatusCode, readAll(t, resp))
		bobStream.next(t, "message")

		resp = r.post(t, path, initializeRequest, bearerOf(aliceToken))
		assert.Equal(t, http.StatusAccepted, resp.StatusCode, readAll(t, resp))
		stream.next(t, "message")
	})
}

func getHealth(t *testing.T, r *running, method string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+"/healthz", nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode, readAll(t, resp)
}

// /healthz needs no token and obeys no Origin rule, and says only ok or not ok.
func TestHealthz(t *testing.T) {
	tm := newTeam(t, "alice "+aliceToken+"\n")
	var failing atomic.Bool
	check := func(ctx context.Context) error {
		if failing.Load() {
			return errors.New("dial tcp db.internal:5432: connection refused (password=hunter2)")
		}
		return nil
	}
	for _, o := range []HTTPOptions{
		{Transport: TransportHTTP, People: tm.watcher, Health: check},
		{Transport: TransportSSE, Token: "shared-token-98765", Health: check},
		{Transport: TransportHTTP, Health: check},
	} {
		failing.Store(false)
		r := startHTTP(t, o)
		for _, h := range []map[string]string{nil, {"Origin": "http://evil.example"}, bearerOf("wrong-token-0000000000")} {
			code, body := getHealth(t, r, http.MethodGet, h)
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, "ok\n", body)
		}
		code, body := getHealth(t, r, http.MethodHead, nil)
		assert.Equal(t, http.StatusOK, code)
		assert.Empty(t, body)
		code, _ = getHealth(t, r, http.MethodPost, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, code)

		failing.Store(true)
		code, body = getHealth(t, r, http.MethodGet, nil)
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Equal(t, "not ok\n", body, "never the error's text")
		failing.Store(false)
		code, _ = getHealth(t, r, http.MethodGet, nil)
		assert.Equal(t, http.StatusOK, code, "healthy again")

		// The rest still needs its token.
		if o.People != nil || o.Token != "" {
			resp := r.post(t, "/mcp", initializeRequest, nil)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		}
		require.NoError(t, r.stop(t))
		logged, err := os.ReadFile(r.logs.Name())
		require.NoError(t, err)
		assert.Equal(t, 1, strings.Count(string(logged), "health check failing"), "logged when it changes, not at every request")
		assert.Equal(t, 1, strings.Count(string(logged), "health check passing again"))
	}

	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP})
	code, body := getHealth(t, r, http.MethodGet, nil)
	assert.Equal(t, http.StatusOK, code, "no Health: always ok")
	assert.Equal(t, "ok\n", body)
}

// A check that hangs gives "not ok" after HealthTimeout, and requests
// meanwhile do not start checks of their own: a flood of /healthz costs the
// store one check in flight.
func TestHealthzHangingCheck(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	check := func(ctx context.Context) error {
		calls.Add(1)
		<-release // ignores ctx: the worst a store can do
		return nil
	}
	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP, Health: check}, Tuning{HealthTimeout: 20 * time.Millisecond})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			code, body := getHealth(t, r, http.MethodGet, nil)
			assert.Equal(t, http.StatusServiceUnavailable, code)
			assert.Equal(t, "not ok\n", body)
		})
	}
	wg.Wait()
	for range 3 {
		code, _ := getHealth(t, r, http.MethodGet, nil)
		assert.Equal(t, http.StatusServiceUnavailable, code)
	}
	assert.Equal(t, int32(1), calls.Load(), "one check in flight, shared")
	close(release)
	deadline := time.Now().Add(startBound) // a bound on a hang, not a timed assertion
	for {
		if code, _ := getHealth(t, r, http.MethodGet, nil); code == http.StatusOK {
			break
		}
		require.True(t, time.Now().Before(deadline), "healthy once the check returns")
	}
}

func TestHealthzPanickingCheck(t *testing.T) {
	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP, Health: func(context.Context) error { panic("store bug") }})
	code, body := getHealth(t, r, http.MethodGet, nil)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "not ok\n", body)
}
