package save

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDownload(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nfake")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(png)
		case "/octet":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(png)
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>"))
		case "/huge":
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write(bytes.Repeat([]byte{0}, MaxImageBytes+1))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "图片 out")

	path, err := Client{}.Download(ctx, srv.URL+"/ok.png", dir, "task1_1")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "task1_1.png"), path)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, png, got)

	path, err = Client{}.Download(ctx, srv.URL+"/octet", dir, "task1_2")
	require.NoError(t, err, "an image labelled octet-stream is recognised by its bytes")
	assert.Equal(t, filepath.Join(dir, "task1_2.png"), path)

	_, err = Client{}.Download(ctx, srv.URL+"/page", dir, "x")
	assert.ErrorContains(t, err, "not an image")
	_, err = Client{}.Download(ctx, srv.URL+"/huge", dir, "x")
	assert.ErrorContains(t, err, "larger than")
	_, err = Client{}.Download(ctx, srv.URL+"/missing", dir, "x")
	assert.ErrorContains(t, err, "HTTP 404")
	_, err = Client{}.Download(ctx, "file:///etc/passwd", dir, "x")
	assert.ErrorContains(t, err, "http(s)")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "failed downloads leave no partial files")

	path, err = Client{}.Download(ctx, srv.URL+"/ok.png", dir, "../../escape")
	require.NoError(t, err)
	assert.Equal(t, dir, filepath.Dir(path), "a hostile name cannot leave the folder")
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"abc_1":           "abc_1",
		"../../etc/x":     "_.._etc_x",
		"..":              "image",
		"":                "image",
		`C:\win\x`:        "C__win_x",
		"任务1":             "__1",
		"sbx12ab.34-_":    "sbx12ab.34-_",
		"a/b\x00c":        "a_b_c",
		".hidden":         "hidden",
		"name with space": "name_with_space",
	} {
		assert.Equal(t, want, safeName(in), in)
	}
}

// AIPAINT_CA_FILE covers the images too: a TLS-inspecting proxy re-signs the
// image CDN's certificate as it does the API's.
func TestDownloadTrustsTheConfiguredRoots(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\nfake"))
	}))
	defer srv.Close()
	ctx := context.Background()
	_, _, err := NewClient(nil).Fetch(ctx, srv.URL+"/1.png")
	require.Error(t, err, "an unknown CA is refused")
	assert.Contains(t, err.Error(), "certificate")

	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	data, ext, err := NewClient(roots).Fetch(ctx, srv.URL+"/1.png")
	require.NoError(t, err)
	assert.Equal(t, ".png", ext)
	assert.NotEmpty(t, data)
}
