// Package clienttest gives tests a scripted upstream: an httptest server
// that records every request and answers request n as the test says, for
// the tests of client and of the packages that drive a client (wait). Unlike
// sandbox/sandboxtest it answers exactly what it is told, byte for byte,
// including what the real API never should.
package clienttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Hit is one request as the upstream received it.
type Hit struct {
	Method, Path, RawQuery, Host string
	Header                       http.Header
	Body                         []byte
	AuthErr                      error // Verify's verdict (nil = good signature); only for signed requests
}

// Reply answers request n (1-based).
type Reply func(n int, w http.ResponseWriter, r *http.Request)

// Upstream is an httptest server standing in for the gateway and the API,
// one per test.
type Upstream struct {
	*httptest.Server
	mu   sync.Mutex
	hits []Hit
}

// Option shapes an Upstream.
type Option func(*options)

type options struct {
	verify func(r *http.Request, body []byte) error
}

// Verify judges the signature of every request that carries an
// Authorization header; the verdict is the Hit's AuthErr.
func Verify(f func(r *http.Request, body []byte) error) Option {
	return func(o *options) { o.verify = f }
}

// Start serves reply until the test ends.
func Start(tb testing.TB, reply Reply, opts ...Option) *Upstream {
	tb.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := Hit{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host,
			Header: r.Header.Clone(), Body: body}
		if o.verify != nil && r.Header.Get("Authorization") != "" {
			h.AuthErr = o.verify(r, body)
		}
		u.mu.Lock()
		u.hits = append(u.hits, h)
		n := len(u.hits)
		u.mu.Unlock()
		reply(n, w, r)
	}))
	tb.Cleanup(u.Close)
	return u
}

// Count is the number of requests received so far.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.hits)
}

// Requests are the requests received so far, in order.
func (u *Upstream) Requests() []Hit {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Hit(nil), u.hits...)
}

// Raw answers status with body, and contentType unless it is empty.
func Raw(status int, contentType, body string) Reply {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// JSON answers status with a JSON body, as the API does.
func JSON(status int, body string) Reply {
	return Raw(status, "application/json;charset=UTF-8", body)
}

// Seq answers request n with replies[n-1], repeating the last one.
func Seq(replies ...Reply) Reply {
	return func(n int, w http.ResponseWriter, r *http.Request) {
		replies[min(n, len(replies))-1](n, w, r)
	}
}

// Gateway answers as APIG: a JSON error body, and an X-Request-Id header
// unless headerID is empty.
func Gateway(status int, code, msg, bodyID, headerID string) Reply {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		if headerID != "" {
			w.Header().Set("X-Request-Id", headerID)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]string{"error_code": code, "error_msg": msg, "request_id": bodyID})
		w.Write(b)
	}
}

// HangUp drops the connection after the request arrived, without answering.
func HangUp(_ int, w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// Business is an API body with a business code and no data.
func Business(code int, msg string) string {
	return fmt.Sprintf(`{"code":%d,"msg":%q,"taskNo":"TN-%d"}`, code, msg, code)
}

// Query bodies: a pending task, and a done one with two images.
const (
	PendingBody = `{"code":200,"msg":"成功","taskNo":"TN-pending","data":{"status":0}}`
	DoneBody    = `{"code":200,"msg":"成功","taskNo":"TN-done","data":{"img":"https://img.example/1.png",` +
		`"imgUrls":[{"image":"https://img.example/1.png"},{"image":"https://img.example/2.png"}],` +
		`"createTime":"2023-09-21 22:15:41","status":1}}`
)
