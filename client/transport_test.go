package client

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client/clienttest"
)

// tlsUpstream is an https upstream (httptest's certificate, valid for
// 127.0.0.1 and example.com) that accepts every submit; caFile holds its
// certificate as PEM.
func tlsUpstream(t *testing.T) (srv *httptest.Server, caFile string, hosts *[]string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Host)
		mu.Unlock()
		clienttest.JSON(200, okSubmit("tls-task"))(1, w, r)
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	block := &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(block), 0o600))
	return srv, caFile, &seen
}

func submitTo(t *testing.T, base string, cfg func(*Config)) (SubmitResult, error) {
	t.Helper()
	c := Config{SubmitURL: base + submitPath, QueryURL: base + queryPath, AppKey: testKey, AppSecret: testSecret,
		RequestTimeout: 10 * time.Second}
	if cfg != nil {
		cfg(&c)
	}
	cl, err := New(c)
	require.NoError(t, err)
	return cl.Submit(context.Background(), Request{Text: "猫", Style: "古风", Resolution: "1024*1024", Num: 1})
}

func TestTLSAlwaysVerified(t *testing.T) {
	srv, caFile, hosts := tlsUpstream(t)

	_, err := submitTo(t, srv.URL, nil)
	var e *APIError
	require.ErrorAs(t, err, &e, "the test certificate is not among the system roots")
	assert.Equal(t, CategoryTLS, e.Category)
	assert.False(t, e.MaybeBilled, "a failed handshake sent nothing")
	assert.False(t, e.Retryable)
	assert.Contains(t, e.Error(), "certificate is not trusted")
	assert.Empty(t, *hosts, "nothing reached the upstream")

	roots, err := LoadCAFile(caFile)
	require.NoError(t, err)
	res, err := submitTo(t, srv.URL, func(c *Config) { c.RootCAs = roots })
	require.NoError(t, err)
	assert.Equal(t, "tls-task", res.TaskID)
}

func TestLoadCAFileErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-a-cert.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	for _, path := range []string{filepath.Join(dir, "missing.pem"), notPEM, dir} {
		_, err := LoadCAFile(path)
		require.Error(t, err, path)
		assert.NotContains(t, err.Error(), dir, "the caller names the setting; the path is not repeated")
	}
	_, err := LoadCAFile(notPEM)
	assert.ErrorIs(t, err, ErrNoCertificates)
}

// connectProxy is a loopback HTTPS proxy: it answers CONNECT by tunnelling
// to target, whatever host was asked for, and records what was asked.
func connectProxy(t *testing.T, target string) (addr string, asked func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { tunnel(conn, target, func(host string) { mu.Lock(); got = append(got, host); mu.Unlock() }) })
		}
	})
	return ln.Addr().String(), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
}

func tunnel(conn net.Conn, target string, record func(string)) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	record(req.Host)
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	_ = up.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, conn); done <- struct{}{} }()
	go func() { io.Copy(conn, up); done <- struct{}{} }()
	<-done
}

// TestHTTPSProxyFromEnvironment runs the client in a child process (Go reads
// the proxy variables once per process) with HTTPS_PROXY pointing at a
// loopback proxy: the request for https://example.com goes through the
// tunnel, and the certificate is still verified against AIPAINT_CA_FILE's pool.
func TestHTTPSProxyFromEnvironment(t *testing.T) {
	if os.Getenv("CLIENT_PROXY_CHILD") == "1" {
		proxyChild(t)
		return
	}
	srv, caFile, hosts := tlsUpstream(t)
	proxy, asked := connectProxy(t, srv.Listener.Addr().String())
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHTTPSProxyFromEnvironment$", "-test.v")
	cmd.Env = append(os.Environ(), "CLIENT_PROXY_CHILD=1", "CLIENT_PROXY_CA="+caFile,
		"HTTPS_PROXY=http://"+proxy, "https_proxy=", "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child:\n%s", out)
	assert.Contains(t, string(out), "PROXY-CHILD-OK")
	assert.Equal(t, []string{"example.com:443"}, asked(), "the client asked the proxy for the upstream")
	assert.Equal(t, []string{"example.com"}, *hosts)
}

func proxyChild(t *testing.T) {
	roots, err := LoadCAFile(os.Getenv("CLIENT_PROXY_CA"))
	require.NoError(t, err)
	// example.com is never resolved: the proxy is asked for it by name.
	res, err := submitTo(t, "https://example.com", func(c *Config) { c.RootCAs = roots })
	require.NoError(t, err)
	require.Equal(t, "tls-task", res.TaskID)
	t.Log("PROXY-CHILD-OK")
}

// TestMaxConcurrency: however many calls run at once, the upstream never sees
// more than MaxConcurrency requests in flight, and sees that many.
func TestMaxConcurrency(t *testing.T) {
	const limit, calls = 3, 20
	var inFlight, peak, arrived atomic.Int64
	gate := make(chan struct{})
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		arrived.Add(1)
		<-gate
		clienttest.JSON(200, clienttest.DoneBody)(n, w, r)
	})
	c := newTestClient(t, u, func(c *Config) { c.MaxConcurrency = limit })
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Go(func() {
			_, err := c.Query(context.Background(), "t")
			errs <- err
		})
	}
	waitFor(t, func() bool { return arrived.Load() >= limit })
	// Give the other calls every chance to get through if the cap leaked.
	time.Sleep(100 * time.Millisecond)
	assert.EqualValues(t, limit, arrived.Load(), "only %d requests may be in flight", limit)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.EqualValues(t, limit, peak.Load())
	assert.EqualValues(t, calls, u.Count())
}

func TestWaitingForASlotEndsWithContext(t *testing.T) {
	gate := make(chan struct{})
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		<-gate
		clienttest.JSON(200, okSubmit("t"))(n, w, r)
	})
	t.Cleanup(func() { close(gate) })
	c := newTestClient(t, u, func(c *Config) { c.MaxConcurrency = 1 })
	go func() { _, _ = c.Query(context.Background(), "holds the slot") }()
	waitFor(t, func() bool { return u.Count() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Submit(ctx, Request{Text: "猫", Style: "古风", Resolution: "1024*1024", Num: 1})
	var e *APIError
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CategoryNotRunning, e.Category)
	assert.False(t, e.MaybeBilled, "it never left")
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
	assert.Equal(t, 1, u.Count(), "the submit was not sent")
}

// waitFor polls cond until it holds, failing after a generous bound.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
