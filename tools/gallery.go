package tools

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/paint"
	"aipaint-mcp/save"
	"aipaint-mcp/schema"
)

// The gallery: an MCP App (the io.modelcontextprotocol/ui extension, SEP-1865,
// stable revision 2026-01-26) that shows a task's pictures where the user
// chats. generate_image and check_task link to it; the view gets the
// pictures as bytes (resources/read of ImageTemplateURI, or the app-only
// tool GalleryImageTool) and shows them as data: URIs, which the spec's
// default CSP allows, so no image host has to be declared.
const (
	// GalleryURI is the view.
	GalleryURI = "ui://aipaint/gallery"
	// AppMIMEType is the MIME type of an MCP App's HTML.
	AppMIMEType = "text/html;profile=mcp-app"
	// UIExtension is the extension's identifier in capabilities.
	UIExtension = "io.modelcontextprotocol/ui"
	// ImageTemplateURI is one picture of a task, downscaled for the view
	// (size thumb or large), as a blob. Disjoint from TaskTemplateURI: a
	// template variable never matches a slash.
	ImageTemplateURI = "aipaint://tasks/{task_id}/images/{n}{?size}"
	// GalleryImageTool is the app-only tool (visibility ["app"]) that gives
	// the same bytes as ImageTemplateURI to hosts that proxy tool calls but
	// not resource reads.
	GalleryImageTool = "gallery_image"
)

// Image sizes the view asks for: the longest side in pixels and the JPEG
// quality. A thumbnail fills a grid cell of about 180 CSS px at 2x; the
// large view is as wide as a chat column gets.
var imageSizes = map[string]struct{ side, quality int }{
	"thumb": {384, 78},
	"large": {1024, 85},
}

// imageReadBound limits one image read (a download when the file is not saved).
const imageReadBound = 30 * time.Second

//go:embed view/gallery.html
var galleryHTML string

// galleryPage is the view with the style table put in (one table: the
// picker's 17 styles come from schema.Styles).
var galleryPage = sync.OnceValue(func() string {
	type style struct {
		Name    string `json:"name"`
		English string `json:"english"`
	}
	styles := make([]style, len(schema.Styles))
	for i, s := range schema.Styles {
		styles[i] = style{s.Name, s.English}
	}
	b, err := json.Marshal(map[string]any{"styles": styles, "default_style": schema.DefaultStyle().Name, "thumb": "thumb", "large": "large"})
	if err != nil {
		panic(err) // the tables always encode; every test would catch it
	}
	return strings.Replace(galleryHTML, "{{CONFIG}}", string(b), 1) // json.Marshal escapes < > &
})

// uiMeta is the _meta of a tool that the gallery shows, or that only the
// gallery calls.
func uiMeta(visibility ...string) *mcp.Meta {
	ui := map[string]any{"resourceUri": GalleryURI, "visibility": visibility}
	m := map[string]any{"ui": ui}
	if len(visibility) > 1 || visibility[0] != "app" {
		// The flat key of the spec's drafts, which some hosts still read.
		m["ui/resourceUri"] = GalleryURI
	}
	return mcp.NewMetaFromMap(m)
}

// viewMeta is the _meta.ui of the view: a CSP that declares no domain (the
// pictures arrive as data: URIs) and a border from the host.
func viewMeta() map[string]any {
	return map[string]any{"ui": map[string]any{"csp": map[string]any{}, "prefersBorder": true}}
}

func galleryResource() server.ServerResource {
	r := mcp.NewResource(GalleryURI, "gallery",
		mcp.WithResourceTitle("图库 Gallery"),
		mcp.WithResourceDescription("The pictures of a task in a grid, one large on click, and buttons for another variation or style (billed, only on a click). An MCP App view for generate_image and check_task."),
		mcp.WithMIMEType(AppMIMEType),
	)
	r.Meta = mcp.NewMetaFromMap(viewMeta())
	return server.ServerResource{Resource: r, Handler: func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: GalleryURI, MIMEType: AppMIMEType, Text: galleryPage(), Meta: viewMeta()}}, nil
	}}
}

func (h *handlers) imageTemplate() server.ServerResourceTemplate {
	return server.ServerResourceTemplate{
		Template: mcp.NewResourceTemplate(ImageTemplateURI, "task image",
			mcp.WithTemplateTitle("任务图片 Task image"),
			mcp.WithTemplateDescription("Picture n (1-based) of a finished task, downscaled to a JPEG: size thumb (384 px) or large (1024 px). For the gallery view; reading never calls the API."),
			mcp.WithTemplateMIMEType("image/jpeg"),
		),
		Handler: h.readImage,
	}
}

func (h *handlers) readImage(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	n, err := strconv.Atoi(templateArg(req, "n"))
	if err != nil {
		return nil, fmt.Errorf("image number %q: want 1 to %d", templateArg(req, "n"), schema.MaxNum)
	}
	data, err := h.galleryImage(ctx, templateArg(req, "task_id"), n, templateArg(req, "size"))
	if err != nil {
		return nil, err
	}
	return []mcp.ResourceContents{mcp.BlobResourceContents{URI: req.Params.URI, MIMEType: "image/jpeg", Blob: base64.StdEncoding.EncodeToString(data)}}, nil
}

// galleryImageTool serves the view on hosts without resource reads. Its
// answer goes to the app only: hosts keep app-only tools and their results
// away from the model.
func (h *handlers) galleryImageTool() server.ServerTool {
	in := json.RawMessage(fmt.Sprintf(`{"type":"object","properties":{`+
		`"task_id":{"type":"string","minLength":1,"description":"The task's id."},`+
		`"index":{"type":"integer","minimum":1,"maximum":%d,"description":"1-based number of the picture within the task."},`+
		`"size":{"type":"string","enum":["thumb","large"],"default":"thumb","description":"thumb: 384 px; large: 1024 px (longest side)."}},`+
		`"required":["task_id","index"],"additionalProperties":false}`, schema.MaxNum))
	tool := newTool(GalleryImageTool, "图库图片 Gallery image",
		"For the gallery view only (not for the model): one picture of a finished task as a downscaled JPEG. Submits nothing and bills nothing.",
		in, nil, hints{readOnly: true, destructive: false, idempotent: true, openWorld: true})
	tool.Meta = uiMeta("app")
	return server.ServerTool{Tool: tool, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, bad := arguments(req)
		if bad != nil {
			return bad, nil
		}
		id, _ := args["task_id"].(string)
		size, _ := args["size"].(string)
		n, ok := args["index"].(float64)
		if !ok || n != float64(int(n)) {
			return mcp.NewToolResultError(fmt.Sprintf("index must be a whole number from 1 to %d", schema.MaxNum)), nil
		}
		data, err := h.galleryImage(ctx, id, int(n), size)
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewImageContent(base64.StdEncoding.EncodeToString(data), "image/jpeg")}}, nil
	}}
}

// galleryImage is picture n of a task at a gallery size, as JPEG bytes.
func (h *handlers) galleryImage(ctx context.Context, taskID string, n int, size string) ([]byte, error) {
	if size == "" {
		size = "thumb"
	}
	sz, ok := imageSizes[size]
	if !ok {
		return nil, fmt.Errorf("size %q: want thumb or large", size)
	}
	img, err := h.taskImage(ctx, person(ctx), taskID, n)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, imageReadBound)
	defer cancel()
	data, err := h.Paint.ImageBytes(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("image %d of task %s: %w", n, taskID, err)
	}
	return save.Preview(data, sz.side, sz.quality)
}

// taskImage finds picture n of a task through paint's read path for tasks
// (Service.Get, as the task resource does; check_task reads the same
// store): every image read, by resource or by tool, comes through here, so
// whose task it is gets checked in this one place.
func (h *handlers) taskImage(ctx context.Context, who paint.Person, taskID string, n int) (paint.Image, error) {
	if err := h.Paint.Unavailable(); err != nil {
		return paint.Image{}, noStore(err)
	}
	if _, err := schema.NormalizeCheck(map[string]any{"task_id": taskID}, h.Limits); err != nil {
		return paint.Image{}, err
	}
	rec, err := h.Paint.Get(ctx, who, taskID)
	if errors.Is(err, paint.ErrNotFound) {
		return paint.Image{}, fmt.Errorf("task %q is not in the task store", taskID)
	}
	if err != nil {
		return paint.Image{}, err
	}
	if rec.Status != paint.StatusDone {
		return paint.Image{}, fmt.Errorf("task %s has no pictures yet (%s): call check_task", taskID, rec.Status)
	}
	for _, img := range rec.Images {
		if img.Index == n {
			return img, nil
		}
	}
	return paint.Image{}, fmt.Errorf("task %s has %d pictures, no picture %d", taskID, len(rec.Images), n)
}

// templateArg is a variable of a matched resource template.
func templateArg(req mcp.ReadResourceRequest, name string) string {
	switch x := req.Params.Arguments[name].(type) {
	case string:
		return x
	case []string: // a template variable may match as a list
		if len(x) == 1 {
			return x[0]
		}
	}
	return ""
}

// uiClient reports whether the client behind this request renders MCP Apps:
// it declared the extension, under 2026-07-28 in this request's _meta, on
// earlier revisions at initialize (kept by the session). Some clients put
// it under experimental.
func uiClient(ctx context.Context) bool {
	var caps mcp.ClientCapabilities
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.ClientCapabilities != nil {
		caps = *info.ClientCapabilities
	} else if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		caps = s.GetClientCapabilities()
	}
	return declaresApps(caps.Extensions[UIExtension]) || declaresApps(caps.Experimental[UIExtension])
}

// declaresApps reads the extension's settings: mimeTypes is required and
// must include the HTML profile (SEP-1865, "Client<>Server Capability
// Negotiation"; the SDK's getUiCapability example checks the same), so a
// client that names the extension without it is not shown the gallery.
func declaresApps(settings any) bool {
	m, ok := settings.(map[string]any)
	if !ok {
		return false
	}
	switch types := m["mimeTypes"].(type) {
	case []any:
		for _, t := range types {
			if t == AppMIMEType {
				return true
			}
		}
	case []string:
		for _, t := range types {
			if t == AppMIMEType {
				return true
			}
		}
	}
	return false
}

// appsHooks keep the app's own parts out of sight of clients that did not
// declare MCP Apps: gallery_image (visibility ["app"]) and the image
// template are not listed for them. The view itself, and _meta.ui on
// generate_image and check_task, are there for every client: a host that
// does not render Apps ignores them (the tools, their schemas and their
// answers are the same), and some hosts render Apps without declaring the
// extension (VS Code, microsoft/vscode#291432). Nothing is refused: a
// resource or tool is served to whoever asks, since over HTTP a client's
// capabilities are known only to the replica it initialized with.
func appsHooks() *server.Hooks {
	hooks := &server.Hooks{}
	hooks.AddAfterListTools(func(ctx context.Context, _ any, _ *mcp.ListToolsRequest, res *mcp.ListToolsResult) {
		if res != nil && !uiClient(ctx) {
			res.Tools = slices.DeleteFunc(res.Tools, appOnly)
		}
	})
	hooks.AddAfterListResourceTemplates(func(ctx context.Context, _ any, _ *mcp.ListResourceTemplatesRequest, res *mcp.ListResourceTemplatesResult) {
		if res != nil && !uiClient(ctx) {
			res.ResourceTemplates = slices.DeleteFunc(res.ResourceTemplates, func(t mcp.ResourceTemplate) bool {
				return t.URITemplate != nil && t.URITemplate.Raw() == ImageTemplateURI
			})
		}
	})
	return hooks
}

// appOnly is a tool whose _meta.ui.visibility leaves out the model.
func appOnly(t mcp.Tool) bool {
	if t.Meta == nil {
		return false
	}
	ui, _ := t.Meta.AdditionalFields["ui"].(map[string]any)
	vis, ok := ui["visibility"].([]string)
	return ok && !slices.Contains(vis, "model")
}
