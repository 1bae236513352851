package client

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"aipaint-mcp/client/clienttest"
)

// benchClient signs with AppKey/AppSecret; nothing is sent.
func benchClient(b *testing.B, format Format) *Client {
	c, err := New(Config{
		SubmitURL: "https://apig.example.com/ai/paint/submit", QueryURL: "https://apig.example.com/ai/paint/query",
		AppKey: testKey, AppSecret: testSecret, Format: format, Now: fixedNow,
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

var submitParams = [][2]string{
	{"text", "竹林里的熊猫，晨雾，远处的山峦若隐若现"},
	{"resolution", "1024*1536"},
	{"style", "赛博朋克"},
	{"num", "2"},
}

// BenchmarkSignSubmit is what a submit costs before it reaches the wire:
// encoding the body once, building the request and signing it.
func BenchmarkSignSubmit(b *testing.B) {
	for _, f := range []Format{FormatForm, FormatJSON} {
		b.Run(string(f), func(b *testing.B) {
			c := benchClient(b, f)
			b.ReportAllocs()
			for b.Loop() {
				body, ct := c.encode(submitParams)
				req, err := http.NewRequest(http.MethodPost, c.cfg.SubmitURL, bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", ct)
				if err := c.authorize(req, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeQuery is the decoding of one poll's answer.
func BenchmarkDecodeQuery(b *testing.B) {
	c := benchClient(b, FormatForm)
	for name, body := range map[string]string{"pending": clienttest.PendingBody, "done": clienttest.DoneBody} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"},
					"Content-Length": {strconv.Itoa(len(body))}}, Body: io.NopCloser(bytes.NewReader([]byte(body)))}
				if _, err := c.decode("query", resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuery is one poll end to end from the client's side: encode,
// sign, send over loopback HTTP to a canned upstream, decode.
func BenchmarkQuery(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, clienttest.PendingBody)
	}))
	b.Cleanup(srv.Close)
	c, err := New(Config{SubmitURL: srv.URL + submitPath, QueryURL: srv.URL + queryPath, AppKey: testKey, AppSecret: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Query(b.Context(), "tid"); err != nil {
			b.Fatal(err)
		}
	}
}
