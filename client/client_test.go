package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client/clienttest"
	"aipaint-mcp/signer"
)

// Credentials of the fake upstream. The secrets carry a marker so that a test
// can prove they never reach an error string or a log line.
const (
	testKey     = "ak-test-0001"
	testSecret  = "sk-SECRET-must-not-leak-7f3a"
	testAppCode = "ac-SECRET-must-not-leak-91be"
	submitPath  = "/ai/paint/submit"
	queryPath   = "/ai/paint/query"
	testTaskNo  = "043439882226367117195632"
	// bodyMarker is planted in malformed bodies: it must never surface in Error().
	bodyMarker = "BODY-MARKER-d41d8c"
)

// testNow is the injected signing clock, and the fake gateway's clock.
var testNow = time.Date(2024, 3, 15, 8, 9, 10, 0, time.UTC)

func fixedNow() time.Time { return testNow }

func testSecrets(k string) (string, bool) { return testSecret, k == testKey }

// newUpstream is a scripted upstream that verifies every signed request
// with the test credentials and clock.
func newUpstream(t *testing.T, reply clienttest.Reply) *clienttest.Upstream {
	t.Helper()
	return clienttest.Start(t, reply, clienttest.Verify(func(r *http.Request, body []byte) error {
		return signer.Verify(r, body, testSecrets, testNow)
	}))
}

// testConfig is a signing client for u with millisecond retries and no jitter.
func testConfig(u *clienttest.Upstream) Config {
	return Config{
		SubmitURL:      u.URL + submitPath,
		QueryURL:       u.URL + queryPath,
		AppKey:         testKey,
		AppSecret:      testSecret,
		HTTPClient:     u.Client(),
		Now:            fixedNow,
		RequestTimeout: 5 * time.Second,
		QueryAttempts:  3,
		SubmitAttempts: 3,
		RetryBase:      time.Millisecond,
		Jitter:         func() float64 { return 0 },
	}
}

func newTestClient(t *testing.T, u *clienttest.Upstream, opts ...func(*Config)) *Client {
	t.Helper()
	cfg := testConfig(u)
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	return c
}

func attempts(query, submit int) func(*Config) {
	return func(c *Config) { c.QueryAttempts, c.SubmitAttempts = query, submit }
}

func appCodeOnly(c *Config) { c.AppKey, c.AppSecret, c.AppCode = "", "", testAppCode }

// Replies.

func okSubmit(taskID string) string {
	return fmt.Sprintf(`{"code":200,"msg":"成功","taskNo":%q,"data":{"taskId":%q}}`, testTaskNo, taskID)
}

const htmlPage = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>" +
	bodyMarker + "<hr>nginx</body></html>"

var submitReq = Request{Text: "一只猫 & a dog = 1+1 %", Style: "赛博朋克", Resolution: "1024*1536", Num: 2}

func apiError(t *testing.T, err error) *APIError {
	t.Helper()
	var e *APIError
	require.ErrorAs(t, err, &e)
	return e
}

// assertNoLeak checks that no secret or body content reached an error string.
func assertNoLeak(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err)} {
		assert.NotContains(t, s, testSecret)
		assert.NotContains(t, s, testAppCode)
		assert.NotContains(t, s, bodyMarker)
		assert.NotContains(t, s, "Signature=")
	}
}

// countingTransport counts round trips and fails or delegates.
type countingTransport struct {
	n    atomic.Int32
	fail func(n int32) error // nil error: delegate to next
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	n := c.n.Add(1)
	if err := c.fail(n); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	return c.next.RoundTrip(r)
}

func dialRefused() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "connect: connection refused", Addr: "127.0.0.1:1"}}
}

// 1. Submit: encoding, signing, AppCode.

func TestSubmitSigned(t *testing.T) {
	cases := []struct {
		format      Format
		contentType string
		params      func(t *testing.T, body []byte) map[string]string
	}{
		{"", "application/x-www-form-urlencoded; charset=UTF-8", func(t *testing.T, body []byte) map[string]string {
			v, err := url.ParseQuery(string(body))
			require.NoError(t, err)
			m := map[string]string{}
			for k, vs := range v {
				require.Len(t, vs, 1, k)
				m[k] = vs[0]
			}
			return m
		}},
		{FormatJSON, "application/json;charset=UTF-8", func(t *testing.T, body []byte) map[string]string {
			var m map[string]any
			require.NoError(t, json.Unmarshal(body, &m), "a JSON object")
			out := map[string]string{}
			for k, v := range m {
				s, ok := v.(string)
				require.True(t, ok, "%s must be a JSON string, got %T", k, v)
				out[k] = s
			}
			return out
		}},
	}
	for _, tc := range cases {
		t.Run("format="+string(tc.format), func(t *testing.T) {
			u := newUpstream(t, clienttest.JSON(200, okSubmit("task-1")))
			c := newTestClient(t, u, func(c *Config) { c.Format = tc.format })

			res, err := c.Submit(t.Context(), submitReq)
			require.NoError(t, err)
			assert.Equal(t, SubmitResult{TaskID: "task-1", TaskNo: testTaskNo}, res)

			hits := u.Requests()
			require.Len(t, hits, 1)
			h := hits[0]
			assert.Equal(t, http.MethodPost, h.Method)
			assert.Equal(t, submitPath, h.Path, "sent without the canonical trailing slash")
			assert.Empty(t, h.RawQuery, "parameters go in the body, never the query string")
			assert.Equal(t, tc.contentType, h.Header.Get("Content-Type"))
			assert.Equal(t, map[string]string{
				"text": submitReq.Text, "style": "赛博朋克", "resolution": "1024*1536", "num": "2",
			}, tc.params(t, h.Body))

			assert.Equal(t, "20240315T080910Z", h.Header.Get(signer.HeaderDate), "the injected clock")
			assert.Empty(t, h.Header.Get(signer.HeaderAppCode))
			assert.Equal(t, u.Listener.Addr().String(), h.Host, "host with port")
			require.NoError(t, h.AuthErr, "the gateway-side verifier accepts the signature")
			auth := h.Header.Get("Authorization")
			assert.True(t, strings.HasPrefix(auth,
				"SDK-HMAC-SHA256 Access="+testKey+", SignedHeaders=content-type;host;x-sdk-date, Signature="), auth)

			// The same signature, recomputed from what arrived.
			signed := http.Header{}
			signed.Set("Content-Type", tc.contentType)
			signed.Set("Host", h.Host)
			signed.Set(signer.HeaderDate, "20240315T080910Z")
			want, err := signer.Sign(testKey, testSecret, http.MethodPost, "http://"+h.Host+h.Path, signed, h.Body)
			require.NoError(t, err)
			assert.Equal(t, want.Authorization, auth)
			assert.Contains(t, want.CanonicalRequest, "\n"+submitPath+"/\n\n", "canonical URI ends in /, empty query")
		})
	}
}

func TestSubmitDateIsUTC(t *testing.T) {
	u := newUpstream(t, clienttest.JSON(200, okSubmit("t")))
	c := newTestClient(t, u, func(c *Config) {
		c.Now = func() time.Time { return testNow.In(ChinaTime) } // 16:09:10 in Beijing
	})
	_, err := c.Submit(t.Context(), submitReq)
	require.NoError(t, err)
	h := u.Requests()[0]
	assert.Equal(t, "20240315T080910Z", h.Header.Get(signer.HeaderDate))
	assert.NoError(t, h.AuthErr)
}

func TestSubmitAppCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  func(*Config)
	}{
		{"AppCode only", appCodeOnly},
		{"AppKey without AppSecret falls back to AppCode", func(c *Config) { c.AppSecret, c.AppCode = "", testAppCode }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, clienttest.JSON(200, okSubmit("task-ac")))
			c := newTestClient(t, u, tc.opt)
			assert.Equal(t, "AppCode", c.AuthMode())

			res, err := c.Submit(t.Context(), submitReq)
			require.NoError(t, err)
			assert.Equal(t, "task-ac", res.TaskID)
			h := u.Requests()[0]
			assert.Equal(t, testAppCode, h.Header.Get(signer.HeaderAppCode))
			assert.Empty(t, h.Header.Get("Authorization"))
			assert.Empty(t, h.Header.Get(signer.HeaderDate), "nothing to sign")
			assert.Equal(t, "application/x-www-form-urlencoded; charset=UTF-8", h.Header.Get("Content-Type"))
		})
	}
}

func TestAuthModeSigned(t *testing.T) {
	u := newUpstream(t, clienttest.JSON(200, okSubmit("t")))
	c := newTestClient(t, u, func(c *Config) { c.AppCode = testAppCode })
	assert.Equal(t, "AppKey/AppSecret", c.AuthMode(), "a signature wins when both are configured")
	_, err := c.Submit(t.Context(), submitReq)
	require.NoError(t, err)
	h := u.Requests()[0]
	assert.Empty(t, h.Header.Get(signer.HeaderAppCode), "the AppCode is not sent alongside a signature")
	assert.NoError(t, h.AuthErr)
}

func TestSubmitAcceptedWithoutTaskID(t *testing.T) {
	for name, body := range map[string]string{
		"no data":       `{"code":200,"msg":"成功","taskNo":"TN-1"}`,
		"empty taskId":  `{"code":200,"taskNo":"TN-1","data":{"taskId":""}}`,
		"data a string": `{"code":200,"taskNo":"TN-1","data":"x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			u := newUpstream(t, clienttest.JSON(201, body)) // any 2xx; the error keeps the real status
			c := newTestClient(t, u)
			_, err := c.Submit(t.Context(), submitReq)
			e := apiError(t, err)
			assert.Equal(t, KindDecode, e.Kind)
			assert.Equal(t, CategoryUncertain, e.Category)
			assert.True(t, e.MaybeBilled)
			assert.Equal(t, "TN-1", e.TaskNo)
			assert.Equal(t, 201, e.HTTPStatus)
			assert.Equal(t, 1, u.Count(), "never resent")
		})
	}
}

// 2. Query.

func TestQuery(t *testing.T) {
	created := time.Date(2023, 9, 21, 14, 15, 41, 0, time.UTC) // 22:15:41 in UTC+8
	cases := []struct {
		name string
		body string
		want Task
	}{
		{"pending", `{"code":200,"msg":"成功","taskNo":"TN-q","data":{"status":0}}`,
			Task{TaskID: "tid", TaskNo: "TN-q"}},
		{"pending without data", `{"code":200,"msg":"成功","taskNo":"TN-q"}`,
			Task{TaskID: "tid", TaskNo: "TN-q"}},
		{"pending with null data", `{"code":200,"taskNo":"TN-q","data":null}`,
			Task{TaskID: "tid", TaskNo: "TN-q"}},
		{"done with several imgUrls", `{"code":200,"msg":"成功","taskNo":"TN-q","data":{"img":"https://i/1.png",` +
			`"imgUrls":[{"image":"https://i/1.png"},{"image":"https://i/2.png"},{"image":"https://i/3.png"}],` +
			`"createTime":"2023-09-21 22:15:41","status":1}}`,
			Task{TaskID: "tid", TaskNo: "TN-q", Done: true, CreatedAt: created,
				Images: []string{"https://i/1.png", "https://i/2.png", "https://i/3.png"}}},
		{"done with only img", `{"code":200,"taskNo":"TN-q","data":{"img":"https://i/only.png","status":1}}`,
			Task{TaskID: "tid", TaskNo: "TN-q", Done: true, Images: []string{"https://i/only.png"}}},
		{"empty imgUrls entries fall back to img", `{"code":200,"taskNo":"TN-q","data":{"img":"https://i/a.png",` +
			`"imgUrls":[{"image":""}],"status":1}}`,
			Task{TaskID: "tid", TaskNo: "TN-q", Done: true, Images: []string{"https://i/a.png"}}},
		{"status and code as strings", `{"code":"200","taskNo":"TN-q","data":{"imgUrls":[{"image":"https://i/s.png"}],` +
			`"createTime":"2023-09-21 22:15:41","status":"1"}}`,
			Task{TaskID: "tid", TaskNo: "TN-q", Done: true, CreatedAt: created, Images: []string{"https://i/s.png"}}},
		{"unparsable createTime is left zero", `{"code":200,"taskNo":"TN-q","data":{"createTime":"yesterday","status":0}}`,
			Task{TaskID: "tid", TaskNo: "TN-q"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, clienttest.JSON(200, tc.body))
			c := newTestClient(t, u)
			got, err := c.Query(t.Context(), "tid")
			require.NoError(t, err)
			assert.True(t, tc.want.CreatedAt.Equal(got.CreatedAt), "createTime %v, want %v", got.CreatedAt, tc.want.CreatedAt)
			if !got.CreatedAt.IsZero() {
				_, off := got.CreatedAt.Zone()
				assert.Equal(t, 8*3600, off, "createTime is China time")
			}
			got.CreatedAt, tc.want.CreatedAt = time.Time{}, time.Time{}
			assert.Equal(t, tc.want, got)

			h := u.Requests()[0]
			assert.Equal(t, queryPath, h.Path)
			assert.Empty(t, h.RawQuery)
			assert.Equal(t, "taskId=tid", string(h.Body))
			assert.NoError(t, h.AuthErr)
		})
	}
}

func TestQueryDoneWithoutImages(t *testing.T) {
	u := newUpstream(t, clienttest.JSON(200, `{"code":200,"taskNo":"TN-x","data":{"status":1,"imgUrls":[]}}`))
	c := newTestClient(t, u)
	_, err := c.Query(t.Context(), "tid")
	e := apiError(t, err)
	assert.Equal(t, KindDecode, e.Kind)
	assert.False(t, e.Retryable)
	assert.Equal(t, "TN-x", e.TaskNo)
	assert.Contains(t, e.Message, "no image URL")
}

// QueryOnce is a wait's poll: signed like every request, and never retried,
// whatever the client's QueryAttempts.
func TestQueryOnce(t *testing.T) {
	u := newUpstream(t, clienttest.Seq(clienttest.JSON(200, clienttest.Business(500, "maintenance")), clienttest.JSON(200, clienttest.DoneBody)))
	c := newTestClient(t, u, attempts(5, 5))
	_, err := c.QueryOnce(t.Context(), "tid")
	e := apiError(t, err)
	assert.True(t, e.Retryable)
	assert.Equal(t, 1, u.Count(), "one request: the caller does the retrying")
	task, err := c.QueryOnce(t.Context(), "tid")
	require.NoError(t, err)
	assert.True(t, task.Done)
	assert.Equal(t, "tid", task.TaskID)
	assert.Equal(t, 2, u.Count())
	for _, h := range u.Requests() {
		assert.Equal(t, queryPath, h.Path)
		assert.NoError(t, h.AuthErr, "each poll is signed")
	}
}

func TestQueryDataNotAnObject(t *testing.T) {
	u := newUpstream(t, clienttest.JSON(200, `{"code":200,"taskNo":"TN-x","data":{"status":1,"imgUrls":"https://i/1.png"}}`))
	c := newTestClient(t, u)
	_, err := c.Query(t.Context(), "tid")
	e := apiError(t, err)
	assert.Equal(t, KindDecode, e.Kind)
	assert.True(t, e.Retryable)
	assert.Contains(t, e.Message, "data field")
	assert.Equal(t, 1, u.Count(), "an answer was read: Query does not ask again, a Wait would")
}

// 3. Business and gateway codes.

func TestBusinessCodes(t *testing.T) {
	codes := []struct {
		code      int
		category  Category
		retryable bool
		msg       string
	}{
		{201, CategoryNotFound, false, "taskId不存在"},
		{202, CategoryContent, false, "文本被拦截"},
		{400, CategoryArguments, false, "参数错误"},
		{500, CategoryTransient, true, "服务商维护中"},
		{501, CategoryTransient, true, "官方数据源维护中"},
		{999, CategoryUnknown, false, "其他错误：请联系客服"},
		{777, CategoryUnknown, false, "undocumented"},
	}
	for _, tc := range codes {
		for _, status := range []int{200, tc.code} {
			for _, op := range []Op{OpSubmit, OpQuery} {
				t.Run(fmt.Sprintf("%d/HTTP%d/%s", tc.code, status, op), func(t *testing.T) {
					u := newUpstream(t, clienttest.JSON(status, clienttest.Business(tc.code, tc.msg)))
					c := newTestClient(t, u, attempts(1, 1))
					var err error
					if op == OpSubmit {
						_, err = c.Submit(t.Context(), submitReq)
					} else {
						_, err = c.Query(t.Context(), "tid")
					}
					e := apiError(t, err)
					assert.Equal(t, op, e.Op)
					assert.Equal(t, KindBusiness, e.Kind)
					assert.Equal(t, tc.code, e.Code)
					assert.Equal(t, status, e.HTTPStatus)
					assert.Equal(t, tc.category, e.Category)
					assert.Equal(t, tc.retryable, e.Retryable)
					assert.False(t, e.MaybeBilled, "a business answer is definite")
					assert.Equal(t, fmt.Sprintf("TN-%d", tc.code), e.TaskNo)
					assert.Equal(t, tc.msg, e.Message, "msg is passed on")
					assert.Equal(t, fmt.Sprintf("%s: upstream code %d: %s [taskNo TN-%d]", op, tc.code, tc.msg, tc.code), e.Error())
				})
			}
		}
	}
}

func TestBusinessCodeVariants(t *testing.T) {
	t.Run("code as string", func(t *testing.T) {
		u := newUpstream(t, clienttest.JSON(200, `{"code":"201","msg":"","taskNo":"TN"}`))
		_, err := newTestClient(t, u).Query(t.Context(), "tid")
		e := apiError(t, err)
		assert.Equal(t, 201, e.Code)
		assert.Equal(t, CategoryNotFound, e.Category)
		assert.Equal(t, "taskId does not exist", e.Message, "no msg: the table's meaning")
	})
	t.Run("request id header kept", func(t *testing.T) {
		u := newUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Request-Id", "rid-b")
			io.WriteString(w, clienttest.Business(400, "bad"))
		})
		_, err := newTestClient(t, u).Query(t.Context(), "tid")
		e := apiError(t, err)
		assert.Equal(t, "rid-b", e.RequestID)
		assert.Equal(t, "request_id rid-b, taskNo TN-400", e.Reference())
	})
}

func TestGatewayCodes(t *testing.T) {
	const echo = "verify signature fail, canonicalRequest:POST|/ai/paint/query/||content-type:application/x-www-form-urlencoded; charset=UTF-8|host:h|x-sdk-date:20240315T080910Z||content-type;host;x-sdk-date|e3b0"
	codes := []struct {
		num       string
		status    int
		category  Category
		retryable bool
		msg       string
	}{
		{"0101", 404, CategoryBadURL, false, "API not found"},
		{"0201", 400, CategoryArguments, false, "Bad request"},
		{"0201", 413, CategoryArguments, false, "Request entity too large"},
		{"0201", 414, CategoryArguments, false, "Request URI too large"},
		{"0202", 502, CategoryTransient, true, "Backend unavailable"},
		{"0203", 504, CategoryTransient, true, "Backend timeout"},
		{"0303", 401, CategoryAuth, false, echo},
		{"0304", 403, CategoryForbidden, false, "The authorization failed"},
		{"0308", 429, CategoryTransient, true, "The throttling threshold has been reached"},
	}
	for _, tc := range codes {
		for _, prefix := range []string{"APIG", "APIGW"} {
			for _, idIn := range []string{"body", "header", "both"} {
				name := fmt.Sprintf("%s.%s/HTTP%d/id-in-%s", prefix, tc.num, tc.status, idIn)
				t.Run(name, func(t *testing.T) {
					bodyID, headerID, wantID := "", "", ""
					switch idIn {
					case "body":
						bodyID, wantID = "rid-body", "rid-body"
					case "header":
						headerID, wantID = "rid-header", "rid-header"
					case "both":
						bodyID, headerID, wantID = "rid-body", "rid-header", "rid-body"
					}
					code := prefix + "." + tc.num
					u := newUpstream(t, clienttest.Gateway(tc.status, code, tc.msg, bodyID, headerID))
					c := newTestClient(t, u, attempts(1, 1))
					_, err := c.Query(t.Context(), "tid")
					e := apiError(t, err)
					assert.Equal(t, KindGateway, e.Kind)
					assert.Equal(t, code, e.GatewayCode)
					assert.Equal(t, tc.num, e.GatewayNumber())
					assert.Equal(t, tc.status, e.HTTPStatus)
					assert.Equal(t, tc.category, e.Category)
					assert.Equal(t, tc.retryable, e.Retryable)
					assert.Equal(t, wantID, e.RequestID)
					assert.False(t, e.MaybeBilled)
					assert.Contains(t, e.Error(), fmt.Sprintf("query: gateway %s (HTTP %d)", code, tc.status))
					assert.Contains(t, e.Error(), "[request_id "+wantID+"]")
					if tc.num == "0303" {
						assert.Equal(t, tc.msg, e.Detail, "the canonical-request echo is for debugging")
						assert.NotContains(t, e.Message, "canonicalRequest")
						assert.NotContains(t, e.Error(), "canonicalRequest")
						assert.Contains(t, e.Message, "authentication failed")
					} else {
						assert.Contains(t, e.Message, tc.msg)
						assert.Empty(t, e.Detail)
					}
				})
			}
		}
	}
}

func TestGatewayBackendTimeoutOnSubmit(t *testing.T) {
	u := newUpstream(t, clienttest.Gateway(504, "APIG.0203", "Backend timeout", "rid-1", ""))
	c := newTestClient(t, u)
	_, err := c.Submit(t.Context(), submitReq)
	e := apiError(t, err)
	assert.Equal(t, "0203", e.GatewayNumber())
	assert.Equal(t, CategoryUncertain, e.Category)
	assert.True(t, e.MaybeBilled)
	assert.Equal(t, 1, u.Count(), "never resent: the first may have been billed")
}

func TestGatewayUnknownCode(t *testing.T) {
	for _, tc := range []struct {
		status    int
		category  Category
		retryable bool
	}{
		{503, CategoryTransient, true},
		{401, CategoryAuth, false},
		{418, CategoryArguments, false},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			u := newUpstream(t, clienttest.Gateway(tc.status, "APIG.9999", "something new", "rid", ""))
			_, err := newTestClient(t, u, attempts(1, 1)).Query(t.Context(), "tid")
			e := apiError(t, err)
			assert.Equal(t, KindGateway, e.Kind)
			assert.Equal(t, "9999", e.GatewayNumber())
			assert.Equal(t, tc.category, e.Category, "classified by HTTP status")
			assert.Equal(t, tc.retryable, e.Retryable)
		})
	}
}

// TestGatewayClockSkew plays the gateway for real: it verifies the signature
// against its own clock and answers 0303 when the client's clock is 20 minutes ahead.
func TestGatewayClockSkew(t *testing.T) {
	gatewayNow := testNow
	u := newUpstream(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", gatewayNow.Format(http.TimeFormat))
		// The date is checked before the signature, so the body is not needed here.
		var ve *signer.VerifyError
		if !errors.As(signer.Verify(r, nil, testSecrets, gatewayNow), &ve) || ve.Skew == 0 {
			w.WriteHeader(500)
			return
		}
		clienttest.Gateway(401, "APIG.0303", "request expired: X-Sdk-Date is "+ve.Skew.Abs().String()+
			" from the server clock, more than 15m0s", "rid-skew", "")(0, w, r)
	})
	c := newTestClient(t, u, func(c *Config) {
		c.Now = func() time.Time { return gatewayNow.Add(20 * time.Minute) }
	})
	_, err := c.Submit(t.Context(), submitReq)
	e := apiError(t, err)
	assert.Equal(t, KindGateway, e.Kind)
	assert.Equal(t, CategoryAuth, e.Category)
	assert.Equal(t, 20*time.Minute, e.ClockSkew)
	assert.Contains(t, e.Message, "clock")
	assert.Contains(t, e.Detail, "20m0s")
	assert.False(t, e.MaybeBilled)
	assert.Equal(t, 1, u.Count())
	assertNoLeak(t, err)
}

func TestGateway0303WithoutDate(t *testing.T) {
	u := newUpstream(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil // suppress the server's automatic Date
		clienttest.Gateway(401, "APIG.0303", "Incorrect app authentication information", "", "rid")(0, w, r)
	})
	c := newTestClient(t, u, appCodeOnly, func(c *Config) { c.Now = func() time.Time { return testNow.Add(time.Hour) } })
	_, err := c.Query(t.Context(), "tid")
	e := apiError(t, err)
	assert.Equal(t, CategoryAuth, e.Category)
	assert.Zero(t, e.ClockSkew, "no Date: skew unknown")
	assert.Equal(t, "Incorrect app authentication information", e.Detail)
	assert.Equal(t, 1, u.Count())
	assertNoLeak(t, err)
}

// 4. Malformed answers.

func TestMalformed(t *testing.T) {
	big := `{"code":200,"msg":"` + strings.Repeat("x", 200) + bodyMarker + `","data":{"status":0}}`
	cases := []struct {
		name      string
		reply     clienttest.Reply
		maxBytes  int64
		message   string
		status    int
		category  Category // for a query
		retryable bool     // for a query
	}{
		{"HTML error page 502", clienttest.Raw(502, "text/html; charset=utf-8", htmlPage), 0,
			"answer is not JSON (text/html, ", 502, CategoryTransient, true},
		{"truncated JSON", clienttest.JSON(200, `{"code":200,"msg":"`+bodyMarker+`","data":{"status":`), 0,
			"answer is not JSON (application/json, ", 200, CategoryUnknown, true},
		{"empty body", clienttest.Raw(200, "", ""), 0,
			"answer is not JSON (", 200, CategoryUnknown, true},
		{"not an object", clienttest.JSON(200, `["`+bodyMarker+`"]`), 0,
			"answer is not JSON", 200, CategoryUnknown, true},
		{"JSON without code", clienttest.JSON(200, `{"msg":"`+bodyMarker+`","data":{"status":1}}`), 0,
			"answer has no code field", 200, CategoryUnknown, true},
		{"code null", clienttest.JSON(200, `{"code":null,"msg":"`+bodyMarker+`"}`), 0,
			"answer has no code field", 200, CategoryUnknown, true},
		{"code not a number", clienttest.JSON(200, `{"code":"ok","msg":"`+bodyMarker+`"}`), 0,
			"answer has no code field", 200, CategoryUnknown, true},
		{"oversized", clienttest.JSON(200, big), 64,
			"answer larger than 64 bytes", 200, CategoryUnknown, true},
		{"oversized error page", clienttest.Raw(500, "text/html", strings.Repeat(htmlPage, 10)), 100,
			"answer larger than 100 bytes", 500, CategoryTransient, true},
		{"code 200 with HTTP error", clienttest.JSON(500, `{"code":200,"msg":"`+bodyMarker+`"}`), 0,
			"code 200 with an HTTP error status", 500, CategoryTransient, true},
		{"plain text 404", clienttest.Raw(404, "text/plain", "404 page not found "+bodyMarker), 0,
			"answer is not JSON (text/plain, ", 404, CategoryBadURL, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, tc.reply)
			c := newTestClient(t, u, attempts(1, 1), func(c *Config) { c.MaxResponseBytes = tc.maxBytes })
			_, err := c.Query(t.Context(), "tid")
			e := apiError(t, err)
			assert.Equal(t, KindDecode, e.Kind)
			assert.Equal(t, tc.status, e.HTTPStatus)
			assert.True(t, strings.HasPrefix(e.Message, tc.message), "message %q", e.Message)
			assert.Equal(t, tc.category, e.Category)
			assert.Equal(t, tc.retryable, e.Retryable)
			assert.Contains(t, e.Error(), fmt.Sprintf("query: bad response (HTTP %d): ", tc.status))
			assert.NotContains(t, e.Error(), "<html")
			assertNoLeak(t, err)
		})
	}
}

func TestMalformedSubmit(t *testing.T) {
	cases := []struct {
		name        string
		reply       clienttest.Reply
		maybeBilled bool
		category    Category
		sent        int
	}{
		{"2xx garbage may have been accepted", clienttest.Raw(200, "text/plain", "OK "+bodyMarker), true, CategoryUncertain, 1},
		{"2xx without code", clienttest.JSON(200, `{"taskNo":"TN"}`), true, CategoryUncertain, 1},
		{"HTML 504 is a timeout", clienttest.Raw(504, "text/html", htmlPage), true, CategoryUncertain, 1},
		{"code 200 with HTTP 500", clienttest.JSON(500, `{"code":200}`), true, CategoryUncertain, 1},
		{"code 200 with HTTP 429: the body says accepted", clienttest.JSON(429, `{"code":200}`), true, CategoryUncertain, 1},
		{"HTML 502 is like 0202: not resent, not billed", clienttest.Raw(502, "text/html", htmlPage), false, CategoryTransient, 1},
		{"HTML 404", clienttest.Raw(404, "text/html", htmlPage), false, CategoryBadURL, 1},
		{"HTML 429 is a definite rejection: resent", clienttest.Raw(429, "text/html", htmlPage), false, CategoryTransient, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, tc.reply)
			c := newTestClient(t, u)
			_, err := c.Submit(t.Context(), submitReq)
			e := apiError(t, err)
			assert.Equal(t, KindDecode, e.Kind)
			assert.Equal(t, tc.maybeBilled, e.MaybeBilled)
			assert.Equal(t, tc.category, e.Category)
			assert.Equal(t, tc.sent, u.Count())
			assertNoLeak(t, err)
		})
	}
}

// 5. Retry rules.

func TestQueryRetriedOnTransient(t *testing.T) {
	const n = 4
	cases := map[string]clienttest.Reply{
		"business 500":          clienttest.JSON(200, clienttest.Business(500, "maintenance")),
		"business 501 mirrored": clienttest.JSON(501, clienttest.Business(501, "maintenance")),
		"gateway 0202":          clienttest.Gateway(502, "APIG.0202", "Backend unavailable", "rid", ""),
		"gateway 0203":          clienttest.Gateway(504, "APIGW.0203", "Backend timeout", "rid", ""),
		"gateway 0308":          clienttest.Gateway(429, "APIG.0308", "throttled", "rid", ""),
		"HTML 502":              clienttest.Raw(502, "text/html", htmlPage),
		"2xx garbage":           clienttest.Raw(200, "text/plain", "garbage"),
		"dropped connection":    clienttest.HangUp,
	}
	for name, fail := range cases {
		t.Run(name, func(t *testing.T) {
			t.Run("always failing", func(t *testing.T) {
				u := newUpstream(t, fail)
				c := newTestClient(t, u, attempts(n, 1))
				_, err := c.Query(t.Context(), "tid")
				e := apiError(t, err)
				assert.True(t, e.Retryable)
				assert.NotEqual(t, CategoryUncertain, e.Category, "a query is never uncertain")
				assert.False(t, e.MaybeBilled)
				assert.Equal(t, n, u.Count(), "QueryAttempts")
			})
			t.Run("failing twice", func(t *testing.T) {
				u := newUpstream(t, clienttest.Seq(fail, fail, clienttest.JSON(200, clienttest.DoneBody)))
				c := newTestClient(t, u, attempts(n, 1))
				task, err := c.Query(t.Context(), "tid")
				require.NoError(t, err)
				assert.True(t, task.Done)
				assert.Equal(t, 3, u.Count())
			})
		})
	}
}

func TestQueryNotRetriedOnPermanent(t *testing.T) {
	cases := map[string]clienttest.Reply{
		"business 201":  clienttest.JSON(200, clienttest.Business(201, "no such task")),
		"business 400":  clienttest.JSON(400, clienttest.Business(400, "bad")),
		"business 202":  clienttest.JSON(200, clienttest.Business(202, "blocked")),
		"business 999":  clienttest.JSON(200, clienttest.Business(999, "other")),
		"gateway 0303":  clienttest.Gateway(401, "APIG.0303", "verify signature fail", "rid", ""),
		"gateway 0304":  clienttest.Gateway(403, "APIG.0304", "not authorised", "rid", ""),
		"gateway 0101":  clienttest.Gateway(404, "APIG.0101", "no such API", "rid", ""),
		"gateway 0201":  clienttest.Gateway(400, "APIG.0201", "bad request", "rid", ""),
		"done, no img":  clienttest.JSON(200, `{"code":200,"data":{"status":1}}`),
		"HTML 403 page": clienttest.Raw(403, "text/html", htmlPage),
	}
	for name, reply := range cases {
		t.Run(name, func(t *testing.T) {
			u := newUpstream(t, reply)
			c := newTestClient(t, u, attempts(5, 5))
			_, err := c.Query(t.Context(), "tid")
			e := apiError(t, err)
			assert.False(t, e.Retryable)
			assert.Equal(t, 1, u.Count())
		})
	}
}

func TestSubmitResentOnDefiniteRejection(t *testing.T) {
	cases := map[string]clienttest.Reply{
		"gateway 0308":          clienttest.Gateway(429, "APIG.0308", "throttled", "rid", ""),
		"gateway APIGW.0308":    clienttest.Gateway(429, "APIGW.0308", "throttled", "", "rid"),
		"business 500":          clienttest.JSON(200, clienttest.Business(500, "maintenance")),
		"business 501":          clienttest.JSON(200, clienttest.Business(501, "maintenance")),
		"business 500 mirrored": clienttest.JSON(500, clienttest.Business(500, "maintenance")),
	}
	for name, fail := range cases {
		t.Run(name, func(t *testing.T) {
			t.Run("always failing", func(t *testing.T) {
				u := newUpstream(t, fail)
				c := newTestClient(t, u, attempts(1, 4))
				_, err := c.Submit(t.Context(), submitReq)
				e := apiError(t, err)
				assert.True(t, e.Retryable)
				assert.False(t, e.MaybeBilled)
				assert.Equal(t, 4, u.Count(), "SubmitAttempts")
			})
			t.Run("failing once", func(t *testing.T) {
				u := newUpstream(t, clienttest.Seq(fail, clienttest.JSON(200, okSubmit("task-2"))))
				var tick atomic.Int64
				c := newTestClient(t, u, func(c *Config) {
					// Every signing reads a later time, as a real clock would.
					c.Now = func() time.Time { return testNow.Add(time.Duration(tick.Add(1)) * time.Second) }
				})
				res, err := c.Submit(t.Context(), submitReq)
				require.NoError(t, err)
				assert.Equal(t, "task-2", res.TaskID)

				hits := u.Requests()
				require.Len(t, hits, 2)
				assert.Equal(t, hits[0].Body, hits[1].Body, "the same body bytes")
				assert.NotEqual(t, hits[0].Header.Get(signer.HeaderDate), hits[1].Header.Get(signer.HeaderDate), "a fresh date")
				assert.NotEqual(t, hits[0].Header.Get("Authorization"), hits[1].Header.Get("Authorization"), "a fresh signature")
				for _, h := range hits {
					assert.NoError(t, h.AuthErr)
				}
			})
		})
	}
}

func TestSubmitNotResent(t *testing.T) {
	cases := []struct {
		name        string
		reply       clienttest.Reply
		maybeBilled bool
		category    Category
	}{
		{"gateway 0203 backend timeout", clienttest.Gateway(504, "APIG.0203", "Backend timeout", "rid", ""), true, CategoryUncertain},
		{"gateway APIGW.0203", clienttest.Gateway(504, "APIGW.0203", "Backend timeout", "", "rid"), true, CategoryUncertain},
		{"gateway 0202 backend unavailable", clienttest.Gateway(502, "APIG.0202", "Backend unavailable", "rid", ""), false, CategoryTransient},
		{"gateway 0303", clienttest.Gateway(401, "APIG.0303", "bad signature", "rid", ""), false, CategoryAuth},
		{"business 202", clienttest.JSON(200, clienttest.Business(202, "blocked")), false, CategoryContent},
		{"business 999", clienttest.JSON(200, clienttest.Business(999, "other")), false, CategoryUnknown},
		{"dropped mid-body", truncatedBody, true, CategoryUncertain},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, tc.reply)
			c := newTestClient(t, u, attempts(1, 5))
			_, err := c.Submit(t.Context(), submitReq)
			e := apiError(t, err)
			assert.Equal(t, tc.maybeBilled, e.MaybeBilled)
			assert.Equal(t, tc.category, e.Category)
			assert.Equal(t, 1, u.Count(), "a submit is resent only when it provably billed nothing")
		})
	}
}

// truncatedBody starts a good answer and drops the connection mid-body.
func truncatedBody(_ int, w http.ResponseWriter, _ *http.Request) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"code\":200,")
	buf.Flush()
	conn.Close()
}

// hang answers nothing until the client gives up (or the test ends).
func hang(t *testing.T) clienttest.Reply {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	return func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func TestSubmitTimeoutNotResent(t *testing.T) {
	u := newUpstream(t, hang(t))
	c := newTestClient(t, u, func(c *Config) { c.RequestTimeout = 20 * time.Millisecond })
	_, err := c.Submit(t.Context(), submitReq)
	e := apiError(t, err)
	assert.Equal(t, KindTransport, e.Kind)
	assert.Equal(t, CategoryUncertain, e.Category)
	assert.True(t, e.MaybeBilled)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, u.Count(), "never resent after a timeout")
	assertNoLeak(t, err)
}

func TestQueryTimeoutRetried(t *testing.T) {
	u := newUpstream(t, hang(t))
	c := newTestClient(t, u, func(c *Config) { c.RequestTimeout = 10 * time.Millisecond })
	_, err := c.Query(t.Context(), "tid")
	e := apiError(t, err)
	assert.Equal(t, KindTransport, e.Kind)
	assert.Equal(t, CategoryTransient, e.Category)
	assert.True(t, e.Retryable)
	assert.False(t, e.MaybeBilled)
	assert.Equal(t, 3, u.Count())
}

func TestSubmitDroppedConnectionNotResent(t *testing.T) {
	u := newUpstream(t, clienttest.HangUp)
	c := newTestClient(t, u, attempts(1, 5))
	_, err := c.Submit(t.Context(), submitReq)
	e := apiError(t, err)
	assert.Equal(t, KindTransport, e.Kind)
	assert.Equal(t, CategoryUncertain, e.Category)
	assert.True(t, e.MaybeBilled)
	assert.Contains(t, e.Message, "connection failed mid-request")
	assert.NotContains(t, e.Error(), u.URL, "the URL is not repeated")
	assert.Equal(t, 1, u.Count())
	assertNoLeak(t, err)
}

func TestSubmitResentAfterDialError(t *testing.T) {
	t.Run("always refused", func(t *testing.T) {
		rt := &countingTransport{fail: func(int32) error { return dialRefused() }}
		u := newUpstream(t, clienttest.JSON(200, okSubmit("t")))
		c := newTestClient(t, u, attempts(1, 4), func(c *Config) { c.HTTPClient = &http.Client{Transport: rt} })
		_, err := c.Submit(t.Context(), submitReq)
		e := apiError(t, err)
		assert.Equal(t, KindTransport, e.Kind)
		assert.Equal(t, CategoryTransient, e.Category)
		assert.True(t, e.Retryable)
		assert.False(t, e.MaybeBilled, "nothing reached the server")
		assert.Contains(t, e.Message, "cannot connect")
		var opErr *net.OpError
		require.ErrorAs(t, err, &opErr)
		assert.Equal(t, "dial", opErr.Op)
		assert.Equal(t, int32(4), rt.n.Load(), "SubmitAttempts")
		assert.Zero(t, u.Count())
	})
	t.Run("refused once", func(t *testing.T) {
		u := newUpstream(t, clienttest.JSON(200, okSubmit("task-3")))
		rt := &countingTransport{
			fail: func(n int32) error {
				if n == 1 {
					return dialRefused()
				}
				return nil
			},
			next: u.Client().Transport,
		}
		c := newTestClient(t, u, func(c *Config) { c.HTTPClient = &http.Client{Transport: rt} })
		res, err := c.Submit(t.Context(), submitReq)
		require.NoError(t, err)
		assert.Equal(t, "task-3", res.TaskID)
		assert.Equal(t, int32(2), rt.n.Load())
		assert.Equal(t, 1, u.Count())
	})
	t.Run("DNS failure", func(t *testing.T) {
		rt := &countingTransport{fail: func(int32) error {
			return &net.DNSError{Err: "no such host", Name: "upstream.invalid", IsNotFound: true}
		}}
		u := newUpstream(t, clienttest.JSON(200, okSubmit("t")))
		c := newTestClient(t, u, attempts(1, 2), func(c *Config) { c.HTTPClient = &http.Client{Transport: rt} })
		_, err := c.Submit(t.Context(), submitReq)
		e := apiError(t, err)
		assert.True(t, e.Retryable)
		assert.False(t, e.MaybeBilled)
		assert.Equal(t, int32(2), rt.n.Load())
	})
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	rt := &countingTransport{fail: func(int32) error { return nil }, next: http.DefaultTransport.(*http.Transport).Clone()}
	c, err := New(Config{
		SubmitURL: "http://" + addr + submitPath, QueryURL: "http://" + addr + queryPath,
		AppKey: testKey, AppSecret: testSecret, Now: fixedNow,
		HTTPClient: &http.Client{Transport: rt}, RetryBase: time.Millisecond, SubmitAttempts: 3,
	})
	require.NoError(t, err)
	_, err = c.Submit(t.Context(), submitReq)
	e := apiError(t, err)
	assert.Equal(t, KindTransport, e.Kind)
	assert.True(t, e.Retryable)
	assert.False(t, e.MaybeBilled)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Equal(t, int32(3), rt.n.Load(), "a refused connection is resent")
	assertNoLeak(t, err)
}

func TestCancelledBeforeSending(t *testing.T) {
	u := newUpstream(t, clienttest.JSON(200, okSubmit("t")))
	c := newTestClient(t, u)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Submit(ctx, submitReq)
	e := apiError(t, err)
	assert.Equal(t, CategoryNotRunning, e.Category)
	assert.False(t, e.MaybeBilled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, u.Count())
}

func TestCancelledWhileWaitingForAnswer(t *testing.T) {
	arrived := make(chan struct{})
	u := newUpstream(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	c := newTestClient(t, u)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-arrived; cancel() }()
	_, err := c.Submit(ctx, submitReq)
	e := apiError(t, err)
	assert.Equal(t, CategoryUncertain, e.Category)
	assert.True(t, e.MaybeBilled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, u.Count())
}

func TestQueryCancelledDuringRetryPause(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	u := newUpstream(t, clienttest.JSON(200, clienttest.Business(500, "maintenance")))
	c := newTestClient(t, u, func(c *Config) {
		c.RetryBase = time.Hour
		// Jitter is drawn just before the pause: the caller gives up right then.
		c.Jitter = func() float64 { cancel(); return 0 }
	})
	_, err := c.Query(ctx, "tid")
	e := apiError(t, err)
	assert.Equal(t, 500, e.Code)
	assert.Equal(t, 1, u.Count())
}

// 7. Config validation.

func TestNew(t *testing.T) {
	valid := func() Config {
		return Config{SubmitURL: "https://api.example/ai/paint/submit", QueryURL: "https://api.example/ai/paint/query",
			AppKey: testKey, AppSecret: testSecret}
	}
	cases := []struct {
		name    string
		mod     func(*Config)
		wantErr error  // sentinel, or
		errText string // a fragment of the message
	}{
		{"missing submit URL", func(c *Config) { c.SubmitURL = "" }, ErrNoURL, ""},
		{"missing query URL", func(c *Config) { c.QueryURL = "" }, ErrNoURL, ""},
		{"no credentials", func(c *Config) { c.AppKey, c.AppSecret = "", "" }, ErrNoCredentials, ""},
		{"AppKey without AppSecret", func(c *Config) { c.AppSecret = "" }, ErrNoCredentials, ""},
		{"AppSecret without AppKey", func(c *Config) { c.AppKey = "" }, ErrNoCredentials, ""},
		{"bad scheme", func(c *Config) { c.SubmitURL = "ftp://api.example/submit" }, nil, "invalid URL"},
		{"no scheme", func(c *Config) { c.QueryURL = "api.example/query" }, nil, "invalid URL"},
		{"no host", func(c *Config) { c.QueryURL = "https:///query" }, nil, "invalid URL"},
		{"unparsable", func(c *Config) { c.SubmitURL = "http://[::1" }, nil, "invalid URL"},
		{"query string", func(c *Config) { c.SubmitURL = "https://api.example/submit?x=1" }, nil, "query string"},
		{"unknown format", func(c *Config) { c.Format = "xml" }, nil, "unknown request format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.mod(&cfg)
			c, err := New(cfg)
			require.Error(t, err)
			assert.Nil(t, c)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
			} else {
				assert.Contains(t, err.Error(), tc.errText)
			}
			assertNoLeak(t, err)
		})
	}

	t.Run("valid", func(t *testing.T) {
		for _, cfg := range []Config{
			valid(),
			{SubmitURL: "http://127.0.0.1:8080/s", QueryURL: "http://127.0.0.1:8080/q", AppCode: testAppCode},
			{SubmitURL: "https://a/s", QueryURL: "https://a/q", AppCode: testAppCode, Format: FormatJSON},
		} {
			c, err := New(cfg)
			require.NoError(t, err)
			require.NotNil(t, c)
		}
	})

	t.Run("defaults", func(t *testing.T) {
		c, err := New(valid())
		require.NoError(t, err)
		got := c.cfg
		assert.Equal(t, FormatForm, got.Format)
		assert.NotNil(t, got.HTTPClient)
		assert.NotSame(t, http.DefaultClient, got.HTTPClient)
		assert.NotNil(t, got.Now)
		assert.NotNil(t, got.Logger)
		assert.NotNil(t, got.Jitter)
		assert.Equal(t, 30*time.Second, got.RequestTimeout)
		assert.Equal(t, int64(1<<20), got.MaxResponseBytes)
		assert.Equal(t, 3, got.QueryAttempts)
		assert.Equal(t, 3, got.SubmitAttempts)
		assert.Equal(t, 500*time.Millisecond, got.RetryBase)
		j := got.Jitter()
		assert.True(t, j >= 0 && j < 1)
	})
}

// 8. Secrets.

func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	scenarios := map[string]clienttest.Reply{
		"ok":          clienttest.JSON(200, okSubmit("t")),
		"0303":        clienttest.Gateway(401, "APIG.0303", "verify signature fail, canonicalRequest:POST|/ai/paint/submit/||", "rid", ""),
		"0304":        clienttest.Gateway(403, "APIG.0304", "not authorised", "rid", ""),
		"999":         clienttest.JSON(200, clienttest.Business(999, "other")),
		"html":        clienttest.Raw(502, "text/html", htmlPage),
		"dropped":     clienttest.HangUp,
		"oversized":   clienttest.Raw(200, "application/json", strings.Repeat(bodyMarker, 1<<10)),
		"no task id":  clienttest.JSON(200, `{"code":200}`),
		"truncated":   truncatedBody,
		"0308 always": clienttest.Gateway(429, "APIG.0308", "throttled", "rid", ""),
	}
	for _, mode := range []string{"signed", "appcode"} {
		for name, reply := range scenarios {
			t.Run(mode+"/"+name, func(t *testing.T) {
				u := newUpstream(t, reply)
				c := newTestClient(t, u, func(c *Config) {
					c.Logger = logger
					c.MaxResponseBytes = 4096
					if mode == "appcode" {
						appCodeOnly(c)
					}
				})
				_, err := c.Submit(t.Context(), submitReq)
				if name != "ok" {
					assertNoLeak(t, err)
				}
				_, err = c.Query(t.Context(), "tid")
				if err != nil {
					assertNoLeak(t, err)
				}
			})
		}
	}
	out := logs.String()
	require.NotEmpty(t, out, "debug logs were written")
	for _, s := range []string{testSecret, testAppCode, "Signature=", "Authorization", bodyMarker} {
		assert.NotContains(t, out, s)
	}
}

// Concurrency: one Client shared by many callers.

func TestConcurrentUse(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == submitPath {
			clienttest.JSON(200, okSubmit(fmt.Sprint("task-", n)))(n, w, r)
			return
		}
		clienttest.JSON(200, clienttest.DoneBody)(n, w, r)
	})
	c := newTestClient(t, u)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			res, err := c.Submit(t.Context(), submitReq)
			if !assert.NoError(t, err) {
				return
			}
			task, err := c.QueryOnce(t.Context(), res.TaskID)
			assert.NoError(t, err)
			assert.True(t, task.Done)
		})
	}
	wg.Wait()
	assert.Equal(t, 16, u.Count())
	for _, h := range u.Requests() {
		assert.NoError(t, h.AuthErr)
	}
}

// Small pure parts.

func TestAPIErrorFormat(t *testing.T) {
	inner := errors.New("boom")
	cases := []struct {
		err  *APIError
		want string
	}{
		{&APIError{Op: "submit", Kind: KindBusiness, Code: 202, Message: "blocked", TaskNo: "T1"},
			"submit: upstream code 202: blocked [taskNo T1]"},
		{&APIError{Op: "query", Kind: KindGateway, GatewayCode: "APIG.0308", HTTPStatus: 429, Message: "throttled", RequestID: "R1"},
			"query: gateway APIG.0308 (HTTP 429): throttled [request_id R1]"},
		{&APIError{Op: "query", Kind: KindDecode, HTTPStatus: 502, Message: "answer is not JSON", RequestID: "R", TaskNo: "T"},
			"query: bad response (HTTP 502): answer is not JSON [request_id R, taskNo T]"},
		{&APIError{Op: "submit", Kind: KindTransport, Message: "no answer in time", Err: inner},
			"submit: transport: no answer in time"},
		{&APIError{Op: "submit", Kind: KindTransport},
			"submit: transport"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, tc.err.Error())
	}
	assert.ErrorIs(t, cases[3].err, inner)
	assert.Equal(t, "0303", (&APIError{GatewayCode: "APIGW.0303"}).GatewayNumber())
	assert.Equal(t, "0303", (&APIError{GatewayCode: "0303"}).GatewayNumber())
	assert.Equal(t, "", (&APIError{}).GatewayNumber())
}

// mayBill is read for submits only: a query never bills.
func TestMayHaveBilled(t *testing.T) {
	for what, billed := range mayBill {
		assert.Equal(t, billed, mayHaveBilled(OpSubmit, what), "submit, %d", what)
		assert.False(t, mayHaveBilled(OpQuery, what), "query, %d", what)
	}
	assert.False(t, mayHaveBilled(OpSubmit, 0), "not in the table: billed nothing")
}

func TestParseCode(t *testing.T) {
	cases := []struct {
		raw  string
		want int
		ok   bool
	}{
		{`200`, 200, true}, {`"200"`, 200, true}, {` 201 `, 201, true}, {`"999"`, 999, true},
		{``, 0, false}, {`null`, 0, false}, {`""`, 0, false}, {`"ok"`, 0, false}, {`200.5`, 0, false}, {`{}`, 0, false},
	}
	for _, tc := range cases {
		got, ok := parseCode(json.RawMessage(tc.raw))
		assert.Equal(t, tc.ok, ok, tc.raw)
		assert.Equal(t, tc.want, got, tc.raw)
	}
}

func TestClockSkewFromDate(t *testing.T) {
	date := testNow.Format(http.TimeFormat)
	assert.Equal(t, 20*time.Minute, clockSkew(testNow.Add(20*time.Minute), date))
	assert.Equal(t, -time.Hour, clockSkew(testNow.Add(-time.Hour), date))
	assert.Zero(t, clockSkew(testNow, ""))
	assert.Zero(t, clockSkew(testNow, "yesterday"))
}

func TestRedactURL(t *testing.T) {
	assert.Equal(t, "https://h:8443/a/b", redactURL("https://user:pw@h:8443/a/b?token=x#f"))
	assert.Equal(t, "(invalid url)", redactURL("http://[::1"))
}

// TestRedirectNotFollowed: the APIG API never redirects, and Go's client would
// carry the X-Apig-AppCode header (only Authorization and Cookie are dropped)
// and a re-sent paid body to wherever the Location points.
func TestRedirectNotFollowed(t *testing.T) {
	for _, status := range []int{301, 302, 307, 308} {
		for _, mode := range []string{"signed", "appcode"} {
			t.Run(fmt.Sprint(status, "/", mode), func(t *testing.T) {
				elsewhere := newUpstream(t, clienttest.JSON(200, okSubmit("stolen")))
				u := newUpstream(t, func(_ int, w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, elsewhere.URL+submitPath, status)
				})
				cfg := testConfig(u)
				cfg.HTTPClient = nil // the default client, as the server builds it
				if mode == "appcode" {
					appCodeOnly(&cfg)
				}
				c, err := New(cfg)
				require.NoError(t, err)
				_, err = c.Submit(t.Context(), submitReq)
				e := apiError(t, err)
				assert.Equal(t, KindDecode, e.Kind)
				assert.Equal(t, status, e.HTTPStatus)
				assert.Equal(t, CategoryBadURL, e.Category)
				assert.Contains(t, e.Message, "redirect")
				assert.False(t, e.Retryable)
				assert.False(t, e.MaybeBilled)
				assert.Equal(t, 1, u.Count())
				assert.Zero(t, elsewhere.Count(), "neither credentials nor the paid body follow a redirect")
				assertNoLeak(t, err)
			})
		}
	}
}

func TestSubmitTaskIDShapes(t *testing.T) {
	cases := map[string]struct {
		data string
		id   string
		ok   bool
	}{
		"string": {`{"taskId":"abc123"}`, "abc123", true},
		"number": {`{"taskId":1710510250391}`, "1710510250391", true},
		"empty":  {`{"taskId":""}`, "", false},
		"object": {`{"taskId":{}}`, "", false},
		"bool":   {`{"taskId":true}`, "", false},
		"null":   {`{"taskId":null}`, "", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			id := strings.TrimSpace(scalarText(json.RawMessage(strings.TrimSuffix(strings.TrimPrefix(tc.data, `{"taskId":`), "}"))))
			assert.Equal(t, tc.ok, id != "")
			assert.Equal(t, tc.id, id)
		})
	}
}

func TestImageURLShapes(t *testing.T) {
	assert.Equal(t, "https://a/1.png", imageURL(json.RawMessage(`{"image":"https://a/1.png"}`)))
	assert.Equal(t, "https://a/2.png", imageURL(json.RawMessage(`"https://a/2.png"`)))
	assert.Equal(t, "", imageURL(json.RawMessage(`42`)))
	assert.Equal(t, "", imageURL(json.RawMessage(`{"url":1}`)))
}

func TestIsWebURL(t *testing.T) {
	assert.True(t, isWebURL("https://cdn.example.com/a.png"))
	assert.True(t, isWebURL("http://127.0.0.1:8080/a.png"))
	for _, bad := range []string{"", "javascript:alert(1)", "file:///etc/passwd", "data:image/png;base64,xx", "/relative.png", "https://"} {
		assert.False(t, isWebURL(bad), bad)
	}
}

func TestEnvelopeToleratesScalarTypes(t *testing.T) {
	var env envelope
	require.NoError(t, json.Unmarshal([]byte(`{"code":200,"msg":"成功","taskNo":12345678901234567890,"data":{"taskId":"T1"},"request_id":7,"error_msg":null}`), &env))
	assert.Equal(t, "12345678901234567890", env.TaskNo, "large numbers keep every digit")
	assert.Equal(t, "7", env.RequestID)
	assert.Equal(t, "成功", env.Msg)
	assert.Empty(t, env.ErrorMsg)
	require.NoError(t, json.Unmarshal([]byte(`{"code":"400","msg":{"x":1}}`), &env))
	assert.Empty(t, env.Msg, "an object where a string belongs is dropped, not fatal")
}

// Many waits poll at once: the default client keeps their connections open
// for the next round instead of dialling again.
func TestDefaultClientReusesConnections(t *testing.T) {
	const parallel = 20
	var mu sync.Mutex
	dials, arrived := 0, 0
	all := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		wait := all
		if arrived%parallel == 0 {
			close(all)
			all = make(chan struct{})
		}
		mu.Unlock()
		select { // answer once every query of the round is in, so each had its own connection
		case <-wait:
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, clienttest.PendingBody)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			dials++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New(Config{SubmitURL: srv.URL + submitPath, QueryURL: srv.URL + queryPath, AppCode: testAppCode, MaxConcurrency: parallel})
	require.NoError(t, err)
	for range 2 {
		var wg sync.WaitGroup
		for range parallel {
			wg.Go(func() {
				_, err := c.Query(t.Context(), "tid")
				assert.NoError(t, err)
			})
		}
		wg.Wait()
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, parallel, dials, "the second round reuses the first round's connections")
}

// TestObserveEveryAttempt: Observe hears of each HTTP attempt, retries
// included, with the failure's category as its outcome.
func TestObserveEveryAttempt(t *testing.T) {
	u := clienttest.Start(t, clienttest.Seq(
		clienttest.Gateway(http.StatusServiceUnavailable, "APIG.0202", "backend unavailable", "", ""),
		clienttest.JSON(http.StatusOK, `{"code":200,"msg":"成功","taskNo":"TN-q","data":{"status":0}}`),
		clienttest.JSON(http.StatusOK, okSubmit("task-1")),
	))
	o := &observed{t: t}
	c := newTestClient(t, u, o.config)
	_, err := c.Query(t.Context(), "tid")
	require.NoError(t, err)
	_, err = c.Submit(t.Context(), submitReq)
	require.NoError(t, err)
	assert.Equal(t, []string{"query transient", "query ok", "submit ok"}, o.all())
}

// observed records what Observe hears, as "op outcome".
type observed struct {
	t    *testing.T
	mu   sync.Mutex
	seen []string
}

func (o *observed) config(c *Config) {
	c.Observe = func(op Op, outcome string, took time.Duration) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.seen = append(o.seen, string(op)+" "+outcome)
		assert.Positive(o.t, took)
	}
}

func (o *observed) all() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen
}

// TestObserveLeavesOutWhatTheCallerEnded: a query cut off because its
// caller left, or a submit never sent, is no upstream outcome and is not
// counted; a submit cut off after it was sent may have billed: it counts,
// as uncertain.
func TestObserveLeavesOutWhatTheCallerEnded(t *testing.T) {
	arrived := make(chan struct{}, 2)
	u := newUpstream(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	o := &observed{t: t}
	c := newTestClient(t, u, o.config)
	cutOff := func() context.Context {
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-arrived; cancel() }()
		return ctx
	}
	_, err := c.Query(cutOff(), "tid")
	require.ErrorIs(t, err, context.Canceled)
	gone, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.Submit(gone, submitReq)
	require.ErrorIs(t, err, context.Canceled)
	_, err = c.Submit(cutOff(), submitReq)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []string{"submit uncertain"}, o.all())
}
