package e2e

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestShutdownAnswersInFlightCall stops the server at once while
// generate_image is waiting for a task that was already submitted (and,
// upstream, billed): SIGTERM for a stdio server, a second signal for an HTTP
// one (the first lets calls finish: drain_test.go). The stop ends the wait
// and still answers the call: status "pending" with the task_id, so the
// caller can use check_task later instead of paying for a second image. The
// process must still exit promptly: with status 0 from stdio, 1 from HTTP
// (its stop was cut short).
func TestShutdownAnswersInFlightCall(t *testing.T) {
	for _, transport := range []string{"stdio", "sse", "http"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
			defer cancel()
			env := []string{"AIPAINT_SANDBOX_DELAY=60s"} // never done during the test
			progress := newProgressLog()
			client := newClient(progress)

			var (
				cs       *mcp.ClientSession
				sigterm  func()
				checkEnd func(t *testing.T)
			)
			switch transport {
			case "stdio":
				cmd, _ := stdioCommand(t, true, env...)
				var err error
				cs, err = client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: exitTimeout}, nil)
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				sigterm = func() { _ = cmd.Process.Signal(syscall.SIGTERM) }
				checkEnd = func(t *testing.T) {
					start := time.Now()
					_ = cs.Close() // waits for the process (which SIGTERM already ended)
					if took := time.Since(start); took >= exitTimeout {
						t.Errorf("stdio server still running %s after SIGTERM", took)
					}
					if st := cmd.ProcessState; st == nil || !st.Exited() || st.ExitCode() != 0 {
						t.Errorf("stdio server after SIGTERM: %v, want exit status 0", st)
					}
				}
			default:
				// A grace that outlasts the test: only the second signal ends it.
				p := startHTTPServer(t, transport, true, append(env, "AIPAINT_SHUTDOWN_GRACE=10m")...)
				path := "/mcp"
				if transport == "sse" {
					path = "/sse"
				}
				hc := httpClient(nil, nil)
				var tr mcp.Transport = &mcp.StreamableClientTransport{Endpoint: "http://" + p.addr + path, HTTPClient: hc, MaxRetries: -1}
				if transport == "sse" {
					tr = &mcp.SSEClientTransport{Endpoint: "http://" + p.addr + path, HTTPClient: hc}
				}
				var err error
				cs, err = client.Connect(ctx, tr, nil)
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				sigterm = func() {
					p.signal(t, syscall.SIGTERM)
					// Signals of one kind may merge while pending: the second is
					// sent once the first has been seen.
					untilHealth(t, p.addr, http.StatusServiceUnavailable)
					// A signal within half a second of the first counts as
					// the same one delivered twice (main's signalEcho).
					time.Sleep(time.Second)
					second := map[string]os.Signal{"http": syscall.SIGTERM, "sse": syscall.SIGINT}[transport]
					p.signal(t, second)
				}
				checkEnd = func(t *testing.T) {
					if code := p.exited(t); code != 1 {
						t.Errorf("HTTP server after a second signal: exit status %d, want 1", code)
					}
					if !strings.Contains(p.stderr.String(), "stopped at once by a second signal") {
						t.Errorf("no log line says the stop was cut short")
					}
					_ = cs.Close()
				}
			}

			type answer struct {
				res *mcp.CallToolResult
				err error
			}
			answers := make(chan answer, 1)
			const token = "shutdown-progress"
			go func() {
				params := &mcp.CallToolParams{Name: "generate_image", Arguments: map[string]any{"text": "关机前的最后一幅画", "wait_seconds": 30}}
				params.SetProgressToken(token)
				res, err := cs.CallTool(ctx, params)
				answers <- answer{res, err}
			}()
			// A progress notification proves the task was submitted and the
			// handler is in its wait.
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for len(progress.get(token)) == 0 {
				select {
				case <-ctx.Done():
					t.Fatalf("no progress notification before the deadline: %v", ctx.Err())
				case <-tick.C:
				}
			}
			sigterm()

			select {
			case a := <-answers:
				switch {
				case a.err != nil:
					t.Errorf("in-flight generate_image got a transport error at shutdown: %v; want a pending result with the task_id (the task was submitted and billed)", a.err)
				case a.res.IsError:
					t.Errorf("in-flight generate_image got isError at shutdown: %s", textOf(a.res))
				default:
					var r taskResult
					structured(t, a.res, &r)
					if r.Status != "pending" || r.TaskID == "" {
						t.Errorf("in-flight generate_image at shutdown: status %q task_id %q, want pending with the task_id", r.Status, r.TaskID)
					}
				}
			case <-time.After(exitTimeout):
				t.Errorf("in-flight generate_image not answered within %s of SIGTERM", exitTimeout)
			}
			checkEnd(t)
		})
	}
}

// TestShutdownWithIdleConnection: a client connection that is open but has
// not sent a request yet (HTTP clients and browsers keep spare ones) must
// not hold the server's exit after SIGTERM.
func TestShutdownWithIdleConnection(t *testing.T) {
	for _, transport := range []string{"sse", "http"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			p := startHTTPServer(t, transport, true)
			conn, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			p.stop(t) // fails unless the process exits with status 0 within exitTimeout
		})
	}
}
