package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"aipaint-mcp/sandbox"
	"aipaint-mcp/sandbox/sandboxtest"
)

// Secrets of the scan. The sandbox accepts only its own AppSecret and
// AppCode; the token and the wrong secret are made up for the scan.
const (
	scanToken       = "bearer-SCAN-3b9f0c7d1e"
	scanWrongSecret = "wrong-SECRET-5a1d9e77c2"
)

var scanSecrets = []string{sandbox.AppSecret, sandbox.AppCode, scanToken, scanWrongSecret}

// faultySandbox is an upstream in this test process with one fault of every
// kind queued on each API, plus the gateway and business errors no kind
// covers. Whatever order the calls take them in, the session sees them all.
func faultySandbox(t *testing.T) *sandboxtest.Upstream {
	t.Helper()
	sb := sandboxtest.Start(t, sandboxtest.Delay(200*time.Millisecond))
	extra := []sandboxtest.Fault{
		{Gateway: "APIG.0303", Msg: "verify signature fail, canonicalRequest:POST|/ai/paint/submit/||content-type:x|"},
		{Gateway: "APIG.0304"}, {Gateway: "APIG.0101"}, {Business: 400}, {Business: 201},
	}
	for _, op := range []sandbox.Op{sandbox.OpSubmit, sandbox.OpQuery} {
		for _, kind := range sandboxtest.FaultKinds() {
			f, _ := sandboxtest.FaultOf(kind)
			if kind == sandboxtest.FaultSlow {
				f.Delay = 100 * time.Millisecond
			}
			sb.FailNext(op, f)
		}
		for _, f := range extra {
			sb.FailNext(op, f)
		}
	}
	return sb
}

// scanCalls is the session: more upstream calls than queued faults, so that
// every fault is used and some calls succeed, plus argument errors.
func scanCalls(n int) []rawRequest {
	reqs := []rawRequest{{ID: 2, Method: "tools/call", Params: map[string]any{"name": "list_styles", "arguments": map[string]any{}}}}
	for i := range n {
		reqs = append(reqs,
			rawRequest{ID: 100 + i, Method: "tools/call", Params: map[string]any{"name": "generate_image",
				"arguments": map[string]any{"text": "扫描 " + string(rune('A'+i%26)) + strings.Repeat("猫", i%5), "wait_seconds": 3}}},
			rawRequest{ID: 300 + i, Method: "tools/call", Params: map[string]any{"name": "check_task",
				"arguments": map[string]any{"task_id": "sbx-unknown-task"}}},
		)
	}
	return append(reqs,
		rawRequest{ID: 3, Method: "tools/call", Params: map[string]any{"name": "generate_image", "arguments": map[string]any{"text": strings.Repeat("长", 150)}}},
		rawRequest{ID: 4, Method: "tools/call", Params: map[string]any{"name": "generate_image", "arguments": map[string]any{"text": "x", "style": "nope"}}},
	)
}

// scanDirs are a fresh HOME, data and output folder for one server process,
// as environment entries; everything the process writes lands under root.
func scanDirs(t *testing.T) (root string, env []string) {
	t.Helper()
	root = t.TempDir()
	return root, []string{"HOME=" + root, "XDG_CONFIG_HOME=" + filepath.Join(root, "config"),
		"AIPAINT_DATA_DIR=" + filepath.Join(root, "data"), "AIPAINT_OUTPUT_DIR=" + filepath.Join(root, "images"),
		"AIPAINT_LOG_LEVEL=debug"}
}

// TestSecretScan runs full sessions (success and every error kind, debug
// logging) over stdio with each kind of credentials and over HTTP with a
// bearer token, then looks for the secrets in everything the process wrote.
func TestSecretScan(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
	defer cancel()
	nCalls := 2*len(sandboxtest.FaultKinds()) + 14

	creds := []struct {
		name string
		env  []string
	}{
		{"signed", []string{"AIPAINT_APP_KEY=" + sandbox.AppKey, "AIPAINT_APP_SECRET=" + sandbox.AppSecret}},
		{"appcode", []string{"AIPAINT_APP_CODE=" + sandbox.AppCode}},
		{"wrong_secret", []string{"AIPAINT_APP_KEY=" + sandbox.AppKey, "AIPAINT_APP_SECRET=" + scanWrongSecret}},
	}
	for _, c := range creds {
		t.Run("stdio_"+c.name, func(t *testing.T) {
			sb := faultySandbox(t)
			root, dirs := scanDirs(t)
			env := append(append(dirs, c.env...), "AIPAINT_SUBMIT_URL="+sb.SubmitURL(), "AIPAINT_QUERY_URL="+sb.QueryURL(),
				"AIPAINT_HTTP_TOKEN="+scanToken)
			res := runRawStdio(t, ctx, "2025-11-25", false, env, scanCalls(nCalls))
			var out bytes.Buffer
			for _, l := range res.lines {
				out.Write(l)
			}
			scan(t, "stdout", out.String())
			scan(t, "stderr", res.stderr.String())
			scanFiles(t, root)
			st := sb.Stats()
			t.Logf("upstream: %d submit requests (%d accepted), %d queries, %d auth failures; %d stdout bytes, %d stderr bytes",
				st.SubmitRequests, st.Submits, st.Queries, st.AuthFailures, out.Len(), len(res.stderr.String()))
			if c.name == "wrong_secret" {
				if st.AuthFailures == 0 || !strings.Contains(res.stderr.String(), "canonicalRequest") {
					t.Errorf("the wrong secret should fail the signature and its canonical request be logged at debug")
				}
			} else if st.Submits == 0 {
				t.Errorf("no submit succeeded: the scan did not cover a success")
			}
		})
	}

	t.Run("http_token", func(t *testing.T) {
		sb := faultySandbox(t)
		root, dirs := scanDirs(t)
		p := startHTTPServer(t, "http", false, append(append(dirs, sb.Env()...), "AIPAINT_HTTP_TOKEN="+scanToken)...)
		capture := &wireCapture{}
		hc := httpClient(http.Header{"Authorization": {"Bearer " + scanToken}}, capture)
		t.Cleanup(hc.CloseIdleConnections)
		cs := connect(t, ctx, newClient(nil), &mcp.StreamableClientTransport{Endpoint: "http://" + p.addr + "/mcp", HTTPClient: hc}, nil, nil)
		var wg sync.WaitGroup
		for _, r := range scanCalls(nCalls) {
			params := r.Params.(map[string]any)
			wg.Go(func() {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: params["name"].(string), Arguments: params["arguments"]})
				if err != nil {
					t.Errorf("%v: %v", params, err)
					return
				}
				scan(t, "a result's text", textOf(res))
			})
		}
		wg.Wait()
		// A wrong token is refused without echoing it.
		wrong := httpClient(http.Header{"Authorization": {"Bearer " + scanWrongSecret}}, capture)
		t.Cleanup(wrong.CloseIdleConnections)
		resp, err := wrong.Post("http://"+p.addr+"/mcp", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		var wire strings.Builder
		for _, m := range capture.messages() {
			wire.Write(m)
		}
		scan(t, "HTTP responses", wire.String())
		p.stop(t)
		scan(t, "stdout+stderr", p.stderr.String())
		scanFiles(t, root)
		if sb.Stats().Submits == 0 {
			t.Errorf("no submit succeeded: the scan did not cover a success")
		}
	})

	t.Run("help_and_invalid_settings", func(t *testing.T) {
		secretEnv := []string{"AIPAINT_APP_KEY=" + sandbox.AppKey, "AIPAINT_APP_SECRET=" + sandbox.AppSecret,
			"AIPAINT_APP_CODE=" + sandbox.AppCode, "AIPAINT_HTTP_TOKEN=" + scanToken}
		for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"generate", "--help"}, {"--version"}} {
			out := runBinary(t, ctx, args, secretEnv)
			scan(t, strings.Join(args, " "), out)
		}
		// Invalid values that look like secrets: the errors name the setting only.
		bad := append(secretEnv, "AIPAINT_REQUEST_FORMAT="+scanWrongSecret, "AIPAINT_SUBMIT_URL=https://user:"+scanWrongSecret+"@example.invalid/x",
			"AIPAINT_QUERY_URL=https://example.invalid/q?key="+scanWrongSecret, "AIPAINT_MAX_CONCURRENCY="+scanWrongSecret,
			"AIPAINT_CA_FILE=/nonexistent/"+scanWrongSecret+".pem")
		out := runBinary(t, ctx, []string{"generate", "--sandbox", "猫"}, bad)
		scan(t, "generate with invalid settings", out)
		for _, name := range []string{"AIPAINT_REQUEST_FORMAT", "AIPAINT_SUBMIT_URL", "AIPAINT_QUERY_URL", "AIPAINT_MAX_CONCURRENCY"} {
			if !strings.Contains(out, name) {
				t.Errorf("the error does not name %s:\n%s", name, out)
			}
		}
		res := runRawStdio(t, ctx, "2025-11-25", false, bad, []rawRequest{
			{ID: 2, Method: "tools/call", Params: map[string]any{"name": "generate_image", "arguments": map[string]any{"text": "猫"}}},
		})
		var stdout bytes.Buffer
		for _, l := range res.lines {
			stdout.Write(l)
		}
		scan(t, "serve with invalid settings: stdout", stdout.String())
		scan(t, "serve with invalid settings: stderr", res.stderr.String())
		if !strings.Contains(stdout.String(), "AIPAINT_CA_FILE") {
			t.Errorf("the tool error does not name AIPAINT_CA_FILE: %s", stdout.String())
		}
	})
}

// runBinary runs the server binary to its end and returns stdout and stderr together.
func runBinary(t *testing.T, ctx context.Context, args, env []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	_, dirs := scanDirs(t)
	cmd.Env = serverEnv(append(dirs, env...)...)
	out, _ := cmd.CombinedOutput() // some of these exit 1 on purpose
	return string(out)
}

// scan fails the test if text contains any secret, in clear or URL-encoded.
func scan(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range scanSecrets {
		for _, form := range []string{s, url.QueryEscape(s)} {
			if i := strings.Index(text, form); i >= 0 {
				t.Errorf("a secret appears in %s: …%s…", where, text[max(i-80, 0):i])
			}
		}
	}
}

// scanFiles scans every file under root.
func scanFiles(t *testing.T, root string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		scan(t, "file "+path, string(b))
		return nil
	})
	if err != nil {
		t.Errorf("scan files: %v", err)
	}
	t.Logf("scanned %d files written under the process's folders", n)
}
