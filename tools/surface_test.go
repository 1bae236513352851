package tools_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/paint"
	"aipaint-mcp/schema"
	"aipaint-mcp/store"
	"aipaint-mcp/tools"
)

func surfaceClient(t *testing.T, opts tools.Options) *mcpclient.Client {
	t.Helper()
	c, err := mcpclient.NewInProcessClient(tools.NewServer(opts))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	require.NoError(t, c.Start(ctx))
	init, err := c.Initialize(ctx, mcp.InitializeRequest{})
	require.NoError(t, err)
	caps := init.Capabilities
	require.NotNil(t, caps.Resources, "resources capability")
	require.NotNil(t, caps.Prompts, "prompts capability")
	require.NotNil(t, caps.Completions, "completions capability")
	return c
}

func TestStylesResource(t *testing.T) {
	c := surfaceClient(t, tools.Options{})
	ctx := context.Background()
	list, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
	require.NoError(t, err)
	var uris []string
	for _, r := range list.Resources {
		uris = append(uris, r.URI)
	}
	assert.Contains(t, uris, tools.StylesURI)

	req := mcp.ReadResourceRequest{}
	req.Params.URI = tools.StylesURI
	res, err := c.ReadResource(ctx, req)
	require.NoError(t, err)
	require.Len(t, res.Contents, 1)
	tc, ok := res.Contents[0].(mcp.TextResourceContents)
	require.True(t, ok, "text contents, got %T", res.Contents[0])
	assert.Equal(t, "application/json", tc.MIMEType)
	var got schema.StylesResult
	require.NoError(t, json.Unmarshal([]byte(tc.Text), &got))
	assert.Equal(t, schema.ListStyles(), got, "the resource is the style table, as list_styles gives it")
}

func getPrompt(t *testing.T, c *mcpclient.Client, name string, args map[string]string) (string, error) {
	t.Helper()
	req := mcp.GetPromptRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.GetPrompt(context.Background(), req)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, m := range res.Messages {
		if tc, ok := mcp.AsTextContent(m.Content); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), nil
}

func TestPrompts(t *testing.T) {
	c := surfaceClient(t, tools.Options{})
	list, err := c.ListPrompts(context.Background(), mcp.ListPromptsRequest{})
	require.NoError(t, err)
	args := map[string][]string{}
	for _, p := range list.Prompts {
		for _, a := range p.Arguments {
			args[p.Name] = append(args[p.Name], a.Name)
		}
	}
	assert.Equal(t, map[string][]string{
		tools.PromptDraw:         {"subject", "style", "resolution"},
		tools.PromptStyleExplore: {"subject", "style1", "style2", "style3"},
	}, args)

	text, err := getPrompt(t, c, tools.PromptDraw, map[string]string{"subject": "竹林里的熊猫", "style": "cyberpunk", "resolution": "portrait"})
	require.NoError(t, err)
	for _, want := range []string{"竹林里的熊猫", "generate_image", "style：赛博朋克", "resolution：1024*1536", "不超过 100 个字", "check_task"} {
		assert.Contains(t, text, want)
	}

	text, err = getPrompt(t, c, tools.PromptDraw, map[string]string{"subject": "a cat"})
	require.NoError(t, err)
	assert.Contains(t, text, "resolution：1024*1024", "default resolution")
	assert.Contains(t, text, strings.Join(schema.StyleNames(), "、"), "no style: the model picks from the table")

	_, err = getPrompt(t, c, tools.PromptDraw, map[string]string{"subject": "猫", "style": "crayon"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown style")
	_, err = getPrompt(t, c, tools.PromptDraw, map[string]string{"style": "古风"})
	require.Error(t, err, "subject is required")

	_, err = getPrompt(t, c, tools.PromptStyleExplore, map[string]string{"subject": "雨夜街道", "style1": "water", "style2": "像素风格"})
	require.Error(t, err, "water is a prefix, not a style name")
	text, err = getPrompt(t, c, tools.PromptStyleExplore, map[string]string{"subject": "雨夜街道", "style1": "watercolor", "style2": "像素风格"})
	require.NoError(t, err)
	for _, want := range []string{"雨夜街道", "水彩画、像素风格", "共 3 次 generate_image 调用", "3 images, each image billed", "pick the other 1"} {
		assert.Contains(t, text, want)
	}
	_, err = getPrompt(t, c, tools.PromptStyleExplore, map[string]string{"subject": "x", "style1": "oil", "style3": "油画"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "twice")
}

func complete(t *testing.T, c *mcpclient.Client, ref any, arg, value string) []string {
	t.Helper()
	req := mcp.CompleteRequest{}
	req.Params.Ref = ref
	req.Params.Argument = mcp.CompleteArgument{Name: arg, Value: value}
	res, err := c.Complete(context.Background(), req)
	require.NoError(t, err)
	return res.Completion.Values
}

func TestCompletions(t *testing.T) {
	st := openStore(t)
	recent := []string{"t-aaa1", "t-aab2", "x-123"} // newest first
	for i, id := range recent {
		_, err := st.Put(t.Context(), store.Record{TaskID: id, SubmittedAt: time.Now().Add(-time.Duration(i) * time.Minute)})
		require.NoError(t, err)
	}
	c := surfaceClient(t, tools.Options{Paint: paint.New(paint.Options{Store: st, Unusable: &paint.UnavailableError{Missing: []string{"AIPAINT_APP_KEY"}}})})
	draw := mcp.PromptReference{Type: "ref/prompt", Name: tools.PromptDraw}
	explore := mcp.PromptReference{Type: "ref/prompt", Name: tools.PromptStyleExplore}
	assert.Equal(t, []string{"赛博朋克"}, complete(t, c, draw, "style", "cyb"))
	assert.Equal(t, []string{"水彩画"}, complete(t, c, draw, "style", "water"))
	assert.Equal(t, []string{"1024*1536"}, complete(t, c, draw, "resolution", "por"))
	assert.Equal(t, []string{"水彩画"}, complete(t, c, explore, "style2", "water"))
	assert.Len(t, complete(t, c, draw, "style", ""), len(schema.Styles))
	assert.Empty(t, complete(t, c, draw, "subject", "猫"), "free text: no completions")
	assert.Empty(t, complete(t, c, mcp.PromptReference{Type: "ref/prompt", Name: "nope"}, "style", "c"))

	tasks := mcp.ResourceReference{Type: "ref/resource", URI: tools.TaskTemplateURI}
	assert.Equal(t, []string{"t-aaa1", "t-aab2"}, complete(t, c, tasks, "task_id", "t-aa"))
	assert.Equal(t, recent, complete(t, c, tasks, "task_id", ""))
	assert.Empty(t, complete(t, c, mcp.ResourceReference{Type: "ref/resource", URI: "aipaint://other/{task_id}"}, "task_id", ""))

	// Without a task store, the template completes to nothing.
	bare := surfaceClient(t, tools.Options{})
	assert.Empty(t, complete(t, bare, tasks, "task_id", "t"))
}
