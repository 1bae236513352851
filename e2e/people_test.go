//go:build unix

package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tokens of the team; never in the server's log.
const (
	aliceToken = "alice-e2e-token-8c1f0a"
	bobToken   = "bob-e2e-token-3b7d92e4"
)

// TestTokensFileHangup: the built server with AIPAINT_HTTP_TOKENS_FILE lets
// in the file's tokens only; after an edit and a SIGHUP a revoked token gets
// 401; a malformed edit and a SIGHUP change nothing; /healthz needs no token.
func TestTokensFileHangup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
	defer cancel()
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	write("alice " + aliceToken + " 2\n")
	p := startHTTPServer(t, "http", true, "AIPAINT_HTTP_TOKENS_FILE="+path)
	client := httpClient(nil, nil)
	t.Cleanup(client.CloseIdleConnections)
	t.Cleanup(func() {
		for _, tok := range []string{aliceToken, bobToken} {
			if strings.Contains(p.stderr.String(), tok) {
				t.Errorf("a token is in the server's log")
			}
		}
	})

	status := func(method, path, token string) int {
		t.Helper()
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
		var rd io.Reader
		if method == http.MethodPost {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, "http://"+p.addr+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	// awaitStatus polls until the token gets want: a reload runs on the
	// server's own goroutine after the signal.
	awaitStatus := func(token string, want int, what string) {
		t.Helper()
		deadline := time.Now().Add(startTimeout) // a bound on a hang, not a timed assertion
		for status(http.MethodPost, "/mcp", token) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: still not %d", what, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if got := status(http.MethodPost, "/mcp", aliceToken); got != http.StatusOK {
		t.Fatalf("alice: %d, want 200", got)
	}
	for _, tok := range []string{"", bobToken, "alice"} {
		if got := status(http.MethodPost, "/mcp", tok); got != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", tok, got)
		}
	}
	if got := status(http.MethodGet, "/healthz", ""); got != http.StatusOK {
		t.Errorf("/healthz without a token: %d, want 200", got)
	}

	// Revoke alice, add bob.
	write("bob " + bobToken + "\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	awaitStatus(bobToken, http.StatusOK, "bob after the hangup")
	if got := status(http.MethodPost, "/mcp", aliceToken); got != http.StatusUnauthorized {
		t.Errorf("alice, revoked: %d, want 401", got)
	}

	// A malformed edit that would let alice back in: rejected whole.
	write("bob " + bobToken + "\nalice " + aliceToken + " two\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(p.stderr.String(), "tokens file rejected") {
		if time.Now().After(deadline) {
			t.Fatal("the malformed file was not reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "line 2:") {
		t.Error("the rejection does not name the line")
	}
	if got := status(http.MethodPost, "/mcp", aliceToken); got != http.StatusUnauthorized {
		t.Errorf("alice after a rejected file: %d, want 401", got)
	}
	if got := status(http.MethodPost, "/mcp", bobToken); got != http.StatusOK {
		t.Errorf("bob after a rejected file: %d, want 200 (the previous people stay)", got)
	}
}

// TestTokensFileClients: the official SDK's clients, with a token of the
// file, draw over streamable HTTP and SSE (their sessions carry the token's
// seal); a token not in the file cannot connect.
func TestTokensFileClients(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("alice "+aliceToken+" 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ transport, path string }{{"http", "/mcp"}, {"sse", "/sse"}} {
		t.Run(tc.transport, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
			defer cancel()
			p := startHTTPServer(t, tc.transport, true, "AIPAINT_HTTP_TOKENS_FILE="+path, "AIPAINT_SANDBOX_DELAY=0s")
			endpoint := "http://" + p.addr + tc.path
			transport := func(token string) (mcp.Transport, *http.Client) {
				hc := httpClient(http.Header{"Authorization": {"Bearer " + token}}, nil)
				t.Cleanup(hc.CloseIdleConnections)
				if tc.transport == "sse" {
					return &mcp.SSEClientTransport{Endpoint: endpoint, HTTPClient: hc}, hc
				}
				return &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1}, hc
			}

			tr, _ := transport(bobToken)
			if cs, err := newClient(nil).Connect(ctx, tr, nil); err == nil {
				_ = cs.Close()
				t.Fatal("connected with a token not in the file")
			}

			tr, _ = transport(aliceToken)
			cs := connect(t, ctx, newClient(nil), tr, nil, nil)
			mustOK(t, call(t, ctx, cs, "list_styles", map[string]any{}))
			res := call(t, ctx, cs, "generate_image", map[string]any{"text": "团队里的熊猫", "wait_seconds": 10})
			mustOK(t, res)
			var r taskResult
			structured(t, res, &r)
			if r.Status != "done" || len(r.Images) != 1 {
				t.Errorf("generate_image with a token of the file: status %q, %d images", r.Status, len(r.Images))
			}
			if strings.Contains(p.stderr.String(), aliceToken) || strings.Contains(p.stderr.String(), bobToken) {
				t.Error("a token is in the server's log")
			}
		})
	}
}
