package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"

	"aipaint-mcp/config"
)

// The container image: the linux binaries dist builds, as a team server.
const (
	imageUID  = 65532 // distroless' nonroot
	imageUser = "nonroot"
	imagePort = "8000" // Huawei Cloud AgentArts' custom runtimes serve /mcp on 8000
	imageData = "/data"
)

// imageTargets are the platforms of the image, as the index lists them.
var imageTargets = []target{{"linux", "amd64"}, {"linux", "arm64"}}

// imageCmd is the image's default command: streamable HTTP (/mcp) and SSE
// (/sse) on every address. It refuses to start without AIPAINT_HTTP_TOKEN or
// AIPAINT_HTTP_TOKENS_FILE, as any non-loopback server does.
var imageCmd = []string{"serve", "--transport", "http,sse", "--addr", "0.0.0.0:" + imagePort}

// imageFile is the name of the OCI image layout, written as a tar.
func imageFile(rel release) string { return fmt.Sprintf("aipaint-mcp_%s_oci.tar", rel.Version) }

// imageRef is where the release's image is pushed, with its tag.
func imageRef(rel release) string { return rel.Image + ":" + rel.Version }

// image writes the OCI image layout of the linux binaries.
func (b *builder) image() error {
	bins := map[string][]byte{}
	for _, t := range imageTargets {
		bins[t.String()] = b.bins[t.String()]
	}
	data, err := ociArchive(b.rel, bins, filepath.Join(b.work, "oci"))
	if err != nil {
		return fmt.Errorf("%s: %w", imageFile(b.rel), err)
	}
	return b.write(imageFile(b.rel), data)
}

// ociArchive builds the image index of bins (by target) as an OCI image
// layout in the empty folder work, and returns that layout as a tar.
func ociArchive(rel release, bins map[string][]byte, work string) ([]byte, error) {
	idx, err := imageIndex(rel, bins)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(work); err != nil {
		return nil, err
	}
	p, err := layout.Write(work, empty.Index)
	if err != nil {
		return nil, err
	}
	// One entry, the multi-platform index: `skopeo copy oci-archive:FILE:VERSION`,
	// `podman load`, containerd's import (its own name annotation) and crane
	// all find it.
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": rel.Version,
		"io.containerd.image.name":          imageRef(rel),
	})); err != nil {
		return nil, err
	}
	var files []file
	err = filepath.WalkDir(work, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		name, err := filepath.Rel(work, path)
		if err != nil {
			return err
		}
		files = append(files, file{Name: filepath.ToSlash(name), Data: data, Mode: 0o644})
		return nil
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tarFiles(&buf, "", files, rel.CommitTime); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// imageLabels are the labels of every image and the annotations of the
// index. The MCP Registry checks the server's name on the image it is given.
func imageLabels(rel release) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "aipaint-mcp",
		"org.opencontainers.image.description": shortDescription,
		"org.opencontainers.image.source":      rel.Repository,
		"org.opencontainers.image.url":         rel.Repository,
		"org.opencontainers.image.version":     rel.Version,
		"org.opencontainers.image.revision":    rel.Revision,
		"org.opencontainers.image.created":     rel.CommitTime.Format(time.RFC3339),
		"io.modelcontextprotocol.server.name":  rel.RegistryName,
	}
}

// imageIndex is the multi-platform index of one image per target.
func imageIndex(rel release, bins map[string][]byte) (v1.ImageIndex, error) {
	ca, err := caBundle()
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, t := range imageTargets {
		bin := bins[t.String()]
		if len(bin) == 0 {
			return nil, fmt.Errorf("no %s binary", t)
		}
		img, err := platformImage(rel, t, bin, ca)
		if err != nil {
			return nil, fmt.Errorf("%s image: %w", t, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: t.GOOS, Architecture: t.GOARCH}},
		})
	}
	return mutate.Annotations(idx, imageLabels(rel)).(v1.ImageIndex), nil
}

// platformImage is one platform's image: one layer, its config as a
// runtime reads it.
func platformImage(rel release, t target, bin, ca []byte) (v1.Image, error) {
	raw, err := rootfsLayer(bin, ca, rel.CommitTime)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: rel.CommitTime}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: t.GOARCH,
		OS:           t.GOOS,
		Created:      created,
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: []string{"/aipaint-mcp"},
			Cmd:        imageCmd,
			Env: []string{
				config.DataDir + "=" + imageData,
				config.OutputDir + "=" + imageData + "/images",
			},
			User:         fmt.Sprintf("%d:%d", imageUID, imageUID),
			WorkingDir:   imageData,
			ExposedPorts: map[string]struct{}{imagePort + "/tcp": {}},
			Labels:       imageLabels(rel),
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   created,
			CreatedBy: "go run ./dist",
			Comment:   "aipaint-mcp " + rel.Version + ", a static binary, its user and the CA bundle",
		},
	})
}

// rootfsLayer is the image's only layer, gzipped: the binary, a user and a
// group 65532 (no shell anywhere), the CA bundle, /data owned by that user,
// and /tmp. Sorted, one fixed time, so its digest depends on its inputs alone.
func rootfsLayer(bin, ca []byte, mtime time.Time) ([]byte, error) {
	mtime = mtime.UTC().Truncate(time.Second)
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:%s:/sbin/nologin\n", imageUser, imageUID, imageUID, imageUser, imageData)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", imageUser, imageUID)
	type entry struct {
		name string
		mode int64
		uid  int
		data []byte // nil for a folder
	}
	entries := []entry{ // in the tar's order: sorted, each folder before its contents
		{name: "aipaint-mcp", mode: 0o755, data: bin},
		{name: strings.TrimPrefix(imageData, "/") + "/", mode: 0o755, uid: imageUID},
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "tmp/", mode: 0o1777},
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.ModTime = mtime
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: mtime, Format: tar.FormatUSTAR,
			Typeflag: tar.TypeReg, Size: int64(len(e.data)),
		}
		if e.data == nil {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// caBundle is Mozilla's roots (NSS, as golang.org/x/crypto/x509roots
// carries them, pinned in go.sum) as PEM, in the bundle's order: not the
// build machine's /etc, so every build writes the same file. Roots NSS
// trusts only for certificates issued before a date are left out: a PEM
// file cannot say so, and a client reading it would trust them for all.
func caBundle() ([]byte, error) {
	var buf bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
	}
	if buf.Len() == 0 {
		return nil, fmt.Errorf("the CA bundle is empty")
	}
	return buf.Bytes(), nil
}
