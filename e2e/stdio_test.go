package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestStdioStdoutIsOnlyJSONRPC drives a stdio server with raw JSON-RPC lines
// through a whole session (listing, a waiting generate with progress, errors)
// and checks that every byte it writes to stdout is a JSON-RPC message: one
// stray log line would break every stdio client.
func TestStdioStdoutIsOnlyJSONRPC(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
	defer cancel()
	const token = "raw-progress-1"
	// The task stays pending well past the first poll (which the sandbox
	// answers after its own latency): a progress notification needs a poll
	// that finds it pending, and with 300 ms the first poll could already
	// find it done.
	res := runRawStdio(t, ctx, "2025-11-25", true, []string{"AIPAINT_SANDBOX_DELAY=3s", "AIPAINT_LOG_LEVEL=debug"}, []rawRequest{
		{ID: 2, Method: "tools/list", Params: map[string]any{}},
		{ID: 3, Method: "tools/call", Params: map[string]any{"name": "list_styles", "arguments": map[string]any{}}},
		{ID: 4, Method: "tools/call", Params: map[string]any{
			"name":      "generate_image",
			"arguments": map[string]any{"text": "月下的古镇", "style": "古风", "wait_seconds": 10},
			"_meta":     map[string]any{"progressToken": token},
		}},
		{ID: 5, Method: "tools/call", Params: map[string]any{"name": "generate_image", "arguments": map[string]any{"text": "x", "num": 9}}},
		{ID: 6, Method: "tools/call", Params: map[string]any{"name": "check_task", "arguments": map[string]any{"task_id": "nope"}}},
		{ID: 7, Method: "ping"},
	})
	if len(res.badLines) > 0 {
		t.Errorf("stdout lines that are not JSON-RPC messages:\n%s", strings.Join(res.badLines, "\n"))
	}
	if len(res.lines) == 0 {
		t.Fatal("nothing on stdout")
	}
	for i, line := range res.lines {
		if !strings.HasSuffix(string(line), "\n") {
			t.Errorf("stdout line %d is not newline-terminated: %q", i+1, truncate(string(line), 200))
		}
	}
	if res.exitErr != nil {
		t.Errorf("exit after stdin closed: %v, want status 0", res.exitErr)
	}
	t.Logf("%d stdout lines, all JSON-RPC; exited %s after stdin closed; negotiated %v",
		len(res.lines), res.exitAfter.Round(time.Millisecond), res.responses[1]["result"].(map[string]any)["protocolVersion"])
	if res.stderr.String() == "" {
		t.Errorf("no log on stderr at AIPAINT_LOG_LEVEL=debug: logs must go to stderr, not vanish")
	}

	isError := func(id int) bool {
		r, _ := res.responses[id]["result"].(map[string]any)
		b, _ := r["isError"].(bool)
		return b
	}
	for _, id := range []int{2, 3, 4, 5, 6, 7} {
		if res.responses[id]["error"] != nil {
			t.Errorf("request %d: JSON-RPC error %v", id, res.responses[id]["error"])
		}
	}
	if isError(3) || isError(4) {
		t.Errorf("list_styles or generate_image failed: %v / %v", res.responses[3], res.responses[4])
	}
	if !isError(5) || !isError(6) {
		t.Errorf("bad arguments / unknown task: want isError results, got %v / %v", res.responses[5], res.responses[6])
	}
	var progress int
	for _, n := range res.notes {
		if n["method"] == "notifications/progress" {
			if p, _ := n["params"].(map[string]any); p["progressToken"] == token {
				progress++
			}
		}
	}
	if progress == 0 {
		t.Errorf("no notifications/progress for %q on stdout; notifications: %v", token, res.notes)
	}
}

// TestStdioUnconfigured runs the server with no credentials and no sandbox:
// it must still start, list its styles, and tell how to configure it.
func TestStdioUnconfigured(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
	defer cancel()
	cmd, _ := stdioCommand(t, false) // serverEnv drops every AIPAINT_ variable
	cs := connect(t, ctx, newClient(nil), &mcp.CommandTransport{Command: cmd, TerminateDuration: exitTimeout}, nil, nil)

	res := call(t, ctx, cs, "list_styles", map[string]any{})
	mustOK(t, res)
	var out struct {
		Styles []any `json:"styles"`
	}
	structured(t, res, &out)
	if len(out.Styles) != 17 {
		t.Errorf("list_styles: %d styles, want 17", len(out.Styles))
	}

	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"generate_image", map[string]any{"text": "竹林里的熊猫"}},
		{"check_task", map[string]any{"task_id": "abc"}},
	} {
		res := call(t, ctx, cs, c.tool, c.args)
		if !res.IsError {
			t.Errorf("%s without credentials: isError false; text: %s", c.tool, textOf(res))
			continue
		}
		text := textOf(res)
		for _, want := range []string{"AIPAINT_APP_KEY", "--sandbox"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s without credentials: text does not mention %s:\n%s", c.tool, want, text)
			}
		}
	}
}

// TestOlderProtocolVersions checks the initialize handshake answers each
// older revision the README lists with that same revision.
func TestOlderProtocolVersions(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"2025-06-18", "2025-03-26", "2024-11-05"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
			defer cancel()
			res := runRawStdio(t, ctx, version, false, nil, []rawRequest{{ID: 2, Method: "ping"}})
			result, _ := res.responses[1]["result"].(map[string]any)
			if got := result["protocolVersion"]; got != version {
				t.Errorf("initialize with %s answered %v", version, got)
			}
			if res.responses[2]["result"] == nil {
				t.Errorf("ping after the %s handshake: %v", version, res.responses[2])
			}
		})
	}
}
