package install

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func TestNewFileForEveryClient(t *testing.T) {
	for _, c := range Clients {
		t.Run(c.Name, func(t *testing.T) {
			home, p := newHome(t)
			r := install(t, Options{Client: c.Name, Platform: p})
			assert.True(t, strings.HasPrefix(r.Path, home), r.Path)
			assert.True(t, r.Created)
			assert.True(t, r.NewFolder, "a fresh home has no client folders")
			assert.Empty(t, r.Backup, "nothing to back up")
			e := entry(t, readJSON(t, r.Path), c.key)
			assert.Equal(t, exe, e["command"], "the absolute path, spaces and Chinese intact")
			envBlock := e["env"].(map[string]any)
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
	r := install(t, Options{Client: "vscode", ConfigPath: path, Platform: p})
	assert.True(t, r.Comments)
	m := readJSON(t, path)
	assert.Contains(t, m["servers"].(map[string]any), "github")
	inputs := m["inputs"].([]any)
	require.Len(t, inputs, 2)
	assert.Equal(t, "GitHub // token", inputs[0].(map[string]any)["description"], "// inside a string is not a comment")
	assert.Equal(t, map[string]any{"type": "promptString", "id": "aipaint-app-secret",
		"description": "AI绘画 AIPAINT_APP_SECRET (aipaint-mcp)", "password": true}, inputs[1])

	// Installing again replaces our input instead of adding a second one.
	install(t, Options{Client: "vscode", ConfigPath: path, Platform: p})
	assert.Len(t, readJSON(t, path)["inputs"].([]any), 2)
}

func TestWithEnv(t *testing.T) {
	const secret = "s3cret-from-the-shell"
	vars := map[string]string{
		"AIPAINT_APP_KEY": "key-abcdef", "AIPAINT_APP_SECRET": secret,
		"AIPAINT_SUBMIT_URL": "https://api.example.com/ai/paint/submit", "AIPAINT_QUERY_URL": "https://api.example.com/ai/paint/query",
		"AIPAINT_OUTPUT_DIR": "/Users/me/Pictures/AI 绘画", "OTHER": "not copied", "AIPAINT_HTTP_TOKEN": "http-only",
	}
	p := Platform{GOOS: runtime.GOOS, Getenv: env(vars)}

	path := filepath.Join(t.TempDir(), "claude.json")
	r := install(t, Options{Client: "claude-desktop", ConfigPath: path, WithEnv: true, Platform: p})
	e := entry(t, readJSON(t, path), "mcpServers")["env"].(map[string]any)
	assert.Equal(t, secret, e["AIPAINT_APP_SECRET"], "Claude Desktop has no prompt: the value goes in the file")
	assert.Equal(t, "/Users/me/Pictures/AI 绘画", e["AIPAINT_OUTPUT_DIR"])
	assert.NotContains(t, e, "OTHER")
	assert.NotContains(t, e, "AIPAINT_HTTP_TOKEN", "stdio entries need no HTTP settings")
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

func TestStripJSONC(t *testing.T) {
	in := "{\"a\": \"x // y /* z */\", // c\n \"b\": [1, 2,], /* multi\nline */ \"c\": \"\\\"//\",}"
	out, had := stripJSONC([]byte(in))
	assert.True(t, had)
	var m map[string]any
	require.NoError(t, json.Unmarshal(out, &m), string(out))
	assert.Equal(t, map[string]any{"a": "x // y /* z */", "b": []any{1.0, 2.0}, "c": "\"//"}, m)
	assert.Equal(t, strings.Count(in, "\n"), strings.Count(string(out), "\n"), "line numbers kept for error messages")
	_, had = stripJSONC([]byte(`{"url": "https://x/y"}`))
	assert.False(t, had)
}
