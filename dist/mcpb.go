package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"aipaint-mcp/config"
	"aipaint-mcp/schema"
)

// Names of the binaries inside the bundle's server/ folder.
const (
	bundleLinux   = "aipaint-mcp"        // linux amd64, the entry point
	bundleDarwin  = "aipaint-mcp-darwin" // universal: Intel and Apple silicon
	bundleWindows = "aipaint-mcp.exe"    // windows amd64 (Windows on Arm runs it too)
)

// defaultOf is a setting's default, from config's one table of settings.
func defaultOf(name string) string {
	for _, s := range config.Settings {
		if s.Name == name {
			return s.Default
		}
	}
	panic("dist: no setting " + name) // a renamed setting: every dist test fails here
}

// defaultInt is a whole-number setting's default.
func defaultInt(name string) int {
	n, err := strconv.Atoi(defaultOf(name))
	if err != nil {
		panic("dist: the default of " + name + " is not a whole number")
	}
	return n
}

func bundleFile(rel release) string { return "aipaint-mcp-" + rel.Version + ".mcpb" }

const displayName = "AI绘画 AIPaint"

// The descriptions count the styles and sizes from schema's tables.
var (
	nStyles, nSizes = len(schema.Styles), len(schema.Resolutions)
	// shortDescription is also the registry's description: at most 100 characters.
	shortDescription = fmt.Sprintf("AI绘画 text-to-image (聚美智数, Huawei Cloud): %d styles, Chinese prompts, a free sandbox", nStyles)
	longDescription  = fmt.Sprintf("用一句中文或英文描述生成图片：调用华为云市场上购买的聚美智数「AI绘画」接口，支持 %d 种风格（古风、赛博朋克、水彩……）和 %d 种尺寸，", nStyles, nSizes) +
		"图片自动保存到本地文件夹，有每日张数上限和重复请求去重，避免多花钱。不填账号、打开「沙盒」即可免费试用。\n\n" +
		"Draw pictures from a Chinese or English prompt with the 聚美智数 AI绘画 text-to-image API bought on Huawei Cloud Marketplace: " +
		fmt.Sprintf("%d painting styles and %d sizes, images saved to a local folder, a daily image limit and de-duplication so nothing is paid twice. ", nStyles, nSizes) +
		"Every image is billed by the API; switch on the sandbox to try it free, without an account."
)

// userSetting is one field of the setup form Claude Desktop shows, and the
// AIPAINT_ variable it sets. The same table gives the registry entry's
// environment variables.
type userSetting struct {
	Key         string // user_config key
	Env         string
	Type        string // string, number, boolean, directory
	Title       string
	Description string
	Sensitive   bool
	Required    bool
	Default     any
	Placeholder string // an example for the registry entry
}

// userSettings: nothing is required, so the form can be saved with only the
// sandbox switched on, or with AppCode instead of AppKey + AppSecret; the
// server's tools say what is still missing.
var userSettings = userConfig{
	{Key: "app_key", Env: config.AppKey, Type: "string", Title: "AppKey",
		Description: "AppKey（华为云市场 > 我的云市场 > 已购买的服务 > 资源详情）。From Huawei Cloud Marketplace: My Marketplace > Purchased services > resource details. Used with AppSecret.",
		Default:     ""},
	{Key: "app_secret", Env: config.AppSecret, Type: "string", Title: "AppSecret", Sensitive: true,
		Description: "AppSecret，与 AppKey 配对。The AppSecret that goes with the AppKey.",
		Default:     ""},
	{Key: "app_code", Env: config.AppCode, Type: "string", Title: "AppCode（可选 optional）", Sensitive: true,
		Description: "可选：AppCode 简易认证，未填 AppKey/AppSecret 时使用。Optional: AppCode simple authentication, used when AppKey/AppSecret are blank.",
		Default:     ""},
	{Key: "submit_url", Env: config.SubmitURL, Type: "string", Title: "提交请求 URL (submit URL)",
		Description: "「AI绘画-提交请求」的请求地址（https://...），见所购 API 的详情页。Request URL of AI绘画-提交请求, from the purchased API's page.",
		Default:     "", Placeholder: "https://example.apistore.huaweicloud.com/ai-painting/submit"},
	{Key: "query_url", Env: config.QueryURL, Type: "string", Title: "查询结果 URL (query URL)",
		Description: "「AI绘画-查询结果」的请求地址（https://...）。Request URL of AI绘画-查询结果, from the purchased API's page.",
		Default:     "", Placeholder: "https://example.apistore.huaweicloud.com/ai-painting/query"},
	{Key: "daily_image_limit", Env: config.DailyImageLimit, Type: "number", Title: "每日图片上限 (daily image limit)",
		Description: "每天最多提交的图片张数（整数，每张计费），0 表示不限。At most this many images a day, a whole number (each is billed); 0 = no limit.",
		Default:     defaultInt(config.DailyImageLimit), Placeholder: defaultOf(config.DailyImageLimit)},
	{Key: "output_dir", Env: config.OutputDir, Type: "directory", Title: "图片保存文件夹 (output folder)",
		Description: "图片保存到这里；留空则保存到「图片/aipaint-mcp」。Images are saved here; blank = aipaint-mcp in your Pictures folder.",
		Default:     "", Placeholder: "/home/me/Pictures/aipaint-mcp"},
	{Key: "sandbox", Env: config.Sandbox, Type: "boolean", Title: "沙盒试用 (sandbox)",
		Description: "打开后使用内置的模拟接口：不需要账号，不计费。On: use the built-in stand-in API, no account and no cost.",
		Default:     false, Placeholder: "false"},
}

// bundleTools is what the bundle says the server offers.
var bundleTools = []bundleTool{
	{"generate_image", fmt.Sprintf("根据文字描述生成图片（每张计费），等待并返回图片链接。Draw images from a text prompt in one of %d styles (every image is billed) and return them.", nStyles)},
	{"check_task", "查询已提交任务的状态和图片，不会再次计费。Get the status and images of a task generate_image started; bills nothing."},
	{"list_styles", fmt.Sprintf("列出 %d 种风格和 %d 种尺寸。List the %d painting styles and the %d resolutions; free, no network.", nStyles, nSizes, nStyles, nSizes)},
}

// manifest is the bundle's manifest.json (MCP Bundle manifest 0.3), its
// fields in the order the file lists them.
type manifest struct {
	ManifestVersion string        `json:"manifest_version"`
	Name            string        `json:"name"`
	DisplayName     string        `json:"display_name"`
	Version         string        `json:"version"`
	Description     string        `json:"description"`
	LongDescription string        `json:"long_description"`
	Author          author        `json:"author"`
	Repository      repository    `json:"repository"`
	Homepage        string        `json:"homepage"`
	Documentation   string        `json:"documentation"`
	Support         string        `json:"support"`
	Icon            string        `json:"icon"`
	Server          bundleServer  `json:"server"`
	Tools           []bundleTool  `json:"tools"`
	ToolsGenerated  bool          `json:"tools_generated"`
	Keywords        []string      `json:"keywords"`
	Compatibility   compatibility `json:"compatibility"`
	UserConfig      userConfig    `json:"user_config"`
}

type author struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// repository is the repository field of the manifest and of package.json.
type repository struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

type bundleServer struct {
	Type       string    `json:"type"`
	EntryPoint string    `json:"entry_point"`
	MCPConfig  mcpConfig `json:"mcp_config"`
}

type mcpConfig struct {
	Command           string            `json:"command"`
	Args              []string          `json:"args"`
	Env               map[string]string `json:"env"`
	PlatformOverrides platformOverrides `json:"platform_overrides"`
}

// platformOverrides are keyed by Node's process.platform.
type platformOverrides struct {
	Darwin command `json:"darwin"`
	Win32  command `json:"win32"`
	Linux  command `json:"linux"`
}

type command struct {
	Command string `json:"command"`
}

type bundleTool struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type compatibility struct {
	Platforms []string `json:"platforms"`
}

// formField is one field of user_config.
type formField struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Required    bool   `json:"required"`
	Sensitive   bool   `json:"sensitive,omitempty"`
	Default     any    `json:"default"`
	Min         *int   `json:"min,omitempty"`
}

func (s userSetting) formField() formField {
	f := formField{Type: s.Type, Title: s.Title, Description: s.Description, Required: s.Required, Sensitive: s.Sensitive, Default: s.Default}
	if s.Type == "number" {
		f.Min = new(int) // every number of the form is a count: none is negative
	}
	return f
}

// userConfig is the manifest's user_config: the one object whose key order
// means something, since Claude Desktop shows the form's fields in it.
type userConfig []userSetting

func (u userConfig) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, s := range u {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(s.Key)
		if err != nil {
			return nil, err
		}
		v, err := marshal(s.formField())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping (so "<" and "&" stay readable).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// pretty is the file form: indented, one trailing newline.
func pretty(v any) ([]byte, error) {
	raw, err := marshal(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// mcpbManifest is the bundle's manifest.json.
func mcpbManifest(rel release) ([]byte, error) {
	env := map[string]string{}
	for _, s := range userSettings {
		env[s.Env] = "${user_config." + s.Key + "}"
	}
	dir := func(name string) string { return "${__dirname}/server/" + name }
	return pretty(manifest{
		ManifestVersion: "0.3",
		Name:            "aipaint-mcp",
		DisplayName:     displayName,
		Version:         rel.Version,
		Description:     shortDescription,
		LongDescription: longDescription,
		Author:          author{Name: "aipaint-mcp", URL: rel.Repository},
		Repository:      repository{Type: "git", URL: rel.Repository},
		Homepage:        rel.Repository,
		Documentation:   rel.Repository + "#readme",
		Support:         rel.Repository + "/issues",
		Icon:            "icon.png",
		Server: bundleServer{
			Type:       "binary",
			EntryPoint: "server/" + bundleLinux,
			MCPConfig: mcpConfig{
				Command: dir(bundleLinux),
				Args:    []string{},
				Env:     env,
				PlatformOverrides: platformOverrides{
					Darwin: command{dir(bundleDarwin)},
					Win32:  command{dir(bundleWindows)},
					Linux:  command{dir(bundleLinux)},
				},
			},
		},
		Tools:          bundleTools,
		ToolsGenerated: false,
		Keywords:       []string{"image", "text-to-image", "ai-painting", "AI绘画", "文生图", "huawei-cloud", "chinese"},
		Compatibility:  compatibility{Platforms: []string{"darwin", "win32", "linux"}},
		UserConfig:     userSettings,
	})
}
