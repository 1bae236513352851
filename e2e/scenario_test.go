package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// transportTimeout bounds everything one transport run does; it is a bound
// against hangs, not a performance assertion.
const transportTimeout = 90 * time.Second

// negotiated records the protocol version each run negotiated.
var negotiated sync.Map // "transport/asked" -> version

// opener starts a fresh server process with the given sandbox delay and
// connects the SDK client to it; the func it returns gives the raw JSON
// result of tools/list as the server wrote it.
type opener func(t *testing.T, ctx context.Context, client *mcp.Client, opts *mcp.ClientSessionOptions, delay string) (*mcp.ClientSession, func(t *testing.T, ctx context.Context) json.RawMessage)

// target is one transport.
type target struct {
	name string
	open opener
}

// protocolVersions are asked of every transport: "" lets the SDK negotiate
// its latest (server/discover first), 2025-11-25 is the initialize handshake
// that most clients in the field still use.
var protocolVersions = []string{"", "2025-11-25"}

// latestProtocolVersion is what the README promises a current client gets.
const latestProtocolVersion = "2026-07-28"

var targets = []target{
	{name: "stdio", open: openStdio},
	{name: "sse", open: openHTTP("sse", "/sse")},
	{name: "http", open: openHTTP("http", "/mcp")},
}

func openStdio(t *testing.T, ctx context.Context, client *mcp.Client, opts *mcp.ClientSessionOptions, delay string) (*mcp.ClientSession, func(*testing.T, context.Context) json.RawMessage) {
	t.Helper()
	cmd, _ := stdioCommand(t, true, "AIPAINT_SANDBOX_DELAY="+delay)
	tr := &mcp.CommandTransport{Command: cmd, TerminateDuration: exitTimeout}
	cs := connect(t, ctx, client, tr, opts, func(err error, took time.Duration) {
		// The client closes stdin; the server must then exit on its own
		// (CommandTransport only sends SIGTERM after TerminateDuration).
		if err != nil {
			t.Errorf("stdio server exit after stdin closed: %v", err)
		}
		if took >= exitTimeout {
			t.Errorf("stdio server took %s to exit after stdin closed: it ignored EOF and needed SIGTERM", took)
		}
		if cmd.ProcessState == nil || !cmd.ProcessState.Exited() || cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("stdio server process state after close: %v, want exit status 0", cmd.ProcessState)
		}
	})
	raw := func(t *testing.T, ctx context.Context) json.RawMessage {
		t.Helper()
		res := runRawStdio(t, ctx, "2025-11-25", true, []string{"AIPAINT_SANDBOX_DELAY=" + delay},
			[]rawRequest{{ID: 2, Method: "tools/list", Params: map[string]any{}}})
		if len(res.badLines) > 0 {
			t.Errorf("stdout lines that are not JSON-RPC: %v", res.badLines)
		}
		return res.raw[2]
	}
	return cs, raw
}

func openHTTP(transport, path string) opener {
	return func(t *testing.T, ctx context.Context, client *mcp.Client, opts *mcp.ClientSessionOptions, delay string) (*mcp.ClientSession, func(*testing.T, context.Context) json.RawMessage) {
		t.Helper()
		p := startHTTPServer(t, transport, true, "AIPAINT_SANDBOX_DELAY="+delay)
		capture := &wireCapture{}
		hc := httpClient(nil, capture)
		// Cleanups run last-in first-out: close the session, then the
		// client's spare connections, then SIGTERM the server.
		t.Cleanup(hc.CloseIdleConnections)
		endpoint := "http://" + p.addr + path
		var tr mcp.Transport
		if transport == "sse" {
			tr = &mcp.SSEClientTransport{Endpoint: endpoint, HTTPClient: hc}
		} else {
			tr = &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}
		}
		cs := connect(t, ctx, client, tr, opts, nil)
		raw := func(t *testing.T, _ context.Context) json.RawMessage {
			t.Helper()
			r, err := capture.rawResult("tools")
			if err != nil {
				t.Fatalf("raw tools/list result: %v", err)
			}
			return r
		}
		return cs, raw
	}
}

// env is what a scenario runs against.
type env struct {
	transport string
	ctx       context.Context
	cs        *mcp.ClientSession // sandbox delay 1s
	slow      *mcp.ClientSession // sandbox delay 2s
	progress  *progressLog
	raw       func(*testing.T, context.Context) json.RawMessage
	outputs   map[string]*jsonschema.Resolved // each tool's declared outputSchema
}

// resolveOutputSchemas compiles every tool's outputSchema for validating results.
func resolveOutputSchemas(t *testing.T, ctx context.Context, cs *mcp.ClientSession) map[string]*jsonschema.Resolved {
	t.Helper()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	out := map[string]*jsonschema.Resolved{}
	for _, tool := range res.Tools {
		if tool.OutputSchema == nil {
			continue
		}
		b, err := json.Marshal(tool.OutputSchema)
		if err != nil {
			t.Fatal(err)
		}
		var s jsonschema.Schema
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s outputSchema %s: %v", tool.Name, b, err)
		}
		r, err := s.Resolve(nil)
		if err != nil {
			t.Fatalf("%s outputSchema does not resolve: %v\n%s", tool.Name, err, b)
		}
		out[tool.Name] = r
	}
	return out
}

// checkOutput validates a successful result's structuredContent against the
// tool's declared outputSchema, as a validating client would.
func (e *env) checkOutput(t *testing.T, tool string, res *mcp.CallToolResult) {
	t.Helper()
	r := e.outputs[tool]
	if r == nil {
		t.Errorf("%s declares no outputSchema", tool)
		return
	}
	if err := r.Validate(res.StructuredContent); err != nil {
		b, _ := json.Marshal(res.StructuredContent)
		t.Errorf("%s structuredContent does not match its outputSchema: %v\n%s", tool, err, b)
	}
}

func TestTransports(t *testing.T) {
	scenarios := []struct {
		name string
		run  func(*testing.T, *env)
	}{
		{"tools_list", testToolsList},
		{"list_styles", testListStyles},
		{"resources_prompts_completions", testSurface},
		{"generate_wait", testGenerateWait},
		{"generate_progress", testGenerateProgress},
		{"pending_then_check_task", testPendingThenCheck},
		{"invalid_arguments", testInvalidArguments},
		{"check_task_unknown_id", testCheckUnknown},
	}
	for _, tg := range targets {
		for _, pv := range protocolVersions {
			asked := pv
			if asked == "" {
				asked = "latest"
			}
			name := tg.name + "/" + asked
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				started := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), transportTimeout)
				defer cancel()
				progress := newProgressLog()
				client := newClient(progress)
				opts := &mcp.ClientSessionOptions{ProtocolVersion: pv}
				cs, raw := tg.open(t, ctx, client, opts, "1s")
				slow, _ := tg.open(t, ctx, client, opts, "2s")
				init := cs.InitializeResult()
				negotiated.Store(name, init.ProtocolVersion)
				t.Logf("%s: negotiated protocol version %s (server %s %s)", name, init.ProtocolVersion, init.ServerInfo.Name, init.ServerInfo.Version)
				if want := cmp.Or(pv, latestProtocolVersion); init.ProtocolVersion != want {
					t.Errorf("asked for %s, negotiated %s; want %s", asked, init.ProtocolVersion, want)
				}
				e := &env{transport: tg.name + "-" + asked, ctx: ctx, cs: cs, slow: slow, progress: progress, raw: raw,
					outputs: resolveOutputSchemas(t, ctx, cs)}
				for _, sc := range scenarios {
					t.Run(sc.name, func(t *testing.T) { sc.run(t, e) })
				}
				t.Logf("%s: scenarios took %s", name, time.Since(started).Round(time.Millisecond))
			})
		}
	}
}

// ---- helpers ----

func callTool(t *testing.T, ctx context.Context, cs *mcp.ClientSession, params *mcp.CallToolParams) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatalf("tools/call %s %v: protocol error %v (a tool problem must be an isError result)", params.Name, params.Arguments, err)
	}
	return res
}

func call(t *testing.T, ctx context.Context, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	return callTool(t, ctx, cs, &mcp.CallToolParams{Name: name, Arguments: args})
}

func textOf(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// decode checks that a tool result is not an error and matches the tool's
// outputSchema, then decodes its structuredContent into v.
func (e *env) decode(t *testing.T, tool string, res *mcp.CallToolResult, v any) {
	t.Helper()
	mustOK(t, res)
	structured(t, res, v)
	e.checkOutput(t, tool, res)
}

func structured(t *testing.T, res *mcp.CallToolResult, v any) {
	t.Helper()
	if res.StructuredContent == nil {
		t.Fatalf("no structuredContent; text: %s", textOf(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("structuredContent %s: %v", b, err)
	}
}

func mustOK(t *testing.T, res *mcp.CallToolResult) {
	t.Helper()
	if res.IsError {
		t.Fatalf("isError result: %s", textOf(res))
	}
}

type image struct {
	URL   string `json:"url"`
	Index int    `json:"index"`
}

// taskResult mirrors the documented structured content of generate_image and check_task.
type taskResult struct {
	TaskID        string   `json:"task_id"`
	Status        string   `json:"status"`
	Images        []image  `json:"images"`
	Text          string   `json:"text"`
	Style         string   `json:"style"`
	Resolution    string   `json:"resolution"`
	Num           int      `json:"num"`
	WaitedSeconds *float64 `json:"waited_seconds"`
	NextStep      string   `json:"next_step"`
	Sandbox       bool     `json:"sandbox"`
}

func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("want a JSON object, got %T %v", v, v)
	}
	return m
}

func num(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("%q: want a number, got %T %v in %v", key, m[key], m[key], m)
	}
	return f
}

// ---- scenarios ----

func testToolsList(t *testing.T, e *env) {
	res, err := e.cs.ListTools(e.ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	tools := map[string]*mcp.Tool{}
	var names []string
	for _, tool := range res.Tools {
		tools[tool.Name] = tool
		names = append(names, tool.Name)
	}
	sort.Strings(names)
	if want := []string{"check_task", "generate_image", "list_styles"}; !slices.Equal(names, want) {
		t.Fatalf("tools = %v, want exactly %v", names, want)
	}

	in := asMap(t, tools["generate_image"].InputSchema)
	props := asMap(t, in["properties"])
	style := asMap(t, props["style"])
	if enum, _ := style["enum"].([]any); len(enum) != 17 {
		t.Errorf("generate_image style enum has %d values, want 17: %v", len(enum), style["enum"])
	}
	if got := num(t, asMap(t, props["text"]), "maxLength"); got != 100 {
		t.Errorf("text maxLength = %v, want 100", got)
	}
	n := asMap(t, props["num"])
	if lo, hi := num(t, n, "minimum"), num(t, n, "maximum"); lo != 1 || hi != 6 {
		t.Errorf("num minimum/maximum = %v/%v, want 1/6", lo, hi)
	}
	if req, _ := in["required"].([]any); !slices.Contains(req, any("text")) {
		t.Errorf("generate_image required = %v, want text among them", in["required"])
	}

	wantReadOnly := map[string]bool{"generate_image": false, "check_task": true, "list_styles": true}
	for name, tool := range tools {
		if tool.OutputSchema == nil {
			t.Errorf("%s: no outputSchema", name)
		} else if typ := asMap(t, tool.OutputSchema)["type"]; typ != "object" {
			t.Errorf("%s: outputSchema type = %v, want object", name, typ)
		}
		a := tool.Annotations
		if a == nil {
			t.Errorf("%s: no annotations", name)
			continue
		}
		if a.DestructiveHint == nil || a.OpenWorldHint == nil {
			t.Errorf("%s: destructiveHint=%v openWorldHint=%v, want both set", name, a.DestructiveHint, a.OpenWorldHint)
		}
		if a.ReadOnlyHint != wantReadOnly[name] {
			t.Errorf("%s: readOnlyHint = %v, want %v", name, a.ReadOnlyHint, wantReadOnly[name])
		}
	}
	if a := tools["generate_image"].Annotations; a != nil && a.IdempotentHint {
		t.Errorf("generate_image: idempotentHint true, but every call is billed again")
	}

	// The SDK's ToolAnnotations has plain bools for readOnlyHint and
	// idempotentHint: only the raw JSON shows whether they were sent.
	raw := e.raw(t, e.ctx)
	var wire struct {
		Tools []struct {
			Name        string                     `json:"name"`
			Annotations map[string]json.RawMessage `json:"annotations"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatalf("raw tools/list result %s: %v", raw, err)
	}
	if len(wire.Tools) != 3 {
		t.Errorf("raw tools/list has %d tools, want 3", len(wire.Tools))
	}
	for _, tool := range wire.Tools {
		for _, hint := range []string{"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} {
			v, ok := tool.Annotations[hint]
			if !ok {
				t.Errorf("%s: annotations.%s missing on the wire: %v", tool.Name, hint, tool.Annotations)
			} else if string(v) != "true" && string(v) != "false" {
				t.Errorf("%s: annotations.%s = %s, want a boolean", tool.Name, hint, v)
			}
		}
		if got, want := string(tool.Annotations["readOnlyHint"]), fmt.Sprint(wantReadOnly[tool.Name]); got != want {
			t.Errorf("%s: raw readOnlyHint = %s, want %s", tool.Name, got, want)
		}
	}
}

func testListStyles(t *testing.T, e *env) {
	res := call(t, e.ctx, e.cs, "list_styles", map[string]any{})
	var out struct {
		Styles []struct {
			Name string `json:"name"`
		} `json:"styles"`
		Resolutions []struct {
			Value string `json:"value"`
		} `json:"resolutions"`
	}
	e.decode(t, "list_styles", res, &out)
	if len(out.Styles) != 17 {
		t.Errorf("list_styles: %d styles, want 17", len(out.Styles))
	}
	if len(out.Resolutions) != 3 {
		t.Errorf("list_styles: %d resolutions, want 3", len(out.Resolutions))
	}
	if textOf(res) == "" {
		t.Errorf("list_styles: no text content")
	}
	// One table: the styles listed are the enum generate_image declares.
	tools, err := e.cs.ListTools(e.ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	for _, tool := range tools.Tools {
		if tool.Name != "generate_image" {
			continue
		}
		enum, _ := asMap(t, asMap(t, asMap(t, tool.InputSchema)["properties"])["style"])["enum"].([]any)
		var listed []any
		for _, s := range out.Styles {
			listed = append(listed, s.Name)
		}
		if !slices.Equal(enum, listed) {
			t.Errorf("list_styles names %v differ from the generate_image style enum %v", listed, enum)
		}
	}
}

// generateArgs asks for 2 portrait cyberpunk images, waiting for them.
func generateArgs(text string) map[string]any {
	return map[string]any{
		"text": text, "style": "cyberpunk", "resolution": "portrait", "num": 2,
		"wait": true, "wait_seconds": 20,
	}
}

// checkDoneImages checks a finished 2-image portrait cyberpunk result, and
// fetches and decodes every image.
func checkDoneImages(t *testing.T, e *env, res *mcp.CallToolResult, text string) {
	t.Helper()
	ctx := e.ctx
	var r taskResult
	e.decode(t, "generate_image", res, &r)
	if r.Status != "done" {
		t.Fatalf("status %q, want done; text: %s", r.Status, textOf(res))
	}
	if r.TaskID == "" {
		t.Errorf("no task_id")
	}
	if r.Text != text || r.Style != "赛博朋克" || r.Resolution != "1024*1536" || r.Num != 2 {
		t.Errorf("echo: text %q style %q resolution %q num %d; want %q 赛博朋克 1024*1536 2", r.Text, r.Style, r.Resolution, r.Num, text)
	}
	if r.WaitedSeconds == nil {
		t.Errorf("waited_seconds missing")
	}
	if len(r.Images) != 2 {
		t.Fatalf("%d images, want 2: %v", len(r.Images), r.Images)
	}
	body := textOf(res)
	var imageLines int
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "![") {
			imageLines++
		}
	}
	if imageLines != len(r.Images) {
		t.Errorf("text has %d Markdown image lines, want %d:\n%s", imageLines, len(r.Images), body)
	}
	for i, img := range r.Images {
		if img.Index != i+1 {
			t.Errorf("image %d has index %d", i+1, img.Index)
		}
		if !strings.Contains(body, "]("+img.URL+")") {
			t.Errorf("text has no Markdown image line for %s", img.URL)
		}
		fetchPNG(t, ctx, img.URL, 1024, 1536)
	}
}

// fetchPNG downloads a loopback image and checks it is a w×h PNG.
func fetchPNG(t *testing.T, ctx context.Context, raw string, w, h int) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		t.Errorf("image URL %q: want an http URL (%v)", raw, err)
		return
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		t.Errorf("image URL %q: the sandbox should serve images on loopback", raw)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := httpClient(nil, nil)
	defer hc.CloseIdleConnections() // nothing left open to slow the sandbox's shutdown
	resp, err := hc.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", raw, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", raw, resp.Status)
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("GET %s: Content-Type %q, want image/png", raw, ct)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Errorf("GET %s: %v", raw, err)
		return
	}
	// Decoded from memory, outside the request's deadline: decoding under
	// the race detector is slow on a busy machine.
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Errorf("GET %s: not a PNG: %v", raw, err)
		return
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("GET %s: %dx%d, want %dx%d", raw, b.Dx(), b.Dy(), w, h)
	}
}

func testGenerateWait(t *testing.T, e *env) {
	text := "霓虹灯下的未来城市，雨夜 " + e.transport
	res := call(t, e.ctx, e.cs, "generate_image", generateArgs(text))
	checkDoneImages(t, e, res, text)
}

func testGenerateProgress(t *testing.T, e *env) {
	// On the 2 s server the wait polls more than once while pending, so more
	// than one notification is likely (never required).
	for _, c := range []struct {
		name string
		cs   *mcp.ClientSession
	}{{"delay_1s", e.cs}, {"delay_2s", e.slow}} {
		t.Run(c.name, func(t *testing.T) { checkProgress(t, e, c.cs, c.name) })
	}
}

func checkProgress(t *testing.T, e *env, cs *mcp.ClientSession, name string) {
	text := "雨夜霓虹街头的机器人 " + e.transport
	token := "e2e-progress-" + e.transport + "-" + name
	params := &mcp.CallToolParams{Name: "generate_image", Arguments: generateArgs(text)}
	params.SetProgressToken(token)
	res := callTool(t, e.ctx, cs, params)
	checkDoneImages(t, e, res, text)

	// Notifications may trail the result: poll briefly, and never count exactly.
	ctx, cancel := context.WithTimeout(e.ctx, 3*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	got := e.progress.get(token)
	for len(got) == 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		got = e.progress.get(token)
	}
	if len(got) == 0 {
		t.Fatalf("no notifications/progress for token %q", token)
	}
	for i, p := range got {
		if i > 0 && p.Progress <= got[i-1].Progress {
			t.Errorf("progress not increasing: notification %d has %v after %v", i+1, p.Progress, got[i-1].Progress)
		}
	}
	t.Logf("%d progress notification(s); last: %v %q", len(got), got[len(got)-1].Progress, got[len(got)-1].Message)
}

func testPendingThenCheck(t *testing.T, e *env) {
	text := "竹林里的熊猫，晨雾 " + e.transport
	res := call(t, e.ctx, e.slow, "generate_image", map[string]any{"text": text, "wait": false})
	var r taskResult
	e.decode(t, "generate_image", res, &r)
	if r.Status != "pending" {
		t.Fatalf("generate_image wait=false: status %q, want pending; text: %s", r.Status, textOf(res))
	}
	if r.TaskID == "" {
		t.Fatalf("pending result without task_id")
	}
	if !strings.Contains(r.NextStep, "check_task") {
		t.Errorf("next_step %q does not mention check_task", r.NextStep)
	}
	if m := asMap(t, res.StructuredContent); m["images"] == nil {
		t.Errorf("pending images = null, want [] (the output schema requires an array)")
	} else if len(r.Images) != 0 {
		t.Errorf("pending result has images: %v", r.Images)
	}
	if !strings.Contains(textOf(res), r.TaskID) {
		t.Errorf("pending text does not name the task_id %s", r.TaskID)
	}

	// Asked at once, with no wait, the task is still queued (2 s delay).
	res = call(t, e.ctx, e.slow, "check_task", map[string]any{"task_id": r.TaskID})
	var early taskResult
	e.decode(t, "check_task", res, &early)
	if early.Status != "pending" || early.TaskID != r.TaskID || !strings.Contains(early.NextStep, "check_task") {
		t.Errorf("check_task without wait right after submit: status %q task_id %q next_step %q; want pending, %s, a next step",
			early.Status, early.TaskID, early.NextStep, r.TaskID)
	}

	// check_task waits (up to 10 s per call) until done; bounded attempts.
	var done taskResult
	for attempt := 1; ; attempt++ {
		res := call(t, e.ctx, e.slow, "check_task", map[string]any{"task_id": r.TaskID, "wait_seconds": 10})
		done = taskResult{}
		e.decode(t, "check_task", res, &done)
		if done.Status == "done" {
			if n := strings.Count(textOf(res), "!["); n != len(done.Images) {
				t.Errorf("check_task text has %d Markdown images, want %d", n, len(done.Images))
			}
			break
		}
		if attempt == 3 {
			t.Fatalf("check_task still %q after %d calls with wait_seconds 10", done.Status, attempt)
		}
	}
	if done.TaskID != r.TaskID {
		t.Errorf("check_task task_id %q, want %q", done.TaskID, r.TaskID)
	}
	if len(done.Images) != 1 {
		t.Fatalf("check_task: %d images, want 1 (num defaults to 1)", len(done.Images))
	}
	if done.Text != text {
		t.Errorf("check_task text %q, want the request echoed: %q", done.Text, text)
	}
	fetchPNG(t, e.ctx, done.Images[0].URL, 1024, 1024) // the default resolution
}

func testInvalidArguments(t *testing.T, e *env) {
	cases := []struct {
		name string
		args map[string]any
		want []string // all must appear in the error text
	}{
		{"text_101_chars", map[string]any{"text": strings.Repeat("画", 101)}, []string{"101", "100"}},
		{"unknown_style", map[string]any{"text": "竹林里的熊猫", "style": "neon"}, []string{"neon", "list_styles"}},
		{"num_7", map[string]any{"text": "竹林里的熊猫", "num": 7}, []string{"num", "7", "6"}},
		{"missing_text", map[string]any{"style": "古风"}, []string{"text", "required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := call(t, e.ctx, e.cs, "generate_image", c.args)
			if !res.IsError {
				t.Fatalf("isError false for %v; text: %s", c.args, textOf(res))
			}
			text := textOf(res)
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("error text does not mention %q:\n%s", w, text)
				}
			}
		})
	}
}

func testCheckUnknown(t *testing.T, e *env) {
	for _, wait := range []int{0, 5} {
		t.Run(fmt.Sprintf("wait_seconds_%d", wait), func(t *testing.T) {
			res := call(t, e.ctx, e.cs, "check_task", map[string]any{"task_id": "e2e-no-such-task-" + e.transport, "wait_seconds": wait})
			if !res.IsError {
				t.Fatalf("isError false for an unknown task; text: %s", textOf(res))
			}
			text := textOf(res)
			if !strings.Contains(text, "不存在") && !strings.Contains(strings.ToLower(text), "no such task") {
				t.Errorf("error text does not say the task does not exist:\n%s", text)
			}
		})
	}
}
