package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
)

// ErrNoCertificates is returned by LoadCAFile for a file without a PEM certificate.
var ErrNoCertificates = errors.New("no PEM certificate found")

// LoadCAFile returns the system roots plus the PEM certificates in path, for
// a TLS-inspecting corporate proxy. Errors do not repeat the path: callers
// name the setting it came from.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, errors.New("file not found")
	case errors.Is(err, fs.ErrPermission):
		return nil, errors.New("file not readable (permission denied)")
	case err != nil:
		return nil, errors.New("file not readable")
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		// Windows before Go 1.18 and some minimal containers: the file alone.
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, ErrNoCertificates
	}
	return pool, nil
}

// newHTTPClient is the default upstream transport: proxies from HTTPS_PROXY /
// NO_PROXY (http.ProxyFromEnvironment), certificates always verified against
// roots (nil = the system's), redirects never followed.
func newHTTPClient(roots *x509.CertPool, maxConns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	t.MaxConnsPerHost = maxConns
	t.MaxIdleConnsPerHost = maxConns
	return &http.Client{
		Transport: t,
		// The API never redirects; following one would carry X-Apig-AppCode
		// (Go drops only Authorization and Cookie) and, on 307/308, the paid
		// body to wherever Location points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// acquire takes one of the MaxConcurrency request slots, or gives up when
// ctx ends: the request then never left, so it cannot have been billed.
func (c *Client) acquire(ctx context.Context, op Op) (release func(), _ *APIError) {
	select {
	case c.slots <- struct{}{}:
		return func() { <-c.slots }, nil
	case <-ctx.Done():
		return nil, &APIError{Op: op, Kind: KindTransport, Category: CategoryNotRunning,
			Message: fmt.Sprintf("cancelled while waiting for one of the %d upstream request slots", cap(c.slots)), Err: ctx.Err()}
	}
}
