package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/schema"
	"aipaint-mcp/signer"
)

const formType = "application/x-www-form-urlencoded; charset=UTF-8"

// fakeClock is the sandbox's clock in tests; the test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t     *testing.T
	sb    *Sandbox
	srv   *httptest.Server
	clock *fakeClock
}

func newHarness(t *testing.T, delay time.Duration) *harness {
	t.Helper()
	clock := &fakeClock{t: time.Date(2024, 3, 15, 8, 9, 10, 0, time.UTC)}
	sb := New(Options{Delay: delay, Now: clock.Now, Logger: testLogger(t)})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return &harness{t: t, sb: sb, srv: srv, clock: clock}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// signedRequest builds a POST to baseURL+path signed the way the client
// does: Content-Type, Host and X-Sdk-Date signed with secret.
func signedRequest(t *testing.T, baseURL, path, contentType string, body []byte, date time.Time, secret string) (*http.Request, signer.Signature) {
	t.Helper()
	u := baseURL + path
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("Host", strings.TrimPrefix(baseURL, "http://"))
	h.Set(signer.HeaderDate, date.UTC().Format(signer.DateLayout))
	sig, err := signer.Sign(AppKey, secret, http.MethodPost, u, h, body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	require.NoError(t, err)
	h.Del("Host") // the transport sends req.Host
	h.Set("Authorization", sig.Authorization)
	req.Header = h
	return req, sig
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{res.StatusCode, res.Header, body}
}

type businessReply struct {
	Code   int             `json:"code"`
	Msg    string          `json:"msg"`
	TaskNo string          `json:"taskNo"`
	Data   json.RawMessage `json:"data"`
}

func (r response) business(t *testing.T) businessReply {
	t.Helper()
	var b businessReply
	require.NoError(t, json.Unmarshal(r.body, &b), string(r.body))
	assert.Regexp(t, `^\d{24}$`, b.TaskNo)
	return b
}

func (r response) gateway(t *testing.T) gatewayBody {
	t.Helper()
	var g gatewayBody
	require.NoError(t, json.Unmarshal(r.body, &g), string(r.body))
	assert.Regexp(t, `^[0-9a-f]{32}$`, g.RequestID)
	assert.Equal(t, g.RequestID, r.header.Get("X-Request-Id"))
	return g
}

// send posts a body signed at the sandbox's current time.
func (h *harness) send(path, contentType string, body []byte) response {
	h.t.Helper()
	req, _ := signedRequest(h.t, h.srv.URL, path, contentType, body, h.clock.Now(), AppSecret)
	return do(h.t, req)
}

func (h *harness) post(path string, form url.Values) response {
	h.t.Helper()
	return h.send(path, formType, []byte(form.Encode()))
}

func (h *harness) get(path string) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	require.NoError(h.t, err)
	return do(h.t, req)
}

func submitForm(text, resolution, style, num string) url.Values {
	v := url.Values{"text": {text}, "resolution": {resolution}, "style": {style}}
	if num != "" {
		v.Set("num", num)
	}
	return v
}

type submitData struct {
	TaskID string `json:"taskId"`
}

func (h *harness) submitOK(form url.Values) string {
	h.t.Helper()
	res := h.post(SubmitPath, form)
	require.Equal(h.t, http.StatusOK, res.status)
	b := res.business(h.t)
	require.Equal(h.t, 200, b.Code, b.Msg)
	assert.Equal(h.t, "成功", b.Msg)
	var d submitData
	require.NoError(h.t, json.Unmarshal(b.Data, &d))
	assert.Regexp(h.t, `^sbx[0-9a-f]{20}$`, d.TaskID)
	return d.TaskID
}

func (h *harness) queryOK(taskID string) (queryData, []byte) {
	h.t.Helper()
	res := h.post(QueryPath, url.Values{"taskId": {taskID}})
	require.Equal(h.t, http.StatusOK, res.status)
	b := res.business(h.t)
	require.Equal(h.t, 200, b.Code, b.Msg)
	var d queryData
	require.NoError(h.t, json.Unmarshal(b.Data, &d))
	return d, b.Data
}

func TestSubmitQueryFetch(t *testing.T) {
	h := newHarness(t, 30*time.Second)
	id := h.submitOK(submitForm("一只在霓虹雨夜中奔跑的猫", "1024*1536", "赛博朋克", "3"))
	assert.Equal(t, Stats{Submits: 1, BilledImages: 3, SubmitRequests: 1}, h.sb.Stats())

	pending, raw := h.queryOK(id)
	assert.Equal(t, 0, pending.Status)
	assert.Equal(t, "2024-03-15 16:09:10", pending.CreateTime, "China time, no zone")
	assert.Empty(t, pending.Img)
	assert.Contains(t, string(raw), `"imgUrls":[]`)
	assert.Equal(t, http.StatusNotFound, h.get("/images/"+id+"/1.png").status, "not generated yet")

	h.clock.Advance(30 * time.Second)
	done, _ := h.queryOK(id)
	require.Equal(t, 1, done.Status)
	assert.Equal(t, "2024-03-15 16:09:10", done.CreateTime)
	require.Len(t, done.ImgURLs, 3)
	assert.Equal(t, done.ImgURLs[0].Image, done.Img)
	for i, u := range done.ImgURLs {
		want := fmt.Sprintf("%s/images/%s/%d.png", h.srv.URL, id, i+1)
		require.Equal(t, want, u.Image)
		res := h.get(strings.TrimPrefix(u.Image, h.srv.URL))
		require.Equal(t, http.StatusOK, res.status)
		assert.Equal(t, "image/png", res.header.Get("Content-Type"))
		img, err := png.Decode(bytes.NewReader(res.body))
		require.NoError(t, err)
		assert.Equal(t, 1024, img.Bounds().Dx())
		assert.Equal(t, 1536, img.Bounds().Dy())
	}
	assert.Equal(t, Stats{Submits: 1, BilledImages: 3, Queries: 2, ImageFetches: 3, SubmitRequests: 1}, h.sb.Stats())

	for _, p := range []string{"/images/" + id + "/0.png", "/images/" + id + "/4.png", "/images/" + id + "/1.jpg", "/images/sbxnope/1.png"} {
		assert.Equal(t, http.StatusNotFound, h.get(p).status, p)
	}
}

func TestImageCached(t *testing.T) {
	h := newHarness(t, 0)
	id := h.submitOK(submitForm("山水", "1024*1024", "古风", ""))
	first := h.get("/images/" + id + "/1.png")
	second := h.get("/images/" + id + "/1.png")
	require.Equal(t, http.StatusOK, first.status)
	assert.Equal(t, first.body, second.body)
	assert.EqualValues(t, 2, h.sb.Stats().ImageFetches)
}

func TestStartAppCodeAndClose(t *testing.T) {
	sb, err := Start(Options{Logger: testLogger(t)})
	require.NoError(t, err)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, sb.URL())
	assert.Equal(t, sb.URL()+SubmitPath, sb.SubmitURL())
	assert.Equal(t, sb.URL()+QueryPath, sb.QueryURL())

	post := func(u string, form url.Values) businessReply {
		req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", formType)
		req.Header.Set(signer.HeaderAppCode, AppCode)
		res := do(t, req)
		require.Equal(t, http.StatusOK, res.status, string(res.body))
		return res.business(t)
	}
	sub := post(sb.SubmitURL(), submitForm("海边日落", "1536*1024", "油画", "2"))
	require.Equal(t, 200, sub.Code)
	var d submitData
	require.NoError(t, json.Unmarshal(sub.Data, &d))

	q := post(sb.QueryURL(), url.Values{"taskId": {d.TaskID}})
	var qd queryData
	require.NoError(t, json.Unmarshal(q.Data, &qd))
	assert.Equal(t, 1, qd.Status, "Delay 0: done at once")
	require.Len(t, qd.ImgURLs, 2)
	assert.True(t, strings.HasPrefix(qd.Img, sb.URL()+"/images/"))

	require.NoError(t, sb.Close())
	require.NoError(t, sb.Close(), "idempotent")
	_, err = http.Post(sb.QueryURL(), formType, nil)
	assert.Error(t, err, "closed")
}

func TestNewWithoutStart(t *testing.T) {
	sb := New(Options{})
	assert.Empty(t, sb.URL())
	assert.Empty(t, sb.SubmitURL())
	assert.NoError(t, sb.Close())
}

func TestAppCodeAuth(t *testing.T) {
	h := newHarness(t, 0)
	body := submitForm("猫", "1024*1024", "二次元", "").Encode()
	cases := []struct {
		name, code string
		status     int
	}{
		{"right", AppCode, http.StatusOK},
		{"wrong", "nope", http.StatusUnauthorized},
		{"missing", "", http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, h.srv.URL+SubmitPath, strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", formType)
			if c.code != "" {
				req.Header.Set(signer.HeaderAppCode, c.code)
			}
			res := do(t, req)
			require.Equal(t, c.status, res.status)
			if c.status == http.StatusUnauthorized {
				assert.Equal(t, "APIG.0303", res.gateway(t).ErrorCode)
			}
		})
	}
	assert.Equal(t, Stats{Submits: 1, BilledImages: 1, AuthFailures: 2, SubmitRequests: 1}, h.sb.Stats())
}

func TestBadSignatureEchoesCanonicalRequest(t *testing.T) {
	h := newHarness(t, 0)
	body := []byte(submitForm("猫", "1024*1024", "二次元", "").Encode())
	req, sig := signedRequest(t, h.srv.URL, SubmitPath, formType, body, h.clock.Now(), "wrong-secret")
	res := do(t, req)
	require.Equal(t, http.StatusUnauthorized, res.status)
	g := res.gateway(t)
	assert.Equal(t, "APIG.0303", g.ErrorCode)
	// Same bytes, so the gateway's canonical request is the client's.
	assert.Equal(t, "verify signature fail, canonicalRequest:"+strings.ReplaceAll(sig.CanonicalRequest, "\n", "|"), g.ErrorMsg)
	assert.Contains(t, g.ErrorMsg, "POST|/ai/paint/submit/||content-type:")
	assert.EqualValues(t, 1, h.sb.Stats().AuthFailures)
	assert.Zero(t, h.sb.Stats().Submits)
}

func TestTamperedBodyFailsSignature(t *testing.T) {
	h := newHarness(t, 0)
	body := []byte(submitForm("猫", "1024*1024", "二次元", "").Encode())
	req, _ := signedRequest(t, h.srv.URL, SubmitPath, formType, body, h.clock.Now(), AppSecret)
	req.Body = io.NopCloser(bytes.NewReader(append(body, 'x')))
	req.ContentLength++
	res := do(t, req)
	require.Equal(t, http.StatusUnauthorized, res.status)
	assert.Contains(t, res.gateway(t).ErrorMsg, "verify signature fail, canonicalRequest:")
}

func TestClockSkew(t *testing.T) {
	h := newHarness(t, 0)
	body := []byte(url.Values{"taskId": {"x"}}.Encode())
	for _, skew := range []time.Duration{-16 * time.Minute, 16 * time.Minute} {
		req, _ := signedRequest(t, h.srv.URL, QueryPath, formType, body, h.clock.Now().Add(skew), AppSecret)
		res := do(t, req)
		require.Equal(t, http.StatusUnauthorized, res.status, skew)
		g := res.gateway(t)
		assert.Equal(t, "APIG.0303", g.ErrorCode)
		assert.Contains(t, g.ErrorMsg, "expired")
	}
	req, _ := signedRequest(t, h.srv.URL, QueryPath, formType, body, h.clock.Now().Add(14*time.Minute), AppSecret)
	assert.Equal(t, http.StatusOK, do(t, req).status, "within 15 minutes")
	assert.EqualValues(t, 2, h.sb.Stats().AuthFailures)
}

func TestSubmitValidation(t *testing.T) {
	h := newHarness(t, 0)
	cases := []struct {
		name string
		form url.Values
	}{
		{"missing text", submitForm("", "1024*1024", "古风", "")},
		{"101 Chinese characters", submitForm(strings.Repeat("猫", 101), "1024*1024", "古风", "")},
		{"invalid UTF-8", submitForm("\xff", "1024*1024", "古风", "")},
		{"missing resolution", submitForm("猫", "", "古风", "")},
		{"alias resolution", submitForm("猫", "1024x1024", "古风", "")},
		{"alias resolution word", submitForm("猫", "portrait", "古风", "")},
		{"missing style", submitForm("猫", "1024*1024", "", "")},
		{"alias style", submitForm("猫", "1024*1024", "cyberpunk", "")},
		{"style with extra space", submitForm("猫", "1024*1024", "low  poly", "")},
		{"num 0", submitForm("猫", "1024*1024", "古风", "0")},
		{"num 7", submitForm("猫", "1024*1024", "古风", "7")},
		{"num not a number", submitForm("猫", "1024*1024", "古风", "two")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := h.post(SubmitPath, c.form)
			require.Equal(t, http.StatusOK, res.status)
			b := res.business(t)
			assert.Equal(t, 400, b.Code)
			assert.True(t, strings.HasPrefix(b.Msg, "参数错误: "), b.Msg)
			assert.Empty(t, b.Data)
		})
	}
	assert.Zero(t, h.sb.Stats().Submits)
	assert.Zero(t, h.sb.Stats().BilledImages)

	h.submitOK(submitForm(strings.Repeat("猫", schema.MaxTextChars), "1024*1024", "low poly", "6"))
	assert.Equal(t, Stats{Submits: 1, BilledImages: 6, SubmitRequests: int64(len(cases)) + 1}, h.sb.Stats())
}

func TestEveryCanonicalValueAccepted(t *testing.T) {
	h := newHarness(t, 0)
	for _, st := range schema.Styles {
		h.submitOK(submitForm("猫", schema.Resolutions[0].Value, st.Name, ""))
	}
	for _, r := range schema.Resolutions {
		h.submitOK(submitForm("猫", r.Value, schema.Styles[0].Name, ""))
	}
}

func TestModeration(t *testing.T) {
	h := newHarness(t, 0)
	res := h.post(SubmitPath, submitForm("一张违禁图片", "1024*1024", "古风", "2"))
	require.Equal(t, http.StatusOK, res.status)
	b := res.business(t)
	assert.Equal(t, 202, b.Code)
	assert.Equal(t, "文本被拦截", b.Msg)
	assert.Zero(t, h.sb.Stats().BilledImages)
}

func TestQueryErrors(t *testing.T) {
	h := newHarness(t, 0)
	unknown := h.post(QueryPath, url.Values{"taskId": {"sbx0000"}}).business(t)
	assert.Equal(t, 201, unknown.Code)
	assert.Equal(t, "taskId不存在", unknown.Msg)
	missing := h.post(QueryPath, url.Values{}).business(t)
	assert.Equal(t, 400, missing.Code)
	assert.EqualValues(t, 2, h.sb.Stats().Queries)
}

func TestUnknownRouteOrMethod(t *testing.T) {
	h := newHarness(t, 0)
	cases := []struct{ method, path string }{
		{http.MethodGet, "/nope"},
		{http.MethodPost, "/ai/paint/other"},
		{http.MethodGet, SubmitPath},
		{http.MethodPut, QueryPath},
		{http.MethodPost, "/images/x/1.png"},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, h.srv.URL+c.path, nil)
		require.NoError(t, err)
		res := do(t, req)
		require.Equal(t, http.StatusNotFound, res.status, c)
		assert.Equal(t, "APIG.0101", res.gateway(t).ErrorCode, c)
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := newHarness(t, 0)
	res := h.send(SubmitPath, formType, bytes.Repeat([]byte("a"), 64<<10+1))
	require.Equal(t, http.StatusRequestEntityTooLarge, res.status)
	assert.Equal(t, "APIG.0201", res.gateway(t).ErrorCode)
}

func TestJSONBody(t *testing.T) {
	h := newHarness(t, 0)
	res := h.send(SubmitPath, "application/json", []byte(`{"text":"猫","resolution":"1024*1024","style":"水彩画","num":2}`))
	b := res.business(t)
	require.Equal(t, 200, b.Code, b.Msg)
	var d submitData
	require.NoError(t, json.Unmarshal(b.Data, &d))
	assert.EqualValues(t, 2, h.sb.Stats().BilledImages)

	q := h.send(QueryPath, "application/json; charset=utf-8", []byte(`{"taskId":"`+d.TaskID+`"}`)).business(t)
	assert.Equal(t, 200, q.Code)

	for _, body := range []string{
		`{"text":"猫","resolution":"1024*1024","style":"水彩画","num":"3"}`,
	} {
		assert.Equal(t, 200, h.send(SubmitPath, "application/json", []byte(body)).business(t).Code, body)
	}
	for _, body := range []string{
		`{"text":1,"resolution":"1024*1024","style":"水彩画"}`,
		`{"text":"猫","resolution":"1024*1024","style":"水彩画","num":1.5}`,
		`{"text":"猫","resolution":"1024*1024","style":"水彩画","num":null}`,
		`["猫"]`,
		`{"text":"猫"`,
	} {
		assert.Equal(t, 400, h.send(SubmitPath, "application/json", []byte(body)).business(t).Code, body)
	}
}

func TestUnsupportedContentType(t *testing.T) {
	h := newHarness(t, 0)
	for _, ct := range []string{"text/plain", "multipart/form-data; boundary=x"} {
		b := h.send(SubmitPath, ct, []byte(submitForm("猫", "1024*1024", "古风", "").Encode())).business(t)
		assert.Equal(t, 400, b.Code, ct)
	}
	assert.Zero(t, h.sb.Stats().Submits)
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, time.Second)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := h.submitOK(submitForm(fmt.Sprint("猫", i), "1024*1024", "像素风格", "1"))
			h.sb.SetDelay(0)
			h.clock.Advance(time.Second)
			if d, _ := h.queryOK(id); d.Status == 1 {
				assert.Equal(t, http.StatusOK, h.get("/images/"+id+"/1.png").status)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 8, h.sb.Stats().Submits)
}

func TestRenderVariesByStyleTextAndN(t *testing.T) {
	render := func(style int, text string, n int) []byte {
		b, err := renderPNG(style, text, n, 1024, 1024)
		require.NoError(t, err)
		return b
	}
	base := render(0, "猫", 1)
	assert.Equal(t, base, render(0, "猫", 1), "deterministic")
	assert.NotEqual(t, base, render(1, "猫", 1), "style")
	assert.NotEqual(t, base, render(0, "狗", 1), "text")
	assert.NotEqual(t, base, render(0, "猫", 2), "n")

	seen := map[string]int{}
	for i := range schema.Styles {
		b := string(render(i, "猫", 1))
		if j, dup := seen[b]; dup {
			t.Errorf("styles %d and %d render the same image", j, i)
		}
		seen[b] = i
	}
}

func TestRenderDimensions(t *testing.T) {
	for _, r := range schema.Resolutions {
		b, err := renderPNG(3, "猫", 1, r.Width, r.Height)
		require.NoError(t, err)
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		require.NoError(t, err)
		assert.Equal(t, [2]int{r.Width, r.Height}, [2]int{cfg.Width, cfg.Height}, r.Value)
	}
}

func BenchmarkRenderPNG(b *testing.B) {
	var size int
	for i := 0; b.Loop(); i++ {
		out, err := renderPNG(i%len(schema.Styles), "一只在霓虹雨夜中奔跑的猫", 1, 1024, 1536)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/png")
}
