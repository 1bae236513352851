package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"aipaint-mcp/metrics"
	"aipaint-mcp/metrics/metricstest"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/sandbox/sandboxtest"
)

// TestMetricsAndAudit: two people of a tokens file call a team server
// against the signature-verifying stand-in, with AIPAINT_METRICS_ADDR and
// AIPAINT_LOG_FORMAT=json. /metrics parses with Prometheus's parser,
// counts each tool call, and bills each person what the stand-in billed;
// every log line is a JSON object, each tool call left exactly one audit
// record with its fields, and no token, secret or prompt is in the log.
func TestMetricsAndAudit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
	defer cancel()
	sb := sandboxtest.Start(t, sandboxtest.Delay(0))
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("alice "+aliceToken+"\nbob "+bobToken+" 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	metricsAddr := freeAddr(t)
	env, _ := upstreamEnv(sb, dir, "AIPAINT_HTTP_TOKENS_FILE="+tokens, "AIPAINT_METRICS_ADDR="+metricsAddr, "AIPAINT_LOG_FORMAT=json")
	p := startHTTPServer(t, "http", false, env...)
	session := func(token string) *mcp.ClientSession {
		hc := httpClient(http.Header{"Authorization": {"Bearer " + token}}, nil)
		t.Cleanup(hc.CloseIdleConnections)
		tr := &mcp.StreamableClientTransport{Endpoint: "http://" + p.addr + "/mcp", HTTPClient: hc, MaxRetries: -1}
		return connect(t, ctx, newClient(nil), tr, nil, nil)
	}

	// What each call should leave: its audit record, and its tools/call.
	type want struct {
		person, tool, outcome string
		billed                int
		task                  bool
	}
	var wants []want
	const prompt = "只应留在任务记录里的提示词"
	alice := session(aliceToken)
	mustOK(t, call(t, ctx, alice, "list_styles", map[string]any{}))
	wants = append(wants, want{"alice", "list_styles", "done", 0, false})
	a1 := generate(t, ctx, alice, map[string]any{"text": prompt, "num": 2, "wait_seconds": 20})
	wants = append(wants, want{"alice", "generate_image", "done", 2, true})
	if a2 := generate(t, ctx, alice, map[string]any{"text": prompt, "num": 2, "wait_seconds": 20}); a2.TaskID != a1.TaskID {
		t.Fatalf("an identical request paid again: %s then %s", a1.TaskID, a2.TaskID)
	}
	wants = append(wants, want{"alice", "generate_image", "done", 0, true})
	if res := call(t, ctx, alice, "generate_image", map[string]any{"text": prompt, "num": 99}); !res.IsError {
		t.Fatal("num 99 was accepted")
	}
	wants = append(wants, want{"alice", "generate_image", "arguments", 0, false})
	aliceBilled := sb.Stats().BilledImages

	bob := session(bobToken)
	b1 := generate(t, ctx, bob, map[string]any{"text": "鲍勃的" + prompt, "num": 3, "wait_seconds": 0})
	wants = append(wants, want{"bob", "generate_image", b1.Status, 3, true})
	mustOK(t, call(t, ctx, bob, "check_task", map[string]any{"task_id": b1.TaskID, "wait_seconds": 20}))
	wants = append(wants, want{"bob", "check_task", "done", 0, true})
	bobBilled := sb.Stats().BilledImages - aliceBilled
	if aliceBilled != 2 || bobBilled != 3 {
		t.Fatalf("the stand-in billed alice %d and bob %d images, want 2 and 3", aliceBilled, bobBilled)
	}

	// The metrics, as Prometheus reads them.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	fams := metricstest.Parse(t, string(page))
	if typ := fams[metrics.OperationDuration].Type; typ != "histogram" {
		t.Errorf("%s is a %q, want a histogram", metrics.OperationDuration, typ)
	}
	perTool := map[string]float64{}
	for _, w := range wants {
		perTool[w.tool]++
	}
	for tool, n := range perTool {
		got := fams.Sum(metrics.OperationDuration, metrics.OperationDuration+"_count",
			map[string]string{"mcp_method_name": "tools/call", "gen_ai_tool_name": tool})
		if got != n {
			t.Errorf("tools/call of %s counted %v times, want %v", tool, got, n)
		}
	}
	if got := fams.Sum(metrics.OperationDuration, metrics.OperationDuration+"_count",
		map[string]string{"mcp_method_name": "tools/call", "error_type": "tool_error"}); got != 1 {
		t.Errorf("tool calls with error_type tool_error: %v, want 1", got)
	}
	for person, billed := range map[string]int64{"alice": aliceBilled, "bob": bobBilled} {
		if got := fams.Sum("aipaint_images_billed", metrics.ImagesBilled, map[string]string{"person": person}); got != float64(billed) {
			t.Errorf("%s{person=%q} = %v, the stand-in billed %d", metrics.ImagesBilled, person, got, billed)
		}
	}
	if got, want := fams.Sum(metrics.ImagesToday, metrics.ImagesToday, nil), sb.Stats().BilledImages; got != float64(want) {
		t.Errorf("%s = %v, the stand-in billed %d today", metrics.ImagesToday, got, want)
	}
	if got := fams.Sum(metrics.DailyImageLimit, metrics.DailyImageLimit, nil); got != 100 {
		t.Errorf("%s = %v, want the default AIPAINT_DAILY_IMAGE_LIMIT 100", metrics.DailyImageLimit, got)
	}
	if got, want := fams.Sum("aipaint_upstream_requests", metrics.UpstreamRequests, map[string]string{"op": "submit", "outcome": "ok"}), sb.Stats().Submits; got != float64(want) {
		t.Errorf("submits counted %v, the stand-in accepted %d", got, want)
	}

	// The log, once the server has stopped and written its last line.
	p.stop(t)
	log := p.stderr.String()
	var audits []map[string]any
	for line := range strings.Lines(log) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("a log line is not a JSON object: %q", line)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("a log line has no %q: %q", k, line)
			}
		}
		if rec["msg"] == "tool call" {
			audits = append(audits, rec)
		}
	}
	if len(audits) != len(wants) {
		t.Fatalf("%d audit records for %d tool calls:\n%s", len(audits), len(wants), log)
	}
	for i, w := range wants {
		r := audits[i]
		if r["person"] != w.person || r["tool"] != w.tool || r["outcome"] != w.outcome || r["images_billed"] != float64(w.billed) ||
			r["client"] != "aipaint-e2e" || r["level"] != "INFO" {
			t.Errorf("audit record %d = %v, want person %s, client aipaint-e2e, tool %s, outcome %s, images_billed %d", i, r, w.person, w.tool, w.outcome, w.billed)
		}
		if _, ok := r["duration_ms"].(float64); !ok {
			t.Errorf("audit record %d has no duration_ms: %v", i, r)
		}
		if id, _ := r["task_id"].(string); (id != "") != w.task {
			t.Errorf("audit record %d: task_id %q, want one: %v", i, id, w.task)
		}
	}
	for _, secret := range []string{aliceToken, bobToken, sandbox.AppSecret, prompt} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

// TestStdioMetrics: a stdio server serves /metrics too when
// AIPAINT_METRICS_ADDR is set, and at AIPAINT_LOG_LEVEL=info leaves its
// audit records, as JSON lines, on stderr (stdout stays the protocol).
func TestStdioMetrics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
	defer cancel()
	metricsAddr := freeAddr(t)
	cmd, stderr := stdioCommand(t, true, "AIPAINT_METRICS_ADDR="+metricsAddr, "AIPAINT_LOG_FORMAT=json", "AIPAINT_LOG_LEVEL=info")
	cs := connect(t, ctx, newClient(nil), &mcp.CommandTransport{Command: cmd, TerminateDuration: exitTimeout}, nil, nil)
	mustOK(t, call(t, ctx, cs, "list_styles", map[string]any{}))
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	fams := metricstest.Parse(t, string(page))
	if got := fams.Sum(metrics.OperationDuration, metrics.OperationDuration+"_count",
		map[string]string{"mcp_method_name": "tools/call", "gen_ai_tool_name": "list_styles"}); got != 1 {
		t.Errorf("list_styles counted %v times, want 1", got)
	}
	if err := cs.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	audits := 0
	for line := range strings.Lines(stderr.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("a log line is not a JSON object: %q", line)
			continue
		}
		if rec["msg"] == "tool call" {
			audits++
			if rec["tool"] != "list_styles" || rec["outcome"] != "done" || rec["person"] != "" {
				t.Errorf("audit record %v, want list_styles done by the single user", rec)
			}
		}
	}
	if audits != 1 {
		t.Errorf("%d audit records for one tool call", audits)
	}
}
