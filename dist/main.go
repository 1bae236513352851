// Command dist builds the release artifacts into dist/out (or -o DIR):
// archives for every platform, a macOS universal binary, the Claude Desktop
// bundle (.mcpb), the npm packages, a container image (an OCI image layout
// as a tar) and the MCP Registry's server.json, all
// stamped from the VERSION file and byte-identical for one commit.
//
//	go run ./dist [-o DIR] [-registry-name NAME] [-repository URL] [-download-base URL] [-image REPO]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The public home of the project is not fixed yet: these placeholders are
// the only place it is written, and the flags override them.
const (
	defaultRegistryName = "io.github.aipaint-mcp/aipaint-mcp"
	defaultRepository   = "https://github.com/aipaint-mcp/aipaint-mcp"
	defaultDownloadBase = "https://github.com/aipaint-mcp/aipaint-mcp/releases/download/v{version}"
	defaultImage        = "ghcr.io/aipaint-mcp/aipaint-mcp"
)

// marker marks a folder as dist's own, so it may be emptied on the next run.
const marker = ".aipaint-dist"

// release is everything the artifacts are stamped with.
type release struct {
	Version      string    // from VERSION
	Commit       string    // short commit, with -dirty when the tree had changes
	Revision     string    // the full commit
	CommitTime   time.Time // the commit's time: every timestamp in every archive
	Dirty        bool
	RegistryName string
	Repository   string
	DownloadBase string // {version} already replaced
	Image        string // the container image's repository, without a tag
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	out := fs.String("o", "", "output folder (default dist/out under the repository)")
	registryName := fs.String("registry-name", defaultRegistryName, "name in the MCP Registry (server.json name, npm mcpName)")
	repository := fs.String("repository", defaultRepository, "repository URL")
	downloadBase := fs.String("download-base", defaultDownloadBase, "base URL of the release downloads; {version} is replaced")
	image := fs.String("image", defaultImage, "repository the container image is pushed to (tagged with the version)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	root, err := gitOut("", "rev-parse", "--show-toplevel")
	if err != nil {
		return fmt.Errorf("find the repository: %w", err)
	}
	if *out == "" {
		*out = filepath.Join(root, "dist", "out")
	}
	rel, err := readRelease(root)
	if err != nil {
		return err
	}
	rel.RegistryName = *registryName
	rel.Repository = strings.TrimSuffix(*repository, "/")
	rel.DownloadBase = strings.TrimSuffix(strings.ReplaceAll(*downloadBase, "{version}", rel.Version), "/")
	rel.Image = *image
	if rel.Dirty {
		fmt.Fprintln(os.Stderr, "dist: warning: the tree has uncommitted changes; the binaries say -dirty and are not a release")
	}
	outDir, err := prepareOut(*out)
	if err != nil {
		return err
	}
	start := time.Now()
	files, err := build(root, outDir, rel)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "dist: %s (%s) in %s, %d files, %s\n", rel.Version, rel.Commit, outDir, len(files), time.Since(start).Round(time.Second))
	return nil
}

// readRelease reads VERSION and the commit it is built from.
func readRelease(root string) (release, error) {
	raw, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		return release{}, err
	}
	v := strings.TrimSpace(string(raw))
	if !validVersion(v) {
		return release{}, fmt.Errorf("VERSION %q is not a semantic version such as 1.2.3", v)
	}
	full, err := gitOut(root, "rev-parse", "HEAD")
	if err != nil {
		return release{}, err
	}
	iso, err := gitOut(root, "log", "-1", "--format=%cI")
	if err != nil {
		return release{}, err
	}
	t, err := time.Parse(time.RFC3339, iso)
	if err != nil {
		return release{}, fmt.Errorf("commit date %q: %w", iso, err)
	}
	// Ignored files (dist/out itself) do not show in --porcelain.
	status, err := gitOut(root, "status", "--porcelain")
	if err != nil {
		return release{}, err
	}
	return release{
		Version:    v,
		Commit:     full[:7],
		Revision:   full,
		CommitTime: t.UTC(),
		Dirty:      status != "",
	}, nil
}

func validVersion(v string) bool {
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" || (len(p) > 1 && p[0] == '0') {
			return false
		}
	}
	return true
}

func gitOut(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(b)), nil
}

// prepareOut empties the output folder if dist made it, and refuses any
// other folder that is not empty: dist never deletes what it did not write.
func prepareOut(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", err
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(abs, marker)); err != nil {
			return "", fmt.Errorf("%s is not empty and was not made by dist: choose another -o", abs)
		}
		if err := os.RemoveAll(abs); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", err
	}
	return abs, os.WriteFile(filepath.Join(abs, marker), []byte("made by go run ./dist; emptied on the next run\n"), 0o644)
}
