package tools_test

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/sandbox/sandboxtest"
	"aipaint-mcp/save"
	"aipaint-mcp/schema"
	"aipaint-mcp/store"
	"aipaint-mcp/tools"
	"aipaint-mcp/wait"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type harness struct {
	sb       *sandboxtest.Upstream
	c        *mcpclient.Client
	svc      *paint.Service
	store    *store.File
	outDir   string
	mu       sync.Mutex
	progress []mcp.JSONRPCNotification
}

// setup is what a harness is built from; options change it.
type setup struct {
	upstream     []sandboxtest.Option
	unconfigured bool
	background   bool
	paint        paint.Options
	limits       schema.Limits
	client       []func(*client.Config)
	clientName   string // clientInfo.name at initialize
	tools        tools.Options
}

type option func(*setup)

// delay is how long the sandbox's tasks stay pending.
func delay(d time.Duration) option {
	return func(s *setup) { s.upstream = append(s.upstream, sandboxtest.Delay(d)) }
}

// front puts a handler before the sandbox (to hold a submit, say).
func front(f func(w http.ResponseWriter, r *http.Request, next http.Handler)) option {
	return func(s *setup) { s.upstream = append(s.upstream, sandboxtest.Front(f)) }
}

// unconfigured leaves the server without credentials.
func unconfigured() option { return func(s *setup) { s.unconfigured = true } }

// noBackground records and saves nothing in the background: only a call's
// own queries reach the upstream (and faults queued for a call are not
// taken by a poller).
func noBackground() option { return func(s *setup) { s.background = false } }

// withPaint changes the paint service's options.
func withPaint(f func(*paint.Options)) option { return func(s *setup) { f(&s.paint) } }

// withLimits changes the tools' limits.
func withLimits(f func(*schema.Limits)) option { return func(s *setup) { f(&s.limits) } }

// withClient changes the upstream client's configuration.
func withClient(f func(*client.Config)) option {
	return func(s *setup) { s.client = append(s.client, f) }
}

// named is the clientInfo.name the harness's client gives at initialize.
func named(name string) option { return func(s *setup) { s.clientName = name } }

// withTools changes the tools' options (Paint, Limits, Sandbox and Version
// are the harness's).
func withTools(f func(*tools.Options)) option { return func(s *setup) { f(&s.tools) } }

// newHarness connects an in-process MCP client to the tools, backed by the
// sandbox over real loopback HTTP with real signing, with a task store and
// an output folder of its own.
func newHarness(t testing.TB, opts ...option) *harness {
	t.Helper()
	h := &harness{outDir: filepath.Join(t.TempDir(), "图片 out")}
	s := setup{
		background: true,
		limits:     schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds},
		paint: paint.Options{
			Policy:      store.Policy{DedupWindow: 10 * time.Minute, DailyLimit: new(100)},
			TaskTimeout: time.Minute,
			Save:        true,
			OutputDir:   h.outDir,
			Download:    save.NewClient(nil),
			Backoff:     wait.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Factor: 2},
		},
	}
	for _, o := range opts {
		o(&s)
	}
	h.sb = sandboxtest.Start(t, s.upstream...)
	h.store = openStore(t)
	if s.unconfigured {
		s.paint.Unusable = &paint.UnavailableError{Missing: []string{"AIPAINT_APP_KEY + AIPAINT_APP_SECRET (or AIPAINT_APP_CODE)", "AIPAINT_SUBMIT_URL", "AIPAINT_QUERY_URL"}}
	} else {
		s.paint.Upstream = h.sb.Client(t, s.client...)
		if s.paint.Store == nil && s.paint.Unusable == nil {
			s.paint.Store = h.store
		}
	}
	if !s.background {
		s.paint.TaskTimeout, s.paint.Save = time.Nanosecond, false
	}
	h.svc = paint.New(s.paint)
	t.Cleanup(func() { _ = h.svc.Close() })
	to := s.tools
	to.Paint, to.Limits, to.Sandbox, to.Version = h.svc, s.limits, true, "test"
	c, err := mcpclient.NewInProcessClient(tools.NewServer(to))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	require.NoError(t, c.Start(ctx))
	h.c = c
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationProgress) {
			h.mu.Lock()
			h.progress = append(h.progress, n)
			h.mu.Unlock()
		}
	})
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo.Name = s.clientName
	_, err = c.Initialize(ctx, init)
	require.NoError(t, err)
	return h
}

// openStore is a task store in a temporary folder.
func openStore(tb testing.TB) *store.File {
	tb.Helper()
	st, err := store.Open(filepath.Join(tb.TempDir(), "data dir"))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

func (h *harness) call(t testing.TB, name string, args any, token mcp.ProgressToken) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	if token != nil {
		req.Params.Meta = &mcp.Meta{ProgressToken: token}
	}
	res, err := h.c.CallTool(ctx, req)
	require.NoError(t, err, "tool failures must be results, not protocol errors")
	return res
}

func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if t, ok := mcp.AsTextContent(c); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

func taskResult(t testing.TB, r *mcp.CallToolResult) schema.TaskResult {
	t.Helper()
	require.False(t, r.IsError, text(r))
	raw, err := json.Marshal(r.StructuredContent)
	require.NoError(t, err)
	var out schema.TaskResult
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

func TestToolsListSnapshot(t *testing.T) {
	h := newHarness(t)
	res, err := h.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	require.NoError(t, err)
	got, err := json.MarshalIndent(res.Tools, "", "  ")
	require.NoError(t, err)
	golden := "testdata/tools_list.json"
	if *update {
		require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./tools -update to create it")
	assert.JSONEq(t, string(want), string(got), "tools/list changed: review, then go test ./tools -update")

	names := map[string]mcp.Tool{}
	for _, tool := range res.Tools {
		names[tool.Name] = tool
		a := tool.Annotations
		for _, hint := range []*bool{a.ReadOnlyHint, a.DestructiveHint, a.IdempotentHint, a.OpenWorldHint} {
			require.NotNil(t, hint, "%s: every annotation hint must be set", tool.Name)
		}
		assert.NotEmpty(t, tool.Title)
	}
	require.Len(t, names, 3)
	assert.False(t, *names["generate_image"].Annotations.ReadOnlyHint)
	assert.False(t, *names["generate_image"].Annotations.IdempotentHint)
	assert.True(t, *names["check_task"].Annotations.ReadOnlyHint)
	assert.False(t, *names["list_styles"].Annotations.OpenWorldHint)
}

func TestGenerateWaitsForImages(t *testing.T) {
	h := newHarness(t, delay(50*time.Millisecond))
	res := h.call(t, "generate_image", map[string]any{"text": "竹林里的熊猫", "style": "Cyberpunk", "resolution": "portrait", "num": 2}, "tok-1")
	r := taskResult(t, res)
	assert.Equal(t, schema.StatusDone, r.Status)
	assert.Equal(t, "赛博朋克", r.Style)
	assert.Equal(t, "1024*1536", r.Resolution)
	assert.Equal(t, 2, r.Num)
	assert.Equal(t, "竹林里的熊猫", r.Text)
	assert.True(t, r.Sandbox)
	require.Len(t, r.Images, 2)
	for i, img := range r.Images {
		assert.Equal(t, i+1, img.Index)
		assert.Contains(t, text(res), "]("+img.URL+")", "one Markdown image line per image")
	}
	assert.Contains(t, text(res), "沙盒")
	assert.Equal(t, int64(1), h.sb.Stats().Submits)
	assert.Equal(t, int64(2), h.sb.Stats().BilledImages)

	h.mu.Lock()
	defer h.mu.Unlock()
	require.NotEmpty(t, h.progress, "a call with a progress token gets progress notifications")
	last := -1.0
	for _, n := range h.progress {
		assert.Equal(t, "tok-1", n.Params.AdditionalFields["progressToken"])
		p, ok := n.Params.AdditionalFields["progress"].(float64)
		require.True(t, ok)
		assert.Greater(t, p, last, "progress grows")
		last = p
	}
}

func TestPendingThenCheckTask(t *testing.T) {
	h := newHarness(t, delay(300*time.Millisecond))
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "雪山日出", "wait": false, "wait_seconds": 30}, nil))
	assert.Equal(t, schema.StatusPending, r.Status)
	assert.NotEmpty(t, r.TaskID)
	assert.Empty(t, r.Images)
	assert.Contains(t, r.NextStep, "check_task")
	assert.Contains(t, r.NextStep, r.TaskID)
	assert.Contains(t, r.NextStep, "billed again")

	now := taskResult(t, h.call(t, "check_task", map[string]any{"task_id": r.TaskID}, nil))
	assert.Equal(t, schema.StatusPending, now.Status, "wait_seconds defaults to 0: answer at once")

	done := taskResult(t, h.call(t, "check_task", map[string]any{"task_id": r.TaskID, "wait_seconds": 10}, nil))
	assert.Equal(t, schema.StatusDone, done.Status)
	assert.Len(t, done.Images, 1)
	assert.Equal(t, "雪山日出", done.Text, "the request is echoed for tasks this server submitted")
	assert.Equal(t, int64(1), h.sb.Stats().Submits, "check_task never submits")
}

func TestWaitBoundReturnsPending(t *testing.T) {
	h := newHarness(t, delay(time.Hour))
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "慢慢画", "wait_seconds": 0}, nil))
	assert.Equal(t, schema.StatusPending, r.Status)
	assert.Contains(t, r.NextStep, "check_task")
}

func TestInvalidArgumentsReachNoUpstream(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name string
		args any
		want []string
	}{
		{"too long", map[string]any{"text": strings.Repeat("画", 137)}, []string{"text has 137 characters; the limit is 100"}},
		{"unknown style", map[string]any{"text": "猫", "style": "neon"}, []string{`unknown style "neon"`, "list_styles", "赛博朋克"}},
		{"bad resolution", map[string]any{"text": "猫", "resolution": "4k"}, []string{`unknown resolution "4k"`, "1024*1536"}},
		{"num", map[string]any{"text": "猫", "num": 7}, []string{"num must be between 1 and 6"}},
		{"missing text", map[string]any{"style": "古风"}, []string{"text is required"}},
		{"wrong type", map[string]any{"text": 42}, []string{"text must be a string"}},
		{"unknown arg", map[string]any{"prompt": "猫"}, []string{`unknown argument "prompt"`, "text is required"}},
		{"not an object", []any{"猫"}, []string{"JSON object"}},
		{"control chars", map[string]any{"text": "猫\x00"}, []string{"control characters"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := h.call(t, "generate_image", tc.args, nil)
			require.True(t, res.IsError)
			for _, w := range tc.want {
				assert.Contains(t, text(res), w)
			}
		})
	}
	res := h.call(t, "check_task", map[string]any{"task_id": ""}, nil)
	assert.True(t, res.IsError)
	res = h.call(t, "list_styles", map[string]any{"x": 1}, nil)
	assert.True(t, res.IsError)
	assert.Zero(t, h.sb.Stats().Submits+h.sb.Stats().Queries, "invalid input never reaches the upstream")
}

func TestUpstreamFailuresAdviseTheModel(t *testing.T) {
	cases := []struct {
		name  string
		fault sandboxtest.Fault
		want  []string
	}{
		{"400", sandboxtest.Fault{Business: 400, Msg: "参数错误"}, []string{"Fix the arguments", "code 400", "taskNo"}},
		{"202", sandboxtest.Fault{Business: 202}, []string{"Rephrase", "code 202"}},
		{"500 mirrored", sandboxtest.Fault{Business: 999, MirrorStatus: true, Msg: "余额不足"}, []string{"余额不足", "code 999"}},
		{"0303", sandboxtest.Fault{Gateway: "APIG.0303", Msg: "verify signature fail, canonicalRequest:POST|/x/|"}, []string{"AIPAINT_APP_SECRET", "AIPAINT_APP_CODE", "APIG.0303", "request_id"}},
		{"0304", sandboxtest.Fault{Gateway: "APIGW.0304"}, []string{"purchase", "AIPAINT_SUBMIT_URL"}},
		{"0101", sandboxtest.Fault{Gateway: "APIG.0101"}, []string{"AIPAINT_SUBMIT_URL", "HTTP 404"}},
		{"0203 may bill", sandboxtest.Fault{Gateway: "APIG.0203"}, []string{"may have been billed", "Do not call generate_image again"}},
		{"html page", sandboxtest.Fault{Raw: []byte("<html>oops</html>"), Status: 502, ContentType: "text/html"}, []string{"try again"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.sb.FailNext(sandbox.OpSubmit, tc.fault)
			res := h.call(t, "generate_image", map[string]any{"text": "猫"}, nil)
			require.True(t, res.IsError)
			for _, w := range tc.want {
				assert.Contains(t, text(res), w)
			}
			assert.NotContains(t, text(res), "canonicalRequest", "gateway debug detail stays in the logs")
			assert.NotContains(t, text(res), sandbox.AppSecret)
			assert.Zero(t, h.sb.Stats().Submits, "a failed submit is not re-sent")
		})
	}
}

func TestTransientSubmitIsRetriedOnce(t *testing.T) {
	h := newHarness(t)
	h.sb.FailNext(sandbox.OpSubmit, sandboxtest.Fault{Gateway: "APIG.0308"})
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫"}, nil))
	assert.Equal(t, schema.StatusDone, r.Status)
	assert.Equal(t, int64(1), h.sb.Stats().Submits, "a throttled submit billed nothing, so it is sent again once")
}

func TestFlakyQueryDoesNotFailTheWait(t *testing.T) {
	h := newHarness(t, delay(100*time.Millisecond))
	for i := 0; i < 3; i++ {
		h.sb.FailNext(sandbox.OpQuery, sandboxtest.Fault{Gateway: "APIG.0202"})
	}
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫"}, nil))
	assert.Equal(t, schema.StatusDone, r.Status)
}

func TestCheckUnknownTask(t *testing.T) {
	h := newHarness(t)
	res := h.call(t, "check_task", map[string]any{"task_id": "no-such-task"}, nil)
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "No such task (201)")
}

func TestNotConfigured(t *testing.T) {
	h := newHarness(t, unconfigured())
	res := h.call(t, "list_styles", nil, nil)
	require.False(t, res.IsError)
	raw, err := json.Marshal(res.StructuredContent)
	require.NoError(t, err)
	var styles schema.StylesResult
	require.NoError(t, json.Unmarshal(raw, &styles))
	assert.Len(t, styles.Styles, 17)
	assert.Len(t, styles.Resolutions, 3)
	assert.Contains(t, text(res), "赛博朋克 (cyberpunk)")

	for _, tool := range []string{"generate_image", "check_task"} {
		args := map[string]any{"text": "猫", "task_id": "x"}
		delete(args, map[string]string{"generate_image": "task_id", "check_task": "text"}[tool])
		res := h.call(t, tool, args, nil)
		require.True(t, res.IsError)
		for _, w := range []string{"AIPAINT_APP_KEY", "AIPAINT_SUBMIT_URL", "AIPAINT_QUERY_URL", "--sandbox"} {
			assert.Contains(t, text(res), w)
		}
	}
	assert.Zero(t, h.sb.Stats().Queries)
}

func TestWaitBudgetCountsFromTheStartOfTheCall(t *testing.T) {
	slow := make(chan struct{})
	h := newHarness(t, delay(time.Hour), noBackground(), front(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path == sandbox.SubmitPath {
			<-slow
		}
		next.ServeHTTP(w, r)
	}))
	go func() {
		time.Sleep(1100 * time.Millisecond) // the submit takes longer than the whole budget
		close(slow)
	}()
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫", "wait_seconds": 1}, nil))
	assert.Equal(t, schema.StatusPending, r.Status)
	assert.Equal(t, int64(1), h.sb.Stats().Queries, "a spent budget leaves one look, not a full wait")
}

func TestCheckUnknownTaskDoesNotInviteALoop(t *testing.T) {
	h := newHarness(t)
	res := h.call(t, "check_task", map[string]any{"task_id": "no-such-task"}, nil)
	require.True(t, res.IsError)
	assert.NotContains(t, text(res), "was submitted")
}

func TestDrainingRefusesNewSubmitsAndAnswersWaits(t *testing.T) {
	h := newHarness(t, delay(time.Hour))
	done := make(chan schema.TaskResult)
	go func() {
		done <- taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫", "wait_seconds": 40}, nil))
	}()
	require.Eventually(t, func() bool { return h.sb.Stats().Queries > 0 }, 10*time.Second, 5*time.Millisecond)
	h.svc.Drain()
	r := <-done
	assert.Equal(t, schema.StatusPending, r.Status, "a drained wait answers pending with the task id")
	assert.NotEmpty(t, r.TaskID)

	res := h.call(t, "generate_image", map[string]any{"text": "狗"}, nil)
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "nothing was submitted")
	assert.Equal(t, int64(1), h.sb.Stats().Submits)
}

func TestInvalidSettingsAreReported(t *testing.T) {
	c, err := mcpclient.NewInProcessClient(tools.NewServer(tools.Options{
		Paint:  paint.New(paint.Options{Unusable: &paint.UnavailableError{Invalid: "AIPAINT_REQUEST_FORMAT must be form or json"}}),
		Limits: schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds},
	}))
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	require.NoError(t, c.Start(ctx))
	_, err = c.Initialize(ctx, mcp.InitializeRequest{})
	require.NoError(t, err)
	req := mcp.CallToolRequest{}
	req.Params.Name = "generate_image"
	req.Params.Arguments = map[string]any{"text": "猫"}
	res, err := c.CallTool(ctx, req)
	require.NoError(t, err)
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "AIPAINT_REQUEST_FORMAT must be form or json")
}
