package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// binPath is the server binary that TestMain builds in workDir.
var binPath, workDir string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "aipaint-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cannot build the server: no go command on PATH:", err)
		return 1
	}
	root, err := filepath.Abs("..") // the module root: go test runs in the package folder
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: module root:", err)
		return 1
	}
	workDir = dir
	binPath = filepath.Join(dir, "aipaint-mcp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goBin, "build", "-o", binPath, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAILED to build the server (go build -o %s . in %s): %v\n%s\n", binPath, root, err, out)
		return 1
	}
	code := m.Run()
	if testing.Verbose() {
		var runs []string
		negotiated.Range(func(k, v any) bool {
			runs = append(runs, fmt.Sprintf("%v=%v", k, v))
			return true
		})
		sort.Strings(runs)
		fmt.Printf("e2e: negotiated protocol versions (run=version): %s\n", strings.Join(runs, " "))
	}
	return code
}
