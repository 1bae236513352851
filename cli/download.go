package cli

import (
	"bufio"
	"context"
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
)

// MaxImageBytes bounds one downloaded image.
const MaxImageBytes = 30 << 20

var imageExt = map[string]string{"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}

var downloadClient = &http.Client{Timeout: 2 * time.Minute}

// Download fetches an http(s) image URL into dir as <name>.<ext>, written
// atomically (temp file + rename). name is reduced to safe characters so it
// cannot leave dir.
func Download(ctx context.Context, rawURL, dir, name string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", errors.New("not an http(s) URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := downloadClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	// Object stores often label images application/octet-stream: trust the
	// bytes when the header does not name an image type we know.
	body := bufio.NewReader(io.LimitReader(resp.Body, MaxImageBytes+1))
	head, _ := body.Peek(512)
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	ext, ok := imageExt[mt]
	if !ok {
		mt = http.DetectContentType(head)
		if ext, ok = imageExt[mt]; !ok {
			return "", fmt.Errorf("not an image (content type %q)", mt)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := io.Copy(tmp, body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if n > MaxImageBytes {
		return "", fmt.Errorf("image larger than %d bytes", MaxImageBytes)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	final := filepath.Join(dir, safeName(name)+ext)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	return filepath.Abs(final)
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
