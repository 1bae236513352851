// Package signer is APIG App authentication (SDK-HMAC-SHA256) as Huawei's
// official signers do it: Sign for the caller, Verify for the gateway's side.
// It is pure, like aws-sdk-go-v2's aws/signer/v4: it never reads the clock
// (the signing time and the verifier's "now" are passed in) and does no I/O,
// so fixed vectors test it. It imports only the standard library.
package signer

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// APIG App authentication (SDK-HMAC-SHA256), as Huawei's official signers do it.
const (
	Algorithm        = "SDK-HMAC-SHA256"
	HeaderDate       = "X-Sdk-Date"
	HeaderContentSHA = "X-Sdk-Content-Sha256"
	// HeaderAppCode carries the simple AppCode authentication, the gateway's
	// alternative to a signature.
	HeaderAppCode = "X-Apig-AppCode"
	DateLayout    = "20060102T150405Z"
	// MaxClockSkew is how far X-Sdk-Date may be from the gateway's clock.
	MaxClockSkew = 15 * time.Minute
)

// Signature holds every intermediate of one signing, so tests can compare all of them.
type Signature struct {
	CanonicalRequest string
	StringToSign     string
	SignedHeaders    string
	Signature        string
	Authorization    string
}

// Sign computes the APIG signature of a request. Every header in headers is
// signed (the caller decides which: Host must be present to be signed). The
// function is pure: the date is whatever X-Sdk-Date in headers says.
func Sign(appKey, appSecret, method, rawURL string, headers http.Header, body []byte) (Signature, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Signature{}, fmt.Errorf("sign: parse url: %w", err)
	}
	return sign(appKey, appSecret, method, u, headers, body)
}

// SignRequest signs req as the upstream client sends it: Content-Type, Host
// (req.URL.Host) and X-Sdk-Date (at, in UTC) are signed; req.Host,
// X-Sdk-Date and Authorization are set. body is the request body, read
// by the caller. req.URL is signed as it is, rather than printed and parsed
// again for every request.
func SignRequest(req *http.Request, body []byte, appKey, appSecret string, at time.Time) (Signature, error) {
	date := at.UTC().Format(DateLayout)
	h := http.Header{ // canonical keys, as Set would make them
		"Content-Type": {req.Header.Get("Content-Type")},
		"Host":         {req.URL.Host},
		HeaderDate:     {date},
	}
	sig, err := sign(appKey, appSecret, req.Method, req.URL, h, body)
	if err != nil {
		return Signature{}, err
	}
	req.Host = req.URL.Host
	req.Header.Set(HeaderDate, date)
	req.Header.Set("Authorization", sig.Authorization)
	return sig, nil
}

// sign is Sign for a parsed URL.
func sign(appKey, appSecret, method string, u *url.URL, headers http.Header, body []byte) (Signature, error) {
	date := headers.Get(HeaderDate)
	if date == "" {
		return Signature{}, errors.New("sign: missing " + HeaderDate + " header")
	}
	canonical, signed := canonicalRequest(method, u, headers, body)
	sts := stringToSign(date, canonical)
	sig := hmacHex(appSecret, sts)
	return Signature{
		CanonicalRequest: canonical,
		StringToSign:     sts,
		SignedHeaders:    signed,
		Signature:        sig,
		Authorization:    Algorithm + " Access=" + appKey + ", SignedHeaders=" + signed + ", Signature=" + sig,
	}, nil
}

func stringToSign(date, canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return Algorithm + "\n" + date + "\n" + hex.EncodeToString(h[:])
}

func hmacHex(secret, data string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(data))
	return hex.EncodeToString(m.Sum(nil))
}

// canonicalRequest returns the canonical request and the SignedHeaders list.
func canonicalRequest(method string, u *url.URL, headers http.Header, body []byte) (string, string) {
	names := make([]string, 0, len(headers))
	values := make(map[string]string, len(headers))
	for k, v := range headers {
		lk := strings.ToLower(k)
		names = append(names, lk)
		values[lk] = strings.TrimSpace(strings.Join(v, ","))
	}
	sort.Strings(names)
	var ch strings.Builder
	for _, n := range names {
		ch.WriteString(n)
		ch.WriteByte(':')
		ch.WriteString(values[n])
		ch.WriteByte('\n')
	}
	signed := strings.Join(names, ";")

	payload := values[strings.ToLower(HeaderContentSHA)]
	if payload == "" {
		h := sha256.Sum256(body)
		payload = hex.EncodeToString(h[:])
	}
	return strings.Join([]string{
		strings.ToUpper(method),
		canonicalURI(u),
		canonicalQuery(u),
		ch.String(),
		signed,
		payload,
	}, "\n"), signed
}

func canonicalURI(u *url.URL) string {
	if strings.IndexFunc(u.Path, func(r rune) bool { return r != '/' && !unreserved(r) }) < 0 {
		// Nothing to escape, as in every real API path.
		switch {
		case u.Path == "" || u.Path == "/":
			return "/"
		case u.Path[0] != '/':
			return "/" + strings.TrimSuffix(u.Path, "/") + "/"
		case strings.HasSuffix(u.Path, "/"):
			return u.Path
		}
		return u.Path + "/"
	}
	segs := strings.Split(u.Path, "/")
	for i, s := range segs {
		segs[i] = escape(s)
	}
	p := strings.Join(segs, "/")
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

func canonicalQuery(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(q))
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(parts, "&")
}

// escape percent-encodes every byte outside A-Za-z0-9-_.~ with upper-case hex.
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(rune(c)) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// unreserved are the characters that escape leaves as they are.
func unreserved(c rune) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// VerifyError explains why a signature was rejected. CanonicalRequest is the
// verifier's own canonical form with newlines as "|", as the gateway echoes it.
type VerifyError struct {
	Reason           string
	CanonicalRequest string
	Skew             time.Duration
}

func (e *VerifyError) Error() string { return "verify signature fail: " + e.Reason }

// Verify checks an incoming signed request the way the APIG gateway does:
// parse Authorization, rebuild the canonical request from the listed headers
// (host from r.Host), compare in constant time, and check the date skew.
// secretFor returns the AppSecret of an AppKey, or false when unknown.
func Verify(r *http.Request, body []byte, secretFor func(appKey string) (string, bool), now time.Time) error {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, Algorithm+" ") {
		return &VerifyError{Reason: "missing or unsupported Authorization"}
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, Algorithm+" "), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			fields[k] = v
		}
	}
	key, signedList, sig := fields["Access"], fields["SignedHeaders"], fields["Signature"]
	if key == "" || signedList == "" || sig == "" {
		return &VerifyError{Reason: "malformed Authorization"}
	}
	secret, ok := secretFor(key)
	if !ok {
		return &VerifyError{Reason: "unknown AppKey"}
	}
	dateStr := r.Header.Get(HeaderDate)
	date, err := time.Parse(DateLayout, dateStr)
	if err != nil {
		return &VerifyError{Reason: "missing or malformed " + HeaderDate}
	}
	if !strings.Contains(";"+signedList+";", ";x-sdk-date;") {
		return &VerifyError{Reason: HeaderDate + " is not signed"}
	}
	if skew := now.Sub(date); skew > MaxClockSkew || skew < -MaxClockSkew {
		return &VerifyError{Reason: "request expired: X-Sdk-Date is too far from the server clock", Skew: skew}
	}
	if claimed := r.Header.Get(HeaderContentSHA); claimed != "" && claimed != "UNSIGNED-PAYLOAD" {
		sum := sha256.Sum256(body)
		if !strings.EqualFold(claimed, hex.EncodeToString(sum[:])) {
			return &VerifyError{Reason: HeaderContentSHA + " does not match the body"}
		}
	}
	h := http.Header{}
	for _, name := range strings.Split(signedList, ";") {
		v := r.Header.Get(name)
		if name == "host" {
			v = r.Host
		}
		h.Set(name, v)
	}
	u := &url.URL{Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	canonical, _ := canonicalRequest(r.Method, u, h, body)
	want := hmacHex(secret, stringToSign(dateStr, canonical))
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return &VerifyError{Reason: "signature mismatch", CanonicalRequest: strings.ReplaceAll(canonical, "\n", "|")}
	}
	return nil
}
