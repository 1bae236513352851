package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestHTTPAndSSEOnOneAddress: --transport http,sse (the container image's
// command) serves streamable HTTP on /mcp and SSE on /sse from one listener,
// each behind the token, and stops cleanly with sessions open on both.
func TestHTTPAndSSEOnOneAddress(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
	defer cancel()
	p := startHTTPServer(t, "http,sse", true, "AIPAINT_HTTP_TOKEN="+httpToken, "AIPAINT_SANDBOX_DELAY=0s")
	hc := httpClient(http.Header{"Authorization": {"Bearer " + httpToken}}, nil)
	plain := httpClient(nil, nil)
	t.Cleanup(hc.CloseIdleConnections)
	t.Cleanup(plain.CloseIdleConnections)

	for _, tc := range []struct {
		name string
		tr   func(*http.Client) mcp.Transport
	}{
		{"streamable_http", func(c *http.Client) mcp.Transport {
			return &mcp.StreamableClientTransport{Endpoint: "http://" + p.addr + "/mcp", HTTPClient: c, MaxRetries: -1}
		}},
		{"sse", func(c *http.Client) mcp.Transport {
			return &mcp.SSEClientTransport{Endpoint: "http://" + p.addr + "/sse", HTTPClient: c}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if cs, err := newClient(nil).Connect(ctx, tc.tr(plain), nil); err == nil {
				_ = cs.Close()
				t.Fatal("connected without the bearer token")
			}
			cs := connect(t, ctx, newClient(nil), tc.tr(hc), nil, nil)
			res := call(t, ctx, cs, "generate_image", map[string]any{"text": "同一个端口上的熊猫", "wait_seconds": 10})
			mustOK(t, res)
			var r taskResult
			structured(t, res, &r)
			if r.Status != "done" || len(r.Images) != 1 {
				t.Errorf("generate_image over %s: status %q, %d images", tc.name, r.Status, len(r.Images))
			}
		})
	}
}
