package wait

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
)

// The waits poll a real client against a scripted upstream: what a wait
// makes of an answer depends on how the client classifies it.

const (
	testAppCode = "ac-test-wait"
	appCodeHdr  = "X-Apig-AppCode" // the gateway's AppCode header
	submitPath  = "/ai/paint/submit"
	queryPath   = "/ai/paint/query"
)

// hit is one request as the upstream received it.
type hit struct {
	Path   string
	Header http.Header
}

// upstream is an httptest server standing in for the query API, one per
// test: it records every request and lets reply answer request n (1-based).
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

type replyFunc func(n int, w http.ResponseWriter, r *http.Request)

func newUpstream(t *testing.T, reply replyFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.hits = append(u.hits, hit{Path: r.URL.Path, Header: r.Header.Clone()})
		n := len(u.hits)
		u.mu.Unlock()
		reply(n, w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.hits)
}

func (u *upstream) requests() []hit {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]hit(nil), u.hits...)
}

// newTestPoller polls u through a client with millisecond retries, and
// neither the client nor the poller jitters.
func newTestPoller(t *testing.T, u *upstream, opts ...func(*client.Config)) *Poller {
	t.Helper()
	cfg := client.Config{
		SubmitURL:      u.URL + submitPath,
		QueryURL:       u.URL + queryPath,
		AppCode:        testAppCode,
		HTTPClient:     u.Client(),
		RequestTimeout: 5 * time.Second,
		QueryAttempts:  3,
		RetryBase:      time.Millisecond,
		Jitter:         func() float64 { return 0 },
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := client.New(cfg)
	require.NoError(t, err)
	return NewPoller(c, PollerOptions{Jitter: func() float64 { return 0 }})
}

// queryAttempts makes Query retry n times: a wait must not (it uses QueryOnce).
func queryAttempts(n int) func(*client.Config) {
	return func(c *client.Config) { c.QueryAttempts = n }
}

func raw(status int, contentType, body string) replyFunc {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func jsonReply(status int, body string) replyFunc {
	return raw(status, "application/json;charset=UTF-8", body)
}

// seq answers request n with replies[n-1], repeating the last one.
func seq(replies ...replyFunc) replyFunc {
	return func(n int, w http.ResponseWriter, r *http.Request) {
		replies[min(n, len(replies))-1](n, w, r)
	}
}

// gatewayReply answers as APIG: a JSON error body.
func gatewayReply(status int, code, msg, requestID string) replyFunc {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]string{"error_code": code, "error_msg": msg, "request_id": requestID})
		w.Write(b)
	}
}

// hangUp drops the connection after the request arrived, without answering.
func hangUp(_ int, w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func business(code int, msg string) string {
	return fmt.Sprintf(`{"code":%d,"msg":%q,"taskNo":"TN-%d"}`, code, msg, code)
}

const (
	pendingBody = `{"code":200,"msg":"成功","taskNo":"TN-pending","data":{"status":0}}`
	doneBody    = `{"code":200,"msg":"成功","taskNo":"TN-done","data":{"img":"https://img.example/1.png",` +
		`"imgUrls":[{"image":"https://img.example/1.png"},{"image":"https://img.example/2.png"}],` +
		`"createTime":"2023-09-21 22:15:41","status":1}}`
	htmlPage = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
)

func apiError(t *testing.T, err error) *client.APIError {
	t.Helper()
	e, ok := errors.AsType[*client.APIError](err)
	require.True(t, ok, "%v is not an *client.APIError", err)
	return e
}
