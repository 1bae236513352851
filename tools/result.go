package tools

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"aipaint-mcp/client"
	"aipaint-mcp/schema"
)

// taskResult shapes the answer of generate_image and check_task from the
// latest task state and how the wait ended. submitted says this call created
// the task (and paid for it).
func (h *handlers) taskResult(res schema.TaskResult, task client.Task, err error, started time.Time, submitted bool) *mcp.CallToolResult {
	res.WaitedSeconds = math.Round(time.Since(started).Seconds()*10) / 10
	if res.TaskNo == "" {
		res.TaskNo = task.TaskNo
	}
	if !task.CreatedAt.IsZero() {
		res.CreatedAt = task.CreatedAt.Format(time.RFC3339)
	}
	switch {
	case err == nil && task.Done:
		res.Status = schema.StatusDone
		for i, u := range task.Images {
			res.Images = append(res.Images, schema.Image{URL: u, Index: i + 1})
		}
	case err == nil, errors.Is(err, client.ErrStillPending),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		res.Status = schema.StatusPending
		res.NextStep = fmt.Sprintf("The images are not ready yet. Call check_task with task_id %q (wait_seconds %d) in a little while. "+
			"Do not call generate_image again for this request: it would be billed again.", res.TaskID, min(schema.DefaultWaitSeconds, h.Limits.MaxWaitSeconds))
	default:
		submittedTask := ""
		if submitted {
			submittedTask = res.TaskID
		}
		return upstreamError(err, submittedTask)
	}
	return mcp.NewToolResultStructured(res, summary(res, err))
}

// summary is the readable text block: bilingual, one Markdown image line per image.
func summary(r schema.TaskResult, err error) string {
	var b strings.Builder
	if r.Status == schema.StatusDone {
		fmt.Fprintf(&b, "✅ 已生成 %d 张图片 / %d image(s) ready — %s, %s, task_id %s\n", len(r.Images), len(r.Images), r.Style, r.Resolution, r.TaskID)
		for _, img := range r.Images {
			fmt.Fprintf(&b, "![图%d image %d](%s)\n", img.Index, img.Index, img.URL)
		}
		if r.Sandbox {
			b.WriteString("沙盒链接仅在本服务运行期间有效 / Sandbox links work only while this server runs.")
		} else {
			b.WriteString("图片链接约三个月内有效，请及时保存 / Image links stay valid for about three months.")
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
	if r.Sandbox {
		b.WriteString("\n🧪 沙盒图片：来自内置模拟服务，不是真实 AI 绘画，也不计费 / Sandbox images from the built-in stand-in, not the real API (no charge).")
	}
	return b.String()
}
