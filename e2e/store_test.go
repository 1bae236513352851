package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"aipaint-mcp/sandbox/sandboxtest"
)

// taskFields are the store-related fields of a task result.
type taskFields struct {
	TaskID       string `json:"task_id"`
	Status       string `json:"status"`
	Deduplicated bool   `json:"deduplicated"`
	BilledImages int    `json:"billed_images"`
	Usage        *struct {
		Today int `json:"today"`
		Limit int `json:"limit"`
	} `json:"usage"`
	Images []struct {
		URL       string `json:"url"`
		Path      string `json:"path"`
		ExpiresAt string `json:"expires_at"`
	} `json:"images"`
}

// upstreamEnv points a server process at a sandbox running in the test, the
// way a user points it at the real API: the sandbox outlives the server
// processes and counts every billed submit.
// The folders have spaces and Chinese characters, as users' folders do.
func upstreamEnv(sb *sandboxtest.Upstream, dir string, extra ...string) (env []string, outDir string) {
	outDir = filepath.Join(dir, "图片 out")
	return append(append(sb.Env(),
		"AIPAINT_DATA_DIR="+filepath.Join(dir, "数据 data"), "AIPAINT_OUTPUT_DIR="+outDir,
	), extra...), outDir
}

func generate(t *testing.T, ctx context.Context, cs *mcp.ClientSession, args map[string]any) taskFields {
	t.Helper()
	var r taskFields
	res := call(t, ctx, cs, "generate_image", args)
	mustOK(t, res)
	structured(t, res, &r)
	return r
}

// TestKilledServerResumesItsPendingTask: a server killed (SIGKILL, no
// shutdown) while a task is pending is started again; the new process finds
// the task in the store, follows it to the end and saves its images, without
// a second submit.
func TestKilledServerResumesItsPendingTask(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sb := sandboxtest.Start(t, sandboxtest.Delay(3*time.Second))
	env, outDir := upstreamEnv(sb, t.TempDir())

	first, _ := stdioCommand(t, false, env...)
	cs := connect(t, ctx, newClient(nil), &mcp.CommandTransport{Command: first}, nil, func(error, time.Duration) {})
	r := generate(t, ctx, cs, map[string]any{"text": "重启之后的熊猫", "num": 2, "wait": false})
	if r.Status != "pending" || r.TaskID == "" {
		t.Fatalf("want a pending task, got %+v", r)
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}

	second, _ := stdioCommand(t, false, env...)
	cs2 := connect(t, ctx, newClient(nil), &mcp.CommandTransport{Command: second}, nil, nil)
	day := time.Now().Format(time.DateOnly)
	want := []string{
		filepath.Join(outDir, day, r.TaskID+"_1.png"),
		filepath.Join(outDir, day, r.TaskID+"_2.png"),
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, p := range want {
		for {
			if _, err := os.Stat(p); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the restarted server did not save %s: the pending task was not resumed", p)
			case <-tick.C:
			}
		}
	}
	queries := sb.Stats().Queries
	var c taskFields
	res := call(t, ctx, cs2, "check_task", map[string]any{"task_id": r.TaskID})
	mustOK(t, res)
	structured(t, res, &c)
	if c.Status != "done" || len(c.Images) != 2 || c.Images[0].Path != want[0] || c.Images[1].Path != want[1] {
		t.Fatalf("check_task after the restart: %+v", c)
	}
	if got := sb.Stats().Queries; got != queries {
		t.Errorf("check_task of a finished task queried the upstream %d times; want 0 (answered from the store)", got-queries)
	}
	if st := sb.Stats(); st.Submits != 1 || st.BilledImages != 2 {
		t.Errorf("upstream saw %d submits / %d billed images; want 1 / 2", st.Submits, st.BilledImages)
	}
}

// TestTwoServersShareOneStore: two server processes on one data folder (a
// user with two MCP clients open) submit an identical request once between
// them, share the daily limit, and see each other's tasks.
func TestTwoServersShareOneStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sb := sandboxtest.Start(t, sandboxtest.Delay(500*time.Millisecond))
	env, _ := upstreamEnv(sb, t.TempDir(), "AIPAINT_DAILY_IMAGE_LIMIT=5")
	var sessions []*mcp.ClientSession
	for range 2 {
		cmd, _ := stdioCommand(t, false, env...)
		sessions = append(sessions, connect(t, ctx, newClient(nil), &mcp.CommandTransport{Command: cmd}, nil, nil))
	}

	const perServer = 3
	results := make([]taskFields, 2*perServer)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			results[i] = generate(t, ctx, sessions[i%2], map[string]any{"text": "两个客户端同时画的猫"})
		})
	}
	wg.Wait()
	billed := 0
	for _, r := range results {
		if r.TaskID != results[0].TaskID || r.Status != "done" {
			t.Errorf("identical requests answered differently: %+v vs %+v", r, results[0])
		}
		billed += r.BilledImages
	}
	if st := sb.Stats(); st.Submits != 1 || billed != 1 {
		t.Fatalf("%d identical calls over two processes: upstream saw %d submits, results claim %d billed; want 1 and 1", len(results), st.Submits, billed)
	}

	a := generate(t, ctx, sessions[0], map[string]any{"text": "第一个进程的狗", "num": 3})
	if a.Usage == nil || a.Usage.Today != 4 || a.Usage.Limit != 5 {
		t.Errorf("usage after 1+3 images: %+v; want 4 of 5", a.Usage)
	}
	res := call(t, ctx, sessions[1], "generate_image", map[string]any{"text": "第二个进程的鸟", "num": 2})
	if !res.IsError {
		t.Fatalf("the second process must see the first's spending and refuse 4+2 > 5: %s", textOf(res))
	}
	if want := "今日已用 4/5 张"; !strings.Contains(textOf(res), want) {
		t.Errorf("refusal %q does not state the usage %q", textOf(res), want)
	}
	if st := sb.Stats(); st.Submits != 2 {
		t.Errorf("upstream saw %d submits; want 2 (the refused call submits nothing)", st.Submits)
	}

	queries := sb.Stats().Queries
	var c taskFields
	res = call(t, ctx, sessions[1], "check_task", map[string]any{"task_id": a.TaskID})
	mustOK(t, res)
	structured(t, res, &c)
	if c.Status != "done" || len(c.Images) != 3 {
		t.Errorf("the other process's task: %+v", c)
	}
	if got := sb.Stats().Queries; got != queries {
		t.Errorf("a finished task recorded by the other process cost %d queries; want 0", got-queries)
	}
}
