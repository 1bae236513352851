package install

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Codex config.toml as people keep it: settings, comments, profiles and
// other servers around an older aipaint entry with a key of its own.
const codexConfig = `# my Codex settings
model = "gpt-5-codex"   # the default
approval_policy = "on-request"

[mcp_servers.github]
command = "github-mcp"   # keep me
env = { GITHUB_TOKEN = "ghp_secret" }

# aipaint, added last week
[mcp_servers.aipaint]
command = "/old/aipaint-mcp"
args = ["--sandbox"]
startup_timeout_sec = 30

[mcp_servers.aipaint.env]
AIPAINT_APP_KEY = "real-key"

# profiles below
[profiles.fast]
model = "o4-mini"
`

func TestCodexTOMLRoundTrip(t *testing.T) {
	p := Platform{GOOS: runtime.GOOS, Getenv: env(nil)}
	for name, text := range map[string]string{"lf": codexConfig, "crlf": strings.ReplaceAll(codexConfig, "\n", "\r\n")} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
			r := install(t, Options{Client: "codex", ConfigPath: path, Platform: p})
			assert.True(t, r.Updated)
			backup, err := os.ReadFile(r.Backup)
			require.NoError(t, err)
			assert.Equal(t, text, string(backup), "the backup is the old file, byte for byte")
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			eol := "\n"
			if name == "crlf" {
				eol = "\r\n"
				assert.Equal(t, strings.Count(string(got), "\n"), strings.Count(string(got), "\r\n"), "Windows line endings throughout")
			}
			// Everything outside the aipaint table stays as written.
			lines := strings.Split(text, eol)
			before := strings.Join(lines[:8], eol) + eol
			after := strings.Join(lines[16:], eol)
			assert.True(t, strings.HasPrefix(string(got), before), "the lines above the entry, comments included:\n%s", got)
			assert.True(t, strings.HasSuffix(string(got), after), "the lines below it, comments included:\n%s", got)
			assert.Less(t, strings.Index(string(got), "[mcp_servers.aipaint]"), strings.Index(string(got), "# profiles below"), "the entry stays where it was")

			m := readConfig(t, r.Client, path)
			e := entry(t, m, "mcp_servers")
			assert.Equal(t, exe, e["command"])
			assert.NotContains(t, e, "args", "--sandbox dropped: this install is for the real API")
			assert.Equal(t, int64(30), e["startup_timeout_sec"], "unknown keys of the entry kept")
			envBlock := e["env"].(map[string]any)
			assert.Equal(t, "real-key", envBlock["AIPAINT_APP_KEY"], "a filled-in value is never replaced")
			assert.Equal(t, "<AppSecret>", envBlock["AIPAINT_APP_SECRET"])
			assert.Equal(t, "ghp_secret", asTable(asTable(asTable(m["mcp_servers"])["github"])["env"])["GITHUB_TOKEN"])
			assert.NotContains(t, string(r.Preview), "ghp_secret", "--print shows only our entry")
			assert.Contains(t, PreviewNote(r), `server "github"`)

			again, err := Plan(Options{Client: "codex", ConfigPath: path, Executable: exe, Platform: p})
			require.NoError(t, err)
			assert.Equal(t, string(got), string(again.Content), "a second install changes nothing")
		})
	}
	t.Run("inline-and-dotted", func(t *testing.T) {
		for _, text := range []string{
			"[mcp_servers]\n# mine\nother = { command = \"y\" }\naipaint = { command = \"x\", tool_timeout_sec = 9 }\n",
			"mcp_servers.aipaint.command = \"x\"\nmcp_servers.aipaint.tool_timeout_sec = 9\nmodel = \"m\" # kept\n",
		} {
			path := filepath.Join(t.TempDir(), "config.toml")
			require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
			install(t, Options{Client: "codex", ConfigPath: path, Sandbox: true, Platform: p})
			got, _ := os.ReadFile(path)
			for _, line := range strings.Split(text, "\n") {
				if !strings.Contains(line, "aipaint") {
					assert.Contains(t, string(got), line)
				}
			}
			e := entry(t, readConfig(t, Client{format: tomlFile}, path), "mcp_servers")
			assert.Equal(t, []any{"--sandbox"}, e["args"])
			assert.Equal(t, int64(9), e["tool_timeout_sec"])
		}
	})
	t.Run("invalid", func(t *testing.T) {
		bad := "model = \"x\"\n[mcp_servers.aipaint\ncommand = 1\n"
		path := filepath.Join(t.TempDir(), "config.toml")
		require.NoError(t, os.WriteFile(path, []byte(bad), 0o600))
		_, err := Plan(Options{Client: "codex", ConfigPath: path, Executable: exe, Platform: p})
		assert.ErrorContains(t, err, "not valid TOML")
		assert.ErrorContains(t, err, "line 2")
		assert.ErrorContains(t, err, "left unchanged")
		path = writeFile(t, "mcp_servers = 3\n")
		_, err = Plan(Options{Client: "codex", ConfigPath: path, Executable: exe, Platform: p})
		assert.ErrorContains(t, err, "not a table")
	})
}

// The remote form of each host that takes one: the entry's URL under the
// host's key, its fixed members, the bearer header as the host expands it;
// the stdio members gone, the entry's other keys kept.
func TestRemoteForms(t *testing.T) {
	const u = "https://paint.example.com/mcp"
	p := Platform{GOOS: runtime.GOOS, Getenv: env(map[string]string{"TEAM_TOKEN": "tok-value-123"})}
	want := map[string]map[string]any{
		"cursor":      {"url": u, "headers": map[string]any{"Authorization": "Bearer ${env:TEAM_TOKEN}"}},
		"vscode":      {"type": "http", "url": u, "headers": map[string]any{"Authorization": "Bearer ${env:TEAM_TOKEN}"}},
		"qwen-code":   {"httpUrl": u, "headers": map[string]any{"Authorization": "Bearer ${TEAM_TOKEN}"}},
		"gemini-cli":  {"httpUrl": u, "headers": map[string]any{"Authorization": "Bearer ${TEAM_TOKEN}"}},
		"claude-code": {"type": "http", "url": u, "headers": map[string]any{"Authorization": "Bearer ${TEAM_TOKEN}"}},
		"codex":       {"url": u, "bearer_token_env_var": "TEAM_TOKEN"},
		// These cannot read the token from the environment: --token writes it.
		"cline":    {"type": "streamableHttp", "url": u, "headers": map[string]any{"Authorization": "Bearer tok-value-123"}},
		"windsurf": {"serverUrl": u, "headers": map[string]any{"Authorization": "Bearer tok-value-123"}},
		"trae":     {"url": u, "headers": map[string]any{"Authorization": "Bearer tok-value-123"}},
		"trae-cn":  {"url": u, "headers": map[string]any{"Authorization": "Bearer tok-value-123"}},
		"lingma":   {"url": u, "headers": map[string]any{"Authorization": "Bearer tok-value-123"}},
		"kimi":     {"transport": "http", "url": u, "headers": map[string]any{"Authorization": "Bearer tok-value-123"}},
	}
	for _, c := range Clients {
		w, ok := want[c.Name]
		if !ok {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			// An earlier stdio install, with a key of the user's.
			install(t, Options{Client: c.Name, ConfigPath: path, Platform: p})
			if c.format == tomlFile {
				b, _ := os.ReadFile(path)
				b = bytes.Replace(b, []byte("[mcp_servers.aipaint]\n"), []byte("[mcp_servers.aipaint]\nstartup_timeout_sec = 5\n"), 1)
				require.NoError(t, os.WriteFile(path, b, 0o600))
			} else {
				var m map[string]any
				b, _ := os.ReadFile(path)
				require.NoError(t, json.Unmarshal(b, &m))
				asTable(asTable(m[c.key])[ServerName])["startup_timeout_sec"] = 5
				b, _ = json.Marshal(m)
				require.NoError(t, os.WriteFile(path, b, 0o600))
			}
			o := Options{Client: c.Name, ConfigPath: path, URL: u, TokenEnv: "TEAM_TOKEN", Platform: p}
			if c.remote.envRef == "" && c.format != tomlFile {
				_, err := Plan(o)
				assert.ErrorContains(t, err, "does not read environment variables", "say so, and write the token only when asked")
				assert.ErrorContains(t, err, "--token")
				o.WriteToken = true
			}
			r := install(t, o)
			e := entry(t, readConfig(t, c, path), c.key)
			assert.Equal(t, float64(5), toFloat(e["startup_timeout_sec"]), "the user's key kept")
			delete(e, "startup_timeout_sec")
			assert.Equal(t, w, e, "the URL, its fixed members and the header; no command, args or env")
			assert.NotContains(t, string(r.Preview), "tok-value-123", "--print never shows the token")

			// And back to stdio: the remote members go.
			install(t, Options{Client: c.Name, ConfigPath: path, Platform: p})
			e = entry(t, readConfig(t, c, path), c.key)
			assert.Equal(t, exe, e["command"])
			for _, k := range []string{"url", "httpUrl", "serverUrl", "headers", "transport", "bearer_token_env_var", "http_headers"} {
				assert.NotContains(t, e, k)
			}
		})
	}
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	}
	return -1
}

func TestRemoteRefusals(t *testing.T) {
	p := Platform{GOOS: "linux", Getenv: env(nil)}
	path := filepath.Join(t.TempDir(), "x.json")
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Client: "claude-desktop", URL: "https://x/mcp"}, "Settings > Connectors"},
		{Options{Client: "cursor", URL: "ftp://x/mcp"}, "not an http(s) URL"},
		{Options{Client: "cursor", URL: "https://x/sse"}, "SSE endpoint"},
		{Options{Client: "cursor", URL: "https://u:p@x/mcp"}, "--token-env instead"},
		{Options{Client: "cursor", URL: "https://x/mcp", NPX: true}, "leave out --npx"},
		{Options{Client: "cursor", URL: "https://x/mcp", TokenEnv: "BAD-NAME"}, "not an environment variable name"},
		{Options{Client: "cursor", URL: "https://x/mcp", TokenEnv: "UNSET", WriteToken: true}, "UNSET is not set"},
		{Options{Client: "cursor", URL: "https://x/mcp", WriteToken: true}, "pass --token-env NAME too"},
		{Options{Client: "cursor", TokenEnv: "X"}, "go with --url"},
		{Options{Client: "cherry-studio", URL: "https://x/mcp", TokenEnv: "T"}, "does not read environment variables"},
	} {
		tc.o.ConfigPath, tc.o.Platform, tc.o.Executable = path, p, exe
		_, err := Plan(tc.o)
		assert.ErrorContains(t, err, tc.want, "%+v", tc.o)
	}
	_, err := os.Stat(path)
	assert.True(t, os.IsNotExist(err), "nothing written")
}

// cherryServer is the MCPServer fields Cherry Studio's importer reads
// (src/renderer/src/types: name, type, command, args, env, baseUrl, headers).
type cherryServer struct {
	Name    string            `json:"name"`
	Type    string            `json:"type"`
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env"`
	BaseURL string            `json:"baseUrl"`
	Headers map[string]string `json:"headers"`
}

// decodeCherryLink does what Cherry's handleMcpProtocolUrl does: the
// "servers" query parameter (URLSearchParams: + is a space), base64, JSON.
func decodeCherryLink(t *testing.T, link string) (map[string]cherryServer, []byte) {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	assert.Equal(t, "cherrystudio", u.Scheme)
	assert.Equal(t, "mcp", u.Host)
	assert.Equal(t, "/install", u.Path)
	assert.NotContains(t, u.RawQuery, "+", "URLSearchParams would turn a + into a space")
	q, err := url.ParseQuery(u.RawQuery)
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(q.Get("servers"))
	require.NoError(t, err)
	var cfg struct {
		MCPServers map[string]cherryServer `json:"mcpServers"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&cfg), string(raw))
	return cfg.MCPServers, raw
}

func TestCherryStudioLink(t *testing.T) {
	// A path whose base64 holds + and /: the escaping is exercised.
	const odd = "/opt/AI 绘画>>>/bin/aipaint-mcp???"
	for _, tc := range []struct {
		name string
		o    Options
		want cherryServer
	}{
		{"binary", Options{Executable: odd, Sandbox: true}, cherryServer{Name: "aipaint", Type: "stdio", Command: odd, Args: []string{"--sandbox"}}},
		{"npx-on-windows", Options{NPX: true, Platform: Platform{GOOS: "windows", Getenv: env(nil)}}, cherryServer{Name: "aipaint", Type: "stdio", Command: "npx", Args: []string{"-y", "aipaint-mcp"}}},
		{"team", Options{URL: "https://paint.example.com/mcp", TokenEnv: "T", WriteToken: true, Platform: Platform{GOOS: "linux", Getenv: env(map[string]string{"T": "tok"})}},
			cherryServer{Name: "aipaint", Type: "streamableHttp", BaseURL: "https://paint.example.com/mcp", Headers: map[string]string{"Authorization": "Bearer tok"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Client = "cherry-studio"
			if o.Platform.Getenv == nil {
				o.Platform = Platform{GOOS: "linux", Getenv: env(nil)}
			}
			r, err := Plan(o)
			require.NoError(t, err)
			assert.Empty(t, r.Path, "Cherry keeps its servers in the app: no file")
			servers, raw := decodeCherryLink(t, r.Link)
			require.Len(t, servers, 1)
			got := servers[ServerName]
			if tc.o.URL == "" {
				if !tc.o.Sandbox {
					assert.Equal(t, "<AppSecret>", got.Env["AIPAINT_APP_SECRET"], "the settings as env, to fill in")
					assert.Len(t, got.Env, 4)
				}
				got.Env = nil
			}
			assert.Equal(t, tc.want, got)
			var fromDialog, fromLink any
			require.NoError(t, json.Unmarshal(r.Content, &fromDialog))
			require.NoError(t, json.Unmarshal(raw, &fromLink))
			assert.Equal(t, fromLink, fromDialog, "the JSON for the import dialog is the link's")
			if tc.o.URL != "" {
				assert.NotContains(t, string(r.Preview), "tok", "--print hides the token")
			}
			var b strings.Builder
			Summary(&b, r)
			assert.Contains(t, b.String(), r.Link)
		})
	}
}

func TestTraeWarnsOfSpaces(t *testing.T) {
	p := Platform{GOOS: "darwin", Getenv: env(nil)}
	r, err := Plan(Options{Client: "trae", ConfigPath: filepath.Join(t.TempDir(), "mcp.json"), Executable: exe, Platform: p})
	require.NoError(t, err)
	require.Len(t, r.Warnings, 1, "the path %q holds a space", exe)
	assert.Contains(t, r.Warnings[0], "Trae-AI/TRAE#958")
	var b strings.Builder
	Summary(&b, r)
	assert.Contains(t, b.String(), "without spaces")
	r, err = Plan(Options{Client: "trae-cn", ConfigPath: filepath.Join(t.TempDir(), "mcp.json"), Executable: "/usr/local/bin/aipaint-mcp", Platform: p})
	require.NoError(t, err)
	assert.Empty(t, r.Warnings)
	r, err = Plan(Options{Client: "cursor", ConfigPath: filepath.Join(t.TempDir(), "mcp.json"), Executable: exe, Platform: p})
	require.NoError(t, err)
	assert.Empty(t, r.Warnings, "Cursor starts such paths")
}
