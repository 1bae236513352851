package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testSurface checks what an independent client sees besides the tools: the
// styles resource, the two prompts and completions of their arguments.
func testSurface(t *testing.T, e *env) {
	init := e.cs.InitializeResult()
	if c := init.Capabilities; c.Resources == nil || c.Prompts == nil || c.Completions == nil {
		t.Errorf("capabilities: resources %v, prompts %v, completions %v; want all three", c.Resources, c.Prompts, c.Completions)
	}

	resources, err := e.cs.ListResources(e.ctx, nil)
	if err != nil {
		t.Fatalf("resources/list: %v", err)
	}
	if !slices.ContainsFunc(resources.Resources, func(r *mcp.Resource) bool { return r.URI == "aipaint://styles" }) {
		t.Errorf("resources/list has no aipaint://styles: %+v", resources.Resources)
	}
	read, err := e.cs.ReadResource(e.ctx, &mcp.ReadResourceParams{URI: "aipaint://styles"})
	if err != nil {
		t.Fatalf("resources/read aipaint://styles: %v", err)
	}
	var table struct {
		Styles []struct {
			Name string `json:"name"`
		} `json:"styles"`
		Resolutions []struct {
			Value string `json:"value"`
		} `json:"resolutions"`
	}
	if len(read.Contents) != 1 || json.Unmarshal([]byte(read.Contents[0].Text), &table) != nil {
		t.Fatalf("aipaint://styles: want one JSON text content, got %+v", read.Contents)
	}
	if len(table.Styles) != 17 || len(table.Resolutions) != 3 || read.Contents[0].MIMEType != "application/json" {
		t.Errorf("aipaint://styles: %d styles, %d resolutions, MIME %q; want 17, 3, application/json",
			len(table.Styles), len(table.Resolutions), read.Contents[0].MIMEType)
	}

	prompts, err := e.cs.ListPrompts(e.ctx, nil)
	if err != nil {
		t.Fatalf("prompts/list: %v", err)
	}
	var names []string
	for _, p := range prompts.Prompts {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"draw", "style_explore"}) {
		t.Errorf("prompts/list: %v, want draw and style_explore", names)
	}
	got, err := e.cs.GetPrompt(e.ctx, &mcp.GetPromptParams{Name: "draw",
		Arguments: map[string]string{"subject": "竹林里的熊猫", "style": "ukiyo-e", "resolution": "landscape"}})
	if err != nil {
		t.Fatalf("prompts/get draw: %v", err)
	}
	var text strings.Builder
	for _, m := range got.Messages {
		if tc, ok := m.Content.(*mcp.TextContent); ok {
			text.WriteString(tc.Text)
		}
	}
	for _, want := range []string{"竹林里的熊猫", "generate_image", "浮世绘", "1536*1024", "100"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("prompts/get draw: no %q in %q", want, text.String())
		}
	}
	if _, err := e.cs.GetPrompt(e.ctx, &mcp.GetPromptParams{Name: "style_explore",
		Arguments: map[string]string{"subject": "雨夜街道", "style1": "赛博朋克", "style2": "watercolor", "style3": "pixel art"}}); err != nil {
		t.Errorf("prompts/get style_explore: %v", err)
	}

	for _, tc := range []struct{ prompt, arg, value, want string }{
		{"draw", "style", "cyb", "赛博朋克"},
		{"draw", "style", "water", "水彩画"},
		{"draw", "resolution", "por", "1024*1536"},
		{"style_explore", "style3", "ukiyo", "浮世绘"},
	} {
		res, err := e.cs.Complete(e.ctx, &mcp.CompleteParams{
			Ref:      &mcp.CompleteReference{Type: "ref/prompt", Name: tc.prompt},
			Argument: mcp.CompleteParamsArgument{Name: tc.arg, Value: tc.value},
		})
		if err != nil {
			t.Errorf("completion/complete %s.%s %q: %v", tc.prompt, tc.arg, tc.value, err)
			continue
		}
		if !slices.Equal(res.Completion.Values, []string{tc.want}) {
			t.Errorf("completion/complete %s.%s %q: %v, want [%s]", tc.prompt, tc.arg, tc.value, res.Completion.Values, tc.want)
		}
	}
}
