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
	// config is what the page reads: the style table, and the names of the
	// view's two sizes (schema.ImageSizes: the grid's, then the large view's).
	type config struct {
		Styles       []style `json:"styles"`
		DefaultStyle string  `json:"default_style"`
		Thumb        string  `json:"thumb"`
		Large        string  `json:"large"`
	}
	c := config{DefaultStyle: schema.DefaultStyle().Name,
		Thumb: schema.ImageSizes[0].Name, Large: schema.ImageSizes[len(schema.ImageSizes)-1].Name}
	for _, s := range schema.Styles {
		c.Styles = append(c.Styles, style{s.Name, s.English})
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // the tables always encode; every test would catch it
	}
	return strings.Replace(galleryHTML, "{{CONFIG}}", string(b), 1) // json.Marshal escapes < > &
})

// toolUI is the _meta.ui of a tool: the view that shows its results, and
// who may call it ("model", "app").
type toolUI struct {
	ResourceURI string   `json:"resourceUri"`
	Visibility  []string `json:"visibility"`
}

// viewUI is the _meta.ui of the view: a CSP that declares no domain (the
// pictures arrive as data: URIs) and a border from the host.
type viewUI struct {
	CSP           struct{} `json:"csp"`
	PrefersBorder bool     `json:"prefersBorder"`
}

// uiMeta is the _meta of a tool that the gallery shows, or that only the
// gallery calls.
func uiMeta(visibility ...string) *mcp.Meta {
	m := map[string]any{"ui": toolUI{ResourceURI: GalleryURI, Visibility: visibility}}
	if len(visibility) > 1 || visibility[0] != "app" {
		// The flat key of the spec's drafts, which some hosts still read.
		m["ui/resourceUri"] = GalleryURI
	}
	return mcp.NewMetaFromMap(m)
}

func viewMeta() map[string]any { return map[string]any{"ui": viewUI{PrefersBorder: true}} }

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
			mcp.WithTemplateDescription("Picture n (1-based) of a finished task, downscaled to a JPEG: size "+schema.ImageSizeChoices()+". For the gallery view; reading never calls the API."),
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
	tool := newTool(GalleryImageTool, "图库图片 Gallery image",
		"For the gallery view only (not for the model): one picture of a finished task as a downscaled JPEG. Submits nothing and bills nothing.",
		schema.GalleryInputSchema(), nil, hints{readOnly: true, destructive: false, idempotent: true, openWorld: true})
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
	sz, err := schema.ParseImageSize(size)
	if err != nil {
		return nil, err
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
	return save.Preview(data, sz.Side, sz.Quality)
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
	ui, ok := t.Meta.AdditionalFields["ui"].(toolUI)
	return ok && !slices.Contains(ui.Visibility, "model")
}
