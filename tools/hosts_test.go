package tools_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/schema"
	"aipaint-mcp/tools"
)

// images are a result's image blocks, each checked to be a preview: a
// JPEG of at most 512 px in plain base64 (no data: URL).
func images(t *testing.T, r *mcp.CallToolResult) []mcp.ImageContent {
	t.Helper()
	var out []mcp.ImageContent
	for _, c := range r.Content {
		img, ok := c.(mcp.ImageContent)
		if !ok {
			continue
		}
		out = append(out, img)
		assert.Equal(t, "image/jpeg", img.MIMEType)
		assert.False(t, strings.HasPrefix(img.Data, "data:"), "plain base64, no data: URL")
		data, err := base64.StdEncoding.DecodeString(img.Data)
		require.NoError(t, err)
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		require.NoError(t, err)
		assert.Equal(t, "jpeg", format)
		assert.LessOrEqual(t, max(cfg.Width, cfg.Height), 512, "downscaled, never the full-size image")
	}
	return out
}

// TestCherryStudioGetsPictureBlocks: Cherry Studio draws image blocks but
// neither Markdown images nor links, and hands its model only content[0]:
// the full text comes first, then one JPEG per picture, for generate_image
// and check_task alike; preview: false still turns them off.
func TestCherryStudioGetsPictureBlocks(t *testing.T) {
	h := newHarness(t, named("Cherry Studio"))
	res := h.call(t, "generate_image", map[string]any{"text": "竹林里的熊猫", "num": 2}, nil)
	r := taskResult(t, res)
	require.Len(t, r.Images, 2)

	first, ok := res.Content[0].(mcp.TextContent)
	require.True(t, ok, "content[0] is the text, got %T", res.Content[0])
	for _, want := range []string{r.TaskID, "沙盒", "Billed by this call: 2", r.Images[0].URL, r.Images[1].URL, r.Images[0].Path} {
		assert.Contains(t, first.Text, want, "content[0] holds everything the model needs")
	}
	require.Len(t, images(t, res), 2, "one image block per picture")
	raw, err := json.Marshal(res)
	require.NoError(t, err)
	assert.Less(t, len(raw), 1<<20, "the whole result stays under 1 MB")

	again := h.call(t, "check_task", map[string]any{"task_id": r.TaskID}, nil)
	assert.Len(t, images(t, again), 2, "check_task draws them too")
	_, ok = again.Content[0].(mcp.TextContent)
	assert.True(t, ok, "content[0] is the text")

	off := h.call(t, "check_task", map[string]any{"task_id": r.TaskID, "preview": false}, nil)
	assert.Empty(t, images(t, off), "preview: false is obeyed")
}

// TestOtherHostsGetNoPictureBlocksUnasked: a host not in the table, or in
// it without Images, keeps the links and Markdown lines only.
func TestOtherHostsGetNoPictureBlocksUnasked(t *testing.T) {
	for _, name := range []string{"", "Visual Studio Code", "claude-code", "cherry"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, named(name))
			res := h.call(t, "generate_image", map[string]any{"text": "竹林里的熊猫"}, nil)
			require.Len(t, taskResult(t, res).Images, 1)
			assert.Empty(t, images(t, res))
			asked := h.call(t, "check_task", map[string]any{"task_id": taskResult(t, res).TaskID, "preview": true}, nil)
			assert.Len(t, images(t, asked), 1, "preview: true still asks")
		})
	}
}

// TestStructuredOnlyHostsGetTheSummary: Claude Code and Codex hand their
// model structuredContent alone, so it carries the text; hosts that pass
// both (or the text only) are not sent it twice.
func TestStructuredOnlyHostsGetTheSummary(t *testing.T) {
	for name, want := range map[string]bool{"claude-code": true, "codex-mcp-client": true,
		"gemini-cli-mcp-client": false, "Cherry Studio": false, "Visual Studio Code": false} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, named(name))
			res := h.call(t, "generate_image", map[string]any{"text": "竹林里的熊猫"}, nil)
			r := taskResult(t, res)
			if !want {
				assert.Empty(t, r.Summary)
				return
			}
			assert.Equal(t, text(res)[:len(r.Summary)], r.Summary, "the summary is the text block")
			for _, s := range []string{"](" + r.Images[0].URL + ")", "沙盒", "not the real API", "Billed by this call: 1"} {
				assert.Contains(t, r.Summary, s)
			}
		})
	}
}

// TestInjectedArgumentsAreIgnored: Gemini CLI adds wait_for_previous to
// every tool; the call goes through, while a misspelt or made-up argument
// is still refused with the list of allowed ones.
func TestInjectedArgumentsAreIgnored(t *testing.T) {
	h := newHarness(t, named("gemini-cli-mcp-client"))
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "竹林里的熊猫", "wait_for_previous": false}, nil))
	assert.Equal(t, schema.StatusDone, r.Status)
	c := taskResult(t, h.call(t, "check_task", map[string]any{"task_id": r.TaskID, "wait_for_previous": true}, nil))
	assert.Equal(t, r.TaskID, c.TaskID)
	styles := h.call(t, "list_styles", map[string]any{"wait_for_previous": true}, nil)
	assert.False(t, styles.IsError, text(styles))

	for _, bad := range []string{"wait_secs", "waitSeconds", "size"} {
		res := h.call(t, "generate_image", map[string]any{"text": "熊猫", bad: 5}, nil)
		require.True(t, res.IsError, bad)
		assert.Contains(t, text(res), `unknown argument "`+bad+`"; allowed arguments are text, style`)
	}
	assert.Equal(t, int64(1), h.sb.Stats().Submits, "refused calls submit nothing")
}

// TestToolSchemasSuitEveryHost: Cherry Studio's zod and Dify's flattening
// take a top-level object schema and no unions in the input.
func TestToolSchemasSuitEveryHost(t *testing.T) {
	for _, name := range []string{"", "Cherry Studio"} {
		h := newHarness(t, named(name))
		list, err := h.c.ListTools(context.Background(), mcp.ListToolsRequest{})
		require.NoError(t, err)
		raw, err := json.Marshal(list)
		require.NoError(t, err)
		var wire struct {
			Tools []struct {
				Name         string         `json:"name"`
				InputSchema  map[string]any `json:"inputSchema"`
				OutputSchema map[string]any `json:"outputSchema"`
			} `json:"tools"`
		}
		require.NoError(t, json.Unmarshal(raw, &wire))
		require.NotEmpty(t, wire.Tools)
		for _, tool := range wire.Tools {
			assert.Regexp(t, `^[a-z][a-z0-9_]{0,63}$`, tool.Name)
			assert.Equal(t, "object", tool.InputSchema["type"], "%s: inputSchema", tool.Name)
			if tool.OutputSchema != nil {
				assert.Equal(t, "object", tool.OutputSchema["type"], "%s: outputSchema", tool.Name)
			}
			for _, p := range unions(tool.InputSchema, "") {
				t.Errorf("%s: inputSchema has a union at %s", tool.Name, p)
			}
		}
	}
}

// unions lists where a schema uses oneOf, anyOf, allOf or a list of types.
func unions(v any, at string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			switch k {
			case "oneOf", "anyOf", "allOf":
				out = append(out, at+"/"+k)
			case "type":
				if _, many := sub.([]any); many {
					out = append(out, at+"/type")
				}
			}
			out = append(out, unions(sub, at+"/"+k)...)
		}
	case []any:
		for _, sub := range x {
			out = append(out, unions(sub, at+"[]")...)
		}
	}
	return out
}

// TestUnionsAreFound keeps the schema check above able to fail.
func TestUnionsAreFound(t *testing.T) {
	var s map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"type":"object","properties":{"a":{"type":["integer","null"]},"b":{"anyOf":[{}]}}}`), &s))
	assert.ElementsMatch(t, []string{"/properties/a/type", "/properties/b/anyOf"}, unions(s, ""))
}

// TestWaitStaysBelowHostTimeouts: Cherry Studio, LobeHub and the
// TypeScript SDK give up on a call after 60 s; the longest blocking wait,
// configured cap included, ends well before.
func TestWaitStaysBelowHostTimeouts(t *testing.T) {
	const hostTimeout = 60 * time.Second
	assert.Less(t, time.Duration(schema.DefaultMaxWaitSeconds)*time.Second, hostTimeout-5*time.Second)
	assert.LessOrEqual(t, schema.DefaultWaitSeconds, schema.DefaultMaxWaitSeconds)
	g, err := schema.NormalizeGenerate(map[string]any{"text": "熊猫", "wait_seconds": 600}, schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds})
	require.NoError(t, err)
	assert.Equal(t, schema.DefaultMaxWaitSeconds, g.WaitSeconds, "a longer wait is capped, not waited")
}

// TestProgressOnlyWithAToken: notifications/progress only for a call that
// sent a progress token.
func TestProgressOnlyWithAToken(t *testing.T) {
	h := newHarness(t, delay(200*time.Millisecond))
	r := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "雪山日出"}, nil))
	require.Equal(t, schema.StatusDone, r.Status)
	taskResult(t, h.call(t, "generate_image", map[string]any{"text": "雪山日落"}, "tok-2"))
	h.mu.Lock()
	defer h.mu.Unlock()
	require.NotEmpty(t, h.progress, "the call with a token got progress")
	for _, n := range h.progress {
		assert.Equal(t, "tok-2", n.Params.AdditionalFields["progressToken"], "none for the call without a token")
	}
}

// TestREADMEShowsTheHostsTable: both READMEs have a row per host of the
// table, with its names and whether it gets picture blocks.
func TestREADMEShowsTheHostsTable(t *testing.T) {
	for _, file := range []string{"../README.md", "../README.zh-CN.md"} {
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, host := range tools.Hosts {
			row := tools.HostRow(host)
			assert.Contains(t, string(raw), row, "%s: the row of %s", file, host.Title)
		}
	}
}

// TestBoundsHoldWithoutTheSchema: Codex strips minLength, maxLength,
// minimum, maximum and default from the schemas its model sees, so the
// model may send anything; each bound the input schemas declare is enforced
// by the server itself (wait_seconds above its maximum is lowered to it, by
// design, not refused).
func TestBoundsHoldWithoutTheSchema(t *testing.T) {
	h := newHarness(t)
	list, err := h.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	require.NoError(t, err)
	base := map[string]map[string]any{"generate_image": {"text": "熊猫"}, "check_task": {"task_id": "sbx1"}}
	checked := 0
	for _, tool := range list.Tools {
		if base[tool.Name] == nil {
			continue
		}
		var in struct {
			Properties map[string]map[string]any `json:"properties"`
		}
		raw, err := json.Marshal(tool.InputSchema)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &in))
		for prop, s := range in.Properties {
			var bad []any
			if v, ok := s["minLength"].(float64); ok && v > 0 {
				bad = append(bad, "")
			}
			if v, ok := s["maxLength"].(float64); ok {
				bad = append(bad, strings.Repeat("熊", int(v)+1))
			}
			if v, ok := s["minimum"].(float64); ok {
				bad = append(bad, v-1)
			}
			if v, ok := s["maximum"].(float64); ok && prop != "wait_seconds" {
				bad = append(bad, v+1)
			}
			for _, v := range bad {
				args := map[string]any{}
				for k, x := range base[tool.Name] {
					args[k] = x
				}
				args[prop] = v
				res := h.call(t, tool.Name, args, nil)
				assert.True(t, res.IsError, "%s %s=%v is out of the schema's bounds: refused", tool.Name, prop, v)
				assert.Contains(t, text(res), prop, "the refusal names the argument")
				checked++
			}
		}
	}
	assert.GreaterOrEqual(t, checked, 5, "text's two lengths, num's two bounds, wait_seconds' minimum at least")
	assert.Zero(t, h.sb.Stats().Submits, "nothing out of bounds was sent")
}

// TestWorstPicturesStayUnderOneMegabyte: six pictures of noise, whose
// previews compress worst, still give a result under 1 MB (hosts refuse
// larger ones), the text first and whole; every picture is attached or, if
// it did not fit the budget, named as left out.
func TestWorstPicturesStayUnderOneMegabyte(t *testing.T) {
	noise := noisePNG(t, 1024)
	h := newHarness(t, named("Cherry Studio"), front(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasPrefix(r.URL.Path, "/images/") {
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(noise) // previews of noise compress badly
			return
		}
		next.ServeHTTP(w, r)
	}))
	res := h.call(t, "generate_image", map[string]any{"text": "熊猫", "num": 6}, nil)
	r := taskResult(t, res)
	require.Len(t, r.Images, 6)
	raw, err := json.Marshal(res)
	require.NoError(t, err)
	t.Logf("6 noisy pictures: %d bytes, %d image blocks", len(raw), len(images(t, res)))
	assert.Less(t, len(raw), 1<<20, "under 1 MB")
	n := len(images(t, res))
	assert.Positive(t, n, "what fits is attached")
	assert.Equal(t, 6-n, strings.Count(text(res), "result size limit"), "what does not fit is named")
	_, ok := res.Content[0].(mcp.TextContent)
	assert.True(t, ok, "the text stays first")
}

// noisePNG is a side×side PNG of random pixels.
func noisePNG(t *testing.T, side int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	var buf bytes.Buffer
	require.NoError(t, (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img))
	return buf.Bytes()
}
