package main

import (
	"bytes"
	"encoding/json"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/people"
	"aipaint-mcp/store"
)

func runMain(args []string, env map[string]string) (int, string, string) {
	// Never the user's own folders: a data and an output folder per run.
	dir, err := os.MkdirTemp("", "aipaint-main-")
	if err != nil {
		return -1, "", err.Error()
	}
	defer os.RemoveAll(dir)
	defaults := map[string]string{"AIPAINT_DATA_DIR": filepath.Join(dir, "data"), "AIPAINT_OUTPUT_DIR": filepath.Join(dir, "out")}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return defaults[k]
	}
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut, getenv)
	return code, out.String(), errOut.String()
}

func TestHelpListsEverySettingWithoutValues(t *testing.T) {
	env := map[string]string{"AIPAINT_APP_SECRET": "s3cr3t-value-xyz"}
	for _, args := range [][]string{{"--help"}, {"help"}, {"generate", "--help"}, {"serve", "-h"}} {
		code, out, errOut := runMain(args, env)
		assert.Equal(t, 0, code, args)
		assert.Contains(t, out, "AIPAINT_APP_SECRET", "asked-for help goes to stdout")
		assert.Contains(t, out, "--sandbox")
		assert.NotContains(t, out+errOut, "s3cr3t-value-xyz")
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runMain([]string{"--version"}, nil)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "aipaint-mcp", "asked-for output goes to stdout")
	code, out, _ = runMain([]string{"version"}, nil)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "aipaint-mcp")
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"paint"}, nil, 2, `unknown command "paint"`},
		{[]string{"generate", "--sandbox"}, nil, 2, "generate needs the text"},
		{[]string{"--transport", "carrier-pigeon"}, nil, 2, "want stdio, sse, http or http,sse"},
		{[]string{"--bogus"}, nil, 2, "flag provided but not defined"},
		{[]string{"styles", "extra"}, nil, 2, "takes no arguments"},
		{[]string{"--transport", "http", "--addr", "0.0.0.0:0"}, nil, 1, "AIPAINT_HTTP_TOKEN"},
		{[]string{"--transport", "sse", "--addr", ":0"}, nil, 1, "AIPAINT_HTTP_TOKEN"},
		{[]string{"styles"}, map[string]string{"AIPAINT_MAX_WAIT_SECONDS": "lots-secret"}, 0, ""},
		{[]string{}, map[string]string{"AIPAINT_MAX_WAIT_SECONDS": "lots-secret"}, 0, "AIPAINT_MAX_WAIT_SECONDS"}, // serves, and says what to fix
		{[]string{"generate", "猫"}, map[string]string{"AIPAINT_MAX_WAIT_SECONDS": "lots-secret"}, 1, "AIPAINT_MAX_WAIT_SECONDS"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runMain(tc.args, tc.env)
			assert.Equal(t, tc.code, code, errOut)
			assert.Contains(t, errOut, tc.want)
			assert.NotContains(t, out+errOut, "lots-secret", "errors name settings, never values")
		})
	}
}

func TestStylesCommand(t *testing.T) {
	code, out, _ := runMain([]string{"styles"}, nil)
	assert.Equal(t, 0, code)
	for _, w := range []string{"赛博朋克", "cyberpunk", "low poly", "1024*1536", "portrait"} {
		assert.Contains(t, out, w)
	}
}

func TestGenerateOnSandbox(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"AIPAINT_SANDBOX_DELAY": "100ms"}
	code, out, errOut := runMain([]string{"generate", "--style", "水彩画", "--num", "2", "--out", dir, "--sandbox", "雨后", "西湖"}, env)
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "style: 水彩画")
	assert.Equal(t, 2, strings.Count(out, "saved: "+filepath.Join(dir, time.Now().Format(time.DateOnly), "sbx")), out)
	assert.Contains(t, errOut, "submitting")
}

func TestGenerateRejectsBadArgumentsBeforeSubmitting(t *testing.T) {
	code, _, errOut := runMain([]string{"generate", "--sandbox", "--num", "9", "猫"}, nil)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "num must be between 1 and 6")
}

func TestGenerateTimeoutKeepsTheTaskID(t *testing.T) {
	code, _, errOut := runMain([]string{"generate", "--sandbox", "--timeout", "3s", "猫"}, map[string]string{"AIPAINT_SANDBOX_DELAY": "1h"})
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "was submitted")
	assert.Regexp(t, `task_id sbx[0-9a-f]+`, errOut)
	assert.LessOrEqual(t, strings.Count(errOut, "still drawing"), 2, "no tight polling loop near the deadline")
}

func TestDoctorOnSandbox(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"AIPAINT_OUTPUT_DIR": filepath.Join(dir, "图片 out"), "AIPAINT_DATA_DIR": filepath.Join(dir, "data dir")}
	code, out, errOut := runMain([]string{"doctor", "--sandbox"}, env)
	assert.Equal(t, 0, code, out+errOut)
	assert.Contains(t, out, "✓ 认证 Authentication")
	assert.Contains(t, out, "All checks passed")
}

func TestDoctorNamesTheMissingSettings(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"AIPAINT_APP_SECRET": "lots-secret", "AIPAINT_OUTPUT_DIR": dir, "AIPAINT_DATA_DIR": dir}
	code, out, errOut := runMain([]string{"doctor"}, env)
	assert.Equal(t, 1, code, "something is wrong: non-zero exit")
	for _, want := range []string{"✗", "set AIPAINT_APP_KEY", "set AIPAINT_SUBMIT_URL", "set AIPAINT_QUERY_URL"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out+errOut, "lots-secret")
}

// An AIPAINT_STORE_URL the server cannot use (here an sslmode pgx rejects)
// makes generate_image and check_task refuse, so doctor must fail too, not
// skip the team database and report all checks passed.
func TestDoctorFailsOnAStoreURLTheServerCannotUse(t *testing.T) {
	env := map[string]string{"AIPAINT_STORE_URL": "postgres://team:pw-secret-123@127.0.0.1:1/aipaint?sslmode=bogus"}
	code, out, errOut := runMain([]string{"doctor"}, env)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "✗ 团队数据库 Team database")
	assert.Contains(t, out, "sslmode")
	assert.NotContains(t, out+errOut, "pw-secret-123")
}

// TestUsageLinesListEveryFlag: the usage line of each command names every
// flag its --help lists (but -version, shown once for all).
func TestUsageLinesListEveryFlag(t *testing.T) {
	for _, cmd := range []string{"serve", "generate", "doctor", "usage", "install"} {
		t.Run(cmd, func(t *testing.T) {
			code, out, errOut := runMain([]string{cmd, "--help"}, nil)
			require.Equal(t, 0, code, errOut)
			var line string
			for _, l := range strings.Split(usage, "\n") {
				if strings.HasPrefix(l, "  aipaint-mcp "+cmd) || cmd == "serve" && strings.HasPrefix(l, "  aipaint-mcp [serve]") {
					line = l
				}
			}
			require.NotEmpty(t, line, "no usage line for %s", cmd)
			_, flags, ok := strings.Cut(out, "Flags of "+cmd+":")
			require.True(t, ok, out)
			for _, f := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(flags, -1) {
				if f[1] != "version" {
					assert.Contains(t, line, "--"+f[1], "the usage line of %s", cmd)
				}
			}
		})
	}
}

func TestInstallCommand(t *testing.T) {
	fakeExe := func() (string, error) { return "/opt/AI 绘画/aipaint-mcp", nil }
	path := filepath.Join(t.TempDir(), "客户端 config", "mcp.json")
	env := map[string]string{"AIPAINT_APP_KEY": "key-1234567", "AIPAINT_APP_SECRET": "lots-secret"}
	getenv := func(k string) string { return env[k] }

	var out, errOut bytes.Buffer
	install := &InstallCommand{process: process{stdout: &out, stderr: &errOut, getenv: getenv}, executable: fakeExe}
	err := install.Run(t.Context(), []string{"--client", "cursor", "--config", path, "--with-env", "--print"})
	require.NoError(t, err)
	assert.Contains(t, out.String(), `"command": "/opt/AI 绘画/aipaint-mcp"`)
	assert.NotContains(t, out.String()+errOut.String(), "lots-secret", "--print hides secrets")
	assert.NoFileExists(t, path, "--print writes nothing")

	out.Reset()
	require.NoError(t, install.Run(t.Context(), []string{"--client", "cursor", "--config", path, "--with-env"}))
	assert.Contains(t, out.String(), "restart Cursor")
	assert.NotContains(t, out.String()+errOut.String(), "lots-secret")
	assert.FileExists(t, path)

	// Cherry Studio's link holds the copied secret: --open would show it on
	// the opener's command line to every user of the machine.
	out.Reset()
	err = install.Run(t.Context(), []string{"--client", "cherry-studio", "--with-env", "--open"})
	require.ErrorContains(t, err, "holds a secret")
	err = install.Run(t.Context(), []string{"--client", "cherry-studio", "--sandbox", "--open", "--print"})
	require.NoError(t, err, "--print opens nothing")

	err = install.Run(t.Context(), []string{"--config", path})
	assert.ErrorIs(t, err, errUsage)
	assert.Contains(t, errOut.String(), "install needs --client")

	code, _, stderr := runMain([]string{"install", "--client", "cursor", "--print"}, map[string]string{"HOME": t.TempDir()})
	assert.Equal(t, 1, code, "a go test binary is a temporary go-build binary: refused")
	assert.Contains(t, stderr, "go build -o aipaint-mcp .")
}

func TestInstallNPX(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp.json")
	code, out, stderr := runMain([]string{"install", "--client", "cursor", "--npx", "--config", path}, map[string]string{"HOME": t.TempDir()})
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "restart Cursor")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	want := `"command": "npx"`
	if runtime.GOOS == "windows" {
		want = `"command": "cmd"`
	}
	assert.Contains(t, string(b), want, "even from go test's temporary binary: its path is not written")
	assert.NotContains(t, string(b), "go-build")
	_, help, _ := runMain([]string{"install", "--help"}, nil)
	assert.Contains(t, help, "--npx")
}

// The tokens file on the command line's side: both token settings stop an
// HTTP server (naming both, quoting neither); a malformed file stops it
// naming the line; the file counts as a token for a non-loopback address;
// stdio reads neither setting.
func TestServeTokensFile(t *testing.T) {
	dir := t.TempDir()
	const secret = "team-SECRET-token-4d1e"
	bad := filepath.Join(dir, "bad-tokens")
	require.NoError(t, os.WriteFile(bad, []byte("# team\nalice "+secret+"\nbob "+secret+"x 5 # five\n"), 0o600))
	good := filepath.Join(dir, "tokens")
	require.NoError(t, os.WriteFile(good, []byte("alice "+secret+"\n"), 0o600))

	cases := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want []string
	}{
		{"both settings, http", []string{"--transport", "http", "--addr", "127.0.0.1:0"},
			map[string]string{"AIPAINT_HTTP_TOKEN": secret, "AIPAINT_HTTP_TOKENS_FILE": good}, 1,
			[]string{"both AIPAINT_HTTP_TOKEN and AIPAINT_HTTP_TOKENS_FILE are set"}},
		{"both settings, sse", []string{"--transport", "sse", "--addr", "127.0.0.1:0"},
			map[string]string{"AIPAINT_HTTP_TOKEN": secret, "AIPAINT_HTTP_TOKENS_FILE": good}, 1,
			[]string{"AIPAINT_HTTP_TOKEN", "AIPAINT_HTTP_TOKENS_FILE"}},
		{"malformed file", []string{"--transport", "http", "--addr", "127.0.0.1:0"},
			map[string]string{"AIPAINT_HTTP_TOKENS_FILE": bad}, 1,
			[]string{"AIPAINT_HTTP_TOKENS_FILE: " + bad + ": line 3: too many fields"}},
		{"missing file", []string{"--transport", "sse", "--addr", "127.0.0.1:0"},
			map[string]string{"AIPAINT_HTTP_TOKENS_FILE": filepath.Join(dir, "none")}, 1,
			[]string{"AIPAINT_HTTP_TOKENS_FILE", "no such file"}},
		// Past the rule that a non-loopback address needs a token (the file
		// is one) to the file itself, which stops it before it listens.
		{"the file is a token for a non-loopback address", []string{"--transport", "http", "--addr", "0.0.0.0:0"},
			map[string]string{"AIPAINT_HTTP_TOKENS_FILE": bad}, 1,
			[]string{"line 3:"}},
		{"stdio reads neither", nil,
			map[string]string{"AIPAINT_HTTP_TOKEN": secret, "AIPAINT_HTTP_TOKENS_FILE": bad}, 0, nil},
		// Sign-in: refused combinations and settings stop an HTTP server.
		{"sign-in and the shared token", []string{"--transport", "http", "--addr", "127.0.0.1:0"},
			map[string]string{"AIPAINT_HTTP_TOKEN": secret, "AIPAINT_OAUTH_ISSUER": "https://sso.example", "AIPAINT_PUBLIC_URL": "https://paint.example"}, 1,
			[]string{"both AIPAINT_HTTP_TOKEN and AIPAINT_OAUTH_ISSUER are set", "AIPAINT_HTTP_TOKENS_FILE"}},
		{"sign-in without a public URL", []string{"--transport", "sse", "--addr", "127.0.0.1:0"},
			map[string]string{"AIPAINT_OAUTH_ISSUER": "https://sso.example"}, 1,
			[]string{"AIPAINT_PUBLIC_URL is not"}},
		{"invalid issuer", []string{"--transport", "http", "--addr", "0.0.0.0:0"},
			map[string]string{"AIPAINT_OAUTH_ISSUER": "https://sso.example/?" + secret, "AIPAINT_PUBLIC_URL": "https://paint.example"}, 1,
			[]string{"AIPAINT_OAUTH_ISSUER must be"}},
		{"plain http issuer beyond loopback", []string{"--transport", "http", "--addr", "0.0.0.0:0"},
			map[string]string{"AIPAINT_OAUTH_ISSUER": "http://sso.example", "AIPAINT_PUBLIC_URL": "https://paint.example"}, 1,
			[]string{"AIPAINT_OAUTH_ISSUER is not https://"}},
		{"stdio reads no sign-in setting", nil,
			map[string]string{"AIPAINT_HTTP_TOKEN": secret, "AIPAINT_OAUTH_ISSUER": "not a url"}, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runMain(tc.args, tc.env)
			assert.Equal(t, tc.code, code, errOut)
			for _, w := range tc.want {
				assert.Contains(t, errOut, w)
			}
			assert.NotContains(t, errOut, "refusing to listen")
			assert.NotContains(t, out+errOut, secret[5:], "never a token")
		})
	}
}

func TestUsageCommandCountsEachPerson(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Open(dir)
	require.NoError(t, err)
	spend := func(name string, num int, id string) {
		p := store.Policy{Person: people.Person{Name: name}}
		res, err := st.Reserve(t.Context(), client.Request{Text: id, Num: num}, p)
		require.NoError(t, err)
		_, err = st.Commit(t.Context(), res, store.Record{TaskID: id})
		require.NoError(t, err)
	}
	spend("alice", 2, "a1")
	spend("alice", 3, "a2")
	spend("bob", 1, "b1")
	require.NoError(t, st.Close())
	tokens := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte("alice 0123456789abcdef0123 4\nbob fedcba9876543210fedc\n"), 0o600))

	code, out, errOut := runMain([]string{"usage"}, map[string]string{
		"AIPAINT_DATA_DIR": dir, "AIPAINT_HTTP_TOKENS_FILE": tokens, "AIPAINT_DAILY_IMAGE_LIMIT": "50"})
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Equal(t, []string{"alice", "5", "5", "4"}, strings.Fields(lines[1]))
	assert.Equal(t, []string{"bob", "1", "1", "-"}, strings.Fields(lines[2]))
	assert.Equal(t, []string{"TOTAL", "6", "6", "50"}, strings.Fields(lines[3]))
	assert.NotContains(t, out+errOut, "0123456789abcdef0123", "tokens never printed")

	code, out, errOut = runMain([]string{"usage"}, map[string]string{
		"AIPAINT_DATA_DIR": dir, "AIPAINT_HTTP_TOKENS_FILE": tokens, "AIPAINT_DAILY_IMAGE_LIMIT": "0"})
	require.Equal(t, 0, code, errOut)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Equal(t, []string{"TOTAL", "6", "6", "-"}, strings.Fields(lines[3]), "0 is no team limit")
}

// People who sign in are listed by their names (an email is longer than
// the column was), with the tokens file's limit or AIPAINT_OAUTH_DEFAULT_LIMIT.
func TestUsageCommandSignedInPeople(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Open(dir)
	require.NoError(t, err)
	for i, name := range []string{"ann.longname-for-the-column@corp.example", "sub-0b5e", "bob"} {
		res, err := st.Reserve(t.Context(), client.Request{Text: name, Num: i + 1}, store.Policy{Person: people.Person{Name: name}})
		require.NoError(t, err)
		_, err = st.Commit(t.Context(), res, store.Record{TaskID: strconv.Itoa(i)})
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())
	tokens := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte("ann.longname-for-the-column@corp.example - 4\nbob fedcba9876543210fedc\n"), 0o600))
	env := map[string]string{"AIPAINT_DATA_DIR": dir, "AIPAINT_HTTP_TOKENS_FILE": tokens,
		"AIPAINT_OAUTH_ISSUER": "https://sso.example", "AIPAINT_PUBLIC_URL": "https://paint.example", "AIPAINT_OAUTH_DEFAULT_LIMIT": "3"}
	code, out, errOut := runMain([]string{"usage"}, env)
	require.Equal(t, 0, code, errOut)
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(line)
		rows[f[0]] = f[1:]
	}
	assert.Equal(t, []string{"1", "1", "4"}, rows["ann.longname-for-the-column@corp.example"], out)
	assert.Equal(t, []string{"2", "2", "3"}, rows["sub-0b5e"], "not in the file: the default limit\n%s", out)
	assert.Equal(t, []string{"3", "3", "-"}, rows["bob"], "in the file without a limit\n%s", out)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for _, l := range lines {
		assert.Equal(t, len(lines[0]), len(l), "columns out of line:\n%s", out)
	}
}

// A stdio server whose metrics port is taken (a second client started it
// with the same settings) still serves its client, and says why there are
// no metrics; an HTTP server refuses to start instead.
func TestStdioServesWithItsMetricsPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	env := map[string]string{"AIPAINT_METRICS_ADDR": ln.Addr().String()}
	code, out, errOut := runMain(nil, env)
	assert.Equal(t, 0, code, errOut)
	assert.Empty(t, out, "stdout is the protocol")
	assert.Contains(t, errOut, "metrics not served")
	assert.Contains(t, errOut, "AIPAINT_METRICS_ADDR")

	code, _, errOut = runMain([]string{"--transport", "http", "--addr", "127.0.0.1:0"}, env)
	assert.Equal(t, 1, code, errOut)
	assert.Contains(t, errOut, "AIPAINT_METRICS_ADDR")
}

// With AIPAINT_LOG_FORMAT=json every line on stderr is a JSON object, the
// reason a server refuses to start included.
func TestServeJSONLogsItsEnd(t *testing.T) {
	code, _, errOut := runMain([]string{"--transport", "http,sse", "--addr", "0.0.0.0:0"}, map[string]string{"AIPAINT_LOG_FORMAT": "json"})
	assert.Equal(t, 1, code)
	lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
	require.NotEmpty(t, lines)
	for _, l := range lines {
		var rec map[string]any
		assert.NoError(t, json.Unmarshal([]byte(l), &rec), "not a JSON line: %q", l)
	}
	assert.Contains(t, errOut, `"level":"ERROR"`)
	assert.Contains(t, errOut, "AIPAINT_HTTP_TOKEN")
}

// What packages write with the standard log package (mcp-go does) goes
// through the server's logger while it runs, and back to log's own output
// after.
func TestStdLogGoesThroughTheLogger(t *testing.T) {
	var buf bytes.Buffer
	before := log.Writer()
	undo := stdLogTo(slog.New(slog.NewJSONHandler(&buf, nil)))
	log.Printf("failed to marshal response: %v", "boom")
	undo()
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec), "%q", buf.String())
	assert.Equal(t, "ERROR", rec["level"])
	assert.Equal(t, "failed to marshal response: boom", rec["msg"])
	assert.Equal(t, before, log.Writer(), "restored")
}
