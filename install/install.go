// Package install adds this server to an MCP client's config file: it finds
// the file for the client and the OS, merges an "aipaint" entry (the binary's
// path, or the npx form), keeps everything else as it was written (comments,
// trailing commas and layout included), writes a backup first and replaces
// the file atomically.
package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tailscale/hujson"

	"aipaint-mcp/atomicfile"
	"aipaint-mcp/config"
)

// ServerName is the key of the entry this package writes.
const ServerName = "aipaint"

// Client is an MCP client (a host) whose configuration install knows.
type Client struct {
	Name  string // the --client value
	Title string
	// key holds the servers: "mcpServers", "servers" for VS Code,
	// "mcp_servers" for Codex.
	key string
	// vscode: secrets go through "inputs".
	vscode bool
	// format is how the host keeps its servers: a JSON file, Codex's TOML
	// file, or (Cherry Studio) inside the app, reached by a deep link.
	format format
	// stdioType is the "type" a stdio entry carries ("" when the host reads none).
	stdioType string
	// remote is how the host's file names a streamable-HTTP server; nil when
	// it reads none from its file.
	remote *remoteForm
	// noRemote says why remote is nil, and what to do instead.
	noRemote string
	// spaceInPath is a warning for hosts that cannot start a command whose
	// path holds a space.
	spaceInPath string
	path        func(Platform) (string, error)
}

type format int

const (
	jsonFile format = iota
	tomlFile
	deepLink
)

// Clients is the one table of supported hosts, their config files and the
// shape of their entries. Sources, for the paths and keys: Claude Desktop:
// modelcontextprotocol.io quickstart; Cursor: docs.cursor.com MCP (url,
// headers, ${env:NAME}); VS Code: code.visualstudio.com MCP configuration
// reference; Cline: its MCP settings in VS Code's globalStorage (type
// "streamableHttp"); Windsurf: docs.windsurf.com Cascade MCP (serverUrl);
// Trae / Trae CN: <user config>/Trae[ CN]/User/mcp.json, the file its
// "Add manually" dialog edits; Lingma: ~/.lingma/lingma_mcp.json, the file
// its "configure by file" opens; Qwen Code and Gemini CLI: settings.json
// (httpUrl is streamable HTTP, url is SSE; ${NAME} expanded in the whole
// file); Kimi CLI: ~/.kimi/mcp.json (docs/en/customization/mcp.md: url +
// headers, the transport told by the URL);
// Claude Code: the top-level mcpServers of ~/.claude.json (user scope;
// ${NAME} expanded); Codex: [mcp_servers.NAME] in ~/.codex/config.toml
// (bearer_token_env_var); Cherry Studio: src/main/services/urlschema/
// mcp-install.ts (cherrystudio://mcp/install?servers=<base64 JSON>).
var Clients = []Client{
	{Name: "claude-desktop", Title: "Claude Desktop", key: "mcpServers",
		noRemote: "Claude Desktop reads only stdio servers from its file: add a remote server under Settings > Connectors",
		path: func(p Platform) (string, error) {
			return p.join(p.userConfigDir, "Claude", "claude_desktop_config.json")
		}},
	{Name: "cursor", Title: "Cursor", key: "mcpServers",
		remote: &remoteForm{urlKey: "url", envRef: "${env:%s}"},
		path: func(p Platform) (string, error) {
			return p.join(p.home, ".cursor", "mcp.json")
		}},
	{Name: "vscode", Title: "VS Code", key: "servers", vscode: true, stdioType: "stdio",
		remote: &remoteForm{urlKey: "url", fields: [][2]string{{"type", "http"}}, envRef: "${env:%s}"},
		path: func(p Platform) (string, error) {
			return p.join(p.userConfigDir, "Code", "User", "mcp.json")
		}},
	{Name: "cline", Title: "Cline", key: "mcpServers",
		remote: &remoteForm{urlKey: "url", fields: [][2]string{{"type", "streamableHttp"}}},
		path: func(p Platform) (string, error) {
			return p.join(p.userConfigDir, "Code", "User", "globalStorage", "saoudrizwan.claude-dev", "settings", "cline_mcp_settings.json")
		}},
	{Name: "windsurf", Title: "Windsurf", key: "mcpServers",
		remote: &remoteForm{urlKey: "serverUrl"},
		path: func(p Platform) (string, error) {
			return p.join(p.home, ".codeium", "windsurf", "mcp_config.json")
		}},
	{Name: "cherry-studio", Title: "Cherry Studio", key: "mcpServers", format: deepLink, stdioType: "stdio",
		remote: &remoteForm{urlKey: "baseUrl", fields: [][2]string{{"type", "streamableHttp"}}}},
	{Name: "trae", Title: "Trae", key: "mcpServers", remote: &remoteForm{urlKey: "url"},
		spaceInPath: traeSpaces,
		path: func(p Platform) (string, error) {
			return p.join(p.userConfigDir, "Trae", "User", "mcp.json")
		}},
	{Name: "trae-cn", Title: "Trae CN", key: "mcpServers", remote: &remoteForm{urlKey: "url"},
		spaceInPath: traeSpaces,
		path: func(p Platform) (string, error) {
			return p.join(p.userConfigDir, "Trae CN", "User", "mcp.json")
		}},
	{Name: "lingma", Title: "Lingma 通义灵码", key: "mcpServers", remote: &remoteForm{urlKey: "url"},
		path: func(p Platform) (string, error) {
			return p.join(p.home, ".lingma", "lingma_mcp.json")
		}},
	{Name: "qwen-code", Title: "Qwen Code", key: "mcpServers",
		remote: &remoteForm{urlKey: "httpUrl", envRef: "${%s}"},
		path: func(p Platform) (string, error) {
			return p.join(p.home, ".qwen", "settings.json")
		}},
	{Name: "kimi", Title: "Kimi CLI", key: "mcpServers",
		remote: &remoteForm{urlKey: "url"},
		path: func(p Platform) (string, error) {
			return p.join(p.home, ".kimi", "mcp.json")
		}},
	{Name: "gemini-cli", Title: "Gemini CLI", key: "mcpServers",
		remote: &remoteForm{urlKey: "httpUrl", envRef: "${%s}"},
		path: func(p Platform) (string, error) {
			return p.join(p.home, ".gemini", "settings.json")
		}},
	{Name: "claude-code", Title: "Claude Code", key: "mcpServers", stdioType: "stdio",
		remote: &remoteForm{urlKey: "url", fields: [][2]string{{"type", "http"}}, envRef: "${%s}"},
		path: func(p Platform) (string, error) {
			if d := p.Getenv("CLAUDE_CONFIG_DIR"); filepath.IsAbs(d) {
				return filepath.Join(d, ".claude.json"), nil
			}
			return p.join(p.home, ".claude.json")
		}},
	{Name: "codex", Title: "Codex CLI", key: "mcp_servers", format: tomlFile,
		remote: &remoteForm{urlKey: "url"},
		path: func(p Platform) (string, error) {
			if d := p.Getenv("CODEX_HOME"); filepath.IsAbs(d) {
				return filepath.Join(d, "config.toml"), nil
			}
			return p.join(p.home, ".codex", "config.toml")
		}},
}

// traeSpaces is what to do about Trae-AI/TRAE#958: Trae splits the command
// at spaces.
const traeSpaces = "Trae is reported to fail on a command whose path holds a space (Trae-AI/TRAE#958): " +
	"move aipaint-mcp to a folder without spaces (e.g. ~/bin or C:\\Tools) and run install again from there. " +
	"(--npx avoids the path, but Trae started from the Dock or Start menu may not find npx or node, Trae-AI/TRAE#996.)"

// ClientNames lists the --client values.
func ClientNames() []string {
	out := make([]string, len(Clients))
	for i, c := range Clients {
		out[i] = c.Name
	}
	return out
}

// Platform is the OS and environment the paths are resolved in; tests set both.
type Platform struct {
	GOOS   string
	Getenv func(string) string
}

var errNoHome = errors.New("cannot find your home folder (HOME, or USERPROFILE on Windows, is not set): pass --config PATH")

func (p Platform) home() (string, error) {
	name := "HOME"
	if p.GOOS == "windows" {
		name = "USERPROFILE"
	}
	if h := p.Getenv(name); h != "" {
		return h, nil
	}
	return "", errNoHome
}

// userConfigDir is where desktop apps keep settings: %APPDATA% on Windows,
// ~/Library/Application Support on macOS, $XDG_CONFIG_HOME or ~/.config
// elsewhere (as os.UserConfigDir, but for any GOOS).
func (p Platform) userConfigDir() (string, error) {
	switch p.GOOS {
	case "windows":
		if d := p.Getenv("APPDATA"); d != "" {
			return d, nil
		}
		h, err := p.home()
		return filepath.Join(h, "AppData", "Roaming"), err
	case "darwin", "ios":
		h, err := p.home()
		return filepath.Join(h, "Library", "Application Support"), err
	}
	if d := p.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return d, nil
	}
	h, err := p.home()
	return filepath.Join(h, ".config"), err
}

func (p Platform) join(base func() (string, error), elem ...string) (string, error) {
	b, err := base()
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{b}, elem...)...), nil
}

// Options is one install.
type Options struct {
	Client     string // a Clients name
	ConfigPath string // overrides the client's usual file
	Executable string // absolute path of the server binary; unused with NPX
	// NPX starts the server through npx (the npm package) instead of the
	// binary: for those who installed it that way, or whose binary moves.
	NPX     bool
	WithEnv bool // copy the AIPAINT_ settings of Platform.Getenv instead of placeholders
	Sandbox bool // add --sandbox: no account needed
	// URL is a team server's streamable-HTTP endpoint (https://…/mcp): the
	// entry connects to it instead of starting this binary.
	URL string
	// TokenEnv names the environment variable the host reads the bearer
	// token from when it connects; WriteToken writes that variable's value
	// (read now) into the file instead, for hosts that cannot read it.
	TokenEnv   string
	WriteToken bool
	Platform   Platform
	Now        func() time.Time // names the backup; default time.Now
}

// Result says what was (or, with Plan, would be) written.
type Result struct {
	Client  Client
	Path    string
	Backup  string // "" when there was no file to back up
	Created bool   // the file did not exist
	Updated bool   // an aipaint entry was already there and was merged
	Content []byte // the whole new file
	// Preview is what --print shows: only the aipaint entry (and its VS Code
	// inputs) of Content, with secret values hidden.
	Preview   []byte
	Hidden    []string // env variables of the entry whose values Preview hides
	NotShown  []string // the rest of the file, kept but left out of Preview
	EnvCopied []string // settings copied from the environment (--with-env)
	// Secret is set when Content (and Link) holds a secret value: a copied
	// AppSecret or AppCode, or a bearer token written with --token.
	Secret       bool
	Prompted     []string // settings VS Code will prompt for
	Placeholders []string // settings left as placeholders to fill in
	Removed      []string // credential placeholders taken out: the entry has an AppCode
	NewFolder    bool     // the file's folder did not exist: the client may not be installed
	Warnings     []string // host quirks that concern this entry
	// Link is Cherry Studio's import deep link (Content then is the JSON for
	// its "import JSON" dialog, and there is no file).
	Link string
}

// Find looks a client up by name.
func Find(name string) (Client, error) {
	for _, c := range Clients {
		if c.Name == name {
			return c, nil
		}
	}
	return Client{}, fmt.Errorf("unknown client %q: want one of %s", name, strings.Join(ClientNames(), ", "))
}

// CheckExecutable refuses a binary that will not be there when the client
// starts it: a relative path, or the temporary one of go run.
func CheckExecutable(path string) error {
	switch {
	case !filepath.IsAbs(path):
		return fmt.Errorf("the server path %q is not absolute", path)
	case strings.Contains(filepath.ToSlash(path), "/go-build"):
		return errors.New("this is the temporary binary of go run, which is deleted when it exits: build it first (go build -o aipaint-mcp .), then run ./aipaint-mcp install")
	}
	return nil
}

// ExecutablePath is the server path to write for the binary at exe (as
// os.Executable gives it): made absolute but not symlink-resolved, so a link
// such as /opt/homebrew/bin/aipaint-mcp keeps working after an upgrade
// replaces the file it points to. The resolved path is only checked for the
// temporary binary of go run.
func ExecutablePath(exe string) (string, error) {
	abs, err := filepath.Abs(exe)
	if err != nil {
		return "", fmt.Errorf("the server path %q: %w", exe, err)
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		if err := CheckExecutable(resolved); err != nil {
			return "", err
		}
	}
	return abs, CheckExecutable(abs)
}

// Plan computes the new file (or, for Cherry Studio, the link) without
// writing anything.
func Plan(o Options) (*Result, error) {
	c, err := Find(o.Client)
	if err != nil {
		return nil, err
	}
	if err := checkRemote(c, o); err != nil {
		return nil, err
	}
	if !o.NPX && o.URL == "" {
		if err := CheckExecutable(o.Executable); err != nil {
			return nil, err
		}
	}
	r := &Result{Client: c, Secret: o.WriteToken}
	if c.spaceInPath != "" && !o.NPX && o.URL == "" && strings.ContainsAny(o.Executable, " \t") {
		r.Warnings = append(r.Warnings, c.spaceInPath)
	}
	if c.format == deepLink {
		return r, planLink(c, o, r)
	}
	path := o.ConfigPath
	if path == "" {
		if path, err = c.path(o.Platform); err != nil {
			return nil, fmt.Errorf("%s config file: %w", c.Title, err)
		}
	} else if path, err = filepath.Abs(path); err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	r.Path = path
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.Created = true
		if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
			r.NewFolder = true
		}
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if c.format == tomlFile {
		return r, planTOML(c, o, r, old)
	}
	d, err := parseDoc(old)
	if err != nil {
		return nil, fmt.Errorf("%s is not valid JSON, so it was left unchanged: %w. Fix or move it, then run install again", path, err)
	}
	if _, err := d.object(c.key); err != nil {
		return nil, fmt.Errorf("%s: %w (left unchanged)", path, err)
	}
	r.Updated = d.find(c.key, ServerName) != nil
	existing, err := existingEnv(d, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (left unchanged)", path, err)
	}
	values, err := envValues(o, c, r, existing)
	if err != nil {
		return nil, err
	}
	if err := render(d, c, o, values); err != nil {
		return nil, fmt.Errorf("%s: %w (left unchanged)", path, err)
	}
	r.Content = d.bytes()
	if err := preview(d, c, r); err != nil {
		return nil, err
	}
	return r, nil
}

// envValue is one env entry: its value in the file, or the value to show.
type envValue struct {
	name, value string
	input       bool // a VS Code ${input:...} reference
	placeholder bool // fills the key only when the entry has no value yet
	remove      bool // a placeholder to take out: the entry has other credentials
}

func inputID(setting string) string {
	return "aipaint-" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(setting, "AIPAINT_")), "_", "-")
}

func inputRef(setting string) string { return "${input:" + inputID(setting) + "}" }

// placeholders are what the user fills in; doctor recognises the <...> form.
var placeholders = []struct{ name, value string }{
	{config.AppKey, "<AppKey: 我的云市场 / 已购买的服务 / 资源详情>"},
	{config.AppSecret, "<AppSecret>"},
	{config.SubmitURL, "<https:// request URL (请求地址) of AI绘画-提交请求>"},
	{config.QueryURL, "<https:// request URL (请求地址) of AI绘画-查询结果>"},
}

// isPlaceholder is the <...> form of a value still to fill in.
func isPlaceholder(v string) bool {
	v = strings.TrimSpace(v)
	return strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">")
}

// filled is a value the user (or VS Code, through an input) supplies.
func filled(v string) bool { return strings.TrimSpace(v) != "" && !isPlaceholder(v) }

// existingEnv is the env of the aipaint entry already in the file: its keys,
// with the string values (a non-string value is kept as its JSON text).
func existingEnv(d *doc, c Client) (map[string]string, error) {
	out := map[string]string{}
	if v := d.find(c.key, ServerName); v == nil {
		return out, nil
	} else if _, ok := v.Value.(*hujson.Object); !ok {
		return nil, fmt.Errorf("the existing %q entry is not a JSON object", ServerName)
	}
	env, err := d.object(c.key, ServerName, "env")
	if err != nil {
		return nil, err
	}
	for _, k := range names(env) {
		out[k] = stringOf(member(env, k))
	}
	return out, nil
}

func envValues(o Options, c Client, r *Result, existing map[string]string) ([]envValue, error) {
	var out []envValue
	if o.URL != "" {
		return nil, nil // the team server has the settings
	}
	if o.WithEnv {
		for _, s := range config.Settings {
			v := config.Value(o.Platform.Getenv, s.Name) // an unfilled ${user_config.…} is not copied
			if v == "" || config.HTTPOnly(s.Name) {
				continue // empty, or only for the HTTP transports: a client entry runs stdio
			}
			ev := envValue{name: s.Name, value: v}
			if s.Secret && c.vscode {
				ev = envValue{name: s.Name, value: inputRef(s.Name), input: true}
				r.Prompted = append(r.Prompted, s.Name)
			} else {
				r.EnvCopied = append(r.EnvCopied, s.Name)
				r.Secret = r.Secret || s.Secret
			}
			out = append(out, ev)
		}
		if len(out) == 0 {
			return nil, errors.New("--with-env: no AIPAINT_ setting is set in this environment; set them first, or leave --with-env out to write placeholders")
		}
		return out, nil
	}
	if o.Sandbox {
		return nil, nil
	}
	// An entry that already has working credentials gets no credential
	// placeholders: they would be used instead of its AppCode.
	pair := filled(existing[config.AppKey]) && filled(existing[config.AppSecret])
	hasCreds := pair || filled(existing[config.AppCode])
	for _, p := range placeholders {
		credential := p.name == config.AppKey || p.name == config.AppSecret
		old, has := existing[p.name]
		switch {
		case credential && hasCreds && !pair && has && isPlaceholder(old):
			out = append(out, envValue{name: p.name, remove: true})
			r.Removed = append(r.Removed, p.name)
		case credential && hasCreds:
		case has:
			if isPlaceholder(old) {
				r.Placeholders = append(r.Placeholders, p.name) // still to fill in
			}
		case c.vscode && p.name == config.AppSecret:
			out = append(out, envValue{name: p.name, value: inputRef(p.name), input: true, placeholder: true})
			r.Prompted = append(r.Prompted, p.name)
		default:
			out = append(out, envValue{name: p.name, value: p.value, placeholder: true})
			r.Placeholders = append(r.Placeholders, p.name)
		}
	}
	return out, nil
}

// npxPackage is the npm package the npx form runs.
const npxPackage = "aipaint-mcp"

// command is how the client starts the server: the binary, or npx (through
// cmd /c on Windows, where npx is a script that cannot be started directly;
// Cherry Studio runs npx itself, as its bundled bun). A version the user
// pinned in the entry's npx arguments (aipaint-mcp@0.1.0) is kept.
func command(oldArgs []string, c Client, o Options) (string, []string) {
	if !o.NPX {
		var args []string
		if o.Sandbox {
			args = []string{"--sandbox"}
		}
		return o.Executable, args
	}
	pkg := npxPackage
	for _, a := range oldArgs {
		if strings.HasPrefix(a, npxPackage+"@") {
			pkg = a
		}
	}
	args := []string{"-y", pkg}
	if o.Sandbox {
		args = append(args, "--sandbox")
	}
	if o.Platform.GOOS == "windows" && c.format != deepLink {
		return "cmd", append([]string{"/c", "npx"}, args...)
	}
	return "npx", args
}

// jsonArgs are the string elements of the entry's "args".
func jsonArgs(d *doc, c Client) []string {
	old, _ := d.array(c.key, ServerName, "args")
	var out []string
	for i := range elements(old) {
		out = append(out, stringOf(&old.Elements[i]))
	}
	return out
}

// render merges the entry into the file, in place: the transport's keys are
// set, the other transport's removed, and every other key of the entry kept.
func render(d *doc, c Client, o Options, values []envValue) error {
	if _, err := d.ensureObject(c.key); err != nil {
		return err
	}
	if v := d.find(c.key, ServerName); v != nil {
		if _, ok := v.Value.(*hujson.Object); !ok {
			return fmt.Errorf("the existing %q entry is not a JSON object", ServerName)
		}
	}
	entry := []string{c.key, ServerName}
	if _, err := d.ensureObject(entry...); err != nil {
		return err
	}
	at := func(name ...string) []string { return append(append([]string(nil), entry...), name...) }
	if c.format == deepLink {
		if err := d.set(ServerName, at("name")...); err != nil { // Cherry lists servers by name
			return err
		}
	}
	set := transportFields(jsonArgs(d, c), c, o)
	for _, k := range transportKeys {
		if !slices.ContainsFunc(set, func(f field) bool { return f.key == k }) && k != "env" {
			if err := d.remove(at(k)...); err != nil {
				return err
			}
		}
	}
	for _, f := range set {
		if err := d.set(f.value, at(f.key)...); err != nil {
			return err
		}
	}
	if o.URL != "" {
		return d.remove(at("env")...)
	}
	env, err := d.object(at("env")...)
	if err != nil {
		return err
	}
	for _, v := range values {
		if v.remove {
			if err := d.remove(at("env", v.name)...); err != nil {
				return err
			}
			continue
		}
		if member(env, v.name) != nil && v.placeholder {
			continue // never overwrite a value the user already filled in
		}
		if env, err = d.ensureObject(at("env")...); err != nil {
			return err
		}
		if err := d.set(v.value, at("env", v.name)...); err != nil {
			return err
		}
	}
	if env, err = d.object(at("env")...); err != nil {
		return err
	}
	if env != nil && len(env.Members) == 0 {
		if err := d.remove(at("env")...); err != nil {
			return err
		}
	}
	if c.vscode {
		return mergeInputs(d, c)
	}
	return nil
}

// preview fills r.Preview for --print: only the aipaint entry and its VS Code
// inputs, with every value that may be secret hidden and no comments (they
// may hold anything). The rest of the file (other servers, with their tokens)
// is kept but never printed.
func preview(d *doc, c Client, r *Result) error {
	servers, err := d.object(c.key)
	if err != nil {
		return err
	}
	entry, err := parseDoc(minimal(d.find(c.key, ServerName)))
	if err != nil {
		return err
	}
	env, err := entry.object("env")
	if err != nil {
		return err
	}
	if r.Hidden, err = hideSecrets(entry, env); err != nil {
		return err
	}
	headers, err := entry.object("headers")
	if err != nil {
		return err
	}
	for _, k := range names(headers) {
		if v := stringOf(member(headers, k)); !strings.Contains(v, "${") {
			if err := entry.set("<hidden: header "+k+">", "headers", k); err != nil {
				return err
			}
			r.Hidden = append(r.Hidden, "header "+k)
		}
	}
	var b bytes.Buffer
	b.WriteString("{" + quote(c.key) + ":{" + quote(ServerName) + ":")
	b.Write(entry.bytes())
	b.WriteString("}")
	for _, k := range names(servers) {
		if k != ServerName {
			r.NotShown = append(r.NotShown, "server "+strconv.Quote(k))
		}
	}
	root, _ := d.root.Value.(*hujson.Object) // parseDoc checked
	for _, k := range names(root) {
		if k == c.key || (k == "inputs" && c.vscode) {
			continue
		}
		r.NotShown = append(r.NotShown, "setting "+strconv.Quote(k))
	}
	if c.vscode {
		var mine [][]byte
		inputs, _ := d.array("inputs") // render checked it is an array
		for i := range len(elements(inputs)) {
			in := &inputs.Elements[i]
			if id := idOf(in); strings.HasPrefix(id, "aipaint-") {
				mine = append(mine, minimal(in))
			} else {
				r.NotShown = append(r.NotShown, "input "+strconv.Quote(id))
			}
		}
		if mine != nil {
			b.WriteString(`,"inputs":[` + string(bytes.Join(mine, []byte(","))) + "]")
		}
	}
	b.WriteString("}")
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return fmt.Errorf("format the preview: %w", err)
	}
	out.WriteByte('\n')
	r.Preview = out.Bytes()
	return nil
}

// hideSecrets replaces every env value that may be secret: the secret
// settings (except VS Code input references and placeholders) and any
// variable that is not a known non-secret AIPAINT_ setting. It returns the
// names it hid.
func hideSecrets(entry *doc, env *hujson.Object) ([]string, error) {
	secret := secretSettings()
	var hidden []string
	for _, k := range names(env) {
		isSecret, known := secret[k]
		if known && !isSecret {
			continue
		}
		v := member(env, k)
		if lit, ok := v.Value.(hujson.Literal); ok && lit.Kind() == '"' && (strings.HasPrefix(lit.String(), "${input:") || isPlaceholder(lit.String())) {
			continue
		}
		if err := entry.set("<hidden: "+k+">", "env", k); err != nil {
			return nil, err
		}
		hidden = append(hidden, k)
	}
	return hidden, nil
}

// PreviewNote says what --print left out or hid.
func PreviewNote(r *Result) string {
	var b strings.Builder
	if r.Link != "" {
		fmt.Fprintf(&b, "(nothing written: %s keeps its servers in the app; run without --print for its import link)\n", r.Client.Title)
	} else {
		fmt.Fprintf(&b, "(nothing written; the file is %s)\n", r.Path)
	}
	shown := fmt.Sprintf("the %q entry", ServerName)
	if r.Client.vscode {
		shown += " and its inputs"
	}
	fmt.Fprintf(&b, "  shown: only %s of the new file\n", shown)
	if len(r.Hidden) > 0 {
		fmt.Fprintf(&b, "  hidden values: %s\n", strings.Join(r.Hidden, ", "))
	}
	if len(r.NotShown) > 0 {
		fmt.Fprintf(&b, "  kept unchanged, not printed (they may hold secrets): %s\n", strings.Join(r.NotShown, ", "))
	}
	return b.String()
}

// vscodeInput is one entry of VS Code's "inputs": prompted once, kept by VS Code.
type vscodeInput struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Description string `json:"description"`
	Password    bool   `json:"password"`
}

// idOf is the "id" of an input, or "" when it has none.
func idOf(in *hujson.Value) string {
	o, _ := in.Value.(*hujson.Object) // not an object: no id, never replaced
	if v := member(o, "id"); v != nil {
		return stringOf(v)
	}
	return ""
}

// mergeInputs declares (or replaces) our input for every setting whose value
// in the entry's env is our input reference.
func mergeInputs(d *doc, c Client) error {
	inputs, err := d.array("inputs")
	if err != nil {
		return err
	}
	env, err := d.object(c.key, ServerName, "env")
	if err != nil {
		return err
	}
	for _, s := range config.Settings {
		v := member(env, s.Name)
		if v == nil || stringOf(v) != inputRef(s.Name) {
			continue
		}
		in := vscodeInput{Type: "promptString", ID: inputID(s.Name), Description: "AI绘画 " + s.Name + " (aipaint-mcp)", Password: true}
		if inputs == nil {
			if err := d.set([]any{}, "inputs"); err != nil {
				return err
			}
			if inputs, err = d.array("inputs"); err != nil {
				return err
			}
		}
		where := "-"
		for i := range inputs.Elements {
			if idOf(&inputs.Elements[i]) == in.ID {
				where = strconv.Itoa(i)
			}
		}
		if err := d.set(in, "inputs", where); err != nil {
			return err
		}
	}
	return nil
}

// Write applies a plan: a backup of the old file first, then the new file
// through a temporary file and a rename, so it is never half-written. When
// the config path is a symbolic link, the file it points to is written and
// the link stays.
func Write(r *Result, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	target, err := resolveLinks(r.Path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	mode := fs.FileMode(0o600) // it may hold credentials
	if !r.Created {
		fi, err := os.Stat(target)
		if err != nil {
			return fmt.Errorf("stat %s: %w", r.Path, err)
		}
		mode = fi.Mode().Perm()
		old, err := os.ReadFile(target)
		if err != nil {
			return fmt.Errorf("read %s: %w", r.Path, err)
		}
		if r.Backup, err = writeBackup(r.Path+".bak-"+now().Format("20060102-150405"), old); err != nil {
			return fmt.Errorf("backup: %w (the config file was left unchanged)", err)
		}
	}
	if err := writeAtomic(target, r.Content, mode); err != nil {
		return fmt.Errorf("%w (the config file was left unchanged)", err)
	}
	return nil
}

// resolveLinks follows path while it is a symbolic link (even one whose
// target does not exist yet), so the rename replaces the file, not the link.
func resolveLinks(path string) (string, error) {
	for range 40 {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return path, nil // not a link (or not there): written as it is
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return "", fmt.Errorf("read the link %s: %w", path, err)
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// writeBackup creates a new file at name, or name-1, name-2 ... when it is
// taken: an earlier backup is never replaced. It returns the name used.
func writeBackup(name string, data []byte) (string, error) {
	for i := 0; i < 1000; i++ {
		path := name
		if i > 0 {
			path = fmt.Sprintf("%s-%d", name, i)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		_, werr := f.Write(data)
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			_ = os.Remove(path)
			return "", fmt.Errorf("write %s: %w", path, err)
		}
		return path, nil
	}
	return "", fmt.Errorf("write %s: too many backups with this name", name)
}

func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Summary tells the user what was written (or, for Cherry Studio, what to
// open or paste) and what to do next.
func Summary(w io.Writer, r *Result) {
	if r.Link != "" {
		linkSummary(w, r)
		return
	}
	verb := "已添加 added"
	if r.Updated {
		verb = "已更新 updated"
	}
	fmt.Fprintf(w, "✓ %s %q → %s (%s)\n", verb, ServerName, r.Path, r.Client.Title)
	if r.Backup != "" {
		fmt.Fprintf(w, "  备份 Backup of the old file: %s\n", r.Backup)
	}
	if r.NewFolder {
		fmt.Fprintf(w, "  注意 Note: its folder did not exist and was created: is %s installed (and started once)?\n", r.Client.Title)
	}
	if len(r.EnvCopied) > 0 {
		fmt.Fprintf(w, "  已复制 Copied from this environment: %s\n", strings.Join(r.EnvCopied, ", "))
	}
	if len(r.Prompted) > 0 {
		fmt.Fprintf(w, "  %s asks for %s when the server first starts and keeps it in its secret storage.\n", r.Client.Title, strings.Join(r.Prompted, ", "))
	}
	if len(r.Removed) > 0 {
		fmt.Fprintf(w, "  已移除 Removed the placeholders of %s: the entry signs with its %s.\n", strings.Join(r.Removed, ", "), config.AppCode)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "  注意 Note: %s\n", warn)
	}
	if len(r.Placeholders) > 0 {
		fmt.Fprintf(w, "  下一步 Next: replace the <…> placeholders of %s in that file (or run install again with --with-env from a shell where they are set).\n", strings.Join(r.Placeholders, ", "))
	}
	fmt.Fprintf(w, "  然后 Then: restart %s, and run aipaint-mcp doctor to check the setup.\n", r.Client.Title)
}

// linkSummary is what install prints for Cherry Studio: the deep link, and
// the same JSON for its "import JSON" dialog.
func linkSummary(w io.Writer, r *Result) {
	fmt.Fprintf(w, "%s: open this link to import %q (or run install again with --open):\n\n%s\n\n", r.Client.Title, ServerName, r.Link)
	fmt.Fprintf(w, "或者 Or paste this JSON under Settings > MCP > Add > Import from JSON:\n\n%s\n", bytes.TrimRight(r.Content, "\n"))
	if len(r.EnvCopied) > 0 {
		fmt.Fprintf(w, "  注意 Note: the link and the JSON hold the values of %s: do not share them.\n", strings.Join(r.EnvCopied, ", "))
	}
	if len(r.Placeholders) > 0 {
		fmt.Fprintf(w, "  下一步 Next: in Cherry Studio, edit the server and replace the <…> placeholders of %s.\n", strings.Join(r.Placeholders, ", "))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "  注意 Note: %s\n", warn)
	}
}
