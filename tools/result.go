package tools

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/client"
	"aipaint-mcp/paint"
	"aipaint-mcp/schema"
)

// show answers with a task as a call left it: structured content, a
// readable summary, a link per image (and per saved file) and, when asked,
// small previews.
func (h *handlers) show(ctx context.Context, out paint.Outcome, started time.Time, preview bool) *mcp.CallToolResult {
	res := h.taskResult(out)
	res.WaitedSeconds = math.Round(time.Since(started).Seconds()*10) / 10
	if res.Status == schema.StatusPending {
		res.NextStep = fmt.Sprintf("The images are not ready yet. Call check_task with task_id %q (wait_seconds %d) in a little while. "+
			"Do not call generate_image again for this request: it would be billed again.", res.TaskID, h.Limits.CapWait(schema.DefaultWaitSeconds))
	}
	text := summary(res, h.shownUsage(out), out.WaitErr)
	if hostOf(ctx).reads == readsStructured {
		res.Summary = text // its model never sees the text block
	}
	result := mcp.NewToolResultStructured(res, text)
	for _, img := range res.Images {
		name := fmt.Sprintf("%s_%d", res.TaskID, img.Index)
		result.Content = append(result.Content, mcp.NewResourceLink(img.URL, name, "图片 image "+fmt.Sprint(img.Index)+" (URL, valid until "+img.ExpiresAt+")", mimeOf(img.URL)))
		if img.Path != "" {
			result.Content = append(result.Content, mcp.NewResourceLink(fileURL(img.Path), filepath.Base(img.Path), "本地文件 saved file "+img.Path, mimeOf(img.Path)))
		}
	}
	if preview && res.Status == schema.StatusDone {
		h.addPreviews(ctx, result, res)
	}
	return result
}

// taskResult is a task's encoding as a tool result (its other encoding is
// the task file): the structured content of generate_image and check_task.
func (h *handlers) taskResult(out paint.Outcome) schema.TaskResult {
	rec := out.Task
	res := schema.TaskResult{
		TaskID:       rec.TaskID,
		Status:       schema.StatusPending,
		Text:         rec.Text,
		Style:        rec.Style,
		Resolution:   rec.Resolution,
		Num:          rec.Num,
		TaskNo:       rec.TaskNo,
		Sandbox:      h.Sandbox,
		Deduplicated: out.Deduplicated,
		BilledImages: out.Billed,
	}
	if u := h.shownUsage(out); u != nil {
		res.Usage = wireUsage(*u)
	}
	if !rec.CreatedAt.IsZero() {
		res.CreatedAt = rec.CreatedAt.Format(time.RFC3339)
	}
	if !rec.SubmittedAt.IsZero() || !rec.CreatedAt.IsZero() {
		res.TaskExpiresAt = rec.TaskExpiresAt().Format(time.RFC3339)
	}
	if rec.Status == paint.StatusDone {
		res.Status = schema.StatusDone
		for _, img := range rec.Images {
			res.Images = append(res.Images, schema.Image{
				URL: img.URL, Index: img.Index, Path: img.Path, SaveError: img.SaveError,
				ExpiresAt: img.ExpiresAt.Format(time.RFC3339),
			})
		}
	}
	return res
}

// summary is the readable text block: bilingual, one Markdown image line per
// image, and u's counts when the result shows usage.
func summary(r schema.TaskResult, u *paint.Usage, err error) string {
	var b strings.Builder
	if r.Deduplicated {
		b.WriteString("♻️ 相同的请求刚刚提交过，直接返回该任务，未重复计费 / An identical request was made recently: returning its task, nothing new was billed " +
			"(pass force_new: true only if the user wants new variations).\n")
	}
	if r.Status == schema.StatusDone {
		fmt.Fprintf(&b, "✅ 已生成 %d 张图片 / %d image(s) ready — %s, %s, task_id %s\n", len(r.Images), len(r.Images), r.Style, r.Resolution, r.TaskID)
		for _, img := range r.Images {
			fmt.Fprintf(&b, "![图%d image %d](%s)\n", img.Index, img.Index, img.URL)
			switch {
			case img.Path != "":
				fmt.Fprintf(&b, "  已保存 saved: %s\n", img.Path)
			case img.SaveError != "":
				fmt.Fprintf(&b, "  保存失败 not saved (%s); check_task will try again\n", img.SaveError)
			}
		}
		if r.Sandbox {
			b.WriteString("沙盒链接仅在本服务运行期间有效 / Sandbox links work only while this server runs.")
		} else if len(r.Images) > 0 {
			fmt.Fprintf(&b, "图片链接有效期至 %s / Image links valid until %s.", day(r.Images[0].ExpiresAt), day(r.Images[0].ExpiresAt))
		}
	} else {
		fmt.Fprintf(&b, "⏳ 图片仍在生成中 / Still drawing after %.0fs — task_id %s\n", r.WaitedSeconds, r.TaskID)
		var apiErr *client.APIError
		if errors.As(err, &apiErr) {
			fmt.Fprintf(&b, "(上次查询失败，稍后再试 / the last status check failed: %s)\n", apiErr.Message)
		}
		b.WriteString("下一步 Next step: " + r.NextStep)
	}
	if r.Text != "" {
		fmt.Fprintf(&b, "\n提示词 Prompt: %s", r.Text)
	}
	if r.BilledImages > 0 {
		fmt.Fprintf(&b, "\n本次计费 Billed by this call: %d 张 image(s)", r.BilledImages)
	}
	if u != nil {
		if u.Limit != nil {
			fmt.Fprintf(&b, "\n今日已用 %d/%d 张 / %d of %d images used today", u.Today, *u.Limit, u.Today, *u.Limit)
		} else {
			fmt.Fprintf(&b, "\n今日已用 %d 张 / %d images used today (no daily limit)", u.Today, u.Today)
		}
		if p := u.Person; p != nil {
			if p.Limit != nil {
				fmt.Fprintf(&b, "\n%s 今日已用 %d/%d 张 / %s: %d of %d images today", p.Name, p.Today, *p.Limit, p.Name, p.Today, *p.Limit)
			} else {
				fmt.Fprintf(&b, "\n%s 今日已用 %d 张 / %s: %d images today", p.Name, p.Today, p.Name, p.Today)
			}
		}
	}
	if r.Sandbox {
		b.WriteString("\n🧪 沙盒图片：来自内置模拟服务，不是真实 AI 绘画，也不计费 / Sandbox images from the built-in stand-in, not the real API (no charge).")
	}
	return b.String()
}

func day(rfc3339 string) string {
	if t, err := time.Parse(time.RFC3339, rfc3339); err == nil {
		return t.Format(time.DateOnly)
	}
	return rfc3339
}

func fileURL(path string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: C:/x becomes /C:/x
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}

func mimeOf(name string) string {
	u, err := url.Parse(name)
	if err == nil {
		name = u.Path
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".webp":
		return "image/webp"
	case ".gif":
		return "image/gif"
	}
	return "image/png"
}

// Previews must keep the whole result under maxResultBytes: clients reject
// tool results over 1 MB.
const (
	maxResultBytes = 800 << 10
	previewBound   = 20 * time.Second
)

// addPreviews appends downscaled previews while the result stays within its
// size budget; an image that does not fit or fails is named in a note.
func (h *handlers) addPreviews(ctx context.Context, result *mcp.CallToolResult, res schema.TaskResult) {
	ctx, cancel := context.WithTimeout(ctx, previewBound)
	defer cancel()
	raw, err := json.Marshal(result)
	if err != nil {
		return
	}
	size := len(raw)
	var skipped []string
	for _, img := range res.Images {
		data, err := h.Paint.Preview(ctx, paint.Image{URL: img.URL, Path: img.Path})
		if err != nil {
			h.Logger.Warn("preview failed", "task_id", res.TaskID, "index", img.Index, "err", err)
			skipped = append(skipped, fmt.Sprintf("%d (%v)", img.Index, err))
			continue
		}
		// base64 plus the JSON around one image item
		cost := base64.StdEncoding.EncodedLen(len(data)) + 64
		if size+cost > maxResultBytes {
			skipped = append(skipped, fmt.Sprintf("%d (result size limit)", img.Index))
			continue
		}
		size += cost
		result.Content = append(result.Content, mcp.NewImageContent(base64.StdEncoding.EncodeToString(data), "image/jpeg"))
	}
	if len(skipped) > 0 {
		result.Content = append(result.Content, mcp.NewTextContent("未附预览 / No preview for image "+strings.Join(skipped, ", ")+"; open the links instead."))
	}
}

// shownUsage is the usage a task result shows: out's, when the store
// reported it or the account has a limit; nil when it shows none.
func (h *handlers) shownUsage(out paint.Outcome) *paint.Usage {
	if out.Usage != (paint.Usage{}) || h.Paint.DailyLimit() != nil {
		return &out.Usage
	}
	return nil
}

// wireUsage is the store's usage (the team's, and the caller's on a team
// server) as tool results carry it. It is where the account's limit leaves
// the code's encoding (nil = no limit) for the wire's: usage.limit is an
// integer, 0 for no limit, as schema.Usage documents and the output schema
// fixes. (The way in is config's accountLimit.) A person's limit is null
// for none on the wire as inside.
func wireUsage(u paint.Usage) *schema.Usage {
	out := &schema.Usage{Today: u.Today}
	if u.Limit != nil {
		out.Limit = *u.Limit
	}
	if p := u.Person; p != nil {
		out.Person = &schema.PersonUsage{Name: p.Name, Today: p.Today, Limit: p.Limit}
	}
	return out
}
