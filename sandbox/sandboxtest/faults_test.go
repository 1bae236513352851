package sandboxtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
	"aipaint-mcp/sandbox"
	"aipaint-mcp/signer"
)

const formType = "application/x-www-form-urlencoded; charset=UTF-8"

var epoch = time.Date(2024, 3, 15, 8, 9, 10, 0, time.UTC)

// rig is an Upstream on a clock the test holds still.
type rig struct {
	t *testing.T
	*Upstream
}

func newRig(t *testing.T, opts ...Option) *rig {
	t.Helper()
	return &rig{t: t, Upstream: Start(t, append([]Option{Clock(func() time.Time { return epoch })}, opts...)...)}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// request is a POST of form to path, signed as the client signs it.
func (r *rig) request(path string, form url.Values) *http.Request {
	r.t.Helper()
	body := []byte(form.Encode())
	req, err := http.NewRequest(http.MethodPost, r.URL+path, bytes.NewReader(body))
	require.NoError(r.t, err)
	req.Header.Set("Content-Type", formType)
	_, err = signer.SignRequest(req, body, sandbox.AppKey, sandbox.AppSecret, epoch)
	require.NoError(r.t, err)
	return req
}

func (r *rig) post(path string, form url.Values) response {
	r.t.Helper()
	return do(r.t, r.request(path, form))
}

// do sends req and reads the whole answer.
func do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return read(t, res)
}

func read(t *testing.T, res *http.Response) response {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	require.NoError(t, err)
	return response{res.StatusCode, res.Header, body}
}

func (r response) business(t *testing.T) (code int, msg string) {
	t.Helper()
	var b struct {
		Code   int    `json:"code"`
		Msg    string `json:"msg"`
		TaskNo string `json:"taskNo"`
	}
	require.NoError(t, json.Unmarshal(r.body, &b), string(r.body))
	assert.Regexp(t, `^\d{24}$`, b.TaskNo)
	return b.Code, b.Msg
}

func (r response) gateway(t *testing.T) string {
	t.Helper()
	var g struct {
		ErrorCode string `json:"error_code"`
		RequestID string `json:"request_id"`
	}
	require.NoError(t, json.Unmarshal(r.body, &g), string(r.body))
	assert.Regexp(t, `^[0-9a-f]{32}$`, g.RequestID)
	assert.Equal(t, g.RequestID, r.header.Get(sandbox.HeaderRequestID))
	return g.ErrorCode
}

func submitForm(text string) url.Values {
	return url.Values{"text": {text}, "resolution": {"1024*1024"}, "style": {"古风"}}
}

// submitOK submits form and expects it accepted; it returns the task id.
func (r *rig) submitOK(form url.Values) string {
	r.t.Helper()
	res := r.post(sandbox.SubmitPath, form)
	require.Equal(r.t, http.StatusOK, res.status)
	var b struct {
		Code int `json:"code"`
		Data struct {
			TaskID string `json:"taskId"`
		} `json:"data"`
	}
	require.NoError(r.t, json.Unmarshal(res.body, &b), string(res.body))
	require.Equal(r.t, 200, b.Code, string(res.body))
	return b.Data.TaskID
}

// TestFaultKinds sends one submit per kind and checks the wire answer; a
// faulted submit never bills, and the next one is served normally.
func TestFaultKinds(t *testing.T) {
	gatewayCheck := func(status int, code string) func(*testing.T, response) {
		return func(t *testing.T, res response) {
			assert.Equal(t, status, res.status)
			assert.Equal(t, code, res.gateway(t))
		}
	}
	businessCheck := func(want int) func(*testing.T, response) {
		return func(t *testing.T, res response) {
			code, _ := res.business(t)
			assert.Equal(t, want, code)
		}
	}
	checks := map[FaultKind]func(t *testing.T, res response){
		FaultSlow: func(t *testing.T, res response) {
			assert.Equal(t, http.StatusOK, res.status, "a slow answer is otherwise normal")
		},
		Fault502: gatewayCheck(http.StatusBadGateway, "APIG.0202"),
		Fault503: func(t *testing.T, res response) {
			assert.Equal(t, http.StatusServiceUnavailable, res.status)
			assert.Equal(t, "text/plain", res.header.Get("Content-Type"))
		},
		Fault504: gatewayCheck(http.StatusGatewayTimeout, "APIG.0203"),
		Fault429: gatewayCheck(http.StatusTooManyRequests, "APIG.0308"),
		Fault500: businessCheck(500),
		Fault501: businessCheck(501),
		Fault999: businessCheck(999),
		Fault202: businessCheck(202),
		FaultGarbage: func(t *testing.T, res response) {
			assert.Equal(t, http.StatusOK, res.status)
			assert.Contains(t, string(res.body), "garbage")
		},
		FaultTruncated: func(t *testing.T, res response) {
			assert.True(t, strings.HasPrefix(string(res.body), `{"code":200`) && !strings.HasSuffix(string(res.body), "}"), string(res.body))
		},
		FaultHTML: func(t *testing.T, res response) {
			assert.Equal(t, http.StatusBadGateway, res.status)
			assert.Equal(t, "text/html", res.header.Get("Content-Type"))
			assert.Contains(t, string(res.body), "<html>")
		},
		FaultOversized: func(t *testing.T, res response) {
			assert.Equal(t, http.StatusOK, res.status)
			assert.Greater(t, len(res.body), 3<<20)
			assert.True(t, strings.HasSuffix(string(res.body), `"}}`), "well-formed, only too big")
		},
		FaultSkew: func(t *testing.T, res response) {
			gatewayCheck(http.StatusUnauthorized, "APIG.0303")(t, res)
			assert.Contains(t, string(res.body), "request expired")
			date, err := http.ParseTime(res.header.Get("Date"))
			require.NoError(t, err)
			assert.Equal(t, epoch.Add(-DefaultSkew), date, "Date is the skew behind the caller")
		},
	}
	for _, kind := range FaultKinds() {
		t.Run(string(kind), func(t *testing.T) {
			r := newRig(t)
			f, ok := FaultOf(kind)
			require.True(t, ok)
			if kind == FaultSlow {
				f.Delay = 10 * time.Millisecond
			}
			r.FailNext(sandbox.OpSubmit, f)
			res, err := http.DefaultClient.Do(r.request(sandbox.SubmitPath, submitForm("猫")))
			if kind == FaultDrop {
				require.Error(t, err, "the connection is closed without an answer")
			} else {
				require.NoError(t, err)
				check, ok := checks[kind]
				require.True(t, ok, "no check for kind %s", kind)
				check(t, read(t, res))
			}
			want := int64(0)
			if kind == FaultSlow {
				want = 1
			}
			assert.Equal(t, want, r.Stats().Submits, "only a slow answer bills")
			r.submitOK(submitForm("狗"))
		})
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name   string
		fault  Fault
		status int
		check  func(t *testing.T, res response)
	}{
		{"business", Fault{Business: 500}, http.StatusOK, func(t *testing.T, res response) {
			code, msg := res.business(t)
			assert.Equal(t, 500, code)
			assert.Equal(t, "服务商维护，请稍候再试", msg)
		}},
		{"business mirrored", Fault{Business: 501, MirrorStatus: true, Msg: "维护中"}, 501, func(t *testing.T, res response) {
			code, msg := res.business(t)
			assert.Equal(t, 501, code)
			assert.Equal(t, "维护中", msg)
		}},
		{"gateway throttled", Fault{Gateway: "APIG.0308"}, http.StatusTooManyRequests, func(t *testing.T, res response) {
			assert.Equal(t, "APIG.0308", res.gateway(t))
		}},
		{"gateway timeout", Fault{Gateway: "APIGW.0203"}, http.StatusGatewayTimeout, func(t *testing.T, res response) {
			assert.Equal(t, "APIGW.0203", res.gateway(t))
		}},
		{"raw garbage", Fault{Raw: []byte("\x00\x01garbage")}, http.StatusOK, func(t *testing.T, res response) {
			assert.Equal(t, []byte("\x00\x01garbage"), res.body)
		}},
		{"raw html", Fault{Raw: []byte("<html>bad gateway</html>"), Status: 502, ContentType: "text/html"}, 502, func(t *testing.T, res response) {
			assert.Equal(t, "text/html", res.header.Get("Content-Type"))
			assert.Equal(t, "<html>bad gateway</html>", string(res.body))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.FailNext(sandbox.OpSubmit, c.fault)
			res := r.post(sandbox.SubmitPath, submitForm("猫"))
			require.Equal(t, c.status, res.status)
			assert.NotEmpty(t, res.header.Get(sandbox.HeaderRequestID))
			c.check(t, res)
			assert.Zero(t, r.Stats().Submits, "a fault never bills")

			r.submitOK(submitForm("猫")) // consumed once
			want := sandbox.Stats{Submits: 1, BilledImages: 1, SubmitRequests: 2}
			if !c.fault.definiteRejection() {
				want.RepeatedSubmits = 1 // the caller could not know the first one was not billed
			}
			assert.Equal(t, want, r.Stats())
		})
	}
}

func TestFaultsQueuePerOpInOrderAfterAuth(t *testing.T) {
	r := newRig(t)
	r.FailNext(sandbox.OpQuery, Fault{Business: 500})
	r.FailNext(sandbox.OpQuery, Fault{Gateway: "0308"})

	id := r.submitOK(submitForm("猫")) // submits are unaffected

	req, err := http.NewRequest(http.MethodPost, r.URL+sandbox.QueryPath, strings.NewReader("taskId="+id))
	require.NoError(t, err)
	req.Header.Set("Content-Type", formType)
	assert.Equal(t, http.StatusUnauthorized, do(t, req).status, "auth first; the fault stays queued")

	query := func() response { return r.post(sandbox.QueryPath, url.Values{"taskId": {id}}) }
	code, _ := query().business(t)
	assert.Equal(t, 500, code)
	assert.Equal(t, "APIG.0308", query().gateway(t))
	code, _ = query().business(t)
	assert.Equal(t, 200, code)
	assert.EqualValues(t, 3, r.Stats().Queries, "faulted queries are counted as the sandbox counts its own")
}

// TestSlowFaultEndsWithTheCaller: a slow answer stops waiting when the
// client gives up, and then bills nothing.
func TestSlowFaultEndsWithTheCaller(t *testing.T) {
	returned := make(chan struct{}, 1)
	r := newRig(t, Front(func(w http.ResponseWriter, req *http.Request, next http.Handler) {
		next.ServeHTTP(w, req)
		returned <- struct{}{}
	}))
	r.FailNext(sandbox.OpSubmit, Fault{Delay: time.Hour})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := http.DefaultClient.Do(r.request(sandbox.SubmitPath, submitForm("猫")).WithContext(ctx))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still waits after the caller left")
	}
	assert.Equal(t, sandbox.Stats{SubmitRequests: 1}, r.Stats(), "counted, not billed")
	r.submitOK(submitForm("猫"))
	assert.EqualValues(t, 1, r.Stats().RepeatedSubmits, "the caller could not know it was not billed")
}

func TestChaos(t *testing.T) {
	r := newRig(t)
	r.SetChaos(Chaos{Rate: 1, Seed: 1, Kinds: []FaultKind{Fault500, Fault429}})
	for range 20 {
		res := r.post(sandbox.QueryPath, url.Values{"taskId": {"x"}})
		assert.Contains(t, []int{http.StatusOK, http.StatusTooManyRequests}, res.status)
	}
	counts := r.FaultCounts()
	assert.EqualValues(t, 20, counts[Fault500]+counts[Fault429])
	assert.NotZero(t, counts[Fault500])
	assert.NotZero(t, counts[Fault429])

	r.SetChaos(Chaos{Rate: 0.5, Seed: 7, SlowDelay: time.Millisecond})
	faulted := 0
	for range 200 {
		before := sum(r.FaultCounts())
		if res, err := http.DefaultClient.Do(r.request(sandbox.QueryPath, url.Values{"taskId": {"x"}})); err == nil { // a dropped connection is an error
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
		}
		if sum(r.FaultCounts()) > before {
			faulted++
		}
	}
	assert.InDelta(t, 100, faulted, 40, "about half")

	r.SetChaos(Chaos{})
	code, _ := r.post(sandbox.QueryPath, url.Values{"taskId": {"x"}}).business(t)
	assert.Equal(t, 201, code, "off again: taskId不存在")

	// The same seed makes the same draws.
	draws := func() []FaultKind {
		fs := NewFaults(nil, nil)
		fs.SetChaos(Chaos{Rate: 0.3, Seed: 42})
		var out []FaultKind
		for range 50 {
			before := fs.FaultCounts()
			if _, ok := fs.q.next(sandbox.OpQuery); ok {
				for k, n := range fs.FaultCounts() {
					if n > before[k] {
						out = append(out, k)
					}
				}
			} else {
				out = append(out, "")
			}
		}
		return out
	}
	assert.Equal(t, draws(), draws())
}

func sum(m map[FaultKind]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// TestRepeatedSubmits: a resend after a definite rejection is fine; after
// an answer that may have billed it, the sandbox counts it.
func TestRepeatedSubmits(t *testing.T) {
	r := newRig(t)
	r.FailNext(sandbox.OpSubmit, Fault{Gateway: "APIG.0308"})
	r.FailNext(sandbox.OpSubmit, Fault{Business: 501})
	r.post(sandbox.SubmitPath, submitForm("a"))
	r.post(sandbox.SubmitPath, submitForm("a"))
	r.submitOK(submitForm("a"))
	assert.Zero(t, r.Stats().RepeatedSubmits, "after 429 and 501 a resend is allowed")

	r.submitOK(submitForm("a"))
	assert.EqualValues(t, 1, r.Stats().RepeatedSubmits, "after a billed submit")

	for i, kind := range []FaultKind{FaultGarbage, FaultOversized, Fault504, FaultTruncated} {
		f, _ := FaultOf(kind)
		r.FailNext(sandbox.OpSubmit, f)
		text := string(kind)
		r.post(sandbox.SubmitPath, submitForm(text))
		r.submitOK(submitForm(text))
		assert.EqualValues(t, 2+i, r.Stats().RepeatedSubmits, kind)
	}
	assert.EqualValues(t, 6, r.Stats().Submits)
}

// TestSkewFaultReachesTheClient: the client reports how far its clock is off.
func TestSkewFaultReachesTheClient(t *testing.T) {
	r := newRig(t)
	r.FailNext(sandbox.OpQuery, Fault{Skew: 20 * time.Minute})
	c := r.Client(t, func(c *client.Config) { c.Now = func() time.Time { return epoch } })
	_, err := c.Query(context.Background(), "x")
	var e *client.APIError
	require.ErrorAs(t, err, &e)
	assert.Equal(t, client.CategoryAuth, e.Category)
	assert.True(t, e.Expired)
	assert.Equal(t, 20*time.Minute, e.ClockSkew)
}

// The faults serve many callers at once (go test -race).
func TestFaultsConcurrently(t *testing.T) {
	r := newRig(t)
	r.SetChaos(Chaos{Rate: 0.5, Seed: 3, Kinds: []FaultKind{Fault500, Fault429}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				req := r.request(sandbox.QueryPath, url.Values{"taskId": {"x"}})
				if res, err := http.DefaultClient.Do(req); assert.NoError(t, err) {
					_, _ = io.Copy(io.Discard, res.Body)
					_ = res.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 40, r.Stats().Queries)
}
