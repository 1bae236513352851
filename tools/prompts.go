package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/schema"
)

// Prompt names and the argument names that completions know.
const (
	PromptDraw         = "draw"
	PromptStyleExplore = "style_explore"

	argSubject    = "subject"
	argStyle      = "style"
	argResolution = "resolution"
)

// exploreStyles are the arguments of style_explore: one image per style.
var exploreStyles = []string{"style1", "style2", "style3"}

func prompts() []server.ServerPrompt {
	styleHelp := fmt.Sprintf("风格 Style: a Chinese name or an English name (e.g. 赛博朋克 or cyberpunk); one of the %d in list_styles.", len(schema.Styles))
	explore := []mcp.PromptOption{
		mcp.WithPromptTitle("风格对比 Explore styles"),
		mcp.WithPromptDescription("Draw one subject in three styles, one image each (3 billed images); states the cost before drawing."),
		mcp.WithArgument(argSubject, mcp.RequiredArgument(), mcp.ArgumentTitle("主题 Subject"),
			mcp.ArgumentDescription("What to draw, e.g. 雨夜的城市街道.")),
	}
	for i, name := range exploreStyles {
		explore = append(explore, mcp.WithArgument(name, mcp.ArgumentTitle(fmt.Sprintf("风格 %d Style %d", i+1, i+1)),
			mcp.ArgumentDescription(styleHelp+" Optional: the assistant picks contrasting styles for the ones left empty.")))
	}
	return []server.ServerPrompt{
		{
			Prompt: mcp.NewPrompt(PromptDraw,
				mcp.WithPromptTitle("画图 Draw"),
				mcp.WithPromptDescription(fmt.Sprintf("Turn a subject into a vivid Chinese prompt (at most %d characters) and draw it with generate_image (1 billed image).", schema.MaxTextChars)),
				mcp.WithArgument(argSubject, mcp.RequiredArgument(), mcp.ArgumentTitle("主题 Subject"),
					mcp.ArgumentDescription("What to draw, in any language, e.g. 竹林里的熊猫 or a cat on a rooftop.")),
				mcp.WithArgument(argStyle, mcp.ArgumentTitle("风格 Style"), mcp.ArgumentDescription(styleHelp+" Optional.")),
				mcp.WithArgument(argResolution, mcp.ArgumentTitle("分辨率 Resolution"),
					mcp.ArgumentDescription("Optional: "+strings.Join(schema.ResolutionValues(), ", ")+" (or square, portrait, landscape).")),
			),
			Handler: drawPrompt,
		},
		{Prompt: mcp.NewPrompt(PromptStyleExplore, explore...), Handler: styleExplorePrompt},
	}
}

// promptError is what a prompt answers for a bad argument: the client shows
// it to the user, who picked the argument.
func promptError(err error) error { return fmt.Errorf("参数有误 invalid argument: %w", err) }

func subjectOf(req mcp.GetPromptRequest) (string, error) {
	s := strings.TrimSpace(req.Params.Arguments[argSubject])
	if s == "" {
		return "", promptError(fmt.Errorf("%s is required: say what to draw, e.g. 竹林里的熊猫", argSubject))
	}
	return s, nil
}

func drawPrompt(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	subject, err := subjectOf(req)
	if err != nil {
		return nil, err
	}
	styleLine := fmt.Sprintf("- style：从这些风格中选最贴合主题的一个 / pick the best fit: %s", strings.Join(schema.StyleNames(), "、"))
	if v := strings.TrimSpace(req.Params.Arguments[argStyle]); v != "" {
		st, err := schema.ParseStyle(v)
		if err != nil {
			return nil, promptError(err)
		}
		styleLine = fmt.Sprintf("- style：%s", st.Name)
	}
	res := schema.DefaultResolution()
	if v := strings.TrimSpace(req.Params.Arguments[argResolution]); v != "" {
		if res, err = schema.ParseResolution(v); err != nil {
			return nil, promptError(err)
		}
	}
	text := fmt.Sprintf(`请为这个主题画一张图 / Draw a picture of this subject: %s

1. 先把主题写成一句生动、具体的中文画面描述，作为 text：主体、动作、环境、光线、色彩、构图，不超过 %d 个字（按字数计，不是字节）。不要写风格名，风格由 style 决定。
   Write one vivid, concrete Chinese description of the scene (subject, action, setting, light, colour, composition) in at most %d characters; leave the style name out.
2. 然后调用 generate_image / Then call generate_image with:
- text：上面的描述 / the description
%s
- resolution：%s
- num：1（每张图都计费 / every image is billed）
3. 用结果里的 Markdown 图片行把图片展示给用户。如果返回 status "pending"，稍后用 check_task 查询，不要重新调用 generate_image（会再次计费）。
   Show the images with the Markdown lines from the result. If it answers "pending", call check_task later; never call generate_image again for it.`,
		subject, schema.MaxTextChars, schema.MaxTextChars, styleLine, res.Value)
	return mcp.NewGetPromptResult("画图 Draw: "+subject, []mcp.PromptMessage{
		mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text)),
	}), nil
}

func styleExplorePrompt(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	subject, err := subjectOf(req)
	if err != nil {
		return nil, err
	}
	var chosen []string
	for _, name := range exploreStyles {
		v := strings.TrimSpace(req.Params.Arguments[name])
		if v == "" {
			continue
		}
		st, err := schema.ParseStyle(v)
		if err != nil {
			return nil, promptError(fmt.Errorf("%s: %w", name, err))
		}
		for _, c := range chosen {
			if c == st.Name {
				return nil, promptError(fmt.Errorf("%s: %s is chosen twice; choose three different styles", name, st.Name))
			}
		}
		chosen = append(chosen, st.Name)
	}
	n := len(exploreStyles)
	stylesLine := fmt.Sprintf("风格 Styles: %s", strings.Join(chosen, "、"))
	if len(chosen) < n {
		stylesLine = fmt.Sprintf("风格 Styles: %s；其余 %d 个由你从这些风格中挑选，彼此差别要大 / pick the other %d, as different from each other as possible: %s",
			strings.Join(append(chosen, "…"), "、"), n-len(chosen), n-len(chosen), strings.Join(schema.StyleNames(), "、"))
	}
	text := fmt.Sprintf(`用 %d 种风格各画一张同一主题的图 / Draw one subject in %d styles, one image each.
主题 Subject: %s
%s

1. 先告诉用户费用：共 %d 次 generate_image 调用、%d 张图片，每张图片都按次计费；沙盒模式下不计费。
   First tell the user the cost: %d generate_image calls, %d images, each image billed (nothing is billed in sandbox mode).
2. 写一句生动、具体的中文画面描述（不超过 %d 个字，不含风格名），%d 次调用都用同一个 text，这样只有风格不同。
   Write one vivid Chinese description (at most %d characters, no style name) and use the same text for every call, so only the style differs.
3. 对每种风格调用一次 generate_image：text 同上，style 为该风格，num 为 1。
   Call generate_image once per style with num 1.
4. 把 %d 张图按风格并排展示，用一两句话比较它们的差别。某张返回 "pending" 时，稍后用 check_task 查询，不要重新生成。
   Show the images side by side, labelled by style, and compare them in a sentence or two. If one answers "pending", call check_task later; never generate it again.`,
		n, n, subject, stylesLine, n, n, n, n, schema.MaxTextChars, n, schema.MaxTextChars, n)
	return mcp.NewGetPromptResult(fmt.Sprintf("风格对比 Explore styles: %s (%d billed images)", subject, n), []mcp.PromptMessage{
		mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text)),
	}), nil
}
