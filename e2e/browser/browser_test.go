// Package browser tests the gallery view in a real browser under a host
// nobody here wrote: the official AppBridge of @modelcontextprotocol/ext-apps
// in Chromium (run.mjs), talking to a real server on the sandbox.
//
// Needs node, Chromium (Debian's chromium package, or AIPAINT_CHROMIUM) and
// `npm ci` in this folder; without them the test skips, and with CI=true it
// fails. Screenshots for the README are rewritten only when asked:
//
//	AIPAINT_UPDATE_SCREENSHOTS=1 go test ./e2e/browser
//	go test ./e2e/browser -args -update-screenshots
package browser

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aipaint-mcp/app"
	"aipaint-mcp/config"
	"aipaint-mcp/serve"
)

var updateShots = flag.Bool("update-screenshots", false, "rewrite the gallery screenshots in docs/gallery")

// shotsDir is where the README's screenshots live.
const shotsDir = "../../docs/gallery"

// need skips the test when a tool is missing, or fails it on CI.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser test cannot run: %s (CI=true: .ci/run installs it)", what)
	}
	t.Skipf("browser test skipped: %s (.ci/run installs it; CI=true makes this a failure)", what)
}

func chromiumPath() string {
	for _, p := range []string{os.Getenv("AIPAINT_CHROMIUM"), "/usr/lib/chromium/chromium"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startServer serves a sandbox server over streamable HTTP on loopback.
func startServer(t *testing.T) (string, *app.App) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		config.Sandbox: "1", config.SandboxDelay: "3s",
		"AIPAINT_DATA_DIR": filepath.Join(dir, "data"), "AIPAINT_OUTPUT_DIR": filepath.Join(dir, "out"),
		"AIPAINT_DAILY_IMAGE_LIMIT": "100",
	}
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.Build(cfg, logger, "browser-test")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve.HTTP(ctx, a.Server, serve.HTTPOptions{Transport: serve.TransportHTTP, Listener: ln, Logger: logger})
	}()
	t.Cleanup(func() {
		a.Drain()
		cancel()
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		a.Close()
	})
	return "http://" + ln.Addr().String() + "/mcp", a
}

// scenario is one run of run.mjs.
type scenario struct {
	Name             string            `json:"name"`
	Protocol         string            `json:"protocol"`
	MCPURL           string            `json:"mcpURL"`
	Chromium         string            `json:"chromium"`
	ReportPath       string            `json:"reportPath"`
	ShotsDir         string            `json:"shotsDir,omitempty"`
	ShotPrefix       string            `json:"shotPrefix"`
	Theme            string            `json:"theme"`
	Locale           string            `json:"locale"`
	Width            int               `json:"width"`
	Styles           map[string]string `json:"styles,omitempty"`
	HostCapabilities map[string]any    `json:"hostCapabilities"`
	Args             map[string]any    `json:"args"`
	Restyle          string            `json:"restyle,omitempty"`
}

type call struct {
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
	At        int64          `json:"at"`
	Done      int64          `json:"done"`
	Status    string         `json:"status"`
	TaskID    string         `json:"taskId"`
}

type report struct {
	Calls []call `json:"calls"`
	Reads []struct {
		URI string `json:"uri"`
	} `json:"reads"`
	Events []struct {
		Kind   string         `json:"kind"`
		Params map[string]any `json:"params"`
	} `json:"events"`
	Console []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"console"`
	Errors  []string         `json:"errors"`
	Marks   map[string]int64 `json:"marks"`
	Fetched []struct {
		Via   string `json:"via"`
		Size  string `json:"size"`
		Bytes int    `json:"bytes"`
	} `json:"fetched"`
	Fatal  string `json:"fatal"`
	Checks struct {
		ToolNames         []string       `json:"toolNames"`
		ResourceURI       string         `json:"resourceUri"`
		AppOnly           []string       `json:"appOnly"`
		ViewMime          string         `json:"viewMime"`
		ViewMeta          map[string]any `json:"viewMeta"`
		ViewBytes         int            `json:"viewBytes"`
		ViewOrigin        string         `json:"viewOrigin"`
		FirstStatus       string         `json:"firstStatus"`
		FirstTask         string         `json:"firstTask"`
		FirstContentTypes []string       `json:"firstContentTypes"`
		PendingText       string         `json:"pendingText"`
		DoneAt            int64          `json:"doneAt"`
		Thumbs            []struct {
			W   int    `json:"w"`
			H   int    `json:"h"`
			Src string `json:"src"`
		} `json:"thumbs"`
		UsageText        string   `json:"usageText"`
		PromptText       string   `json:"promptText"`
		MetaText         string   `json:"metaText"`
		AgainText        string   `json:"againText"`
		RestyleText      string   `json:"restyleText"`
		StyleOptions     int      `json:"styleOptions"`
		BodyBackground   string   `json:"bodyBackground"`
		BodyFont         string   `json:"bodyFont"`
		CallsBeforeClick []string `json:"callsBeforeClick"`
		Large            struct {
			W, H int
			Path string
		} `json:"large"`
		TaskImages []struct {
			URL   string `json:"url"`
			Index int    `json:"index"`
			Path  string `json:"path"`
		} `json:"taskImages"`
		Narrow struct {
			Inner  int `json:"inner"`
			Scroll int `json:"scroll"`
		} `json:"narrow"`
		ClickCalls []struct {
			Arguments map[string]any `json:"arguments"`
			TaskID    string         `json:"taskId"`
			Status    string         `json:"status"`
		} `json:"clickCalls"`
		SecondShown   bool    `json:"secondShown"`
		SecondMeta    string  `json:"secondMeta"`
		SecondUsage   string  `json:"secondUsage"`
		GenerateCalls int     `json:"generateCalls"`
		CSPBefore     int     `json:"cspBefore"`
		CSPProbe      bool    `json:"cspProbe"`
		FrameHeight   float64 `json:"frameHeight"`
		OpenShown     bool    `json:"openShown"`
		Changed       struct {
			Background string `json:"background"`
			Lang       string `json:"lang"`
			Again      string `json:"again"`
			Cell       string `json:"cell"`
			StyleLabel string `json:"styleLabel"`
		} `json:"changed"`
		Teardown string `json:"teardown"`
	} `json:"checks"`
}

func TestBrowserGallery(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short")
	}
	_, nodeErr := exec.LookPath("node")
	need(t, nodeErr == nil, "node is not installed")
	chrome := chromiumPath()
	need(t, chrome != "", "Chromium is not installed (apt-get install chromium fonts-noto-cjk)")
	for _, dep := range []string{"playwright-core", "esbuild", "@modelcontextprotocol/ext-apps"} {
		_, err := os.Stat(filepath.Join("node_modules", dep, "package.json"))
		need(t, err == nil, "node_modules/"+dep+" is missing (npm ci in e2e/browser)")
	}
	update := *updateShots || os.Getenv("AIPAINT_UPDATE_SCREENSHOTS") == "1"

	light := map[string]string{"--color-background-primary": "light-dark(#fbfaf7, #1a1a1a)", "--font-sans": `"Noto Sans CJK SC", sans-serif`}
	for _, sc := range []scenario{
		{ // pending → done through check_task; pictures by resources/read; 2025-11-25
			Name: "resources", Protocol: "2025-11-25", Theme: "light", Locale: "zh-CN", Width: 560, Styles: light, ShotPrefix: "light-1",
			HostCapabilities: map[string]any{"openLinks": map[string]any{}, "serverTools": map[string]any{}, "serverResources": map[string]any{}, "updateModelContext": map[string]any{"text": map[string]any{}}},
			Args:             map[string]any{"text": "竹林里的熊猫，晨雾，水墨", "style": "古风", "resolution": "1024*1024", "num": 1, "wait": false},
		},
		{ // pictures by the app-only tool (no serverResources, no openLinks, no updateModelContext); 6 images; another style; 2026-07-28
			Name: "tool", Protocol: "2026-07-28", Theme: "dark", Locale: "en-US", Width: 560, ShotPrefix: "dark-6",
			HostCapabilities: map[string]any{"serverTools": map[string]any{}},
			Args:             map[string]any{"text": "雨夜的霓虹街道，一只撑伞的猫", "style": "赛博朋克", "resolution": "1024*1536", "num": 6, "wait": false},
			Restyle:          "水彩画",
		},
	} {
		t.Run(sc.Name, func(t *testing.T) {
			url, a := startServer(t)
			sc.MCPURL, sc.Chromium = url, chrome
			sc.ReportPath = filepath.Join(t.TempDir(), "report.json")
			if update {
				sc.ShotsDir = shotsDir
			}
			raw, err := json.Marshal(sc)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", "run.mjs")
			cmd.Env = append(os.Environ(), "GALLERY_SCENARIO="+string(raw))
			out, runErr := cmd.CombinedOutput()
			data, err := os.ReadFile(sc.ReportPath)
			if err != nil {
				t.Fatalf("node run.mjs: %v\n%s", runErr, out)
			}
			var r report
			if err := json.Unmarshal(data, &r); err != nil {
				t.Fatalf("report: %v\n%s", err, data)
			}
			if r.Fatal != "" || runErr != nil {
				t.Fatalf("node run.mjs: %v %s\n%s\nconsole: %+v", runErr, r.Fatal, out, r.Console)
			}
			check(t, sc, r, a)
		})
	}
}

func check(t *testing.T, sc scenario, r report, a *app.App) {
	c := r.Checks
	num, _ := sc.Args["num"].(int)
	// What the host saw of the server.
	if strings.Join(c.ToolNames, ",") != "check_task,gallery_image,generate_image,list_styles" {
		t.Errorf("tools/list for an Apps client: %v", c.ToolNames)
	}
	if c.ResourceURI != "ui://aipaint/gallery" || c.ViewMime != "text/html;profile=mcp-app" || strings.Join(c.AppOnly, ",") != "app" {
		t.Errorf("resourceUri %q, view MIME %q, gallery_image visibility %v", c.ResourceURI, c.ViewMime, c.AppOnly)
	}
	if ui, _ := c.ViewMeta["ui"].(map[string]any); ui == nil || ui["prefersBorder"] != true || fmt.Sprint(ui["csp"]) != "map[]" {
		t.Errorf("view _meta = %v, want ui.csp {} and prefersBorder", c.ViewMeta)
	}
	if c.ViewOrigin != "null" {
		t.Errorf("the view's origin is %q: the iframe is not sandboxed without allow-same-origin", c.ViewOrigin)
	}
	for _, typ := range c.FirstContentTypes {
		if typ == "image" {
			t.Errorf("generate_image's result carries an image block: %v", c.FirstContentTypes)
		}
	}

	// Pending, then done through the view's own check_task calls.
	if c.FirstStatus != "pending" || !strings.Contains(c.PendingText, map[string]string{"zh-CN": "生成中", "en-US": "Drawing"}[sc.Locale]) {
		t.Errorf("first result %q, pending text %q", c.FirstStatus, c.PendingText)
	}
	var checks int
	for _, cl := range r.Calls {
		if cl.Name == "check_task" {
			checks++
			if cl.Arguments["task_id"] == nil {
				t.Errorf("check_task without task_id: %v", cl.Arguments)
			}
		}
	}
	if checks == 0 || !containsAll(c.CallsBeforeClick, "check_task") {
		t.Errorf("the view made %d check_task calls before the click: %v", checks, c.CallsBeforeClick)
	}
	for _, name := range c.CallsBeforeClick {
		if name == "generate_image" {
			t.Errorf("generate_image called without a click: %v", c.CallsBeforeClick)
		}
	}

	// Real thumbnails, as data: URIs, under the default CSP.
	if len(c.Thumbs) != num {
		t.Errorf("%d thumbnails, want %d", len(c.Thumbs), num)
	}
	for _, th := range c.Thumbs {
		if th.W == 0 || th.H == 0 || !strings.HasPrefix(th.Src, "data:image/jpeg;base64,") || max(th.W, th.H) != 384 {
			t.Errorf("thumbnail %+v: want a 384 px data: JPEG", th)
		}
	}
	if c.CSPBefore != 0 {
		t.Errorf("%d CSP violations in the console: %+v", c.CSPBefore, r.Console)
	}
	if !c.CSPProbe {
		t.Errorf("a probe image from http://127.0.0.1:9 raised no CSP violation: the CSP is not in force, or the console is not watched")
	}
	if len(r.Errors) > 0 {
		t.Errorf("page errors: %v", r.Errors)
	}
	switch sc.Name {
	case "resources":
		if len(r.Reads) == 0 {
			t.Errorf("no resources/read of pictures on a host with serverResources")
		}
		for _, cl := range r.Calls {
			if cl.Name == "gallery_image" {
				t.Errorf("gallery_image called though the host reads resources")
			}
		}
	case "tool":
		if len(r.Reads) != 0 {
			t.Errorf("resources/read on a host without serverResources: %v", r.Reads)
		}
	}

	// Labels, usage, theme, font.
	if !strings.Contains(c.UsageText, "今日已用") || !strings.Contains(c.UsageText, "/100 张") {
		t.Errorf("usage: %q", c.UsageText)
	}
	if c.PromptText != sc.Args["text"] || !strings.Contains(c.MetaText, sc.Args["style"].(string)) || !strings.Contains(c.MetaText, sc.Args["resolution"].(string)) {
		t.Errorf("prompt %q, meta %q", c.PromptText, c.MetaText)
	}
	wantAgain := map[string]string{"zh-CN": fmt.Sprintf("计费 %d 张", num), "en-US": fmt.Sprintf("%d billed", num)}[sc.Locale]
	if !strings.Contains(c.AgainText, wantAgain) || !strings.Contains(c.RestyleText, wantAgain) {
		t.Errorf("billed buttons %q / %q must say %q", c.AgainText, c.RestyleText, wantAgain)
	}
	if c.StyleOptions != 17 {
		t.Errorf("style picker has %d styles, want 17", c.StyleOptions)
	}
	wantBG := map[string]string{"light": "rgb(251, 250, 247)", "dark": "rgb(29, 29, 29)"}[sc.Theme]
	if c.BodyBackground != wantBG {
		t.Errorf("%s theme: background %q, want %q", sc.Theme, c.BodyBackground, wantBG)
	}
	if sc.Styles != nil && !strings.Contains(c.BodyFont, "Noto Sans CJK SC") {
		t.Errorf("host font not applied: %q", c.BodyFont)
	}

	// The large view and open full size.
	if max(c.Large.W, c.Large.H) != 1024 {
		t.Errorf("large view %dx%d, want 1024 px", c.Large.W, c.Large.H)
	}
	if len(c.TaskImages) == 0 || !strings.Contains(c.Large.Path, c.TaskImages[0].Path) || c.TaskImages[0].Path == "" {
		t.Errorf("large view path %q, saved file %+v", c.Large.Path, c.TaskImages)
	}
	var links []string
	var sizes int
	var modelContext []map[string]any
	for _, e := range r.Events {
		switch e.Kind {
		case "openlink":
			links = append(links, fmt.Sprint(e.Params["url"]))
		case "size":
			if h, _ := e.Params["height"].(float64); h > 0 {
				sizes++
			}
		case "modelcontext":
			modelContext = append(modelContext, e.Params)
		}
	}
	if _, ok := sc.HostCapabilities["openLinks"]; !ok {
		if len(links) != 0 {
			t.Errorf("open-link %v on a host that does not declare openLinks", links)
		}
	} else if len(c.TaskImages) == 0 || len(links) != 1 || links[0] != c.TaskImages[0].URL {
		t.Errorf("open-link %v, want the image URL", links)
	}
	if sizes < 2 || c.FrameHeight < 200 {
		t.Errorf("%d size changes, frame height %.0f: the view does not report its size", sizes, c.FrameHeight)
	}
	if c.Narrow.Inner != 320 || c.Narrow.Scroll > c.Narrow.Inner {
		t.Errorf("at 320 px: inner %d, scroll width %d", c.Narrow.Inner, c.Narrow.Scroll)
	}

	// One click, one billed call, followed like the first.
	if c.GenerateCalls != 1 || len(c.ClickCalls) != 1 {
		t.Fatalf("%d generate_image calls after one click: %+v", c.GenerateCalls, c.ClickCalls)
	}
	got := c.ClickCalls[0].Arguments
	wantStyle := sc.Args["style"]
	if sc.Restyle != "" {
		wantStyle = sc.Restyle
	}
	if got["text"] != sc.Args["text"] || got["resolution"] != sc.Args["resolution"] || got["num"] != float64(num) ||
		got["style"] != wantStyle || got["force_new"] != true || got["wait"] != false {
		t.Errorf("the click's generate_image arguments: %v", got)
	}
	if !c.SecondShown || !strings.Contains(c.SecondMeta, wantStyle.(string)) {
		t.Errorf("the new task was not followed to its pictures (meta %q)", c.SecondMeta)
	}
	if len(modelContext) != 1 || !strings.Contains(fmt.Sprint(modelContext[0]), c.ClickCalls[0].TaskID) || !strings.Contains(fmt.Sprint(modelContext[0]), wantStyle.(string)) {
		t.Errorf("ui/update-model-context: %v, want one naming task %s", modelContext, c.ClickCalls[0].TaskID)
	}
	// The host accepts only the content blocks it declares (updateModelContext modalities).
	if len(modelContext) == 1 {
		_, structured := modelContext[0]["structuredContent"]
		um, declared := sc.HostCapabilities["updateModelContext"].(map[string]any)
		_, wantStructured := um["structuredContent"]
		if declared && structured != wantStructured {
			t.Errorf("ui/update-model-context sent structuredContent=%v to a host declaring %v", structured, um)
		}
		if !declared && !structured {
			t.Errorf("ui/update-model-context without structuredContent to a host that declares no modalities: %v", modelContext[0])
		}
	}
	if _, ok := sc.HostCapabilities["openLinks"]; c.OpenShown != ok {
		t.Errorf("open full size shown %v, host openLinks declared %v", c.OpenShown, ok)
	}

	// host-context-changed: the other theme and locale apply at once.
	flipped := map[string]struct{ bg, lang, again, cell, style string }{
		"light": {"rgb(26, 26, 26)", "en-US", "billed", "Picture 1", "Style"},
		"dark":  {"rgb(255, 255, 255)", "zh-CN", "计费", "第 1 张", "风格"},
	}[sc.Theme]
	if ch := c.Changed; ch.Background != flipped.bg || ch.Lang != flipped.lang || !strings.Contains(ch.Again, flipped.again) || ch.Cell != flipped.cell || ch.StyleLabel != flipped.style {
		t.Errorf("after host-context-changed: %+v, want %+v", ch, flipped)
	}
	if c.Teardown != "answered" {
		t.Errorf("ui/resource-teardown: %s", c.Teardown)
	}
	if st := a.Sandbox.Stats(); st.Submits != 2 || st.BilledImages != int64(2*num) {
		t.Errorf("sandbox: %d submits, %d billed images; want the host's call and the click's: 2 and %d", st.Submits, st.BilledImages, 2*num)
	}

	// The figures.
	bySize := map[string][]int{}
	for _, f := range r.Fetched {
		bySize[f.Size] = append(bySize[f.Size], f.Bytes)
	}
	for size, bs := range bySize {
		total := 0
		for _, b := range bs {
			total += b
			if b == 0 {
				t.Errorf("an empty %s picture", size)
			}
		}
		t.Logf("%s: %d %s pictures fetched through %s, %d bytes each on average", sc.Name, len(bs), size, map[bool]string{true: "resources/read", false: "gallery_image"}[len(r.Reads) > 0], total/len(bs))
	}
	t.Logf("%s: view %d bytes; tool-result → done %d ms (%d check_task calls), done → first thumbnail %d ms, all %d thumbnails %d ms",
		sc.Name, c.ViewBytes, c.DoneAt-r.Marks["toolResult"], checks, r.Marks["firstThumb"]-c.DoneAt, num, r.Marks["allThumbs"]-c.DoneAt)
}

func containsAll(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
