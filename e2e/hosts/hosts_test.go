// The headless sessions: the real command-line hosts (Gemini CLI, Qwen Code,
// Claude Code, Codex CLI, pinned in package.json here) headless against the
// built server over stdio with --sandbox, each with a stub model server on
// loopback that speaks that host's model API. The stub asks for
// generate_image, then records the tool result the host hands back to its
// model: the test checks that the model got the task and its pictures.
//
// Each session runs in a scratch HOME with a dummy key, so nothing of the
// machine's own configuration is read or written. The hosts' MCP
// configuration is written here by hand. Without the hosts (npm ci in this
// folder) the tests skip; with CI=true they fail.

package hosts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sessionTimeout bounds one headless session, start to end.
const sessionTimeout = 3 * time.Minute

// prompt is what the user asks each host.
const prompt = "Draw a panda in a bamboo forest with the aipaint generate_image tool."

// drawText is the text the stub model puts in its generate_image call.
const drawText = "竹林里的熊猫"

// cli finds a host's pinned command (see locate).
func cli(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("headless host sessions: not in -short")
	}
	return locate(t, name).Bin
}

// recorder keeps what the host handed its model as the tool's result, and
// the arguments the model's call had.
type recorder struct {
	mu     sync.Mutex
	result string // the tool result as the model's API request carried it
	notes  []string
	done   chan struct{}
	once   sync.Once
}

func newRecorder() *recorder { return &recorder{done: make(chan struct{})} }

func (r *recorder) record(result string) {
	r.mu.Lock()
	if r.result == "" {
		r.result = result
	}
	r.mu.Unlock()
	r.once.Do(func() { close(r.done) })
}

// note keeps a line about a model request, shown when a session fails.
func (r *recorder) note(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, a...))
}

func (r *recorder) got() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.result
}

// serveModel starts a stub model API on loopback.
func serveModel(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// scratch is a session's folders, the host's environment (scratchHome's)
// and the server's.
type scratch struct {
	home, work string
	env        []string
	serverEnv  map[string]string
}

func newScratch(t *testing.T) scratch {
	t.Helper()
	var s scratch
	s.home, s.env = scratchHome(t)
	root := t.TempDir()
	s.work = filepath.Join(root, "work")
	if err := os.MkdirAll(s.work, 0o755); err != nil {
		t.Fatal(err)
	}
	s.serverEnv = map[string]string{
		"AIPAINT_DATA_DIR":      filepath.Join(root, "data"),
		"AIPAINT_OUTPUT_DIR":    filepath.Join(root, "pictures"),
		"AIPAINT_SANDBOX_DELAY": "200ms",
	}
	return s
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// run starts a host headless and waits until the stub has recorded the
// tool result and the host has ended, or the session's time is up.
func run(t *testing.T, s scratch, rec *recorder, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	cmd := exec.Command(name, args...)
	cmd.Dir = s.work
	cmd.Env = append(append([]string{}, s.env...), env...) // later entries win
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	kill := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	defer kill() // the host and its server, whatever they left
	select {
	case err := <-exited:
		if rec.got() == "" {
			t.Fatalf("%s ended (%v) before handing its model a tool result; model requests:\n%s\noutput:\n%s", filepath.Base(name), err, rec.log(), tail(out.String()))
		}
		t.Logf("%s ended: %v", filepath.Base(name), err)
	case <-rec.done:
		// The host may still report to its model; give it a little time
		// to end on its own, then stop it.
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
		case <-ctx.Done():
		}
	case <-ctx.Done():
		kill()
		<-exited
		t.Fatalf("%s: no tool result reached the model within %s; model requests:\n%s\noutput:\n%s", filepath.Base(name), sessionTimeout, rec.log(), tail(out.String()))
	}
}

func (r *recorder) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.notes, "\n")
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// sandboxPicture is a sandbox picture's URL; its path names the task.
var sandboxPicture = regexp.MustCompile(`http://127\.0\.0\.1:\d+/images/([A-Za-z0-9_-]+)/1\.png`)

// checkResult: the model got the task, its picture's URL, and word that it
// is a sandbox stand-in; not an argument error.
func checkResult(t *testing.T, got string) {
	t.Helper()
	t.Logf("tool result handed to the model (%d bytes): %s", len(got), trim(got, 600))
	for _, bad := range []string{"unknown argument", "参数有误"} {
		if strings.Contains(got, bad) {
			t.Fatalf("the call was refused: %s", trim(got, 600))
		}
	}
	m := sandboxPicture.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("no picture URL in the tool result")
	}
	task := m[1]
	if strings.Count(got, task) < 2 {
		t.Errorf("the task id %s appears only in the picture URL, not as the task", task)
	}
	if !strings.Contains(strings.ToLower(got), "sandbox") {
		t.Errorf("the model is not told the picture is a sandbox stand-in")
	}
	if !strings.Contains(got, "task_id") {
		t.Errorf("no task_id in the tool result")
	}
	// The readable text (or, where the host drops it, the structured
	// summary) says what was billed.
	if !strings.Contains(got, "Billed by this call: 1") {
		t.Errorf("the model is not told what was billed")
	}
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func serverArgs() []string { return []string{"--sandbox"} }

// readJSON reads a JSON request body, or answers 400.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// newSession makes a session's folders, its recorder and its stub model
// (returning the model's URL).
func newSession(t *testing.T, model func(*recorder) http.Handler) (scratch, *recorder, string) {
	t.Helper()
	rec := newRecorder()
	return newScratch(t), rec, serveModel(t, model(rec))
}

// sse writes one server-sent event (named when event is not "").
func sse(w http.ResponseWriter, event string, data any) {
	b, _ := json.Marshal(data)
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	fmt.Fprintf(w, "data: %s\n\n", b)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func sseHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
}

// The call ids the stub model gives its calls.
const (
	drawID   = "call_draw"
	searchID = "call_search"
)

// move is the stub model's answer: a text, or a call of one tool.
type move struct {
	text     string // when call is ""
	call, id string
	args     map[string]any
}

// next decides the stub model's move from what the host sent: the tools
// it declared, the results it returned by call id, and the name of its
// tool-search tool ("" for none: hosts that defer MCP tools make the model
// load them by searching). The result of our call is recorded.
func (r *recorder) next(api string, names []string, results map[string]string, search string) move {
	r.note("%s: tools %v, %d results", api, names, len(results))
	tool := toolNamed(names)
	switch {
	case results[drawID] != "":
		r.record(results[drawID])
		return move{text: "Here is your panda."}
	case tool != "":
		return move{call: tool, id: drawID, args: map[string]any{"text": drawText}}
	case search != "" && contains(names, search) && results[searchID] == "":
		return move{call: search, id: searchID, args: map[string]any{"query": "generate_image"}}
	}
	return move{text: "ok"} // the host's own side requests
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// toolNamed finds the host's name for our generate_image among the tool
// names it declared to the model (hosts prefix MCP tools).
func toolNamed(names []string) string {
	for _, n := range names {
		if strings.HasSuffix(n, "generate_image") {
			return n
		}
	}
	return ""
}
