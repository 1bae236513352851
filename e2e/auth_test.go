package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const httpToken = "secret-token-123"

// TestHTTPToken: with AIPAINT_HTTP_TOKEN set, the streamable HTTP endpoint
// wants the bearer token, and a foreign Origin is refused whatever the token.
func TestHTTPToken(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
	defer cancel()
	p := startHTTPServer(t, "http", true, "AIPAINT_HTTP_TOKEN="+httpToken, "AIPAINT_SANDBOX_DELAY=0s")
	endpoint := "http://" + p.addr + "/mcp"
	plain := httpClient(nil, nil)
	wrong := httpClient(http.Header{"Authorization": {"Bearer not-the-token"}}, nil)
	// Runs before the server's SIGTERM: spare connections would hold its shutdown.
	t.Cleanup(plain.CloseIdleConnections)
	t.Cleanup(wrong.CloseIdleConnections)

	t.Run("no_token_cannot_connect", func(t *testing.T) {
		tr := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: plain, MaxRetries: -1}
		cs, err := newClient(nil).Connect(ctx, tr, nil)
		if err == nil {
			_ = cs.Close()
			t.Fatal("connected without the bearer token")
		}
		t.Logf("without a token: %v", err)
	})

	t.Run("wrong_token_cannot_connect", func(t *testing.T) {
		tr := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: wrong, MaxRetries: -1}
		cs, err := newClient(nil).Connect(ctx, tr, nil)
		if err == nil {
			_ = cs.Close()
			t.Fatal("connected with a wrong bearer token")
		}
	})

	t.Run("token_works", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + httpToken}}
		hc := httpClient(h, nil)
		t.Cleanup(hc.CloseIdleConnections)
		tr := &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}
		cs := connect(t, ctx, newClient(nil), tr, nil, nil)
		res := call(t, ctx, cs, "list_styles", map[string]any{})
		mustOK(t, res)
		res = call(t, ctx, cs, "generate_image", map[string]any{"text": "带令牌的熊猫", "wait_seconds": 10})
		mustOK(t, res)
		var r taskResult
		structured(t, res, &r)
		if r.Status != "done" || len(r.Images) != 1 {
			t.Errorf("generate_image with token: status %q, %d images", r.Status, len(r.Images))
		}
	})

	post := func(t *testing.T, headers map[string]string) (int, string) {
		t.Helper()
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(b)
	}

	t.Run("raw_no_token_401", func(t *testing.T) {
		if code, body := post(t, nil); code != http.StatusUnauthorized {
			t.Errorf("POST without token: %d %s, want 401", code, body)
		}
	})

	t.Run("raw_foreign_origin_403", func(t *testing.T) {
		code, body := post(t, map[string]string{"Origin": "http://evil.example", "Authorization": "Bearer " + httpToken})
		if code != http.StatusForbidden {
			t.Errorf("POST with Origin http://evil.example: %d %s, want 403", code, body)
		}
		// Without the token too: the Origin rule comes first.
		if code, body := post(t, map[string]string{"Origin": "http://evil.example"}); code != http.StatusForbidden {
			t.Errorf("POST with Origin http://evil.example and no token: %d %s, want 403", code, body)
		}
	})

	t.Run("raw_loopback_origin_ok", func(t *testing.T) {
		code, body := post(t, map[string]string{"Origin": "http://localhost:3000", "Authorization": "Bearer " + httpToken})
		if code != http.StatusOK {
			t.Errorf("POST with a loopback Origin and the token: %d %s, want 200", code, body)
		}
	})
}
