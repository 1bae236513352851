package tools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	_ "image/jpeg"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/sandbox/sandboxtest"
	"aipaint-mcp/schema"
	"aipaint-mcp/store"
	"aipaint-mcp/store/storetest"
	"aipaint-mcp/tools"
)

func TestIdenticalCallsSubmitOnce(t *testing.T) {
	h := newHarness(t)
	args := map[string]any{"text": "竹林里的熊猫", "style": "古风", "num": 2}
	first := taskResult(t, h.call(t, "generate_image", args, nil))
	assert.False(t, first.Deduplicated)
	assert.Equal(t, 2, first.BilledImages)
	require.NotNil(t, first.Usage)
	assert.Equal(t, schema.Usage{Today: 2, Limit: 100}, *first.Usage)

	res := h.call(t, "generate_image", map[string]any{"text": "竹林里的熊猫", "style": "guofeng", "num": "2"}, nil)
	second := taskResult(t, res)
	assert.True(t, second.Deduplicated, "aliases and quoted numbers normalise to the same request")
	assert.Zero(t, second.BilledImages)
	assert.Equal(t, first.TaskID, second.TaskID)
	assert.Equal(t, schema.StatusDone, second.Status)
	assert.Equal(t, schema.Usage{Today: 2, Limit: 100}, *second.Usage)
	assert.Contains(t, text(res), "nothing new was billed")
	assert.Contains(t, text(res), "今日已用 2/100 张")

	st := h.sb.Stats()
	assert.Equal(t, int64(1), st.Submits)
	assert.Equal(t, int64(2), st.BilledImages)
}

func TestConcurrentIdenticalCallsSubmitOnce(t *testing.T) {
	h := newHarness(t, delay(300*time.Millisecond))
	const callers = 6
	results := make([]schema.TaskResult, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			results[i] = taskResult(t, h.call(t, "generate_image", map[string]any{"text": "同时提交的猫"}, nil))
		})
	}
	wg.Wait()
	assert.Equal(t, int64(1), h.sb.Stats().Submits)
	billed, dedup := 0, 0
	for _, r := range results {
		assert.Equal(t, results[0].TaskID, r.TaskID)
		assert.Equal(t, schema.StatusDone, r.Status)
		billed += r.BilledImages
		if r.Deduplicated {
			dedup++
		}
	}
	assert.Equal(t, 1, billed)
	assert.Equal(t, callers-1, dedup)
}

func TestForceNewSubmitsAgain(t *testing.T) {
	h := newHarness(t)
	a := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫"}, nil))
	b := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫", "force_new": true}, nil))
	assert.NotEqual(t, a.TaskID, b.TaskID)
	assert.False(t, b.Deduplicated)
	assert.Equal(t, 1, b.BilledImages)
	assert.Equal(t, int64(2), h.sb.Stats().Submits)
	assert.Equal(t, 2, b.Usage.Today)
}

func TestDedupOffWhenWindowIsZero(t *testing.T) {
	h := newHarness(t, withPaint(func(o *paint.Options) { o.Policy.DedupWindow = 0 }))
	taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫"}, nil))
	taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫"}, nil))
	assert.Equal(t, int64(2), h.sb.Stats().Submits)
}

func TestDailyLimitRefusesBeforeSubmitting(t *testing.T) {
	h := newHarness(t, withPaint(func(o *paint.Options) { o.Policy.DailyLimit = new(3) }))
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫", "num": 2}, nil))
	assert.Equal(t, schema.Usage{Today: 2, Limit: 3}, *r.Usage)

	res := h.call(t, "generate_image", map[string]any{"text": "狗", "num": 2}, nil)
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "今日已用 2/3 张")
	assert.Contains(t, text(res), "AIPAINT_DAILY_IMAGE_LIMIT")
	assert.Contains(t, text(res), "Nothing was submitted")
	assert.Equal(t, int64(1), h.sb.Stats().Submits)

	// A duplicate of a paid request costs nothing, so the limit does not refuse it.
	dup := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫", "num": 2}, nil))
	assert.True(t, dup.Deduplicated)
	r = taskResult(t, h.call(t, "generate_image", map[string]any{"text": "狗"}, nil))
	assert.Equal(t, schema.Usage{Today: 3, Limit: 3}, *r.Usage)
	assert.Equal(t, int64(2), h.sb.Stats().Submits)
}

// No account limit is nil inside and 0 on the wire, as the output schema
// says; the text says so in words.
func TestNoDailyLimitIsZeroOnTheWire(t *testing.T) {
	h := newHarness(t, withPaint(func(o *paint.Options) { o.Policy.DailyLimit = nil }))
	res := h.call(t, "generate_image", map[string]any{"text": "猫", "num": 2}, nil)
	r := taskResult(t, res)
	require.NotNil(t, r.Usage)
	assert.Equal(t, schema.Usage{Today: 2, Limit: 0}, *r.Usage)
	assert.Contains(t, text(res), "(no daily limit)")
	assert.NotContains(t, text(res), "今日已用 2/0", "no limit is not a limit of 0") // (a saved path may hold "2/0")
}

func TestNumAboveTheConfiguredCapIsRefused(t *testing.T) {
	h := newHarness(t, withLimits(func(l *schema.Limits) { l.MaxNum = 2 }))
	res := h.call(t, "generate_image", map[string]any{"text": "猫", "num": 3}, nil)
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "num must be between 1 and 2")
	assert.Zero(t, h.sb.Stats().Submits)
}

func TestRejectedSubmitReleasesItsImages(t *testing.T) {
	h := newHarness(t, withPaint(func(o *paint.Options) { o.Policy.DailyLimit = new(2) }))
	h.sb.FailNext(sandbox.OpSubmit, sandboxtest.Fault{Business: 202})
	res := h.call(t, "generate_image", map[string]any{"text": "猫", "num": 2}, nil)
	require.True(t, res.IsError)
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "猫", "num": 2}, nil))
	assert.False(t, r.Deduplicated, "a rejected submit is not an answer to dedupe against")
	assert.Equal(t, 2, r.Usage.Today, "a rejected submit billed nothing, so it does not count")
}

func TestImagesAreSavedWithExpiryAndLinks(t *testing.T) {
	h := newHarness(t)
	res := h.call(t, "generate_image", map[string]any{"text": "熊猫", "num": 2, "resolution": "portrait"}, nil)
	r := taskResult(t, res)
	require.Len(t, r.Images, 2)
	created, err := time.Parse(time.RFC3339, r.CreatedAt)
	require.NoError(t, err)
	for _, img := range r.Images {
		want := filepath.Join(h.outDir, created.Local().Format(time.DateOnly), r.TaskID+"_"+string(rune('0'+img.Index))+".png")
		assert.Equal(t, want, img.Path)
		data, err := os.ReadFile(img.Path)
		require.NoError(t, err)
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		require.NoError(t, err)
		assert.Equal(t, "png", format)
		assert.Equal(t, 1024, cfg.Width)
		assert.Equal(t, 1536, cfg.Height)
		exp, err := time.Parse(time.RFC3339, img.ExpiresAt)
		require.NoError(t, err)
		assert.True(t, exp.Equal(created.AddDate(0, 3, 0)), "images expire three months after creation: %s", img.ExpiresAt)
	}
	taskExp, err := time.Parse(time.RFC3339, r.TaskExpiresAt)
	require.NoError(t, err)
	assert.True(t, taskExp.Equal(created.AddDate(0, 1, 0)))

	var links []string
	for _, c := range res.Content {
		if l, ok := c.(mcp.ResourceLink); ok {
			u, err := url.Parse(l.URI)
			require.NoError(t, err)
			if u.Scheme == "file" {
				links = append(links, "file:"+u.Path)
				continue
			}
			links = append(links, l.URI)
		}
	}
	assert.Equal(t, []string{r.Images[0].URL, "file:" + filepath.ToSlash(r.Images[0].Path), r.Images[1].URL, "file:" + filepath.ToSlash(r.Images[1].Path)}, links)
	assert.Contains(t, text(res), "已保存 saved: "+r.Images[0].Path)

	rec, err := h.store.Get(t.Context(), r.TaskID)
	require.NoError(t, err)
	assert.Equal(t, store.StatusDone, rec.Status)
	assert.Equal(t, r.Images[1].Path, rec.Images[1].Path)
}

func TestCheckAnswersAFinishedTaskFromTheStore(t *testing.T) {
	h := newHarness(t)
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "熊猫"}, nil))
	queries := h.sb.Stats().Queries
	c := taskResult(t, h.call(t, "check_task", map[string]any{"task_id": r.TaskID}, nil))
	assert.Equal(t, schema.StatusDone, c.Status)
	assert.Equal(t, r.Images, c.Images)
	assert.Equal(t, "熊猫", c.Text, "the request comes back from the store")
	assert.Zero(t, c.BilledImages)
	assert.Equal(t, queries, h.sb.Stats().Queries, "no upstream call for a finished task")
}

func TestPendingTaskIsFollowedInTheBackground(t *testing.T) {
	h := newHarness(t, delay(300*time.Millisecond))
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "熊猫", "wait": false}, nil))
	assert.Equal(t, schema.StatusPending, r.Status)
	rec, err := h.store.Get(t.Context(), r.TaskID)
	require.NoError(t, err, "recorded before the tool returned")
	assert.Equal(t, store.StatusPending, rec.Status)

	require.Eventually(t, func() bool {
		rec, err := h.store.Get(t.Context(), r.TaskID)
		return err == nil && rec.Status == store.StatusDone && rec.Images[0].Path != ""
	}, 10*time.Second, 10*time.Millisecond, "the background poller finishes and saves the task")
	queries := h.sb.Stats().Queries
	c := taskResult(t, h.call(t, "check_task", map[string]any{"task_id": r.TaskID}, nil))
	assert.Equal(t, schema.StatusDone, c.Status)
	assert.NotEmpty(t, c.Images[0].Path)
	assert.Equal(t, queries, h.sb.Stats().Queries, "check_task answered at once from the store")
}

func TestCheckRecordsATaskItDidNotSubmit(t *testing.T) {
	h := newHarness(t)
	other := h.sb.Client(t)
	sub, err := other.Submit(context.Background(), client.Request{Text: "别处提交的", Style: "古风", Resolution: "1024*1024", Num: 1})
	require.NoError(t, err)
	c := taskResult(t, h.call(t, "check_task", map[string]any{"task_id": sub.TaskID, "wait_seconds": 10}, nil))
	assert.Equal(t, schema.StatusDone, c.Status)
	rec, err := h.store.Get(t.Context(), sub.TaskID)
	require.NoError(t, err)
	assert.Equal(t, store.StatusDone, rec.Status)
	assert.NotEmpty(t, rec.Images[0].Path)
}

func TestHostileTaskIDsNeverBecomePaths(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"../../escape", `..\..\escape`, "/etc/passwd", "a/../../b"} {
		res := h.call(t, "check_task", map[string]any{"task_id": id}, nil)
		require.True(t, res.IsError, id)
		assert.Contains(t, text(res), "does not look like a task id")
		_, err := h.store.Get(t.Context(), id)
		assert.ErrorIs(t, err, store.ErrNotFound, "nothing is recorded")
	}
	assert.Zero(t, h.sb.Stats().Queries, "refused before the upstream")
	_, err := os.Stat(filepath.Join(filepath.Dir(h.outDir), "escape"))
	assert.True(t, os.IsNotExist(err))
}

func TestPreviewsStayWithinTheSizeBudget(t *testing.T) {
	h := newHarness(t)
	res := h.call(t, "generate_image", map[string]any{"text": "熊猫", "num": 6, "resolution": "1024*1536", "preview": true}, nil)
	r := taskResult(t, res)
	require.Len(t, r.Images, 6)
	raw, err := json.Marshal(res)
	require.NoError(t, err)
	assert.Less(t, len(raw), 800<<10, "the whole result stays under 800 KB")
	t.Logf("result with 6 previews of 1024*1536 images: %d bytes", len(raw))
	assert.Len(t, images(t, res), 6)

	plain := h.call(t, "check_task", map[string]any{"task_id": r.TaskID}, nil)
	for _, c := range plain.Content {
		_, isImage := c.(mcp.ImageContent)
		assert.False(t, isImage, "no previews unless asked")
	}
	assert.False(t, strings.Contains(text(plain), "No preview"))
}

func TestUnusableStoreRefusesBeforeSubmitting(t *testing.T) {
	h := newHarness(t, withPaint(func(o *paint.Options) {
		o.Unusable = &paint.UnavailableError{StoreProblem: "task store: mkdir /nope: permission denied"}
	}))
	for _, call := range []struct {
		tool string
		args map[string]any
	}{{"generate_image", map[string]any{"text": "猫"}}, {"check_task", map[string]any{"task_id": "t1"}}} {
		res := h.call(t, call.tool, call.args, nil)
		require.True(t, res.IsError)
		assert.Contains(t, text(res), "permission denied")
		assert.Contains(t, text(res), "AIPAINT_DATA_DIR")
	}
	assert.Zero(t, h.sb.Stats().Submits)
}

func TestTaskResourcesComeFromTheStore(t *testing.T) {
	h := newHarness(t)
	a := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "第一张"}, nil))
	b := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "第二张", "num": 2}, nil))
	ctx := context.Background()
	queries := h.sb.Stats().Queries

	read := func(uri string) string {
		t.Helper()
		req := mcp.ReadResourceRequest{}
		req.Params.URI = uri
		res, err := h.c.ReadResource(ctx, req)
		require.NoError(t, err)
		require.Len(t, res.Contents, 1)
		tc, ok := res.Contents[0].(mcp.TextResourceContents)
		require.True(t, ok)
		assert.Equal(t, "application/json", tc.MIMEType)
		return tc.Text
	}
	var list tools.TaskList
	require.NoError(t, json.Unmarshal([]byte(read(tools.TasksURI)), &list))
	require.Len(t, list.Tasks, 2)
	assert.Equal(t, b.TaskID, list.Tasks[0].TaskID, "newest first")
	assert.Equal(t, a.TaskID, list.Tasks[1].TaskID)
	assert.Equal(t, schema.Usage{Today: 3, Limit: 100}, list.Usage)
	assert.NotEmpty(t, list.Tasks[0].Images[1].Path)

	var one schema.TaskResult
	require.NoError(t, json.Unmarshal([]byte(read("aipaint://tasks/"+b.TaskID)), &one))
	assert.Equal(t, b.Images, one.Images)
	assert.Equal(t, "第二张", one.Text)
	assert.Equal(t, queries, h.sb.Stats().Queries, "reading resources never calls the API")

	req := mcp.ReadResourceRequest{}
	req.Params.URI = "aipaint://tasks/no-such-task"
	_, err := h.c.ReadResource(ctx, req)
	require.Error(t, err)

	creq := mcp.CompleteRequest{}
	creq.Params.Ref = mcp.ResourceReference{Type: "ref/resource", URI: tools.TaskTemplateURI}
	creq.Params.Argument = mcp.CompleteArgument{Name: "task_id", Value: ""}
	comp, err := h.c.Complete(ctx, creq)
	require.NoError(t, err)
	assert.Equal(t, []string{b.TaskID, a.TaskID}, comp.Completion.Values)
}

func TestCheckSavesWhatAFailedDownloadLeft(t *testing.T) {
	h := newHarness(t)
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "熊猫"}, nil))
	require.NotEmpty(t, r.Images[0].Path)
	// As if the download had failed: no file, an error noted.
	require.NoError(t, os.Remove(r.Images[0].Path))
	_, err := h.store.Update(t.Context(), r.TaskID, func(rec *store.Record) {
		rec.Images[0].Path, rec.Images[0].SaveError = "", "HTTP 502"
	})
	require.NoError(t, err)

	c := taskResult(t, h.call(t, "check_task", map[string]any{"task_id": r.TaskID}, nil))
	assert.Equal(t, r.Images[0].Path, c.Images[0].Path, "saved again, under the same name")
	assert.Empty(t, c.Images[0].SaveError)
	_, err = os.Stat(c.Images[0].Path)
	assert.NoError(t, err)
}

func TestWaitingBehindAnIdenticalSubmitIsBounded(t *testing.T) {
	st := openStore(t)
	reserves := &storetest.Reserves{Store: st}
	h := newHarness(t, withPaint(func(o *paint.Options) { o.Store = reserves }))
	// Another process reserved the identical request and is still submitting.
	other, err := store.Open(st.Dir())
	require.NoError(t, err)
	defer other.Close()
	_, err = other.Reserve(context.Background(), client.Request{Text: "猫", Style: "探索无限", Resolution: "1024*1024", Num: 1},
		store.Policy{DedupWindow: time.Minute})
	require.NoError(t, err)

	done := make(chan *mcp.CallToolResult, 1)
	go func() { done <- h.call(t, "generate_image", map[string]any{"text": "猫"}, nil) }()
	// Drained once the call waits behind the other submit: one that starts
	// after the drain is refused before it reserves.
	require.Eventually(t, func() bool { return reserves.Entered() == 1 }, 30*time.Second, time.Millisecond)
	h.svc.Drain()
	res := <-done
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "identical request is being submitted")
	assert.NotContains(t, text(res), "AIPAINT_DATA_DIR", "not a store failure")
	assert.Zero(t, h.sb.Stats().Submits)
}
