package tools_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	mcpclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/schema"
	"aipaint-mcp/tools"
)

// appsCapabilities is what a client that renders MCP Apps declares.
func appsCapabilities() mcp.ClientCapabilities {
	return mcp.ClientCapabilities{Extensions: map[string]any{
		tools.UIExtension: map[string]any{"mimeTypes": []any{tools.AppMIMEType}},
	}}
}

// appsClient is a second client of the harness's paint service that
// declares the UI extension at initialize.
func (h *harness) appsClient(t *testing.T) *mcpclient.Client {
	t.Helper()
	return h.clientWith(t, appsCapabilities())
}

// clientWith is a second client of the harness's paint service that
// declares caps at initialize.
func (h *harness) clientWith(t *testing.T, caps mcp.ClientCapabilities) *mcpclient.Client {
	t.Helper()
	c, err := mcpclient.NewInProcessClient(tools.NewServer(tools.Options{Paint: h.svc, Limits: schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds}, Sandbox: true, Version: "test"}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Start(context.Background()))
	req := mcp.InitializeRequest{}
	req.Params.Capabilities = caps
	init, err := c.Initialize(context.Background(), req)
	require.NoError(t, err)
	assert.Contains(t, init.Capabilities.Extensions, tools.UIExtension, "the server advertises MCP Apps")
	return c
}

// TestAppsDeclarations: the app's own tool is listed only to a client whose
// extension settings list the HTML profile in mimeTypes, which SEP-1865
// makes required ("Client<>Server Capability Negotiation"); _meta.ui on the
// model's tools is there for every client.
func TestAppsDeclarations(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name string
		caps mcp.ClientCapabilities
		apps bool
	}{
		{"extensions with the profile", appsCapabilities(), true},
		{"experimental with the profile", mcp.ClientCapabilities{Experimental: map[string]any{tools.UIExtension: map[string]any{"mimeTypes": []any{tools.AppMIMEType}}}}, true},
		{"no settings", mcp.ClientCapabilities{Extensions: map[string]any{tools.UIExtension: map[string]any{}}}, false},
		{"other MIME types only", mcp.ClientCapabilities{Extensions: map[string]any{tools.UIExtension: map[string]any{"mimeTypes": []any{"text/html"}}}}, false},
		{"mimeTypes not a list", mcp.ClientCapabilities{Extensions: map[string]any{tools.UIExtension: map[string]any{"mimeTypes": tools.AppMIMEType}}}, false},
		{"nothing declared", mcp.ClientCapabilities{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.clientWith(t, tc.caps).ListTools(context.Background(), mcp.ListToolsRequest{})
			require.NoError(t, err)
			want := 3
			if tc.apps {
				want = 4
			}
			assert.Len(t, res.Tools, want)
			for _, tool := range res.Tools {
				if tool.Name == "generate_image" {
					assert.NotNil(t, tool.Meta, "_meta.ui on generate_image, for hosts that render Apps without declaring them")
				}
			}
		})
	}
}

func uiOf(t *testing.T, m *mcp.Meta) map[string]any {
	t.Helper()
	require.NotNil(t, m, "_meta")
	ui, ok := m.AdditionalFields["ui"].(map[string]any)
	require.True(t, ok, "_meta.ui: %v", m.AdditionalFields)
	return ui
}

func TestToolsListForAppsClients(t *testing.T) {
	h := newHarness(t)
	res, err := h.appsClient(t).ListTools(context.Background(), mcp.ListToolsRequest{})
	require.NoError(t, err)
	got, err := json.MarshalIndent(res.Tools, "", "  ")
	require.NoError(t, err)
	golden := "testdata/tools_list_apps.json"
	if *update {
		require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./tools -update to create it")
	assert.JSONEq(t, string(want), string(got), "tools/list for an Apps client changed: review, then go test ./tools -update")

	byName := map[string]mcp.Tool{}
	for _, tool := range res.Tools {
		byName[tool.Name] = tool
	}
	require.Len(t, byName, 4)
	for _, name := range []string{"generate_image", "check_task"} {
		ui := uiOf(t, byName[name].Meta)
		assert.Equal(t, tools.GalleryURI, ui["resourceUri"], name)
		assert.Equal(t, []any{"model", "app"}, ui["visibility"], name)
		assert.Equal(t, tools.GalleryURI, byName[name].Meta.AdditionalFields["ui/resourceUri"], "%s: the flat key older hosts read", name)
	}
	assert.Nil(t, byName["list_styles"].Meta)
	app := byName[tools.GalleryImageTool]
	assert.Equal(t, []any{"app"}, uiOf(t, app.Meta)["visibility"], "only the view calls it")
	assert.True(t, *app.Annotations.ReadOnlyHint)
	assert.False(t, *app.Annotations.DestructiveHint)

	// A client without Apps sees the same three tools, schemas, _meta and
	// all (a host that renders Apps without declaring them still finds the
	// view); only the app's own tool is left out.
	plain, err := h.c.ListTools(context.Background(), mcp.ListToolsRequest{})
	require.NoError(t, err)
	require.Len(t, plain.Tools, 3)
	for _, p := range plain.Tools {
		a, _ := json.Marshal(byName[p.Name])
		b, _ := json.Marshal(p)
		assert.JSONEq(t, string(a), string(b), p.Name)
	}
}

func readGallery(t *testing.T, c *mcpclient.Client) mcp.TextResourceContents {
	t.Helper()
	req := mcp.ReadResourceRequest{}
	req.Params.URI = tools.GalleryURI
	res, err := c.ReadResource(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, res.Contents, 1)
	tc, ok := res.Contents[0].(mcp.TextResourceContents)
	require.True(t, ok, "%T", res.Contents[0])
	return tc
}

func TestGalleryView(t *testing.T) {
	h := newHarness(t)
	apps := h.appsClient(t)
	view := readGallery(t, apps)
	assert.Equal(t, tools.GalleryURI, view.URI)
	assert.Equal(t, "text/html;profile=mcp-app", view.MIMEType)
	assert.Equal(t, map[string]any{"ui": map[string]any{"csp": map[string]any{}, "prefersBorder": true}}, view.Meta,
		"a CSP that declares no domain, and a border")
	html := view.Text
	t.Logf("the view: %d bytes", len(html))
	assert.LessOrEqual(t, len(html), 30*1024, "the view must stay within 30 KB")
	assert.True(t, strings.HasPrefix(html, "<!DOCTYPE html>"))
	assert.NotContains(t, html, "{{CONFIG}}")
	for _, s := range schema.Styles {
		assert.Contains(t, html, `"name":"`+s.Name+`"`, "the style picker comes from the table")
	}
	for _, external := range []string{`src="http`, `href="http`, "@import", "<link", "cdn", "fetch("} {
		assert.NotContains(t, strings.ToLower(html), strings.ToLower(external), "self-contained: no network but the host")
	}
	assert.Equal(t, view, readGallery(t, h.c), "the view reads the same for every client")

	// Listed for Apps clients only; today's lists for the others.
	for _, tc := range []struct {
		c    *mcpclient.Client
		apps bool
	}{{apps, true}, {h.c, false}} {
		rl, err := tc.c.ListResources(context.Background(), mcp.ListResourcesRequest{})
		require.NoError(t, err)
		var listed bool
		for _, r := range rl.Resources {
			if r.URI == tools.GalleryURI {
				listed = true
				assert.Equal(t, tools.AppMIMEType, r.MIMEType)
				assert.Equal(t, true, uiOf(t, r.Meta)["prefersBorder"])
			}
		}
		assert.True(t, listed, "the view is listed for every client")
		tl, err := tc.c.ListResourceTemplates(context.Background(), mcp.ListResourceTemplatesRequest{})
		require.NoError(t, err)
		var templates []string
		for _, tpl := range tl.ResourceTemplates {
			templates = append(templates, tpl.URITemplate.Raw())
		}
		assert.Contains(t, templates, tools.TaskTemplateURI)
		assert.Equal(t, tc.apps, slices.Contains(templates, tools.ImageTemplateURI), "image template listed")
	}
}

func decodeJPEG(t *testing.T, b64 string) (image.Config, int) {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	require.NoError(t, err, "a JPEG")
	return cfg, len(data)
}

func readImage(t *testing.T, c *mcpclient.Client, uri string) (mcp.BlobResourceContents, error) {
	t.Helper()
	req := mcp.ReadResourceRequest{}
	req.Params.URI = uri
	res, err := c.ReadResource(context.Background(), req)
	if err != nil {
		return mcp.BlobResourceContents{}, err
	}
	require.Len(t, res.Contents, 1)
	blob, ok := res.Contents[0].(mcp.BlobResourceContents)
	require.True(t, ok, "%T", res.Contents[0])
	return blob, nil
}

func TestGalleryImages(t *testing.T) {
	h := newHarness(t, delay(50*time.Millisecond))
	apps := h.appsClient(t)
	done := h.call(t, "generate_image", map[string]any{"text": "竹林里的熊猫", "resolution": "portrait", "num": 2}, nil)
	r := taskResult(t, done)
	require.Equal(t, schema.StatusDone, r.Status)
	for _, c := range done.Content {
		_, isImage := c.(mcp.ImageContent)
		assert.False(t, isImage, "no image bytes in generate_image's result unless preview asks")
	}
	checked := h.call(t, "check_task", map[string]any{"task_id": r.TaskID}, nil)
	raw, _ := json.Marshal(checked)
	assert.Less(t, len(raw), 8<<10, "check_task's result carries no pictures")

	uri := func(n int, size string) string {
		u := fmt.Sprintf("aipaint://tasks/%s/images/%d", r.TaskID, n)
		if size != "" {
			u += "?size=" + size
		}
		return u
	}
	for _, tc := range []struct {
		n          int
		size       string
		wantW, wan int
	}{
		{1, "thumb", 256, 384},
		{2, "large", 683, 1024},
		{1, "", 256, 384}, // thumb by default
	} {
		blob, err := readImage(t, apps, uri(tc.n, tc.size))
		require.NoError(t, err, uri(tc.n, tc.size))
		assert.Equal(t, "image/jpeg", blob.MIMEType)
		assert.Equal(t, uri(tc.n, tc.size), blob.URI)
		cfg, size := decodeJPEG(t, blob.Blob)
		assert.Equal(t, tc.wantW, cfg.Width, uri(tc.n, tc.size))
		assert.Equal(t, tc.wan, cfg.Height, uri(tc.n, tc.size))
		t.Logf("%s: %dx%d, %d bytes (%d in base64)", uri(tc.n, tc.size), cfg.Width, cfg.Height, size, len(blob.Blob))
	}

	// The app-only tool gives the same, to any client that calls it: a
	// client's capabilities are known only to the replica it initialized with.
	for _, c := range []*mcpclient.Client{apps, h.c} {
		req := mcp.CallToolRequest{}
		req.Params.Name = tools.GalleryImageTool
		req.Params.Arguments = map[string]any{"task_id": r.TaskID, "index": 2, "size": "large"}
		res, err := c.CallTool(context.Background(), req)
		require.NoError(t, err)
		require.False(t, res.IsError, text(res))
		require.Len(t, res.Content, 1)
		img, ok := res.Content[0].(mcp.ImageContent)
		require.True(t, ok, "%T", res.Content[0])
		assert.Equal(t, "image/jpeg", img.MIMEType)
		cfg, _ := decodeJPEG(t, img.Data)
		assert.Equal(t, 1024, cfg.Height)
	}

	pending := taskResult(t, h.call(t, "generate_image", map[string]any{"text": "雪山", "wait": false}, nil))
	for _, bad := range []struct{ uri, want string }{
		{uri(3, "thumb"), "no picture 3"},
		{uri(1, "huge"), "size"},
		{"aipaint://tasks/nope-123/images/1", "not in the task store"},
		{fmt.Sprintf("aipaint://tasks/%s/images/1", pending.TaskID), "check_task"},
	} {
		_, err := readImage(t, apps, bad.uri)
		require.Error(t, err, bad.uri)
		assert.Contains(t, err.Error(), bad.want, bad.uri)
	}
	for _, args := range []map[string]any{
		{"task_id": r.TaskID, "index": 9},
		{"task_id": r.TaskID, "index": 1.5},
		{"task_id": r.TaskID, "index": 1, "size": "huge"},
		{"task_id": "", "index": 1},
	} {
		res := h.call(t, tools.GalleryImageTool, args, nil)
		assert.True(t, res.IsError, "%v: %s", args, text(res))
	}
	assert.Equal(t, int64(2), h.sb.Stats().Submits, "reading pictures bills nothing")
}

// rawHTTP speaks JSON-RPC to a streamable HTTP server by hand, on either
// protocol era: 2025-11-25 initializes a session, 2026-07-28 sends its
// version and capabilities in every request's _meta.
type rawHTTP struct {
	t       *testing.T
	url     string
	version string
	caps    mcp.ClientCapabilities
	session string
	id      int
}

func (c *rawHTTP) do(method string, params map[string]any) json.RawMessage {
	c.t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	modern := c.version == mcp.ProtocolVersion20260728
	if modern {
		params["_meta"] = map[string]any{
			mcp.MetaKeyProtocolVersion:    c.version,
			mcp.MetaKeyClientCapabilities: c.caps,
			mcp.MetaKeyClientInfo:         map[string]any{"name": "raw", "version": "1"},
		}
	}
	c.id++
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.id, "method": method, "params": params})
	require.NoError(c.t, err)
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if modern || c.session != "" {
		req.Header.Set("Mcp-Protocol-Version", c.version)
	}
	if modern {
		req.Header.Set("Mcp-Method", method)
		if name, ok := params["name"].(string); ok {
			req.Header.Set("Mcp-Name", name)
		} else if uri, ok := params["uri"].(string); ok {
			req.Header.Set("Mcp-Name", uri)
		}
	}
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
		c.session = s
	}
	data, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(line, `"result"`) {
				data = []byte(line)
			}
		}
	}
	var msg struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	require.NoError(c.t, json.Unmarshal(data, &msg), "%s %s: HTTP %d %s", c.version, method, resp.StatusCode, data)
	require.Empty(c.t, msg.Error, "%s %s", c.version, method)
	return msg.Result
}

func (c *rawHTTP) start() {
	if c.version == mcp.ProtocolVersion20260728 {
		c.do("server/discover", nil)
		return
	}
	c.do("initialize", map[string]any{"protocolVersion": c.version, "capabilities": c.caps, "clientInfo": map[string]any{"name": "raw", "version": "1"}})
}

// The view and its metadata are served alike on every revision the server
// speaks (a host may read ui:// resources only on a revision it knows).
func TestGalleryOnBothProtocolRevisions(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(server.NewStreamableHTTPServer(tools.NewServer(tools.Options{Paint: h.svc, Limits: schema.Limits{MaxWaitSeconds: schema.DefaultMaxWaitSeconds}, Sandbox: true, Version: "test"})))
	t.Cleanup(srv.Close)
	golden, err := os.ReadFile("testdata/tools_list.json")
	require.NoError(t, err)
	goldenApps, err := os.ReadFile("testdata/tools_list_apps.json")
	require.NoError(t, err)
	var views []string
	for _, version := range []string{mcp.ProtocolVersion20251125, mcp.ProtocolVersion20260728} {
		for _, apps := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s apps=%v", version, apps), func(t *testing.T) {
				c := &rawHTTP{t: t, url: srv.URL, version: version}
				if apps {
					c.caps = appsCapabilities()
				}
				c.start()
				// Decoded and encoded as the snapshots were.
				var list mcp.ListToolsResult
				require.NoError(t, json.Unmarshal(c.do("tools/list", nil), &list))
				got, err := json.MarshalIndent(list.Tools, "", "  ")
				require.NoError(t, err)
				if apps {
					assert.JSONEq(t, string(goldenApps), string(got))
				} else {
					assert.JSONEq(t, string(golden), string(got), "a client without Apps sees today's tools/list")
				}
				var read struct {
					Contents []map[string]any `json:"contents"`
				}
				require.NoError(t, json.Unmarshal(c.do("resources/read", map[string]any{"uri": tools.GalleryURI}), &read))
				require.Len(t, read.Contents, 1)
				v := read.Contents[0]
				assert.Equal(t, tools.AppMIMEType, v["mimeType"])
				assert.Equal(t, map[string]any{"ui": map[string]any{"csp": map[string]any{}, "prefersBorder": true}}, v["_meta"])
				b, _ := json.Marshal(v)
				views = append(views, string(b))
			})
		}
	}
	require.Len(t, views, 4)
	for _, v := range views[1:] {
		assert.Equal(t, views[0], v, "the same view on every revision, for every client")
	}
}
