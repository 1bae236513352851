package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"aipaint-mcp/config"
	"aipaint-mcp/people"
)

// guard applies, in order: the Origin rule (DNS rebinding), the bearer
// token (or the tokens file's, whose person then goes into the request's
// context), and a bounded, time-limited read of the request body.
func guard(next http.Handler, o HTTPOptions, bodyTimeout time.Duration) http.Handler {
	want := sha256.Sum256([]byte(o.Token))
	unauthorized := func(w http.ResponseWriter, setting string) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aipaint-mcp"`)
		http.Error(w, "未授权 / unauthorized: send Authorization: Bearer <"+setting+">", http.StatusUnauthorized)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(origin, o.AllowedOrigins) {
			http.Error(w, "forbidden origin: add it to "+config.AllowedOrigins, http.StatusForbidden)
			return
		}
		switch {
		case o.OAuth != nil:
			var ok bool
			if r, ok = signIn(w, r, o); !ok {
				return
			}
		case o.People != nil:
			got, _ := bearer(r.Header.Get("Authorization"))
			p, ok := o.People.Lookup(got)
			if !ok {
				unauthorized(w, "a token of "+config.TokensFile)
				return
			}
			if r, ok = admit(w, r, p, sessionKey(got)); !ok {
				return
			}
		case o.Token != "":
			got, ok := bearer(r.Header.Get("Authorization"))
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				unauthorized(w, config.HTTPToken)
				return
			}
		}
		if r.Body != nil && r.Method == http.MethodPost {
			body, err := readBody(w, r, bodyTimeout)
			if err != nil {
				status, msg := http.StatusBadRequest, "cannot read request body"
				var mbe *http.MaxBytesError
				var ne net.Error
				switch {
				case errors.As(err, &mbe):
					status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxBodyBytes)
				case errors.As(err, &ne) && ne.Timeout():
					status, msg = http.StatusRequestTimeout, "request body not received in time"
				}
				http.Error(w, msg, status)
				return
			}
			r.Body = &wholeBody{Reader: bytes.NewReader(body), bytes: body}
		}
		next.ServeHTTP(w, r)
	})
}

// admit puts the person into the request's context, and the key of their
// sessions, unless the request names a session of someone else's.
func admit(w http.ResponseWriter, r *http.Request, p people.Person, key []byte) (*http.Request, bool) {
	ctx := context.WithValue(r.Context(), sessionKeyOf{}, key)
	if !sessionIsTheirs(ctx, r) {
		// Someone else's session: as unknown to this person as one
		// that never existed (404 makes a client start a new one).
		http.Error(w, "Invalid session ID", http.StatusNotFound)
		return r, false
	}
	return r.WithContext(people.NewContext(ctx, p)), true
}

// wholeBody is a request body the guard has read whole: handlers read it as
// usual, and the SSE message counter (owed.sseMessage) looks at its bytes
// without reading or copying it again.
type wholeBody struct {
	*bytes.Reader
	bytes []byte
}

func (*wholeBody) Close() error { return nil }

// bearer returns the credentials of an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive (RFC 9110 section 11.1).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return token, true
}

// readBody reads the whole body within timeout and maxBodyBytes, so a
// slow or huge upload cannot hold a handler; long SSE responses stay unaffected.
func readBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) ([]byte, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		// Once the handler returns, net/http drains up to 256 KiB of an
		// unread body before it answers. Without a deadline a client that
		// stopped sending would hold the connection (and Shutdown) forever:
		// keep the deadline expired and close the connection instead.
		_ = rc.SetReadDeadline(time.Now())
		w.Header().Set("Connection", "close")
		return nil, err
	}
	_ = rc.SetReadDeadline(time.Time{})
	return body, nil
}

// originAllowed: loopback origins on any port, or one listed in AIPAINT_ALLOWED_ORIGINS.
func originAllowed(origin string, allowed []string) bool {
	o := strings.ToLower(strings.TrimRight(origin, "/"))
	for _, a := range allowed {
		if o == a {
			return true
		}
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return config.IsLoopbackHost(u.Hostname())
}
