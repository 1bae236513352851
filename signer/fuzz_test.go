package signer

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		"", "/", "/ai/paint/submit", "/a b/c+d/%2F/古风", "https://h:8443/p/q?b=2&a=1&a=0&c",
		"http://h/?k=v;w&x=%zz&+=+", "/a//b/", "//host/path?", "?only=query", "a/b?%E5%8F%A4=%E9%A3%8E",
		"http://h/\x00\xff?\x7f=\x80", "/~._-/", "http://[::1]:80/p",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		e := escape(raw)
		checkEscaped(t, e)
		if back, err := url.PathUnescape(e); err != nil || back != raw {
			t.Fatalf("escape(%q) = %q does not round-trip: %q, %v", raw, e, back, err)
		}

		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		uri := canonicalURI(u)
		if !strings.HasPrefix(uri, "/") || !strings.HasSuffix(uri, "/") {
			t.Fatalf("canonicalURI(%q) = %q", raw, uri)
		}
		for _, seg := range strings.Split(uri, "/") {
			checkEscaped(t, seg)
		}
		if q := canonicalQuery(u); q != "" {
			prev := ""
			for _, part := range strings.Split(q, "&") {
				k, v, ok := strings.Cut(part, "=")
				if !ok {
					t.Fatalf("canonicalQuery(%q): %q has no '='", raw, part)
				}
				checkEscaped(t, k)
				checkEscaped(t, v)
				dk, _ := url.PathUnescape(k)
				if dk < prev {
					t.Fatalf("canonicalQuery(%q) = %q: keys not sorted", raw, q)
				}
				prev = dk
			}
		}

		// Signing and verifying agree on whatever URL parses.
		target := &url.URL{Scheme: "http", Host: "h.test:8080", Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
		h := http.Header{}
		h.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
		h.Set("Host", target.Host)
		h.Set(HeaderDate, testNow.Format(DateLayout))
		sig, err := Sign(testKey, testSecret, http.MethodPost, target.String(), h, []byte(raw))
		if err != nil {
			return // target.String() need not re-parse (e.g. a path without a leading slash)
		}
		sent, err := url.Parse(target.String())
		if err != nil {
			t.Fatal(err)
		}
		r := &http.Request{Method: http.MethodPost, URL: sent, Host: target.Host, Header: http.Header{}}
		r.Header.Set("Content-Type", h.Get("Content-Type"))
		r.Header.Set(HeaderDate, h.Get(HeaderDate))
		r.Header.Set("Authorization", sig.Authorization)
		if err := Verify(r, []byte(raw), testSecrets, testNow); err != nil {
			t.Fatalf("Verify rejects Sign for %q: %v (%s)", target.String(), err, sig.CanonicalRequest)
		}
	})
}

// checkEscaped fails unless s has only unreserved characters and %XX (upper-case hex).
func checkEscaped(t *testing.T, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
		case c == '%' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]):
			i += 2
		default:
			t.Fatalf("%q: byte %q at %d is neither unreserved nor %%XX", s, c, i)
		}
	}
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }
