package signer

import (
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkSign is the pure signer alone, on the client's form-encoded submit.
func BenchmarkSign(b *testing.B) {
	const submitURL = "https://apig.example.com/ai/paint/submit"
	v := url.Values{}
	v.Set("text", "竹林里的熊猫，晨雾，远处的山峦若隐若现")
	v.Set("resolution", "1024*1536")
	v.Set("style", "赛博朋克")
	v.Set("num", "2")
	body := []byte(v.Encode())
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	h.Set("Host", "apig.example.com")
	h.Set(HeaderDate, testNow.Format(DateLayout))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(testKey, testSecret, http.MethodPost, submitURL, h, body); err != nil {
			b.Fatal(err)
		}
	}
}
