package main

import (
	"aipaint-mcp/internal/syncbuf"
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/config"
)

// untar unpacks a tar as a runtime unpacks a layer: folders and regular
// files only, with their modes and (as root) their owners.
func untar(t *testing.T, r io.Reader, dir string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		require.NoError(t, err)
		require.False(t, strings.Contains(h.Name, ".."), "entry %q leaves the folder", h.Name)
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			require.NoError(t, os.MkdirAll(p, 0o755))
		case tar.TypeReg:
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			require.NoError(t, err)
			_, err = io.Copy(f, tr)
			require.NoError(t, errors.Join(err, f.Close()))
		default:
			t.Fatalf("entry %q: type %q, want only folders and regular files", h.Name, h.Typeflag)
		}
		if os.Geteuid() == 0 {
			require.NoError(t, os.Lchown(p, h.Uid, h.Gid))
		}
		require.NoError(t, os.Chmod(p, h.FileInfo().Mode()))
	}
}

// readLayout unpacks an OCI image layout tar, checks that every blob is what
// its name says, and returns the multi-platform index it names.
func readLayout(t *testing.T, archive []byte, rel release) v1.ImageIndex {
	t.Helper()
	dir := t.TempDir()
	untar(t, bytes.NewReader(archive), dir)
	blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	require.NoError(t, err)
	for _, b := range blobs {
		data, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", b.Name()))
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		assert.Equal(t, b.Name(), hex.EncodeToString(sum[:]), "blob content matches its name")
	}
	top, err := layout.ImageIndexFromPath(dir)
	require.NoError(t, err)
	m, err := top.IndexManifest()
	require.NoError(t, err)
	require.Len(t, m.Manifests, 1, "index.json names one thing: the multi-platform index")
	d := m.Manifests[0]
	assert.Equal(t, rel.Version, d.Annotations["org.opencontainers.image.ref.name"])
	assert.Equal(t, imageRef(rel), d.Annotations["io.containerd.image.name"])
	idx, err := top.ImageIndex(d.Digest)
	require.NoError(t, err)
	return idx
}

// platformImages returns the index's images by platform, checking the
// index's own annotations.
func platformImages(t *testing.T, idx v1.ImageIndex, rel release) map[string]v1.Image {
	t.Helper()
	m, err := idx.IndexManifest()
	require.NoError(t, err)
	assert.Equal(t, rel.RegistryName, m.Annotations["io.modelcontextprotocol.server.name"])
	images := map[string]v1.Image{}
	for _, d := range m.Manifests {
		require.NotNil(t, d.Platform)
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		images[d.Platform.OS+"/"+d.Platform.Architecture] = img
	}
	require.Len(t, images, 2)
	require.Contains(t, images, "linux/amd64")
	require.Contains(t, images, "linux/arm64")
	return images
}

// checkConfig checks what a runtime reads from an image's config.
func checkConfig(t *testing.T, img v1.Image, rel release, arch string) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	c := cf.Config
	assert.Equal(t, "linux", cf.OS)
	assert.Equal(t, arch, cf.Architecture)
	assert.True(t, cf.Created.Time.Equal(rel.CommitTime), "created = the commit's time: %v", cf.Created)
	assert.Equal(t, []string{"/aipaint-mcp"}, c.Entrypoint)
	assert.Equal(t, []string{"serve", "--transport", "http,sse", "--addr", "0.0.0.0:8000"}, c.Cmd)
	assert.Equal(t, "65532:65532", c.User)
	assert.Contains(t, c.Env, "AIPAINT_DATA_DIR=/data")
	assert.Contains(t, c.ExposedPorts, "8000/tcp")
	assert.Equal(t, map[string]string{
		"org.opencontainers.image.title":       "aipaint-mcp",
		"org.opencontainers.image.description": shortDescription,
		"org.opencontainers.image.source":      rel.Repository,
		"org.opencontainers.image.url":         rel.Repository,
		"org.opencontainers.image.version":     rel.Version,
		"org.opencontainers.image.revision":    rel.Revision,
		"org.opencontainers.image.created":     rel.CommitTime.Format(time.RFC3339),
		"io.modelcontextprotocol.server.name":  rel.RegistryName,
	}, c.Labels)
	for _, kv := range c.Env {
		name, _, _ := strings.Cut(kv, "=")
		assert.NotEqual(t, config.HTTPToken, name, "no token baked into the image")
	}
	return cf
}

// unpackRoot unpacks an image's layers into a new folder, as a runtime does.
func unpackRoot(t *testing.T, img v1.Image) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	require.NoError(t, os.Mkdir(root, 0o755))
	rc := mutate.Extract(img)
	defer rc.Close()
	untar(t, rc, root)
	return root
}

// checkRoot checks the unpacked file system: the binary for machine, the
// user, no shell, the CA bundle, /data for the user.
func checkRoot(t *testing.T, root string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(filepath.Join(root, "aipaint-mcp"))
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, machine, f.Machine)
	assert.Equal(t, elf.ET_EXEC, f.Type)
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary: no dynamic loader in the image")
	}
	fi, err := os.Stat(filepath.Join(root, "aipaint-mcp"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o755), fi.Mode().Perm())

	for _, sh := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
		assert.NoFileExists(t, filepath.Join(root, sh))
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	require.NoError(t, err)
	assert.Contains(t, string(passwd), "\nnonroot:x:65532:65532:")
	group, err := os.ReadFile(filepath.Join(root, "etc", "group"))
	require.NoError(t, err)
	assert.Contains(t, string(group), "\nnonroot:x:65532:")

	pemData, err := os.ReadFile(filepath.Join(root, "etc", "ssl", "certs", "ca-certificates.crt"))
	require.NoError(t, err)
	n := 0
	for rest := pemData; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			assert.Empty(t, bytes.TrimSpace(rest), "nothing but certificates")
			break
		}
		_, err := x509.ParseCertificate(blk.Bytes)
		require.NoError(t, err)
		n++
	}
	assert.Greater(t, n, 100, "Mozilla's roots")

	fi, err = os.Stat(filepath.Join(root, "data"))
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	if os.Geteuid() == 0 { // owners are kept only when unpacked as root
		st := fi.Sys().(*syscall.Stat_t)
		assert.Equal(t, uint32(65532), st.Uid, "/data belongs to the image's user")
		assert.Equal(t, uint32(65532), st.Gid)
	}
}

// TestImageLayout checks the layout from stand-in binaries: reproducible,
// the config and file system a runtime reads, the registry's entry naming it.
func TestImageLayout(t *testing.T) {
	rel := testRelease(t)
	bins := map[string][]byte{"linux_amd64": []byte("amd64 binary"), "linux_arm64": []byte("arm64 binary")}
	a, err := ociArchive(rel, bins, filepath.Join(t.TempDir(), "a"))
	require.NoError(t, err)
	b, err := ociArchive(rel, bins, filepath.Join(t.TempDir(), "elsewhere", "b"))
	require.NoError(t, err)
	assert.Equal(t, a, b, "the same inputs in another folder: the same bytes")
	later := rel
	later.CommitTime = rel.CommitTime.Add(time.Second)
	c, err := ociArchive(later, bins, filepath.Join(t.TempDir(), "c"))
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "the commit's time is in the image")
	_, err = ociArchive(rel, map[string][]byte{"linux_amd64": []byte("x")}, filepath.Join(t.TempDir(), "d"))
	assert.ErrorContains(t, err, "no linux_arm64 binary")

	tr := tar.NewReader(bytes.NewReader(a))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		assert.True(t, h.ModTime.Equal(rel.CommitTime), h.Name)
	}

	images := platformImages(t, readLayout(t, a, rel), rel)
	for platform, img := range images {
		_, arch, _ := strings.Cut(platform, "/")
		checkConfig(t, img, rel, arch)
		m, err := img.Manifest()
		require.NoError(t, err)
		require.Len(t, m.Layers, 1)
		assert.Equal(t, "application/vnd.oci.image.layer.v1.tar+gzip", string(m.Layers[0].MediaType))
		root := unpackRoot(t, img)
		got, err := os.ReadFile(filepath.Join(root, "aipaint-mcp"))
		require.NoError(t, err)
		assert.Equal(t, arch+" binary", string(got))
		tmp, err := os.Stat(filepath.Join(root, "tmp"))
		require.NoError(t, err)
		assert.Equal(t, fs.ModeDir|fs.ModeSticky|0o777, tmp.Mode())
	}

	// server.json names this image, with its version in the tag.
	raw, err := registryEntry(rel, strings.Repeat("0f", 32))
	require.NoError(t, err)
	var sj struct {
		Packages []struct {
			RegistryType string `json:"registryType"`
			Identifier   string `json:"identifier"`
			Transport    struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			} `json:"transport"`
			Env []struct {
				Name       string `json:"name"`
				IsRequired bool   `json:"isRequired"`
				IsSecret   bool   `json:"isSecret"`
			} `json:"environmentVariables"`
		} `json:"packages"`
	}
	require.NoError(t, json.Unmarshal(raw, &sj))
	var found bool
	for _, p := range sj.Packages {
		if p.RegistryType != "oci" {
			continue
		}
		found = true
		assert.Equal(t, "ghcr.io/aipaint-mcp/aipaint-mcp:"+rel.Version, p.Identifier)
		assert.Equal(t, "streamable-http", p.Transport.Type)
		assert.Equal(t, "http://localhost:8000/mcp", p.Transport.URL)
		env := map[string][2]bool{}
		for _, e := range p.Env {
			env[e.Name] = [2]bool{e.IsRequired, e.IsSecret}
		}
		assert.Equal(t, [2]bool{true, true}, env[config.HTTPToken], "the token: required and secret")
		assert.NotContains(t, env, config.OutputDir, "the image saves under /data")
		assert.Equal(t, [2]bool{false, true}, env[config.AppSecret])
	}
	assert.True(t, found, "server.json has an oci package")
}

// need skips the test when something it needs is missing, or fails it on CI.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot run: %s (CI=true: .ci/run runs the tests as root, with util-linux and coreutils)", what)
	}
	t.Skipf("skipped: %s (run as root with unshare and chroot; CI=true makes this a failure)", what)
}

// container is the image's process, started as a runtime starts it.
type container struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan struct{}
	err    error // after done
}

// runImage starts root's entrypoint and command as cf says, as its user, in
// a chroot and a PID namespace of its own, with cf's environment and extra.
func runImage(t *testing.T, root string, cf *v1.ConfigFile, extra ...string) *container {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	require.NoError(t, err)
	chroot, err := exec.LookPath("chroot")
	require.NoError(t, err)
	args := append([]string{"--fork", "--pid", "--mount-proc", chroot, "--userspec=" + cf.Config.User, root}, cf.Config.Entrypoint...)
	args = append(args, cf.Config.Cmd...)
	c := &container{cmd: exec.Command(unshare, args...), stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	c.cmd.Env = append(append([]string(nil), cf.Config.Env...), extra...)
	c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
	require.NoError(t, c.cmd.Start())
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.signal(t, syscall.SIGKILL) // the namespace's first process: the rest go with it
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("the image's process wrote:\n%s", c.stderr.String())
		}
	})
	return c
}

// signal sends sig to the server: unshare's child, which chroot became.
func (c *container) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	pid := c.cmd.Process.Pid
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	if err != nil {
		t.Logf("children of unshare: %v", err)
		return
	}
	for _, f := range strings.Fields(string(raw)) {
		child, err := strconv.Atoi(f)
		require.NoError(t, err)
		require.NoError(t, syscall.Kill(child, sig))
	}
}

func (c *container) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(within):
		t.Fatalf("the image's process did not exit within %s", within)
		return nil
	}
}

// bearer adds the token to every request.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// TestOnlyDistLinksTheImageLibraries: the server binary never carries the
// OCI library or the CA bundle it is built with.
func TestOnlyDistLinksTheImageLibraries(t *testing.T) {
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go command lists the packages")
	list := func(pkg string) []string {
		out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
		require.NoError(t, err, "go list -deps %s", pkg)
		return strings.Fields(string(out))
	}
	banned := []string{"github.com/google/go-containerregistry/", "golang.org/x/crypto/x509roots/"}
	linked := func(deps []string, prefix string) bool {
		return slices.ContainsFunc(deps, func(d string) bool { return strings.HasPrefix(d, prefix) })
	}
	dist, server := list("aipaint-mcp/dist"), list("aipaint-mcp")
	for _, prefix := range banned {
		assert.True(t, linked(dist, prefix), "dist links %s (else this test checks nothing)", prefix)
		assert.False(t, linked(server, prefix), "the server binary links %s", prefix)
	}
}

// TestImageRunsAsItsConfigSays builds the linux binaries and the image from
// them, unpacks each platform as a runtime would, and starts the amd64 one
// as its config says (no argument added) as uid 65532 in a chroot: /healthz
// on port 8000, SSE on it, a sandbox generate_image over streamable HTTP with
// the token, the image saved under /data. Without a token it refuses to start.
func TestImageRunsAsItsConfigSays(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two release binaries")
	}
	rel := testRelease(t)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	work := t.TempDir()
	bins := map[string][]byte{}
	for _, tg := range imageTargets {
		bin, err := compile(root, work, tg, rel)
		require.NoError(t, err)
		bins[tg.String()] = bin
	}
	archive, err := ociArchive(rel, bins, filepath.Join(work, "oci"))
	require.NoError(t, err)
	t.Logf("%s: %d bytes", imageFile(rel), len(archive))
	images := platformImages(t, readLayout(t, archive, rel), rel)

	armRoot := unpackRoot(t, images["linux/arm64"])
	checkConfig(t, images["linux/arm64"], rel, "arm64")
	checkRoot(t, armRoot, elf.EM_AARCH64)

	cf := checkConfig(t, images["linux/amd64"], rel, "amd64")
	amdRoot := unpackRoot(t, images["linux/amd64"])
	checkRoot(t, amdRoot, elf.EM_X86_64)

	_, errUnshare := exec.LookPath("unshare")
	_, errChroot := exec.LookPath("chroot")
	need(t, os.Geteuid() == 0, "not root (unshare and chroot --userspec need it)")
	need(t, errUnshare == nil && errChroot == nil, "unshare or chroot is not installed")

	t.Run("refuses_without_a_token", func(t *testing.T) {
		c := runImage(t, amdRoot, cf, "AIPAINT_SANDBOX=1")
		err := c.wait(t, 20*time.Second)
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "it must not start: %s", c.stderr.String())
		out := c.stderr.String()
		assert.Contains(t, out, config.HTTPToken)
		assert.Contains(t, out, config.TokensFile)
		assert.Contains(t, out, "0.0.0.0:8000")
	})

	t.Run("serves_with_a_token", func(t *testing.T) {
		// The image's command listens on 8000 on every address.
		ln, err := net.Listen("tcp", "0.0.0.0:8000")
		if err != nil {
			t.Fatalf("port 8000 is taken (%v): the image's command listens on it; stop what holds it and run again", err)
		}
		require.NoError(t, ln.Close())

		const token = "image-test-token-0123456789"
		c := runImage(t, amdRoot, cf, "AIPAINT_SANDBOX=1", "AIPAINT_SANDBOX_DELAY=0s", config.HTTPToken+"="+token)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		base := http.DefaultTransport.(*http.Transport).Clone()
		base.Proxy = nil // loopback only
		plain := &http.Client{Transport: base, Timeout: 5 * time.Second}
		defer plain.CloseIdleConnections()
		healthy := false
		for deadline := time.Now().Add(20 * time.Second); !healthy && time.Now().Before(deadline); {
			select {
			case <-c.done:
				t.Fatalf("exited before answering /healthz: %v\n%s", c.err, c.stderr.String())
			case <-time.After(100 * time.Millisecond):
			}
			resp, err := plain.Get("http://127.0.0.1:8000/healthz")
			if err == nil {
				healthy = resp.StatusCode == http.StatusOK
				_ = resp.Body.Close()
			}
		}
		require.True(t, healthy, "/healthz on port 8000 did not answer 200 within 20 s")

		hc := &http.Client{Transport: bearer{token: token, base: base}}
		defer hc.CloseIdleConnections()
		client := mcp.NewClient(&mcp.Implementation{Name: "aipaint-image-test", Version: "0.0.1"}, nil)
		// SSE answers on the same port.
		sse, err := client.Connect(ctx, &mcp.SSEClientTransport{Endpoint: "http://127.0.0.1:8000/sse", HTTPClient: hc}, nil)
		require.NoError(t, err)
		styles, err := sse.CallTool(ctx, &mcp.CallToolParams{Name: "list_styles", Arguments: map[string]any{}})
		require.NoError(t, err)
		assert.False(t, styles.IsError)
		require.NoError(t, sse.Close())

		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://127.0.0.1:8000/mcp", HTTPClient: hc}, nil)
		require.NoError(t, err)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "generate_image", Arguments: map[string]any{"text": "容器里的熊猫", "wait_seconds": 20}})
		require.NoError(t, err)
		raw, err := json.Marshal(res.StructuredContent)
		require.NoError(t, err)
		require.False(t, res.IsError, "generate_image: %s", raw)
		var r struct {
			Status string `json:"status"`
			Images []struct {
				URL string `json:"url"`
			} `json:"images"`
			Sandbox bool `json:"sandbox"`
		}
		require.NoError(t, json.Unmarshal(raw, &r))
		assert.Equal(t, "done", r.Status, "%s", raw)
		assert.Len(t, r.Images, 1)
		assert.True(t, r.Sandbox)
		require.NoError(t, cs.Close())

		// The server wrote its store and the picture under /data, as uid 65532.
		var pngs []string
		require.NoError(t, filepath.WalkDir(filepath.Join(amdRoot, "data"), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if st := mustStat(t, p); st.Uid != 65532 {
				t.Errorf("%s belongs to uid %d, want 65532", p, st.Uid)
			}
			if strings.HasSuffix(p, ".png") {
				pngs = append(pngs, p)
			}
			return nil
		}))
		assert.Len(t, pngs, 1, "the picture is saved under /data/images")

		c.signal(t, syscall.SIGTERM)
		assert.NoError(t, c.wait(t, 30*time.Second), "exit after SIGTERM")
		assert.NotContains(t, c.stderr.String(), token, "the token never reaches the log")
	})
}

func mustStat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	require.NoError(t, err)
	return fi.Sys().(*syscall.Stat_t)
}
