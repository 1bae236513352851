// Package hosts runs the MCP hosts our users run — Gemini CLI, Qwen Code,
// Claude Code and Codex CLI, pinned in package.json — against the built
// aipaint-mcp binary, each in a scratch HOME with dummy API keys and its model
// endpoint on a closed loopback port, so nothing of the machine's own config
// is read or written and nothing leaves the machine.
//
// Needs node and `npm ci` in this folder (.ci/run does both); without them
// the tests skip, saying how to install, and with CI=true they fail.
//
//	(cd e2e/hosts && npm ci) && go test ./e2e/hosts
//
// package-lock.json carries five platform packages of @teddyzhu/clipboard (a
// Qwen Code optional dependency) by hand, with their os/cpu, because the
// registry this was locked against lacks them and npm ci refuses a lock
// without them; npm skips them on other platforms.
package hosts

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// binPath is the aipaint-mcp binary TestMain builds once per run.
var binPath string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "aipaint-hosts-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hosts: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("../..") // the module root: go test runs in the package folder
	if err != nil {
		fmt.Fprintln(os.Stderr, "hosts: module root:", err)
		return 1
	}
	binPath = filepath.Join(dir, "aipaint-mcp")
	if runtime.GOOS == "windows" {
		binPath += ".exe"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", binPath, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "hosts: FAILED to build the server (go build -o %s . in %s): %v\n%s\n", binPath, root, err, out)
		return 1
	}
	return m.Run()
}

// hostCLI is one host's command-line client, installed by `npm ci` here.
type hostCLI struct {
	Package string // npm package, as pinned in package.json
	Version string // the pinned version
	Bin     string // absolute path of its launcher in node_modules/.bin
}

// cliPackages maps each launcher name to its npm package.
var cliPackages = map[string]string{
	"gemini": "@google/gemini-cli",
	"qwen":   "@qwen-code/qwen-code",
	"claude": "@anthropic-ai/claude-code",
	"codex":  "@openai/codex",
}

// need skips the test when something it needs is missing, or fails it on CI.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("host test cannot run: %s (CI=true: .ci/run installs it)", what)
	}
	t.Skipf("host test skipped: %s; install with: (cd e2e/hosts && npm ci) (CI=true makes this a failure)", what)
}

// locate finds the pinned CLI whose launcher is name (gemini, qwen, claude,
// codex), skipping (or, on CI, failing) when it is not installed.
func locate(t *testing.T, name string) hostCLI {
	t.Helper()
	pkg, ok := cliPackages[name]
	if !ok {
		t.Fatalf("no host CLI called %q (known: gemini, qwen, claude, codex)", name)
	}
	_, err := exec.LookPath("node")
	need(t, err == nil, "node is not on PATH")
	var manifest struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	raw, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatalf("package.json: %v", err)
	}
	want := manifest.DevDependencies[pkg]
	if want == "" {
		t.Fatalf("package.json pins no %s", pkg)
	}
	var installed struct {
		Version string `json:"version"`
	}
	raw, err = os.ReadFile(filepath.Join("node_modules", filepath.FromSlash(pkg), "package.json"))
	need(t, err == nil, "node_modules/"+pkg+" is missing")
	if err := json.Unmarshal(raw, &installed); err != nil {
		t.Fatalf("node_modules/%s/package.json: %v", pkg, err)
	}
	need(t, installed.Version == want, fmt.Sprintf("node_modules has %s %s, package.json pins %s", pkg, installed.Version, want))
	bin, err := filepath.Abs(filepath.Join("node_modules", ".bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "windows" {
		bin += ".cmd"
	}
	_, err = os.Stat(bin)
	need(t, err == nil, "node_modules/.bin/"+name+" is missing")
	return hostCLI{Package: pkg, Version: want, Bin: bin}
}

// scratchHome returns a fresh home folder and the environment that makes
// every host use it (HOME, USERPROFILE, the XDG folders, APPDATA), with dummy
// API keys and every model endpoint on a loopback port nobody listens on.
// Only PATH (for node) is taken from the test's own environment.
func scratchHome(t *testing.T) (home string, env []string) {
	t.Helper()
	home = t.TempDir()
	dead := closedPort(t)
	env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"USERPROFILE=" + home,
		"APPDATA=" + filepath.Join(home, "AppData", "Roaming"),
		"LOCALAPPDATA=" + filepath.Join(home, "AppData", "Local"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"TMPDIR=" + os.TempDir(),
		"TERM=dumb",
		"NO_COLOR=1",
		"CI=true", // the CLIs' own non-interactive mode
		// Dummy keys; every model endpoint is a closed port on loopback.
		"GEMINI_API_KEY=dummy-gemini-key",
		"GOOGLE_GEMINI_BASE_URL=" + dead,
		"ANTHROPIC_API_KEY=dummy-anthropic-key",
		"ANTHROPIC_BASE_URL=" + dead,
		"OPENAI_API_KEY=dummy-openai-key",
		"OPENAI_BASE_URL=" + dead + "/v1",
		// No telemetry, update checks or other traffic.
		"DISABLE_TELEMETRY=1",
		"DISABLE_AUTOUPDATER=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"GEMINI_TELEMETRY_ENABLED=false",
		"NO_UPDATE_NOTIFIER=1",
		"npm_config_update_notifier=false",
	}
	return home, env
}

// closedPort returns an http URL on loopback where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// TestPinnedCLIsRun checks that each pinned CLI is the version package.json
// names and starts on this machine's node in a scratch home.
func TestPinnedCLIsRun(t *testing.T) {
	for name := range cliPackages {
		t.Run(name, func(t *testing.T) {
			c := locate(t, name)
			_, env := scratchHome(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, c.Bin, "--version")
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s --version: %v\n%s", name, err, out)
			}
			if !strings.Contains(string(out), c.Version) {
				t.Fatalf("%s --version printed %q, want the pinned %s", name, out, c.Version)
			}
		})
	}
}
