// Package save hands pictures over: it downloads image URLs into files
// (atomically, size-limited, only real images, never outside the output
// folder) and makes small inline previews.
package save

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"aipaint-mcp/atomicfile"
)

// MaxImageBytes bounds one downloaded image.
const MaxImageBytes = 30 << 20

var imageExt = map[string]string{"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}

// Client downloads images. The zero value uses the system's roots and the
// proxy settings of the environment.
type Client struct {
	HTTP *http.Client
}

// NewClient trusts roots (nil = the system's), as AIPAINT_CA_FILE asks:
// behind a TLS-inspecting proxy the images come through it as the API does.
func NewClient(roots *x509.CertPool) Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return Client{HTTP: &http.Client{Transport: t, Timeout: downloadTimeout}}
}

// downloadTimeout bounds one image download.
const downloadTimeout = 2 * time.Minute

var defaultHTTP = &http.Client{Timeout: downloadTimeout}

func (c Client) http() *http.Client {
	if c.HTTP == nil {
		return defaultHTTP
	}
	return c.HTTP
}

// Download fetches an http(s) image URL into dir as <name>.<ext>, written
// atomically (temp file + rename). name is reduced to safe characters so it
// cannot leave dir.
func (c Client) Download(ctx context.Context, rawURL, dir, name string) (string, error) {
	data, ext, err := c.Fetch(ctx, rawURL)
	if err != nil {
		return "", err
	}
	return write(dir, safeName(name)+ext, data)
}

// Fetch reads an http(s) image URL into memory, at most MaxImageBytes, and
// returns it with the file extension of its type.
func (c Client) Fetch(ctx context.Context, rawURL string) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, "", errors.New("not an http(s) URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxImageBytes+1))
	if err != nil {
		return nil, "", err
	}
	if len(data) > MaxImageBytes {
		return nil, "", fmt.Errorf("image larger than %d bytes", MaxImageBytes)
	}
	// Object stores often label images application/octet-stream: trust the
	// bytes when the header does not name an image type we know.
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	ext, ok := imageExt[mt]
	if !ok {
		mt = http.DetectContentType(data)
		if ext, ok = imageExt[mt]; !ok {
			return nil, "", fmt.Errorf("not an image (content type %q)", mt)
		}
	}
	return data, ext, nil
}

// write replaces dir/name atomically and returns its absolute path.
func write(dir, name string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(dir, name)
	if err := atomicfile.Write(final, data, 0o644); err != nil {
		return "", err
	}
	return filepath.Abs(final)
}

// TaskImage saves image n of a task as <dir>/<YYYY-MM-DD>/<task id>_<n>.<ext>,
// the date being the task's local creation day.
func (c Client) TaskImage(ctx context.Context, dir string, created time.Time, taskID string, n int, rawURL string) (string, error) {
	return c.Download(ctx, rawURL, filepath.Join(dir, created.Local().Format(time.DateOnly)), fmt.Sprintf("%s_%d", taskID, n))
}

// safeName keeps letters, digits, '-', '_' and '.', and never starts with a dot.
func safeName(s string) string {
	s = strings.TrimLeft(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s), ".")
	if s == "" {
		return "image"
	}
	return s
}
