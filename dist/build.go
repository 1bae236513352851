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

// builder is one run of build: its inputs, and what the steps made so far.
type builder struct {
	root, out, work string
	rel             release
	bins            map[string][]byte // by target, and darwin_universal
	docs            []file
	bundleSHA256    string
	written         []string // names under out
}

// build writes every artifact into out and returns their names.
func build(root, out string, rel release) ([]string, error) {
	b := &builder{root: root, out: out, work: filepath.Join(out, ".work"), rel: rel}
	if err := os.MkdirAll(b.work, 0o755); err != nil { // compiled binaries, removed at the end
		return nil, err
	}
	defer os.RemoveAll(b.work)
	for _, step := range []func() error{
		b.binaries,
		b.readDocs,
		b.archives,
		b.image,
		b.bundle,
		b.npm,
		b.registry,
		b.checksums,
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return b.written, nil
}

// binaries compiles every target and joins the two macOS ones.
func (b *builder) binaries() error {
	b.bins = map[string][]byte{}
	for _, t := range targets {
		fmt.Fprintf(os.Stderr, "dist: go build %s\n", t)
		bin, err := compile(b.root, b.work, t, b.rel)
		if err != nil {
			return err
		}
		b.bins[t.String()] = bin
	}
	universal, err := fatMachO([][]byte{b.bins["darwin_amd64"], b.bins["darwin_arm64"]})
	if err != nil {
		return fmt.Errorf("macOS universal binary: %w", err)
	}
	b.bins["darwin_universal"] = universal
	return nil
}

// readDocs reads the files that go beside the binary; the README first.
func (b *builder) readDocs() error {
	for _, name := range docs {
		data, err := os.ReadFile(filepath.Join(b.root, name))
		if err != nil {
			return err
		}
		b.docs = append(b.docs, file{Name: name, Data: data, Mode: 0o644})
	}
	return nil
}

// write puts one artifact under out.
func (b *builder) write(name string, data []byte) error {
	p := filepath.Join(b.out, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b.written = append(b.written, name)
	return os.WriteFile(p, data, 0o644)
}

// archives writes one archive per platform, and one of the universal macOS
// binary: a .zip for Windows, a .tar.gz for the rest.
func (b *builder) archives() error {
	keys := []string{"darwin_universal"}
	for _, t := range targets {
		keys = append(keys, t.String())
	}
	for _, key := range keys {
		windows := strings.HasPrefix(key, "windows_")
		exe := "aipaint-mcp"
		if windows {
			exe += ".exe"
		}
		base := fmt.Sprintf("aipaint-mcp_%s_%s", b.rel.Version, key)
		files := append([]file{{Name: exe, Data: b.bins[key], Mode: 0o755}}, b.docs...)
		var data []byte
		var err error
		name := base + ".tar.gz"
		if windows {
			name = base + ".zip"
			data, err = zipFiles(base+"/", files, b.rel.CommitTime)
		} else {
			data, err = tarGz(base+"/", files, b.rel.CommitTime)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := b.write(name, data); err != nil {
			return err
		}
	}
	return nil
}

// bundle writes the Claude Desktop bundle and keeps its hash for the
// registry entry.
func (b *builder) bundle() error {
	icon, err := drawIcon()
	if err != nil {
		return err
	}
	manifest, err := mcpbManifest(b.rel)
	if err != nil {
		return err
	}
	bundle, err := zipFiles("", []file{
		{Name: "manifest.json", Data: manifest, Mode: 0o644},
		{Name: "icon.png", Data: icon, Mode: 0o644},
		{Name: "server/" + bundleLinux, Data: b.bins["linux_amd64"], Mode: 0o755},
		{Name: "server/" + bundleDarwin, Data: b.bins["darwin_universal"], Mode: 0o755},
		{Name: "server/" + bundleWindows, Data: b.bins["windows_amd64"], Mode: 0o755},
	}, b.rel.CommitTime)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	sum := sha256.Sum256(bundle)
	b.bundleSHA256 = hex.EncodeToString(sum[:])
	return b.write(bundleFile(b.rel), bundle)
}

// npm writes the npm packages: their folders (to look at, or to publish
// from) and their tarballs.
func (b *builder) npm() error {
	for _, p := range npmPackages(b.rel, b.bins, b.docs[0].Data) {
		for _, f := range p.Files {
			dst := filepath.Join(b.out, "npm", p.Name, filepath.FromSlash(f.Name))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(dst, f.Data, f.Mode); err != nil {
				return err
			}
		}
		tgz, err := tarGz("package/", p.Files, b.rel.CommitTime)
		if err != nil {
			return err
		}
		if err := b.write("npm/"+p.tarball(), tgz); err != nil {
			return err
		}
	}
	return nil
}

// registry writes server.json, with the bundle's hash.
func (b *builder) registry() error {
	serverJSON, err := registryEntry(b.rel, b.bundleSHA256)
	if err != nil {
		return err
	}
	return b.write("server.json", serverJSON)
}

// checksums writes checksums.txt of everything written before it.
func (b *builder) checksums() error {
	sums, err := checksumFile(b.out, b.written)
	if err != nil {
		return err
	}
	return b.write("checksums.txt", sums)
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
