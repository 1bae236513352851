package client

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"aipaint-mcp/client/clienttest"
)

// answerTransport answers every request with the same canned response, so
// the whole Submit/Query path runs without a network.
type answerTransport struct {
	status      int
	contentType string
	date        string
	body        []byte
}

func (a answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return a.response(r), nil
}

func (a answerTransport) response(r *http.Request) *http.Response {
	h := http.Header{}
	h.Set("Content-Type", a.contentType)
	h.Set("Date", a.date)
	h.Set("X-Request-Id", "rid-fuzz")
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}
}

// Messages the client writes itself for an unreadable answer: never body text.
var decodeMessages = []string{
	"answer larger than ", "answer is not JSON (", "answer has no code field", "code 200 with an HTTP error status",
	"accepted (code 200) but no taskId", "the data field is not the documented object",
	"the task is marked done but no image URL", "redirected elsewhere",
}

func FuzzDecode(f *testing.F) {
	date := testNow.Format(http.TimeFormat)
	seeds := []struct {
		status      int
		contentType string
		body        string
	}{
		{200, "application/json", okSubmit("task-1")},
		{200, "application/json", clienttest.PendingBody},
		{200, "application/json", clienttest.DoneBody},
		{200, "application/json", `{"code":"200","data":{"status":"1","img":"https://i/1.png"}}`},
		{200, "application/json", clienttest.Business(201, "taskId不存在")},
		{999, "application/json", clienttest.Business(999, "其他")},
		{401, "application/json", `{"error_code":"APIG.0303","error_msg":"verify signature fail, canonicalRequest:POST|/a/||","request_id":"r"}`},
		{504, "application/json", `{"error_code":"APIGW.0203","error_msg":"Backend timeout"}`},
		{502, "text/html", htmlPage},
		{200, "", ""},
		{200, "application/json", `{"code":200,"data":{"status":1,"imgUrls":"x"}}`},
		{200, "application/json", `{"code":200,"data":{"status":1}}`},
		{500, "application/json", `{"code":200}`},
		{200, "application/json; charset=\"", `[`},
		{0, "", `null`},
		{-1, "x/y", `{"code":{},"msg":1}`},
	}
	for _, s := range seeds {
		f.Add(s.status, s.contentType, date, []byte(s.body))
	}

	base := Config{
		SubmitURL: "http://upstream.test/ai/paint/submit", QueryURL: "http://upstream.test/ai/paint/query",
		AppKey: testKey, AppSecret: testSecret, Now: fixedNow,
		MaxResponseBytes: 2048, QueryAttempts: 1, SubmitAttempts: 1,
	}
	direct, err := New(base)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, status int, contentType, date string, body []byte) {
		answer := answerTransport{status: status, contentType: contentType, date: date, body: body}

		// The decoder itself: an envelope or an *APIError, never both, never neither.
		for _, op := range []Op{OpSubmit, OpQuery} {
			env, apiErr := direct.decode(op, answer.response(nil))
			if (env == nil) == (apiErr == nil) {
				t.Fatalf("%s: envelope %v and error %v", op, env, apiErr)
			}
			if env != nil {
				code, ok := parseCode(env.Code)
				if !ok || code != 200 || status/100 != 2 || env.ErrorCode != "" {
					t.Fatalf("%s: accepted an answer with code %q, HTTP %d, error_code %q", op, env.Code, status, env.ErrorCode)
				}
				continue
			}
			checkAPIError(t, op, status, apiErr)
		}

		// The whole path, through an http.Client.
		cfg := base
		cfg.HTTPClient = &http.Client{Transport: answer}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		task, err := c.Query(ctx, "tid")
		if err != nil {
			apiErr, ok := err.(*APIError)
			if !ok {
				t.Fatalf("query: %T %v is not an *APIError", err, err)
			}
			checkAPIError(t, OpQuery, status, apiErr)
		} else if task.TaskID != "tid" || task.Done && len(task.Images) == 0 {
			t.Fatalf("query: bad task %+v", task)
		}
		res, err := c.Submit(ctx, submitReq)
		if err != nil {
			apiErr, ok := err.(*APIError)
			if !ok {
				t.Fatalf("submit: %T %v is not an *APIError", err, err)
			}
			checkAPIError(t, OpSubmit, status, apiErr)
		} else if res.TaskID == "" {
			t.Fatal("submit: success without a task id")
		}
	})
}

func checkAPIError(t *testing.T, op Op, status int, e *APIError) {
	t.Helper()
	if e.Op != op || e.Category == "" || e.Error() == "" {
		t.Fatalf("%s: incomplete error %#v", op, e)
	}
	if e.HTTPStatus != status {
		t.Fatalf("%s: HTTP status %d, want %d", op, e.HTTPStatus, status)
	}
	switch e.Kind {
	case KindBusiness, KindGateway:
	case KindDecode:
		ok := false
		for _, m := range decodeMessages {
			ok = ok || strings.HasPrefix(e.Message, m)
		}
		if !ok {
			t.Fatalf("%s: decode message %q is not one of ours", op, e.Message)
		}
	default:
		t.Fatalf("%s: kind %q from a complete answer", op, e.Kind)
	}
	if e.MaybeBilled && op != OpSubmit {
		t.Fatalf("query marked MaybeBilled: %#v", e)
	}
	if op == OpSubmit && e.MaybeBilled && e.safeToResend() {
		t.Fatalf("a submit that may have been billed is resendable: %#v", e)
	}
	if strings.Contains(e.Error(), testSecret) {
		t.Fatal("secret in error")
	}
}
