package sandbox

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/client"
)

// TestFaultKinds sends one submit per kind and checks the wire answer; a
// faulted submit never bills, and the next one is served normally.
func TestFaultKinds(t *testing.T) {
	checks := map[FaultKind]func(t *testing.T, res *http.Response, body []byte){
		FaultSlow: func(t *testing.T, res *http.Response, body []byte) {
			assert.Equal(t, http.StatusOK, res.StatusCode, "a slow answer is otherwise normal")
		},
		Fault502: gatewayCheck(http.StatusBadGateway, "APIG.0202"),
		Fault503: func(t *testing.T, res *http.Response, body []byte) {
			assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
			assert.Equal(t, "text/plain", res.Header.Get("Content-Type"))
		},
		Fault504: gatewayCheck(http.StatusGatewayTimeout, "APIG.0203"),
		Fault429: gatewayCheck(http.StatusTooManyRequests, "APIG.0308"),
		Fault500: businessCheck(500),
		Fault501: businessCheck(501),
		Fault999: businessCheck(999),
		Fault202: businessCheck(202),
		FaultGarbage: func(t *testing.T, res *http.Response, body []byte) {
			assert.Equal(t, http.StatusOK, res.StatusCode)
			assert.Contains(t, string(body), "garbage")
		},
		FaultTruncated: func(t *testing.T, res *http.Response, body []byte) {
			assert.True(t, strings.HasPrefix(string(body), `{"code":200`) && !strings.HasSuffix(string(body), "}"), string(body))
		},
		FaultHTML: func(t *testing.T, res *http.Response, body []byte) {
			assert.Equal(t, http.StatusBadGateway, res.StatusCode)
			assert.Equal(t, "text/html", res.Header.Get("Content-Type"))
			assert.Contains(t, string(body), "<html>")
		},
		FaultOversized: func(t *testing.T, res *http.Response, body []byte) {
			assert.Equal(t, http.StatusOK, res.StatusCode)
			assert.Greater(t, len(body), 3<<20)
			assert.True(t, strings.HasSuffix(string(body), `"}}`), "well-formed, only too big")
		},
		FaultSkew: func(t *testing.T, res *http.Response, body []byte) {
			gatewayCheck(http.StatusUnauthorized, "APIG.0303")(t, res, body)
			assert.Contains(t, string(body), "request expired")
			date, err := http.ParseTime(res.Header.Get("Date"))
			require.NoError(t, err)
			assert.Equal(t, time.Date(2024, 3, 15, 8, 9, 10, 0, time.UTC).Add(-DefaultSkew), date, "Date is the skew behind the caller")
		},
	}
	for _, kind := range FaultKinds() {
		t.Run(string(kind), func(t *testing.T) {
			h := newHarness(t, 0)
			f, ok := FaultOf(kind)
			require.True(t, ok)
			if kind == FaultSlow {
				f.Delay = 10 * time.Millisecond
			}
			h.sb.FailNext(OpSubmit, f)
			req, _ := signedRequest(t, h.srv.URL, SubmitPath, formType, []byte(submitForm("猫", "1024*1024", "古风", "").Encode()), h.clock.Now(), AppSecret)
			res, err := http.DefaultClient.Do(req)
			if kind == FaultDrop {
				require.Error(t, err, "the connection is closed without an answer")
			} else {
				require.NoError(t, err)
				body := readBody(t, res)
				check, ok := checks[kind]
				require.True(t, ok, "no check for kind %s", kind)
				check(t, res, body)
			}
			want := int64(0)
			if kind == FaultSlow {
				want = 1
			}
			assert.Equal(t, want, h.sb.Stats().Submits, "only a slow answer bills")
			h.submitOK(submitForm("狗", "1024*1024", "古风", ""))
		})
	}
}

func readBody(t *testing.T, res *http.Response) []byte {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return b
}

func gatewayCheck(status int, code string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		assert.Equal(t, status, res.StatusCode)
		r := response{res.StatusCode, res.Header, body}
		assert.Equal(t, code, r.gateway(t).ErrorCode)
	}
}

func businessCheck(code int) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		r := response{res.StatusCode, res.Header, body}
		assert.Equal(t, code, r.business(t).Code)
	}
}

// TestSlowFaultEndsWithTheCaller: a slow answer stops waiting when the
// client gives up, and then bills nothing.
func TestSlowFaultEndsWithTheCaller(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 3, 15, 8, 9, 10, 0, time.UTC)}
	sb := New(Options{Now: clock.Now, Logger: testLogger(t)})
	returned := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb.ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	sb.FailNext(OpSubmit, Fault{Delay: time.Hour})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := signedRequest(t, srv.URL, SubmitPath, formType, []byte(submitForm("猫", "1024*1024", "古风", "").Encode()), clock.Now(), AppSecret)
	_, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still waits after the caller left")
	}
	assert.Zero(t, sb.Stats().Submits)
}

func TestChaos(t *testing.T) {
	h := newHarness(t, 0)
	h.sb.SetChaos(Chaos{Rate: 1, Seed: 1, Kinds: []FaultKind{Fault500, Fault429}})
	for range 20 {
		res := h.post(QueryPath, url.Values{"taskId": {"x"}})
		assert.Contains(t, []int{http.StatusOK, http.StatusTooManyRequests}, res.status)
	}
	counts := h.sb.FaultCounts()
	assert.EqualValues(t, 20, counts[Fault500]+counts[Fault429])
	assert.NotZero(t, counts[Fault500])
	assert.NotZero(t, counts[Fault429])

	h.sb.SetChaos(Chaos{Rate: 0.5, Seed: 7, SlowDelay: time.Millisecond})
	faulted := 0
	for range 200 {
		before := sum(h.sb.FaultCounts())
		req, _ := signedRequest(t, h.srv.URL, QueryPath, formType, []byte("taskId=x"), h.clock.Now(), AppSecret)
		if res, err := http.DefaultClient.Do(req); err == nil { // a dropped connection is an error
			readBody(t, res)
		}
		if sum(h.sb.FaultCounts()) > before {
			faulted++
		}
	}
	assert.InDelta(t, 100, faulted, 40, "about half")

	h.sb.SetChaos(Chaos{})
	assert.Equal(t, 201, h.post(QueryPath, url.Values{"taskId": {"x"}}).business(t).Code, "off again: taskId不存在")

	// The same seed makes the same draws.
	draws := func() []FaultKind {
		sb := &Sandbox{}
		sb.SetChaos(Chaos{Rate: 0.3, Seed: 42})
		var out []FaultKind
		for range 50 {
			before := sb.FaultCounts()
			if _, ok := sb.faults.next(OpQuery); ok {
				for k, n := range sb.FaultCounts() {
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
	h := newHarness(t, 0)
	form := func(text string) url.Values { return submitForm(text, "1024*1024", "古风", "") }

	h.sb.FailNext(OpSubmit, Fault{Gateway: "APIG.0308"})
	h.sb.FailNext(OpSubmit, Fault{Business: 501})
	h.post(SubmitPath, form("a"))
	h.post(SubmitPath, form("a"))
	h.submitOK(form("a"))
	assert.Zero(t, h.sb.Stats().RepeatedSubmits, "after 429 and 501 a resend is allowed")

	h.submitOK(form("a"))
	assert.EqualValues(t, 1, h.sb.Stats().RepeatedSubmits, "after a billed submit")

	for i, kind := range []FaultKind{FaultGarbage, FaultOversized, Fault504, FaultTruncated} {
		f, _ := FaultOf(kind)
		h.sb.FailNext(OpSubmit, f)
		text := string(kind)
		h.post(SubmitPath, form(text))
		h.submitOK(form(text))
		assert.EqualValues(t, 2+i, h.sb.Stats().RepeatedSubmits, kind)
	}
	assert.EqualValues(t, 6, h.sb.Stats().Submits)
}

// TestSkewFaultReachesTheClient: the client reports how far its clock is off.
func TestSkewFaultReachesTheClient(t *testing.T) {
	h := newHarness(t, 0)
	h.sb.FailNext(OpQuery, Fault{Skew: 20 * time.Minute})
	c, err := client.New(client.Config{SubmitURL: h.srv.URL + SubmitPath, QueryURL: h.srv.URL + QueryPath,
		AppKey: AppKey, AppSecret: AppSecret, Now: h.clock.Now})
	require.NoError(t, err)
	_, err = c.Query(context.Background(), "x")
	var e *client.APIError
	require.ErrorAs(t, err, &e)
	assert.Equal(t, client.CategoryAuth, e.Category)
	assert.True(t, e.Expired)
	assert.Equal(t, 20*time.Minute, e.ClockSkew)
}
