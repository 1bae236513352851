package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// untilHealth asks the server's /healthz on fresh connections until it
// answers code (within exitTimeout, a liveness bound) and returns how long
// that took.
func untilHealth(t *testing.T, addr string, code int) time.Duration {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}, Timeout: exitTimeout}
	start := time.Now()
	for {
		resp, err := c.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("/healthz: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == code {
			if code == http.StatusServiceUnavailable && string(body) != "draining\n" {
				t.Errorf("/healthz while draining: body %q, want draining", body)
			}
			return time.Since(start)
		}
		if time.Since(start) > exitTimeout {
			t.Fatalf("/healthz still answers %d %q after %s", resp.StatusCode, body, exitTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDrain: a rolling update loses no call. SIGTERM while generate_image
// waits on the sandbox: /healthz answers 503 at once while the listener
// still answers everything (a new connection, a new session, a new paid
// call) for AIPAINT_SHUTDOWN_GRACE; then the server stops accepting, both
// calls get their pictures, and the process exits by itself with status 0.
func TestDrain(t *testing.T) {
	const (
		grace = 5 * time.Second  // room for a new session and call on a loaded machine
		delay = 10 * time.Second // the calls are still waiting when the grace ends
	)
	for _, transport := range []string{"http", "sse"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
			defer cancel()
			out := t.TempDir()
			p := startHTTPServer(t, transport, true, "AIPAINT_SANDBOX_DELAY="+delay.String(),
				"AIPAINT_SHUTDOWN_GRACE="+grace.String(), "AIPAINT_OUTPUT_DIR="+out)
			endpoint := "http://" + p.addr + map[string]string{"http": "/mcp", "sse": "/sse"}[transport]
			open := func(progress *progressLog) *mcp.ClientSession {
				hc := httpClient(nil, nil)
				var tr mcp.Transport = &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1}
				if transport == "sse" {
					tr = &mcp.SSEClientTransport{Endpoint: endpoint, HTTPClient: hc}
				}
				return connect(t, ctx, newClient(progress), tr, nil, nil)
			}
			type answer struct {
				res *mcp.CallToolResult
				err error
			}
			generate := func(cs *mcp.ClientSession, text string, progress *progressLog) <-chan answer {
				answers := make(chan answer, 1)
				go func() {
					params := &mcp.CallToolParams{Name: "generate_image", Arguments: map[string]any{"text": text, "num": 2, "wait_seconds": 40}}
					if progress != nil {
						params.SetProgressToken("drain")
					}
					res, err := cs.CallTool(ctx, params)
					answers <- answer{res, err}
				}()
				return answers
			}

			progress := newProgressLog()
			cs := open(progress)
			first := generate(cs, "滚动更新前的画", progress)
			// A progress notification proves the task was submitted and the
			// call is in its wait.
			for len(progress.get("drain")) == 0 {
				select {
				case <-ctx.Done():
					t.Fatalf("no progress notification before the deadline: %v", ctx.Err())
				case <-time.After(20 * time.Millisecond):
				}
			}

			p.signal(t, syscall.SIGTERM)
			t.Logf("/healthz answered 503 %s after SIGTERM", untilHealth(t, p.addr, http.StatusServiceUnavailable).Round(time.Millisecond))
			// During the grace a balancer may still send new clients here:
			// they are served, paid calls included.
			late := open(nil)
			if _, err := late.ListTools(ctx, nil); err != nil {
				t.Fatalf("tools/list on a session opened during the grace: %v", err)
			}
			second := generate(late, "滚动更新中的画", nil)

			// Then the listener closes while both calls still wait.
			for {
				conn, err := net.DialTimeout("tcp", p.addr, time.Second)
				if err != nil {
					break
				}
				_ = conn.Close()
				select {
				case <-p.done:
					t.Fatalf("the server exited before it was seen to stop accepting: %v", p.waitErr)
				case <-ctx.Done():
					t.Fatal("the server still accepts connections")
				case <-time.After(20 * time.Millisecond):
				}
			}
			select {
			case <-p.done:
				t.Fatalf("the server exited before the calls in flight had finished: %v", p.waitErr)
			default:
			}

			images := 0
			for i, answers := range []<-chan answer{first, second} {
				select {
				case a := <-answers:
					if a.err != nil {
						t.Fatalf("call %d: %v; want its pictures", i+1, a.err)
					}
					var r taskResult
					structured(t, a.res, &r)
					if r.Status != "done" || len(r.Images) != 2 {
						t.Errorf("call %d: status %q, %d images; want done with 2: %s", i+1, r.Status, len(r.Images), textOf(a.res))
					}
					images += len(r.Images)
				case <-ctx.Done():
					t.Fatalf("call %d not answered", i+1)
				}
			}
			if code := p.exited(t); code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0", code)
			}
			if saved := filesUnder(t, out); len(saved) != images {
				t.Errorf("%d pictures saved, want %d: %v", len(saved), images, saved)
			}
			log := p.stderr.String()
			at := -1
			for _, msg := range []string{"msg=draining", `msg="stopped accepting"`, "msg=stopped"} {
				i := strings.Index(log, msg)
				if i <= at {
					t.Errorf("the log does not say %s after the lines before it", msg)
				}
				at = i
			}
		})
	}
}
