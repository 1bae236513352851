package hosts

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The install tests: `aipaint-mcp install --client X` into a scratch home,
// then the host's own check of its MCP servers (`mcp list`, or Codex's
// app-server mcpServerStatus/list) must report the server connected: over
// stdio to the sandbox, and over streamable HTTP to a running server that
// requires a token the host reads from an environment variable. A wrong
// token must make the same check fail.

// lister is how one host reports whether its configured server connected.
type lister struct {
	client string // install --client
	cli    string // launcher in node_modules/.bin
}

var listers = []lister{
	{"gemini-cli", "gemini"},
	{"qwen-code", "qwen"},
	{"claude-code", "claude"},
	{"codex", "codex"},
}

const tokenVar = "AIPAINT_TEAM_TOKEN" // what install --token-env names

// runInstall runs the built binary's install in the scratch environment.
func runInstall(t *testing.T, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, append([]string{"install"}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aipaint-mcp install %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// prepare runs the test in parallel with the others, finds the host's CLI,
// and runs install --client for it with args in a fresh scratch home, which
// the host trusts.
func (l lister) prepare(t *testing.T, args ...string) (hostCLI, string, []string) {
	t.Helper()
	t.Parallel()
	c := locate(t, l.cli)
	home, env := scratchHome(t)
	trust(t, home)
	runInstall(t, env, append([]string{"--client", l.client}, args...)...)
	return c, home, env
}

// trust marks the scratch home, where the hosts run, as a trusted folder:
// Gemini CLI disables every MCP server in a folder it does not trust.
func trust(t *testing.T, home string) {
	t.Helper()
	dir := filepath.Join(home, ".gemini")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{home: "TRUST_FOLDER"})
	if err := os.WriteFile(filepath.Join(dir, "trustedFolders.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// connected asks the host whether the aipaint server connected, and returns
// its answer and what it printed (for the failure message).
func (l lister) connected(t *testing.T, c hostCLI, home string, env []string) (bool, string) {
	t.Helper()
	if l.cli == "codex" {
		return codexConnected(t, c, home, env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin, "mcp", "list")
	cmd.Dir = home
	cmd.Env = env
	raw, err := cmd.CombinedOutput()
	out := ansi.ReplaceAllString(string(raw), "")
	if ctx.Err() != nil {
		t.Fatalf("%s mcp list did not finish: %v\n%s", l.cli, err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "aipaint:") {
			return strings.Contains(line, "Connected") && !strings.Contains(line, "Disconnected"), out
		}
	}
	t.Fatalf("%s mcp list does not list aipaint (exit: %v):\n%s", l.cli, err, out)
	return false, ""
}

// codexConnected asks `codex app-server` (JSON-RPC over stdio) for
// mcpServerStatus/list: a connected server has its serverInfo and tools.
func codexConnected(t *testing.T, c hostCLI, home string, env []string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin, "app-server")
	cmd.Dir = home
	cmd.Env = append(env, "CODEX_HOME="+filepath.Join(home, ".codex"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	send := func(v any) {
		b, _ := json.Marshal(v)
		if _, err := stdin.Write(append(b, '\n')); err != nil {
			t.Fatalf("codex app-server: %v\n%s", err, stderr.String())
		}
	}
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 16<<20)
	reply := func(id int) json.RawMessage {
		for lines.Scan() {
			var m struct {
				ID     *int            `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if json.Unmarshal(lines.Bytes(), &m) == nil && m.ID != nil && *m.ID == id {
				if m.Error != nil {
					t.Fatalf("codex app-server request %d: %s", id, m.Error)
				}
				return m.Result
			}
		}
		t.Fatalf("codex app-server ended before answering request %d: %v\n%s", id, lines.Err(), stderr.String())
		return nil
	}
	send(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{"clientInfo": map[string]string{"name": "aipaint-hosts-test", "version": "1"}}})
	reply(1)
	send(map[string]any{"jsonrpc": "2.0", "method": "initialized"})
	send(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "mcpServerStatus/list", "params": map[string]any{}})
	raw := reply(2)
	var status struct {
		Data []struct {
			Name       string                     `json:"name"`
			ServerInfo *struct{ Name string }     `json:"serverInfo"`
			Tools      map[string]json.RawMessage `json:"tools"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &status); err != nil {
		t.Fatalf("mcpServerStatus/list: %v\n%s", err, raw)
	}
	for _, s := range status.Data {
		if s.Name == "aipaint" {
			_, hasTool := s.Tools["generate_image"]
			return s.ServerInfo != nil && s.ServerInfo.Name == "aipaint-mcp" && hasTool, string(raw)
		}
	}
	t.Fatalf("codex mcpServerStatus/list does not list aipaint:\n%s", raw)
	return false, ""
}

func TestInstallStdioConnects(t *testing.T) {
	for _, l := range listers {
		t.Run(l.client, func(t *testing.T) {
			c, home, env := l.prepare(t, "--sandbox")
			if ok, out := l.connected(t, c, home, env); !ok {
				t.Fatalf("%s does not report aipaint connected over stdio:\n%s", l.cli, out)
			}
		})
	}
}

func TestInstallRemoteConnectsWithTheToken(t *testing.T) {
	const token = "team-token-for-the-hosts-test"
	url := startTeamServer(t, token)
	for _, l := range listers {
		t.Run(l.client, func(t *testing.T) {
			c, home, env := l.prepare(t, "--url", url, "--token-env", tokenVar)
			raw, err := os.ReadFile(configFile(home, l.client))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(raw), token) {
				t.Fatalf("the file holds the token itself, not a reference to $%s", tokenVar)
			}
			if ok, out := l.connected(t, c, home, append(env, tokenVar+"="+token)); !ok {
				t.Fatalf("%s does not report aipaint connected over streamable HTTP with the token:\n%s", l.cli, out)
			}
			if ok, out := l.connected(t, c, home, append(env, tokenVar+"=not-the-token")); ok {
				t.Fatalf("%s reports aipaint connected with a wrong token: the check proves nothing:\n%s", l.cli, out)
			}
		})
	}
}

// configFile is where install writes for the host, in a scratch home.
func configFile(home, client string) string {
	switch client {
	case "gemini-cli":
		return filepath.Join(home, ".gemini", "settings.json")
	case "qwen-code":
		return filepath.Join(home, ".qwen", "settings.json")
	case "claude-code":
		return filepath.Join(home, ".claude.json")
	}
	return filepath.Join(home, ".codex", "config.toml")
}

var servingAt = regexp.MustCompile(`msg="serving MCP" transport=http addr=(\S+)`)

// startTeamServer runs the binary as a team server on the sandbox, over
// streamable HTTP on a loopback port, requiring token; it returns its /mcp URL.
func startTeamServer(t *testing.T, token string) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binPath, "serve", "--transport", "http", "--addr", "127.0.0.1:0", "--sandbox")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"AIPAINT_HTTP_TOKEN=" + token,
		"AIPAINT_DATA_DIR=" + filepath.Join(dir, "data"), "AIPAINT_OUTPUT_DIR=" + filepath.Join(dir, "out"),
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	found := make(chan string, 1)
	var log strings.Builder
	go func() {
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			if !strings.Contains(lines.Text(), token) {
				log.WriteString(lines.Text() + "\n")
			}
			if m := servingAt.FindStringSubmatch(lines.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case addr := <-found:
		return fmt.Sprintf("http://%s/mcp", addr)
	case <-timer.C:
		t.Fatalf("the team server did not start within a minute:\n%s", log.String())
	}
	return ""
}
