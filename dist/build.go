package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// target is one platform with Go's names.
type target struct{ GOOS, GOARCH string }

// targets are the platforms built, with Go's names.
var targets = []target{
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"linux", "amd64"}, {"linux", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

func (t target) String() string { return t.GOOS + "_" + t.GOARCH }

func (t target) exe() string {
	if t.GOOS == "windows" {
		return "aipaint-mcp.exe"
	}
	return "aipaint-mcp"
}

// node names the platform as Node's process.platform and process.arch do.
func (t target) node() (platform, arch string) {
	platform, arch = t.GOOS, t.GOARCH
	if platform == "windows" {
		platform = "win32"
	}
	if arch == "amd64" {
		arch = "x64"
	}
	return platform, arch
}

// docs are the files from the repository root that go beside the binary.
var docs = []string{"README.md", "README.zh-CN.md", "mcp.json.example"}

// build writes every artifact into out and returns their names.
func build(root, out string, rel release) ([]string, error) {
	work := filepath.Join(out, ".work") // compiled binaries, removed at the end
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	bins := map[string][]byte{}
	for _, t := range targets {
		fmt.Fprintf(os.Stderr, "dist: go build %s\n", t)
		b, err := compile(root, work, t, rel)
		if err != nil {
			return nil, err
		}
		bins[t.String()] = b
	}
	universal, err := fatMachO([][]byte{bins["darwin_amd64"], bins["darwin_arm64"]})
	if err != nil {
		return nil, fmt.Errorf("macOS universal binary: %w", err)
	}
	bins["darwin_universal"] = universal

	docFiles := make([]file, 0, len(docs))
	for _, name := range docs {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return nil, err
		}
		docFiles = append(docFiles, file{Name: name, Data: b, Mode: 0o644})
	}

	var written []string
	write := func(name string, data []byte) error {
		p := filepath.Join(out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		written = append(written, name)
		return os.WriteFile(p, data, 0o644)
	}

	// Archives.
	archiveKeys := []string{"darwin_universal"}
	for _, t := range targets {
		archiveKeys = append(archiveKeys, t.String())
	}
	for _, key := range archiveKeys {
		exe := "aipaint-mcp"
		if strings.HasPrefix(key, "windows_") {
			exe += ".exe"
		}
		base := fmt.Sprintf("aipaint-mcp_%s_%s", rel.Version, key)
		files := append([]file{{Name: exe, Data: bins[key], Mode: 0o755}}, docFiles...)
		var data []byte
		var name string
		if strings.HasPrefix(key, "windows_") {
			name = base + ".zip"
			data, err = zipFiles(base+"/", files, rel.CommitTime)
		} else {
			name = base + ".tar.gz"
			data, err = tarGz(base+"/", files, rel.CommitTime)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := write(name, data); err != nil {
			return nil, err
		}
	}

	// The Claude Desktop bundle.
	icon, err := drawIcon()
	if err != nil {
		return nil, err
	}
	manifest, err := mcpbManifest(rel)
	if err != nil {
		return nil, err
	}
	bundle, err := zipFiles("", []file{
		{Name: "manifest.json", Data: manifest, Mode: 0o644},
		{Name: "icon.png", Data: icon, Mode: 0o644},
		{Name: "server/" + bundleLinux, Data: bins["linux_amd64"], Mode: 0o755},
		{Name: "server/" + bundleDarwin, Data: bins["darwin_universal"], Mode: 0o755},
		{Name: "server/" + bundleWindows, Data: bins["windows_amd64"], Mode: 0o755},
	}, rel.CommitTime)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	bundleName := bundleFile(rel)
	if err := write(bundleName, bundle); err != nil {
		return nil, err
	}

	// npm: the folders (to look at, or to publish from) and the tarballs.
	readme := docFiles[0].Data
	for _, p := range npmPackages(rel, bins, readme) {
		for _, f := range p.Files {
			dst := filepath.Join(out, "npm", p.Name, filepath.FromSlash(f.Name))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(dst, f.Data, f.Mode); err != nil {
				return nil, err
			}
		}
		tgz, err := tarGz("package/", p.Files, rel.CommitTime)
		if err != nil {
			return nil, err
		}
		if err := write("npm/"+p.tarball(), tgz); err != nil {
			return nil, err
		}
	}

	// The registry entry, with the bundle's hash.
	sum := sha256.Sum256(bundle)
	serverJSON, err := registryEntry(rel, hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, err
	}
	if err := write("server.json", serverJSON); err != nil {
		return nil, err
	}

	checksums, err := checksumFile(out, written)
	if err != nil {
		return nil, err
	}
	if err := write("checksums.txt", checksums); err != nil {
		return nil, err
	}
	return written, nil
}

// compile builds one release binary: no cgo, no local paths, no build time,
// no VCS stamp from the tree, so its bytes depend on the commit alone.
func compile(root, work string, t target, rel release) ([]byte, error) {
	dst := filepath.Join(work, t.String(), t.exe())
	version := rel.Version
	if rel.Dirty {
		version += "-dirty"
	}
	ldflags := strings.Join([]string{
		"-s", "-w", "-buildid=",
		"-X", "main.version=" + version,
		"-X", "main.commit=" + rel.Commit,
		"-X", "main.commitDate=" + rel.CommitTime.Format("2006-01-02T15:04:05Z07:00"),
	}, " ")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", dst, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.GOOS, "GOARCH="+t.GOARCH,
		"GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=-mod=readonly")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s: %w", t, err)
	}
	return os.ReadFile(dst)
}

// checksumFile is sha256sum's format, sorted by name.
func checksumFile(dir string, names []string) ([]byte, error) {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	var b strings.Builder
	for _, name := range sorted {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	return []byte(b.String()), nil
}
