package e2e

import (
	"aipaint-mcp/internal/syncbuf"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"aipaint-mcp/sandbox/sandboxtest"
)

// savedWithin bounds how long a server may take to save images nobody
// asked for again: a restart's resume, or the first background retry
// (10 s after a failed download, at the default SaveRetry).
const savedWithin = 30 * time.Second

// storedTask is a task as the file store writes it.
type storedTask struct {
	TaskID string `json:"task_id"`
	Status string `json:"status"`
	Images []struct {
		URL       string `json:"url"`
		Path      string `json:"path"`
		SaveError string `json:"save_error"`
	} `json:"images"`
}

// dirsWithSpaces are a data and an output folder with spaces and Chinese
// characters, as users' folders have, and the environment that points a
// server at them and at up.
func dirsWithSpaces(t *testing.T, up *sandboxtest.Upstream) (env []string, dataDir, outDir string) {
	t.Helper()
	root := t.TempDir()
	dataDir, outDir = filepath.Join(root, "任务 data"), filepath.Join(root, "图片 out")
	return append(up.Env(), "AIPAINT_DATA_DIR="+dataDir, "AIPAINT_OUTPUT_DIR="+outDir), dataDir, outDir
}

// readTask reads a task from the store's folder the way a user would look
// at it, without asking the server.
func readTask(t *testing.T, dataDir, taskID string) (storedTask, bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dataDir, "tasks", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // being replaced right now
		}
		var st storedTask
		if json.Unmarshal(data, &st) == nil && st.TaskID == taskID {
			return st, true
		}
	}
	return storedTask{}, false
}

// filesUnder lists the regular files below dir (none when it does not exist).
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitSaved waits until the stored task has a path for every image and
// each is a file in outDir, and returns the task.
func waitSaved(t *testing.T, ctx context.Context, dataDir, outDir, taskID string, images int) storedTask {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, savedWithin)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, ok := readTask(t, dataDir, taskID)
		if ok && savedIn(st, outDir) && len(st.Images) == images {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the images of %s were not saved within %s, without any call; the task file says %+v", taskID, savedWithin, st)
		case <-tick.C:
		}
	}
}

func savedIn(st storedTask, outDir string) bool {
	for _, img := range st.Images {
		if img.Path == "" || !strings.HasPrefix(img.Path, outDir+string(filepath.Separator)) {
			return false
		}
		if fi, err := os.Stat(img.Path); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
			return false
		}
	}
	return true
}

// isImage reports a GET of the sandbox's image host (/images/{task}/{n}.png)
// and the task it is for.
func isImage(r *http.Request) (taskID string, ok bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/images/")
	if !ok || r.Method != http.MethodGet {
		return "", false
	}
	taskID, _, ok = strings.Cut(rest, "/")
	return taskID, ok
}

// TestKilledBetweenDoneAndSaved: a server is killed (SIGKILL) after it has
// recorded a task done and while it downloads the images, which the image
// host holds. Started again on the same data folder, with no tool call and
// not even an initialize, it saves the missing files by itself, without a
// second submit or query.
func TestKilledBetweenDoneAndSaved(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	held := make(chan string, 16) // the task ids of image GETs being held
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseImages := func() { releaseOnce.Do(func() { close(release) }) }
	up := sandboxtest.Start(t, sandboxtest.Delay(300*time.Millisecond), sandboxtest.Front(
		func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if id, ok := isImage(r); ok {
				select {
				case held <- id:
				default:
				}
				select {
				case <-release:
				case <-r.Context().Done(): // the downloading process was killed
					return
				}
			}
			next.ServeHTTP(w, r)
		}))
	t.Cleanup(releaseImages) // before the upstream closes: it waits for its handlers
	env, dataDir, outDir := dirsWithSpaces(t, up)

	first, _ := stdioCommand(t, false, env...)
	cs := connect(t, ctx, newClient(nil), &mcp.CommandTransport{Command: first}, nil, func(error, time.Duration) {})
	callDone := make(chan error, 1)
	go func() {
		// The call waits for the images; it never answers, its server dies.
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "generate_image", Arguments: map[string]any{"text": "下载途中被杀的熊猫", "num": 2}})
		callDone <- err
	}()

	var taskID string
	select {
	case taskID = <-held:
	case err := <-callDone:
		t.Fatalf("generate_image returned before downloading any image: %v", err)
	case <-ctx.Done():
		t.Fatal("the server never downloaded an image")
	}
	// An image is downloaded only after its task is recorded done: the
	// process is inside the window, and stays there while the host holds.
	st, ok := readTask(t, dataDir, taskID)
	if !ok || st.Status != "done" || len(st.Images) != 2 {
		t.Fatalf("while downloading, the task file of %s should say done with 2 images: %+v (found: %v)", taskID, st, ok)
	}
	for _, img := range st.Images {
		if img.Path != "" || img.URL == "" {
			t.Fatalf("while downloading, an image already has a path, or no URL: %+v", st)
		}
	}

	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-callDone:
		if err == nil {
			t.Fatal("generate_image answered although its server was killed while downloading")
		}
	case <-ctx.Done():
		t.Fatal("the call did not end when its server was killed")
	}
	if files := filesUnder(t, outDir); len(files) > 0 {
		t.Fatalf("files saved before the restart (the window was not held): %q", files)
	}
	before := up.Stats()

	releaseImages()
	second := stdioServer(false, env...)
	stdin, err := second.StdinPipe() // kept open: the server runs, nobody speaks to it
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	second.Stdout, second.Stderr = stdout, stderr
	logStderrOnFailure(t, "the restarted aipaint-mcp", stderr)
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- second.Wait() }()
	t.Cleanup(func() { stopByEOF(t, second, stdin, exited) })

	st = waitSaved(t, ctx, dataDir, outDir, taskID, 2)
	t.Logf("saved after the restart: %q", []string{st.Images[0].Path, st.Images[1].Path})
	if files := filesUnder(t, outDir); len(files) != 2 {
		t.Errorf("want the 2 images in the output folder, found %q", files)
	}
	after := up.Stats()
	if after.Submits != 1 || after.BilledImages != 2 {
		t.Errorf("upstream saw %d submits / %d billed images in all; want 1 / 2", after.Submits, after.BilledImages)
	}
	if after.Queries != before.Queries {
		t.Errorf("the restarted server queried the upstream %d times; want 0 (the task is done in the store)", after.Queries-before.Queries)
	}
	if out := stdout.String(); out != "" {
		t.Errorf("the restarted server wrote to stdout although nobody spoke to it: %q", out)
	}
}

// stopByEOF closes a stdio server's stdin, as a client that quits does, and
// checks it exits cleanly.
func stopByEOF(t *testing.T, cmd *exec.Cmd, stdin io.Closer, exited <-chan error) {
	t.Helper()
	_ = stdin.Close()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the restarted server: exit after stdin EOF: %v (want exit status 0)", err)
		}
	case <-time.After(exitTimeout):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("the restarted server did not exit within %s of stdin EOF", exitTimeout)
	}
}

// TestFailedDownloadsAreSavedInTheBackground: the image host fails (HTTP
// 502) the call's own downloads and the first background retry's; the
// images are saved later by the backoff, without any call.
func TestFailedDownloadsAreSavedInTheBackground(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Two images: the call tries both (2 failures), the background tries
	// again at once (1 more failure, 1 saved), then after the first
	// backoff (10 s) saves the other.
	const failures = 3
	var gets, failed atomic.Int64
	up := sandboxtest.Start(t, sandboxtest.Delay(300*time.Millisecond), sandboxtest.Front(
		func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			if _, ok := isImage(r); ok && gets.Add(1) <= failures {
				failed.Add(1)
				http.Error(w, "bad gateway", http.StatusBadGateway)
				return
			}
			next.ServeHTTP(w, r)
		}))
	env, dataDir, outDir := dirsWithSpaces(t, up)

	cmd, _ := stdioCommand(t, false, env...)
	cs := connect(t, ctx, newClient(nil), &mcp.CommandTransport{Command: cmd}, nil, nil)
	var r struct {
		TaskID string `json:"task_id"`
		Status string `json:"status"`
		Images []struct {
			Path      string `json:"path"`
			SaveError string `json:"save_error"`
		} `json:"images"`
	}
	res := call(t, ctx, cs, "generate_image", map[string]any{"text": "下载失败后再存的猫", "num": 2})
	mustOK(t, res)
	structured(t, res, &r)
	if r.Status != "done" || len(r.Images) != 2 {
		t.Fatalf("want a done task with 2 images, got %+v", r)
	}
	for _, img := range r.Images {
		if img.Path != "" || !strings.Contains(img.SaveError, "502") {
			t.Fatalf("the call's downloads failed with 502: want no path and the error, got %+v", r)
		}
	}

	st := waitSaved(t, ctx, dataDir, outDir, r.TaskID, 2)
	for _, img := range st.Images {
		if img.SaveError != "" {
			t.Errorf("a saved image keeps its old error: %+v", st)
		}
	}
	if files := filesUnder(t, outDir); len(files) != 2 {
		t.Errorf("want the 2 images in the output folder, found %q", files)
	}
	if n, f := gets.Load(), failed.Load(); n != failures+2 || f != failures {
		t.Errorf("the image host served %d image GETs (%d failed); want %d (%d failed): a retry fetches only the images still missing", n, f, failures+2, failures)
	}
	if s := up.Stats(); s.Submits != 1 {
		t.Errorf("upstream saw %d submits; want 1", s.Submits)
	}
}
