package install

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tailscale/hujson"

	toml "github.com/pelletier/go-toml/v2"
)

const exe = "/opt/AI 绘画/bin/aipaint-mcp"

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPaths(t *testing.T) {
	home, appData, xdg := filepath.Join("h", "张 三"), filepath.Join("w", "Roaming"), filepath.Join("/x", "cfg")
	cases := []struct {
		goos   string
		env    map[string]string
		client string
		want   string
	}{
		{"darwin", map[string]string{"HOME": home}, "claude-desktop", filepath.Join(home, "Library", "Application Support", "Claude", "claude_desktop_config.json")},
		{"windows", map[string]string{"USERPROFILE": home, "APPDATA": appData}, "claude-desktop", filepath.Join(appData, "Claude", "claude_desktop_config.json")},
		{"windows", map[string]string{"USERPROFILE": home}, "claude-desktop", filepath.Join(home, "AppData", "Roaming", "Claude", "claude_desktop_config.json")},
		{"linux", map[string]string{"HOME": home}, "claude-desktop", filepath.Join(home, ".config", "Claude", "claude_desktop_config.json")},
		{"linux", map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg}, "claude-desktop", filepath.Join(xdg, "Claude", "claude_desktop_config.json")},
		{"darwin", map[string]string{"HOME": home}, "cursor", filepath.Join(home, ".cursor", "mcp.json")},
		{"windows", map[string]string{"USERPROFILE": home, "HOME": "/wrong"}, "cursor", filepath.Join(home, ".cursor", "mcp.json")},
		{"darwin", map[string]string{"HOME": home}, "vscode", filepath.Join(home, "Library", "Application Support", "Code", "User", "mcp.json")},
		{"windows", map[string]string{"USERPROFILE": home, "APPDATA": appData}, "vscode", filepath.Join(appData, "Code", "User", "mcp.json")},
		{"linux", map[string]string{"HOME": home}, "vscode", filepath.Join(home, ".config", "Code", "User", "mcp.json")},
		{"darwin", map[string]string{"HOME": home}, "cline", filepath.Join(home, "Library", "Application Support", "Code", "User", "globalStorage", "saoudrizwan.claude-dev", "settings", "cline_mcp_settings.json")},
		{"windows", map[string]string{"APPDATA": appData}, "cline", filepath.Join(appData, "Code", "User", "globalStorage", "saoudrizwan.claude-dev", "settings", "cline_mcp_settings.json")},
		{"linux", map[string]string{"HOME": home}, "windsurf", filepath.Join(home, ".codeium", "windsurf", "mcp_config.json")},
		{"windows", map[string]string{"USERPROFILE": home}, "windsurf", filepath.Join(home, ".codeium", "windsurf", "mcp_config.json")},
		{"darwin", map[string]string{"HOME": home}, "trae", filepath.Join(home, "Library", "Application Support", "Trae", "User", "mcp.json")},
		{"windows", map[string]string{"USERPROFILE": home, "APPDATA": appData}, "trae", filepath.Join(appData, "Trae", "User", "mcp.json")},
		{"linux", map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg}, "trae", filepath.Join(xdg, "Trae", "User", "mcp.json")},
		{"darwin", map[string]string{"HOME": home}, "trae-cn", filepath.Join(home, "Library", "Application Support", "Trae CN", "User", "mcp.json")},
		{"windows", map[string]string{"APPDATA": appData}, "trae-cn", filepath.Join(appData, "Trae CN", "User", "mcp.json")},
		{"windows", map[string]string{"USERPROFILE": home}, "lingma", filepath.Join(home, ".lingma", "lingma_mcp.json")},
		{"darwin", map[string]string{"HOME": home}, "lingma", filepath.Join(home, ".lingma", "lingma_mcp.json")},
		{"linux", map[string]string{"HOME": home}, "qwen-code", filepath.Join(home, ".qwen", "settings.json")},
		{"windows", map[string]string{"USERPROFILE": home, "HOME": "/wrong"}, "qwen-code", filepath.Join(home, ".qwen", "settings.json")},
		{"darwin", map[string]string{"HOME": home}, "kimi", filepath.Join(home, ".kimi", "mcp.json")},
		{"windows", map[string]string{"USERPROFILE": home}, "gemini-cli", filepath.Join(home, ".gemini", "settings.json")},
		{"linux", map[string]string{"HOME": home}, "gemini-cli", filepath.Join(home, ".gemini", "settings.json")},
		{"darwin", map[string]string{"HOME": home}, "claude-code", filepath.Join(home, ".claude.json")},
		{"windows", map[string]string{"USERPROFILE": home}, "claude-code", filepath.Join(home, ".claude.json")},
		{"linux", map[string]string{"HOME": home, "CLAUDE_CONFIG_DIR": xdg}, "claude-code", filepath.Join(xdg, ".claude.json")},
		{"linux", map[string]string{"HOME": home}, "codex", filepath.Join(home, ".codex", "config.toml")},
		{"windows", map[string]string{"USERPROFILE": home}, "codex", filepath.Join(home, ".codex", "config.toml")},
		{"darwin", map[string]string{"HOME": home, "CODEX_HOME": xdg}, "codex", filepath.Join(xdg, "config.toml")},
	}
	for _, tc := range cases {
		t.Run(tc.goos+"/"+tc.client, func(t *testing.T) {
			c, err := Find(tc.client)
			require.NoError(t, err)
			got, err := c.path(Platform{GOOS: tc.goos, Getenv: env(tc.env)})
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	c, _ := Find("cursor")
	_, err := c.path(Platform{GOOS: "linux", Getenv: env(nil)})
	assert.ErrorContains(t, err, "--config", "no home folder: say how to get past it")
}

// newHome is a temp home folder with spaces and Chinese characters.
func newHome(t *testing.T) (string, Platform) {
	t.Helper()
	home := filepath.Join(t.TempDir(), "用户 目录", "my home")
	require.NoError(t, os.MkdirAll(home, 0o755))
	return home, Platform{GOOS: runtime.GOOS, Getenv: env(map[string]string{"HOME": home, "USERPROFILE": home, "APPDATA": filepath.Join(home, "AppData")})}
}

func install(t *testing.T, o Options) *Result {
	t.Helper()
	if o.Executable == "" {
		o.Executable = exe
	}
	r, err := Plan(o)
	require.NoError(t, err)
	require.NoError(t, Write(r, func() time.Time { return time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC) }))
	return r
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), string(b))
	return m
}

func entry(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	servers, ok := m[key].(map[string]any)
	require.True(t, ok, "%s: %v", key, m)
	e, ok := servers[ServerName].(map[string]any)
	require.True(t, ok, "no aipaint entry in %v", servers)
	return e
}

// readConfig decodes a host's file, JSON or TOML.
func readConfig(t *testing.T, c Client, path string) map[string]any {
	t.Helper()
	if c.format != tomlFile {
		return readJSONC(t, path)
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, toml.Unmarshal(b, &m), string(b))
	return m
}

func TestNewFileForEveryClient(t *testing.T) {
	for _, c := range Clients {
		if c.format == deepLink {
			continue // no file: TestCherryStudioLink
		}
		t.Run(c.Name, func(t *testing.T) {
			home, p := newHome(t)
			r := install(t, Options{Client: c.Name, Platform: p})
			assert.True(t, strings.HasPrefix(r.Path, home), r.Path)
			assert.True(t, r.Created)
			assert.Equal(t, filepath.Dir(r.Path) != home, r.NewFolder, "a fresh home has no client folders")
			assert.Empty(t, r.Backup, "nothing to back up")
			e := entry(t, readConfig(t, c, r.Path), c.key)
			assert.Equal(t, exe, e["command"], "the absolute path, spaces and Chinese intact")
			envBlock := e["env"].(map[string]any)
			assert.Equal(t, c.stdioType, stringOr(e["type"]), "the stdio type where the host wants one")
			if !c.vscode {
				assert.Equal(t, "<AppSecret>", envBlock["AIPAINT_APP_SECRET"])
			} else {
				assert.Equal(t, "stdio", e["type"])
				assert.Equal(t, "${input:aipaint-app-secret}", envBlock["AIPAINT_APP_SECRET"])
			}
			if runtime.GOOS != "windows" {
				fi, err := os.Stat(r.Path)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "a new config may hold credentials")
			}
			entries, err := os.ReadDir(filepath.Dir(r.Path))
			require.NoError(t, err)
			assert.Len(t, entries, 1, "no temporary file left behind")
		})
	}
}

func stringOr(v any) string { s, _ := v.(string); return s }

func TestMergeKeepsOtherServersAndFields(t *testing.T) {
	_, p := newHome(t)
	path := filepath.Join(t.TempDir(), "配置 dir", "claude_desktop_config.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	old := `{
  "globalShortcut": "Ctrl+Space",
  "mcpServers": {
    "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"]},
    "aipaint": {"command": "/old/path", "args": ["--sandbox"], "disabled": false, "autoApprove": ["list_styles"],
                "env": {"AIPAINT_APP_KEY": "real-key-1234", "AIPAINT_LOG_LEVEL": "debug"}},
    "z-last": {"url": "https://example.com/mcp?a=1&b=<2>"}
  },
  "preferences": {"theme": "dark", "n": 1.50}
}`
	require.NoError(t, os.WriteFile(path, []byte(old), 0o644))
	r := install(t, Options{Client: "claude-desktop", ConfigPath: path, Platform: p})
	assert.True(t, r.Updated)
	assert.False(t, r.Created)

	backup, err := os.ReadFile(r.Backup)
	require.NoError(t, err)
	assert.Equal(t, old, string(backup), "the backup is the old file, byte for byte")
	assert.Equal(t, path+".bak-20261127-093000", r.Backup)

	got, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(got)
	assert.Less(t, strings.Index(text, "globalShortcut"), strings.Index(text, "mcpServers"), "key order kept")
	assert.Less(t, strings.Index(text, `"filesystem"`), strings.Index(text, `"aipaint"`))
	assert.Less(t, strings.Index(text, `"aipaint"`), strings.Index(text, `"z-last"`))
	assert.Contains(t, text, `"n": 1.50`, "numbers kept as written")
	assert.Contains(t, text, `b=<2>`, "no HTML escaping of other entries")

	m := readJSON(t, path)
	assert.Equal(t, map[string]any{"theme": "dark", "n": 1.5}, m["preferences"])
	servers := m["mcpServers"].(map[string]any)
	assert.Equal(t, "npx", servers["filesystem"].(map[string]any)["command"])
	e := entry(t, m, "mcpServers")
	assert.Equal(t, exe, e["command"])
	assert.Nil(t, e["args"], "--sandbox dropped: this install is for the real API")
	assert.Equal(t, false, e["disabled"], "unknown fields of the entry kept")
	assert.Equal(t, []any{"list_styles"}, e["autoApprove"])
	envBlock := e["env"].(map[string]any)
	assert.Equal(t, "real-key-1234", envBlock["AIPAINT_APP_KEY"], "a filled-in value is never replaced by a placeholder")
	assert.Equal(t, "debug", envBlock["AIPAINT_LOG_LEVEL"])
	assert.Equal(t, "<AppSecret>", envBlock["AIPAINT_APP_SECRET"])
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(path)
		assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "the file keeps its mode")
	}
}

func TestInvalidJSONChangesNothing(t *testing.T) {
	_, p := newHome(t)
	dir := filepath.Join(t.TempDir(), "坏 的")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, bad := range map[string]string{
		"syntax":        "{\n  \"mcpServers\": {\n    \"x\": {\"command\": \"a\"\n  }\n",
		"array":         `[1, 2]`,
		"servers-array": `{"mcpServers": []}`,
		"entry-string":  `{"mcpServers": {"aipaint": "oops"}}`,
		"trailing-text": `{} {}`,
		"missing-comma": "{\n  \"a\": 1,\n  \"b\": 2\n  \"c\": 3\n}",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".json")
			require.NoError(t, os.WriteFile(path, []byte(bad), 0o644))
			_, err := Plan(Options{Client: "cursor", ConfigPath: path, Executable: exe, Platform: p})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "left unchanged")
			after, _ := os.ReadFile(path)
			assert.Equal(t, bad, string(after))
		})
	}
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 6, "no backup and no temporary file")
	_, err := Plan(Options{Client: "cursor", ConfigPath: filepath.Join(dir, "missing-comma.json"), Executable: exe, Platform: p})
	assert.ErrorContains(t, err, "line 4", "where it broke")
}

func TestVSCodeJSONCAndInputs(t *testing.T) {
	_, p := newHome(t)
	path := filepath.Join(t.TempDir(), "mcp.json")
	old := `// user MCP servers
{
	"servers": {
		/* GitHub */
		"github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"}, // trailing
	},
	"inputs": [
		{"type": "promptString", "id": "gh-token", "description": "GitHub // token", "password": true},
	],
}
`
	require.NoError(t, os.WriteFile(path, []byte(old), 0o644))
	install(t, Options{Client: "vscode", ConfigPath: path, Platform: p})
	m := readJSONC(t, path)
	assert.Contains(t, m["servers"].(map[string]any), "github")
	inputs := m["inputs"].([]any)
	require.Len(t, inputs, 2)
	assert.Equal(t, "GitHub // token", inputs[0].(map[string]any)["description"], "// inside a string is not a comment")
	assert.Equal(t, map[string]any{"type": "promptString", "id": "aipaint-app-secret",
		"description": "AI绘画 AIPAINT_APP_SECRET (aipaint-mcp)", "password": true}, inputs[1])

	// Installing again replaces our input instead of adding a second one.
	install(t, Options{Client: "vscode", ConfigPath: path, Platform: p})
	assert.Len(t, readJSONC(t, path)["inputs"].([]any), 2)
}

func TestWithEnv(t *testing.T) {
	const secret = "s3cret-from-the-shell"
	vars := map[string]string{
		"AIPAINT_APP_KEY": "key-abcdef", "AIPAINT_APP_SECRET": secret,
		"AIPAINT_SUBMIT_URL": "https://api.example.com/ai/paint/submit", "AIPAINT_QUERY_URL": "https://api.example.com/ai/paint/query",
		"AIPAINT_OUTPUT_DIR": "/Users/me/Pictures/AI 绘画", "OTHER": "not copied", "AIPAINT_HTTP_TOKEN": "http-only",
		"AIPAINT_HTTP_TOKENS_FILE": "/etc/aipaint/tokens",
	}
	p := Platform{GOOS: runtime.GOOS, Getenv: env(vars)}

	path := filepath.Join(t.TempDir(), "claude.json")
	r := install(t, Options{Client: "claude-desktop", ConfigPath: path, WithEnv: true, Platform: p})
	e := entry(t, readJSON(t, path), "mcpServers")["env"].(map[string]any)
	assert.Equal(t, secret, e["AIPAINT_APP_SECRET"], "Claude Desktop has no prompt: the value goes in the file")
	assert.Equal(t, "/Users/me/Pictures/AI 绘画", e["AIPAINT_OUTPUT_DIR"])
	assert.NotContains(t, e, "OTHER")
	assert.NotContains(t, e, "AIPAINT_HTTP_TOKEN", "stdio entries need no HTTP settings")
	assert.NotContains(t, e, "AIPAINT_HTTP_TOKENS_FILE", "stdio entries need no HTTP settings")
	assert.NotContains(t, string(r.Preview), secret, "--print hides secrets")
	assert.Contains(t, string(r.Preview), "<hidden: AIPAINT_APP_SECRET>")

	path = filepath.Join(t.TempDir(), "mcp.json")
	r = install(t, Options{Client: "vscode", ConfigPath: path, WithEnv: true, Platform: p})
	raw, _ := os.ReadFile(path)
	assert.NotContains(t, string(raw), secret, "VS Code prompts for the secret: never stored in plain text")
	assert.Equal(t, []string{"AIPAINT_APP_SECRET"}, r.Prompted)
	assert.Equal(t, "key-abcdef", entry(t, readJSON(t, path), "servers")["env"].(map[string]any)["AIPAINT_APP_KEY"])

	_, err := Plan(Options{Client: "cursor", ConfigPath: path, Executable: exe, WithEnv: true, Platform: Platform{GOOS: "linux", Getenv: env(nil)}})
	assert.ErrorContains(t, err, "no AIPAINT_ setting is set")
}

func TestSandboxEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp_config.json")
	install(t, Options{Client: "windsurf", ConfigPath: path, Sandbox: true, Platform: Platform{GOOS: "linux", Getenv: env(nil)}})
	e := entry(t, readJSON(t, path), "mcpServers")
	assert.Equal(t, []any{"--sandbox"}, e["args"])
	assert.NotContains(t, e, "env")
}

func TestRefusals(t *testing.T) {
	_, err := Plan(Options{Client: "notepad", Executable: exe})
	assert.ErrorContains(t, err, "claude-desktop, cursor, vscode, cline, windsurf")
	_, err = Plan(Options{Client: "cursor", Executable: "aipaint-mcp"})
	assert.ErrorContains(t, err, "not absolute")
	_, err = Plan(Options{Client: "cursor", Executable: filepath.Join(os.TempDir(), "go-build1234", "b001", "exe", "aipaint-mcp")})
	assert.ErrorContains(t, err, "go build -o aipaint-mcp .")
}

func TestPlanWritesNothing(t *testing.T) {
	_, p := newHome(t)
	path := filepath.Join(t.TempDir(), "sub", "mcp.json")
	r, err := Plan(Options{Client: "cursor", ConfigPath: path, Executable: exe, Platform: p})
	require.NoError(t, err)
	assert.Contains(t, string(r.Preview), `"aipaint"`)
	_, err = os.Stat(filepath.Dir(path))
	assert.True(t, os.IsNotExist(err), "--print creates nothing")
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mcp.json")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func TestReinstallKeepsWorkingCredentials(t *testing.T) {
	p := Platform{GOOS: runtime.GOOS, Getenv: env(nil)}
	urls := `"AIPAINT_SUBMIT_URL": "https://x.example/submit", "AIPAINT_QUERY_URL": "https://x.example/query"`
	t.Run("appcode", func(t *testing.T) {
		path := writeFile(t, `{"mcpServers": {"aipaint": {"command": "/old", "env": {"AIPAINT_APP_CODE": "code-123", `+urls+`}}}}`)
		r := install(t, Options{Client: "cursor", ConfigPath: path, Platform: p})
		assert.Equal(t, map[string]any{"AIPAINT_APP_CODE": "code-123",
			"AIPAINT_SUBMIT_URL": "https://x.example/submit", "AIPAINT_QUERY_URL": "https://x.example/query"},
			entry(t, readJSON(t, path), "mcpServers")["env"], "no AppKey/AppSecret placeholders next to a working AppCode")
		assert.Empty(t, r.Placeholders)
	})
	t.Run("appcode-after-placeholders", func(t *testing.T) {
		// What an earlier install wrote next to an AppCode: the placeholders go.
		path := writeFile(t, `{"mcpServers": {"aipaint": {"command": "/old", "env": {"AIPAINT_APP_KEY": "<AppKey: 我的云市场 / 已购买的服务 / 资源详情>", "AIPAINT_APP_SECRET": "<AppSecret>", "AIPAINT_APP_CODE": "code-123", `+urls+`}}}}`)
		r := install(t, Options{Client: "cursor", ConfigPath: path, Platform: p})
		e := entry(t, readJSON(t, path), "mcpServers")["env"].(map[string]any)
		assert.NotContains(t, e, "AIPAINT_APP_KEY")
		assert.NotContains(t, e, "AIPAINT_APP_SECRET")
		assert.Equal(t, "code-123", e["AIPAINT_APP_CODE"])
		assert.Equal(t, []string{"AIPAINT_APP_KEY", "AIPAINT_APP_SECRET"}, r.Removed)
	})
	t.Run("vscode-typed-secret", func(t *testing.T) {
		path := writeFile(t, `{"servers": {"aipaint": {"type": "stdio", "command": "/old", "env": {"AIPAINT_APP_KEY": "key-1", "AIPAINT_APP_SECRET": "typed-secret", `+urls+`}}}}`)
		r := install(t, Options{Client: "vscode", ConfigPath: path, Platform: p})
		m := readJSON(t, path)
		assert.Equal(t, "typed-secret", entry(t, m, "servers")["env"].(map[string]any)["AIPAINT_APP_SECRET"],
			"the input reference is a placeholder: it never replaces a value")
		assert.NotContains(t, m, "inputs", "no input that nothing uses")
		assert.Empty(t, r.Prompted)
	})
	t.Run("vscode-appcode", func(t *testing.T) {
		path := writeFile(t, `{"servers": {"aipaint": {"type": "stdio", "command": "/old", "env": {"AIPAINT_APP_CODE": "${input:aipaint-app-code}", `+urls+`}}}}`)
		install(t, Options{Client: "vscode", ConfigPath: path, Platform: p})
		m := readJSON(t, path)
		e := entry(t, m, "servers")["env"].(map[string]any)
		assert.NotContains(t, e, "AIPAINT_APP_SECRET")
		assert.NotContains(t, e, "AIPAINT_APP_KEY")
		inputs := m["inputs"].([]any)
		require.Len(t, inputs, 1, "the input the entry uses is declared")
		assert.Equal(t, "aipaint-app-code", inputs[0].(map[string]any)["id"])
	})
	t.Run("vscode-with-env-replaces", func(t *testing.T) {
		path := writeFile(t, `{"servers": {"aipaint": {"type": "stdio", "command": "/old", "env": {"AIPAINT_APP_SECRET": "typed-secret"}}}}`)
		install(t, Options{Client: "vscode", ConfigPath: path, WithEnv: true,
			Platform: Platform{GOOS: runtime.GOOS, Getenv: env(map[string]string{"AIPAINT_APP_SECRET": "from-shell"})}})
		assert.Equal(t, "${input:aipaint-app-secret}", entry(t, readJSON(t, path), "servers")["env"].(map[string]any)["AIPAINT_APP_SECRET"],
			"--with-env gives a value: VS Code prompts for it")
	})
}

func TestPrintHidesEverySecret(t *testing.T) {
	p := Platform{GOOS: runtime.GOOS, Getenv: env(nil)}
	old := `{
  "apiToken": "top-level-secret",
  "servers": {
    "github": {"command": "gh-mcp", "args": ["--token", "ghp_args"], "env": {"GITHUB_TOKEN": "ghp_envsecret"}},
    "remote": {"type": "http", "url": "https://mcp.example/?key=url-secret", "headers": {"Authorization": "Bearer header-secret"}},
    "aipaint": {"command": "/old", "env": {"AIPAINT_APP_KEY": "key-1", "AIPAINT_APP_SECRET": "typed-secret", "HTTPS_PROXY": "http://me:proxy-pw@proxy:8080"}}
  },
  "inputs": [{"type": "promptString", "id": "gh", "description": "x", "default": "input-default-secret"}]
}`
	for _, c := range []string{"cursor", "vscode"} {
		t.Run(c, func(t *testing.T) {
			text := old
			if c == "cursor" {
				text = strings.Replace(old, `"servers"`, `"mcpServers"`, 1)
			}
			path := writeFile(t, text)
			r, err := Plan(Options{Client: c, ConfigPath: path, Executable: exe, Platform: p})
			require.NoError(t, err)
			for _, s := range []string{"top-level-secret", "ghp_args", "ghp_envsecret", "url-secret", "header-secret", "typed-secret", "proxy-pw", "input-default-secret"} {
				assert.NotContains(t, string(r.Preview), s, "--print shows no secret")
				assert.Contains(t, string(r.Content), s, "the file keeps everything")
			}
			var m map[string]any
			require.NoError(t, json.Unmarshal(r.Preview, &m), string(r.Preview))
			assert.Equal(t, exe, entry(t, m, r.Client.key)["command"])
			assert.Contains(t, string(r.Preview), `"AIPAINT_APP_KEY": "key-1"`)
			assert.Equal(t, []string{"AIPAINT_APP_SECRET", "HTTPS_PROXY"}, r.Hidden)
			note := PreviewNote(r)
			for _, want := range []string{`server "github"`, `server "remote"`, `setting "apiToken"`, "HTTPS_PROXY", path} {
				assert.Contains(t, note, want)
			}
			if c == "vscode" {
				assert.Contains(t, note, `input "gh"`)
			}
		})
	}
}

func TestExecutablePathKeepsTheLink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "Cellar", "aipaint-mcp", "1.2.0", "bin", "aipaint-mcp")
	require.NoError(t, os.MkdirAll(filepath.Dir(real), 0o755))
	require.NoError(t, os.WriteFile(real, []byte("bin"), 0o755))
	link := filepath.Join(dir, "bin", "aipaint-mcp")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	got, err := ExecutablePath(link)
	require.NoError(t, err)
	assert.Equal(t, link, got, "the link as invoked, not its Cellar target")

	tmp := filepath.Join(dir, "go-build123", "b001", "exe", "aipaint-mcp")
	require.NoError(t, os.MkdirAll(filepath.Dir(tmp), 0o755))
	require.NoError(t, os.WriteFile(tmp, []byte("bin"), 0o755))
	link2 := filepath.Join(dir, "bin", "linked-go-run")
	require.NoError(t, os.Symlink(tmp, link2))
	_, err = ExecutablePath(link2)
	assert.ErrorContains(t, err, "go build -o aipaint-mcp .", "a link to go run's binary is refused")

	t.Chdir(dir)
	got, err = ExecutablePath(filepath.Join("bin", "aipaint-mcp"))
	require.NoError(t, err)
	assert.True(t, filepath.IsAbs(got), got)
}

func TestBackupsAreNeverReplaced(t *testing.T) {
	p := Platform{GOOS: runtime.GOOS, Getenv: env(nil)}
	const orig = `{"mcpServers": {"other": {"command": "x"}}}`
	path := writeFile(t, orig)
	r1 := install(t, Options{Client: "cursor", ConfigPath: path, Platform: p}) // the same second each time
	r2 := install(t, Options{Client: "cursor", ConfigPath: path, Platform: p})
	r3 := install(t, Options{Client: "cursor", ConfigPath: path, Platform: p})
	base := path + ".bak-20261127-093000"
	assert.Equal(t, []string{base, base + "-1", base + "-2"}, []string{r1.Backup, r2.Backup, r3.Backup})
	b, err := os.ReadFile(base)
	require.NoError(t, err)
	assert.Equal(t, orig, string(b), "the backup of the original survives")
	b, err = os.ReadFile(base + "-1")
	require.NoError(t, err)
	assert.Equal(t, string(r1.Content), string(b))
}

func TestSymlinkedConfigStaysALink(t *testing.T) {
	p := Platform{GOOS: runtime.GOOS, Getenv: env(nil)}
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "mcp.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(target), 0o755))
	require.NoError(t, os.WriteFile(target, []byte(`{"mcpServers": {}}`), 0o640))
	link := filepath.Join(dir, ".cursor", "mcp.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	if err := os.Symlink(filepath.Join("..", "dotfiles", "mcp.json"), link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	r := install(t, Options{Client: "cursor", ConfigPath: link, Platform: p})
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSymlink, "the link is kept")
	assert.Equal(t, exe, entry(t, readJSON(t, target), "mcpServers")["command"], "the file it points to is written")
	assert.FileExists(t, r.Backup)
	if runtime.GOOS != "windows" {
		fi, _ = os.Stat(target)
		assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	}

	// A link to a file not there yet is created through the link, too.
	dangling := filepath.Join(dir, "link-to-new.json")
	newTarget := filepath.Join(dir, "dotfiles", "new.json")
	require.NoError(t, os.Symlink(newTarget, dangling))
	install(t, Options{Client: "cursor", ConfigPath: dangling, Platform: p})
	fi, err = os.Lstat(dangling)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSymlink)
	assert.Equal(t, exe, entry(t, readJSON(t, newTarget), "mcpServers")["command"])
}

// readJSONC reads a file with comments and trailing commas, as VS Code does.
func readJSONC(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	std, err := hujson.Standardize(b)
	require.NoError(t, err, string(b))
	var m map[string]any
	require.NoError(t, json.Unmarshal(std, &m), string(b))
	return m
}

// VS Code's mcp.json is JSON with comments and trailing commas: install edits
// only the aipaint entry and its input, and every comment, trailing comma and
// line of the rest stays as it was.
func TestVSCodeKeepsCommentsAndLayout(t *testing.T) {
	p := Platform{GOOS: runtime.GOOS, Getenv: env(nil)}
	old := `// Servers for this machine. 本机的 MCP 服务器
/* block comment
   over two lines */
{
	"servers": {
		// GitHub's hosted server
		"github": {
			"type": "http", // remote
			"url": "https://api.githubcopilot.com/mcp/",
		},
		"aipaint": {
			"type": "stdio",
			"command": "/old/aipaint-mcp", // moved since
			"args": ["--sandbox"],
			"env": {
				// from 我的云市场
				"AIPAINT_APP_KEY": "key-1", /* the key */
				"AIPAINT_LOG_LEVEL": "debug",
			},
		},
		/* a server not used now */
		// "off": {"command": "x"},
	},
	"inputs": [
		// GitHub token
		{"type": "promptString", "id": "gh-token", "description": "GitHub // token", "password": true},
	],
	"n": 1.50, // as written
}
// the end
`
	path := writeFile(t, old)
	r := install(t, Options{Client: "vscode", ConfigPath: path, Platform: p})
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(got)
	for _, comment := range []string{
		"// Servers for this machine. 本机的 MCP 服务器", "/* block comment\n   over two lines */", "// GitHub's hosted server",
		"// remote", "// from 我的云市场", "/* the key */", "/* a server not used now */", `// "off": {"command": "x"},`,
		"// GitHub token", "// as written", "// the end",
	} {
		assert.Equal(t, 1, strings.Count(text, comment), "kept once: %s\n%s", comment, text)
	}
	// Every line outside the aipaint entry is still there, as it was.
	for line := range strings.SplitSeq(old, "\n") {
		if strings.Contains(line, "/old/aipaint-mcp") || strings.Contains(line, `"args"`) {
			continue // what install changes
		}
		assert.Contains(t, text, line+"\n", "line kept")
	}
	assert.Contains(t, text, "\t\t\t\"command\": \"/opt/AI 绘画/bin/aipaint-mcp\", // moved since\n", "replaced in place, its comment kept")
	assert.NotContains(t, text, `"args"`, "--sandbox dropped: this install is for the real API")
	assert.Contains(t, text, "\t\t\t\t\"AIPAINT_APP_SECRET\": \"${input:aipaint-app-secret}\",\n", "added after its siblings, indented like them, trailing comma kept")
	m := readJSONC(t, path)
	e := entry(t, m, "servers")
	assert.Equal(t, map[string]any{"AIPAINT_APP_KEY": "key-1", "AIPAINT_LOG_LEVEL": "debug", "AIPAINT_APP_SECRET": "${input:aipaint-app-secret}",
		"AIPAINT_SUBMIT_URL": "<https:// request URL (请求地址) of AI绘画-提交请求>", "AIPAINT_QUERY_URL": "<https:// request URL (请求地址) of AI绘画-查询结果>"}, e["env"])
	inputs := m["inputs"].([]any)
	require.Len(t, inputs, 2)
	assert.Equal(t, "aipaint-app-secret", inputs[1].(map[string]any)["id"])
	assert.Equal(t, true, inputs[1].(map[string]any)["password"])
	for _, comment := range []string{"from 我的云市场", "the key", "moved since", "GitHub token"} {
		assert.NotContains(t, string(r.Preview), comment, "--print shows no comment: they may hold anything")
	}

	// Installing again changes nothing.
	again, err := Plan(Options{Client: "vscode", ConfigPath: path, Executable: exe, Platform: p})
	require.NoError(t, err)
	assert.Equal(t, text, string(again.Content))
}

func TestLayoutOfTheFileIsKept(t *testing.T) {
	p := Platform{GOOS: runtime.GOOS, Getenv: env(nil)}
	t.Run("four-spaces", func(t *testing.T) {
		old := "{\n    \"mcpServers\": {\n        \"other\": {\"command\": \"x\", \"args\": [\"a\",\"b\"]}\n    }\n}\n"
		r := install(t, Options{Client: "cursor", ConfigPath: writeFile(t, old), Platform: p})
		text := string(r.Content)
		assert.True(t, strings.HasPrefix(text, "{\n    \"mcpServers\": {\n        \"other\": {\"command\": \"x\", \"args\": [\"a\",\"b\"]},\n        \"aipaint\": {\n            \"command\": "), text)
		assert.True(t, strings.HasSuffix(text, "\n            }\n        }\n    }\n}\n"), text)
	})
	t.Run("crlf", func(t *testing.T) {
		old := "{\r\n  \"mcpServers\": {\r\n    \"other\": {\"command\": \"x\"}\r\n  }\r\n}\r\n"
		r := install(t, Options{Client: "cursor", ConfigPath: writeFile(t, old), Platform: p})
		text := string(r.Content)
		assert.Equal(t, strings.Count(text, "\n"), strings.Count(text, "\r\n"), "Windows line endings throughout:\n%q", text)
		assert.Greater(t, strings.Count(text, "\r\n"), 8)
	})
	t.Run("one-line", func(t *testing.T) {
		old := `{"mcpServers": {"other": {"command": "x"}}}`
		r := install(t, Options{Client: "cursor", ConfigPath: writeFile(t, old), Platform: p})
		assert.NotContains(t, string(r.Content), "\n", "a file on one line stays on one line")
		assert.True(t, strings.HasPrefix(string(r.Content), `{"mcpServers": {"other": {"command": "x"}, "aipaint": {"command": `), string(r.Content))
	})
	t.Run("new-file", func(t *testing.T) {
		r := install(t, Options{Client: "cursor", ConfigPath: filepath.Join(t.TempDir(), "mcp.json"), Platform: p})
		assert.True(t, strings.HasPrefix(string(r.Content), "{\n  \"mcpServers\": {\n    \"aipaint\": {\n      \"command\": "), string(r.Content))
		assert.True(t, strings.HasSuffix(string(r.Content), "\n    }\n  }\n}\n"), string(r.Content))
	})
}

// --npx writes the npx form: for each client's format, on Windows through cmd /c.
func TestNPX(t *testing.T) {
	for _, c := range Clients {
		if c.format == deepLink {
			continue // Cherry runs npx itself: TestCherryStudioLink
		}
		for _, goos := range []string{"linux", "darwin", "windows"} {
			t.Run(c.Name+"/"+goos, func(t *testing.T) {
				p := Platform{GOOS: goos, Getenv: env(nil)}
				path := filepath.Join(t.TempDir(), "config.json")
				r := install(t, Options{Client: c.Name, ConfigPath: path, NPX: true, Executable: "not used", Platform: p})
				e := entry(t, readConfig(t, c, path), c.key)
				wantCmd, wantArgs := "npx", []any{"-y", "aipaint-mcp"}
				if goos == "windows" {
					wantCmd, wantArgs = "cmd", []any{"/c", "npx", "-y", "aipaint-mcp"}
				}
				assert.Equal(t, wantCmd, e["command"])
				assert.Equal(t, wantArgs, e["args"])
				assert.NotContains(t, string(r.Content), "not used", "no binary path")
				envBlock := e["env"].(map[string]any)
				assert.Contains(t, envBlock, "AIPAINT_SUBMIT_URL", "settings as with the binary")
				assert.Equal(t, c.stdioType, stringOr(e["type"]))
				if c.vscode {
					assert.Equal(t, "${input:aipaint-app-secret}", envBlock["AIPAINT_APP_SECRET"])
				} else {
					assert.Equal(t, "<AppSecret>", envBlock["AIPAINT_APP_SECRET"])
				}

				// --sandbox goes after the package; a binary install replaces the npx form.
				install(t, Options{Client: c.Name, ConfigPath: path, NPX: true, Sandbox: true, Platform: p})
				args := entry(t, readConfig(t, c, path), c.key)["args"].([]any)
				assert.Equal(t, append(wantArgs, "--sandbox"), args)
				install(t, Options{Client: c.Name, ConfigPath: path, Platform: p})
				e = entry(t, readConfig(t, c, path), c.key)
				assert.Equal(t, exe, e["command"])
				assert.NotContains(t, e, "args")
			})
		}
	}
}

func TestNPXKeepsAPinnedVersion(t *testing.T) {
	p := Platform{GOOS: "linux", Getenv: env(nil)}
	path := writeFile(t, `{"mcpServers": {"aipaint": {"command": "npx", "args": ["-y", "aipaint-mcp@0.1.0"]}}}`)
	install(t, Options{Client: "cursor", ConfigPath: path, NPX: true, Platform: p})
	assert.Equal(t, []any{"-y", "aipaint-mcp@0.1.0"}, entry(t, readJSON(t, path), "mcpServers")["args"])
	_, err := Plan(Options{Client: "cursor", ConfigPath: path, NPX: true, Platform: p})
	assert.NoError(t, err, "no binary path is needed (or checked) for the npx form")
}

func TestOddButValidFiles(t *testing.T) {
	p := Platform{GOOS: runtime.GOOS, Getenv: env(nil)}
	for name, text := range map[string]string{
		"servers-null":         `{"mcpServers": null}`,
		"env-null":             `{"mcpServers": {"aipaint": {"command": "/old", "env": null}}}`,
		"comments-only-around": "/* a */ { /* b */ } // c\n",
		"inputs-null":          `{"servers": {}, "inputs": null}`,
		"odd-inputs":           `{"servers": {}, "inputs": [1, "x", {"id": 2}, {"id": "aipaint-app-secret", "type": "old"}]}`,
		"escaped-keys":         `{"servers": {"a/b~c": {"command": "x"}}, "inputs": []}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, text)
			r := install(t, Options{Client: "vscode", ConfigPath: path, Platform: p})
			m := readJSONC(t, path)
			if strings.Contains(text, "mcpServers") {
				assert.Contains(t, m, "mcpServers", "other clients' keys kept")
			}
			assert.Equal(t, exe, entry(t, m, "servers")["command"])
			ids := 0
			for _, in := range m["inputs"].([]any) {
				if o, ok := in.(map[string]any); ok && o["id"] == "aipaint-app-secret" {
					ids++
					assert.Equal(t, "promptString", o["type"], "our input replaced")
				}
			}
			assert.Equal(t, 1, ids)
			for _, c := range []string{"/* a */", "/* b */", "// c"} {
				if strings.Contains(text, c) {
					assert.Contains(t, string(r.Content), c)
				}
			}
		})
	}
}

// Whatever the file holds, install either refuses it and changes nothing, or
// writes a file that parses, has the entry, keeps every comment, and is
// unchanged by installing again.
// fuzzClients are the formats FuzzPlan drives: JSON without and with a
// stdio "type", VS Code's inputs, Gemini/Qwen settings, and Codex's TOML.
var fuzzClients = []string{"cursor", "vscode", "claude-code", "qwen-code", "codex"}

func FuzzPlan(f *testing.F) {
	for _, s := range []string{
		"", "{}", `{"mcpServers": {"a": {"command": "x"}}}`, "{\n\t// c\n\t\"servers\": {\"a\": 1,},\n}",
		`{"servers": {"aipaint": {"env": {"AIPAINT_APP_SECRET": "s"}}}, "inputs": [{"id": "aipaint-app-secret"}]}`,
		"{\r\n  \"mcpServers\": {}\r\n}\r\n", `{"mcpServers": []}`, "/* x */ {\"a\": [1, /* y */ 2,],} // z",
		`{"mcpServers": {"aipaint": {"type": "http", "url": "https://x/mcp", "headers": {"A": "b"}, "trust": true}}}`,
	} {
		for i := range fuzzClients {
			f.Add(s, uint8(i))
		}
	}
	for _, s := range []string{
		"model = \"o3\" # mine\n\n[mcp_servers.other]\ncommand = \"x\"\n",
		"# top\n[mcp_servers.aipaint]\ncommand = 'z' # old\nstartup_timeout_sec = 20\n\n# next\n[mcp_servers.aipaint.env]\nAIPAINT_APP_KEY = 'k'\n\n# theirs\n[profiles.x]\nmodel = 'y'\n",
		"mcp_servers.aipaint.command = 'q'\nmcp_servers.b.command = 'r'\n",
		"[mcp_servers]\naipaint = { command = 'x', env = { A = 'b' } }\nother = { command = 'y' }\n",
		"[a]\r\nb = 1\r\n[mcp_servers.aipaint]\r\nurl = 'https://x/mcp'\r\n",
		"[[mcp_servers]]\nx = 1\n", "a = [\n  1, # c\n  2,\n]\n[mcp_servers.aipaint.tools.generate_image]\napproval = 'y'\n",
	} {
		f.Add(s, uint8(len(fuzzClients)-1))
	}
	p := Platform{GOOS: "linux", Getenv: env(nil)}
	f.Fuzz(func(t *testing.T, text string, which uint8) {
		client, err := Find(fuzzClients[int(which)%len(fuzzClients)])
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "config")
		require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
		r, err := Plan(Options{Client: client.Name, ConfigPath: path, Executable: exe, Platform: p})
		if err != nil {
			assert.Contains(t, err.Error(), "left unchanged")
			assert.NotContains(t, err.Error(), "please report this", "a valid file the merge got wrong")
			return
		}
		if client.format == tomlFile {
			var m map[string]any
			require.NoError(t, toml.Unmarshal(r.Content, &m), "%q", r.Content)
			assert.Equal(t, exe, asTable(asTable(m[client.key])[ServerName])["command"])
			if !strings.Contains(text, ServerName) {
				assert.True(t, strings.HasPrefix(string(r.Content), text), "with no entry of ours the file is only added to:\n%q\n%q", text, r.Content)
			}
		} else {
			v, err := hujson.Parse(r.Content)
			require.NoError(t, err, "%q", r.Content)
			assert.NotNil(t, v.Find(pointer([]string{r.Client.key, ServerName, "command"})))
			assert.Nil(t, v.Find(pointer([]string{r.Client.key, ServerName, "url"})), "a stdio entry has no url left")
			if old, err := hujson.Parse([]byte(text)); err == nil && !strings.Contains(text, ServerName) {
				for c := range comments(old) { // with no entry of ours, nothing is replaced or removed
					assert.Contains(t, string(r.Content), c)
				}
			}
		}
		require.NoError(t, os.WriteFile(path, r.Content, 0o600))
		again, err := Plan(Options{Client: client.Name, ConfigPath: path, Executable: exe, Platform: p})
		require.NoError(t, err)
		assert.Equal(t, string(r.Content), string(again.Content), "a second install changes nothing")
	})
}

// comments yields the comments of a parsed file.
func comments(v hujson.Value) func(func(string) bool) {
	return func(yield func(string) bool) {
		for x := range v.All() {
			extras := []hujson.Extra{x.BeforeExtra, x.AfterExtra}
			switch c := x.Value.(type) {
			case *hujson.Object:
				extras = append(extras, c.AfterExtra)
			case *hujson.Array:
				extras = append(extras, c.AfterExtra)
			}
			for _, extra := range extras {
				for _, c := range regexp.MustCompile(`//[^\n]*|/\*(?s:.*?)\*/`).FindAllString(string(extra), -1) {
					if !yield(c) {
						return
					}
				}
			}
		}
	}
}
