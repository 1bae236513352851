package oauth_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/oauth"
	"aipaint-mcp/oauth/oauthtest"
)

const resource = "https://paint.example/mcp"

// clock is the Verifier's time, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	p     *oauthtest.Provider
	v     *oauth.Verifier
	clock *clock
	log   *bytes.Buffer
}

func newFixture(t *testing.T, po oauthtest.Options, edit ...func(*oauth.Options)) fixture {
	t.Helper()
	p := oauthtest.NewProvider(t, po)
	c := newClock()
	var log bytes.Buffer
	o := oauth.Options{
		Issuer: p.Issuer, Resource: resource, Scopes: []string{"aipaint"},
		ClientID: po.ClientID, ClientSecret: po.ClientSecret,
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &log}, nil)),
	}
	for _, e := range edit {
		e(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := oauth.NewTuned(ctx, o, c.now, time.Minute)
	require.NoError(t, err)
	return fixture{p: p, v: v, clock: c, log: &log}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (f fixture) claims() jwt.MapClaims {
	return f.p.Claims(resource, "aipaint", "user-1", f.clock.now())
}

// TestVerifyJWT: every rule a JWT access token is held to, each case
// against a token that differs from a valid one in that rule only.
func TestVerifyJWT(t *testing.T) {
	f := newFixture(t, oauthtest.Options{})
	foreign := oauthtest.NewKey(t, "key-1", "RS256") // the provider's kid, another key
	stranger := oauthtest.NewKey(t, "key-9", "RS256")
	now := f.clock.now()
	with := func(edit func(jwt.MapClaims)) string {
		c := f.claims()
		edit(c)
		return f.p.Token(t, c)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, f.claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	// HS256: a symmetric algorithm, refused whatever its key (a public
	// key's bytes would be the classic algorithm confusion).
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, f.claims()).SignedString([]byte("the provider's public key, as bytes"))
	require.NoError(t, err)
	valid := f.p.Token(t, f.claims())
	tampered := func() string {
		parts := strings.Split(valid, ".")
		other := strings.Split(with(func(c jwt.MapClaims) { c["sub"] = "someone-else" }), ".")
		return parts[0] + "." + other[1] + "." + parts[2]
	}()

	cases := []struct {
		name  string
		token string
		want  error // nil = valid
	}{
		{"valid", valid, nil},
		{"scope among others", with(func(c jwt.MapClaims) { c["scope"] = "openid aipaint email" }), nil},
		{"scp array (Okta)", with(func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = []string{"aipaint", "x"} }), nil},
		{"scp string (Entra ID)", with(func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = "x aipaint" }), nil},
		{"aud with a trailing slash", with(func(c jwt.MapClaims) { c["aud"] = resource + "/" }), nil},
		{"aud list naming the resource", with(func(c jwt.MapClaims) { c["aud"] = []string{"account", resource} }), nil},
		{"expired within the leeway", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-oauth.Leeway / 2).Unix() }), nil},
		{"nbf within the leeway", with(func(c jwt.MapClaims) { c["nbf"] = now.Add(oauth.Leeway / 2).Unix() }), nil},

		{"no scope", with(func(c jwt.MapClaims) { delete(c, "scope") }), oauth.ErrInsufficientScope},
		{"another scope", with(func(c jwt.MapClaims) { c["scope"] = "openid aipaint-admin" }), oauth.ErrInsufficientScope},
		{"scp without it", with(func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = []string{"read"} }), oauth.ErrInsufficientScope},

		{"bad signature", tampered, oauth.ErrInvalidToken},
		{"foreign key with the provider's kid", foreign.Sign(t, f.claims()), oauth.ErrInvalidToken},
		{"untrusted key", stranger.Sign(t, f.claims()), oauth.ErrInvalidToken},
		{"alg none", none, oauth.ErrInvalidToken},
		{"HS256", hs, oauth.ErrInvalidToken},
		{"wrong issuer", with(func(c jwt.MapClaims) { c["iss"] = f.p.Issuer + "/other" }), oauth.ErrInvalidToken},
		{"issuer with a trailing slash", with(func(c jwt.MapClaims) { c["iss"] = f.p.Issuer + "/" }), oauth.ErrInvalidToken},
		{"no issuer", with(func(c jwt.MapClaims) { delete(c, "iss") }), oauth.ErrInvalidToken},
		{"wrong audience", with(func(c jwt.MapClaims) { c["aud"] = "https://paint.example/other" }), oauth.ErrInvalidToken},
		{"another resource of the same provider", with(func(c jwt.MapClaims) { c["aud"] = "https://wiki.example/mcp" }), oauth.ErrInvalidToken},
		{"audience of another host", with(func(c jwt.MapClaims) { c["aud"] = "https://evil.example/mcp" }), oauth.ErrInvalidToken},
		{"no audience", with(func(c jwt.MapClaims) { delete(c, "aud") }), oauth.ErrInvalidToken},
		{"expired", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * oauth.Leeway).Unix() }), oauth.ErrInvalidToken},
		{"no exp", with(func(c jwt.MapClaims) { delete(c, "exp") }), oauth.ErrInvalidToken},
		{"not yet valid", with(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * oauth.Leeway).Unix() }), oauth.ErrInvalidToken},
		{"issued in the future", with(func(c jwt.MapClaims) { c["iat"] = now.Add(2 * oauth.Leeway).Unix() }), oauth.ErrInvalidToken},
		{"no sub", with(func(c jwt.MapClaims) { delete(c, "sub") }), oauth.ErrInvalidToken},
		{"bound to a DPoP key (RFC 9449)", with(func(c jwt.MapClaims) { c["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"} }), oauth.ErrInvalidToken},
		{"bound to a client certificate (RFC 8705)", with(func(c jwt.MapClaims) {
			c["cnf"] = map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
		}), oauth.ErrInvalidToken},
		{"not a JWT at all", "a.b.c", oauth.ErrInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := f.v.Verify(context.Background(), tc.token)
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, "user-1", id.Subject)
				return
			}
			require.ErrorIs(t, err, tc.want)
			other := oauth.ErrInvalidToken
			if tc.want == oauth.ErrInvalidToken {
				other = oauth.ErrInsufficientScope
			}
			assert.NotErrorIs(t, err, other)
			assert.NotContains(t, err.Error(), tc.token, "the error quotes the token")
			if tc.want == oauth.ErrInsufficientScope {
				assert.Equal(t, "user-1", id.Subject, "whose token lacked the scope, for the log")
			} else {
				assert.Empty(t, id)
			}
		})
	}
}

// TestVerifyAlgorithms: the provider's key may be RSA (PKCS #1 or PSS), EC or Ed25519.
func TestVerifyAlgorithms(t *testing.T) {
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, oauthtest.Options{Alg: alg})
			_, err := f.v.Verify(context.Background(), f.p.Token(t, f.claims()))
			require.NoError(t, err)
		})
	}
}

func TestIdentityClaims(t *testing.T) {
	f := newFixture(t, oauthtest.Options{})
	for _, tc := range []struct {
		name     string
		extra    jwt.MapClaims
		verified bool
		shown    string
	}{
		{"verified email", jwt.MapClaims{"email": "Ann@Example.com", "email_verified": true, "preferred_username": "ann"}, true, "Ann@Example.com"},
		{"email verified as a string (Cognito)", jwt.MapClaims{"email": "ann@example.com", "email_verified": "true"}, true, "ann@example.com"},
		{"unverified email", jwt.MapClaims{"email": "ann@example.com", "email_verified": false}, false, "ann@example.com"},
		{"email without email_verified", jwt.MapClaims{"email": "ann@example.com"}, false, "ann@example.com"},
		{"user name only", jwt.MapClaims{"preferred_username": "ann"}, false, "ann"},
		{"sub only", jwt.MapClaims{}, false, "user-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.claims()
			for k, v := range tc.extra {
				c[k] = v
			}
			id, err := f.v.Verify(context.Background(), f.p.Token(t, c))
			require.NoError(t, err)
			assert.Equal(t, tc.verified, id.EmailVerified)
			assert.Equal(t, tc.shown, id.Shown())
			assert.Equal(t, "user-1", id.Subject)
		})
	}
}

// TestGroups: a person's groups come from the claim GroupsClaim names,
// an array or one string, from a JWT or an introspection answer.
func TestGroups(t *testing.T) {
	f := newFixture(t, oauthtest.Options{ClientID: "aipaint-rs", ClientSecret: "right"}, func(o *oauth.Options) { o.GroupsClaim = "groups" })
	unread := newFixture(t, oauthtest.Options{})
	auth0 := newFixture(t, oauthtest.Options{}, func(o *oauth.Options) { o.GroupsClaim = "https://corp.example/groups" })
	for _, tc := range []struct {
		name   string
		f      fixture
		extra  jwt.MapClaims
		groups []string
	}{
		{"array", f, jwt.MapClaims{"groups": []string{"/designers", "/staff"}}, []string{"/designers", "/staff"}},
		{"one string", f, jwt.MapClaims{"groups": "designers"}, []string{"designers"}},
		{"none", f, jwt.MapClaims{}, nil},
		{"another claim name", auth0, jwt.MapClaims{"https://corp.example/groups": []string{"designers"}, "groups": []string{"other"}}, []string{"designers"}},
		{"not the claim named", auth0, jwt.MapClaims{"groups": []string{"designers"}}, nil},
		{"no claim named: not read", unread, jwt.MapClaims{"groups": []string{"designers"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.f.claims()
			for k, v := range tc.extra {
				c[k] = v
			}
			id, err := tc.f.v.Verify(context.Background(), tc.f.p.Token(t, c))
			require.NoError(t, err)
			assert.Equal(t, tc.groups, id.Groups)
		})
	}
	t.Run("not strings", func(t *testing.T) {
		c := f.claims()
		c["groups"] = map[string]any{"designers": true}
		_, err := f.v.Verify(context.Background(), f.p.Token(t, c))
		require.ErrorIs(t, err, oauth.ErrInvalidToken)
	})
	t.Run("introspection", func(t *testing.T) {
		f.p.Introspection("opaque-token-groups", map[string]any{"sub": "u", "aud": resource, "scope": "aipaint", "exp": f.clock.now().Add(time.Hour).Unix(), "groups": []string{"/designers"}})
		id, err := f.v.Verify(context.Background(), "opaque-token-groups")
		require.NoError(t, err)
		assert.Equal(t, []string{"/designers"}, id.Groups)
	})
}

// TestProviderDownThenBack: a provider that does not answer at first
// refuses tokens (and is not asked again at every request), then works
// once it answers.
func TestProviderDownThenBack(t *testing.T) {
	f := newFixture(t, oauthtest.Options{})
	f.p.Down(true)
	token := f.p.Token(t, f.claims())
	_, err := f.v.Verify(context.Background(), token)
	require.ErrorIs(t, err, oauth.ErrInvalidToken)
	assert.Contains(t, err.Error(), "unavailable")
	hits := f.p.MetadataHits()
	require.Positive(t, hits)
	_, err = f.v.Verify(context.Background(), token)
	require.ErrorIs(t, err, oauth.ErrInvalidToken)
	assert.Equal(t, hits, f.p.MetadataHits(), "asked the provider again before the retry delay")
	assert.Contains(t, f.log.String(), "identity provider unreachable")

	f.p.Down(false)
	f.clock.advance(time.Minute)
	token = f.p.Token(t, f.claims()) // issued now, by the moved clock
	id, err := f.v.Verify(context.Background(), token)
	require.NoError(t, err)
	assert.Equal(t, "user-1", id.Subject)
	assert.NotContains(t, f.log.String(), token)
}

// A key set that does not answer while the metadata does: each attempt
// to read it leaves nothing running behind it (the key set's refresh is
// started with it), and the one that succeeds keeps it refreshed.
func TestKeySetDownLeavesNothingRunning(t *testing.T) {
	f := newFixture(t, oauthtest.Options{})
	f.p.KeySetDown(true)
	token := f.p.Token(t, f.claims())
	for range 5 {
		_, err := f.v.Verify(context.Background(), token)
		require.ErrorIs(t, err, oauth.ErrInvalidToken)
		assert.Contains(t, err.Error(), "key set")
		f.clock.advance(2 * time.Minute) // past the retry delay
	}
	require.EqualValues(t, 5, f.p.KeySetHits(), "one read of the key set per attempt")
	assert.Zero(t, keySetRefreshers(t), "goroutines left by the failed attempts")

	f.p.KeySetDown(false)
	token = f.p.Token(t, f.claims())
	_, err := f.v.Verify(context.Background(), token)
	require.NoError(t, err)
	assert.Equal(t, 1, keySetRefreshers(t), "the key set read keeps one refresher")
}

// keySetRefreshers counts the key set refresh goroutines (jwkset's)
// running, once those of Verifiers whose context has ended have gone.
func keySetRefreshers(t *testing.T) int {
	t.Helper()
	count := func() (n int) {
		var b bytes.Buffer
		require.NoError(t, pprof.Lookup("goroutine").WriteTo(&b, 2))
		for _, g := range strings.Split(b.String(), "\n\n") {
			if strings.Contains(g, "jwkset.NewStorageFromHTTP.func") {
				n++
			}
		}
		return n
	}
	// Those of the tests before end soon after their context, not at once.
	assert.Eventually(t, func() bool { return count() <= 1 }, 5*time.Second, 10*time.Millisecond)
	return count()
}

// A request that gives up while the provider is slow to answer does not
// make the attempt fail: the next request gets the answer.
func TestCallerLeavingDoesNotFailDiscovery(t *testing.T) {
	f := newFixture(t, oauthtest.Options{})
	release := f.p.Hold()
	defer release()
	token := f.p.Token(t, f.claims())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.v.Verify(ctx, token)
		done <- err
	}()
	for f.p.MetadataHits() == 0 {
		runtime.Gosched() // until the attempt is waiting for the provider
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	release()
	_, err := f.v.Verify(context.Background(), token)
	require.NoError(t, err, "the attempt the first caller started failed when it left")
	assert.EqualValues(t, 1, f.p.MetadataHits(), "one attempt, not one per caller")
}

// TestKeySetRefreshOnUnknownKid: a token of a key published after the key
// set was read refreshes it; made-up key ids do not, more than once in a while.
func TestKeySetRefreshOnUnknownKid(t *testing.T) {
	f := newFixture(t, oauthtest.Options{})
	_, err := f.v.Verify(context.Background(), f.p.Token(t, f.claims()))
	require.NoError(t, err)
	require.EqualValues(t, 1, f.p.KeySetHits())

	rotated := oauthtest.NewKey(t, "key-2", "ES256")
	f.p.Publish(rotated)
	_, err = f.v.Verify(context.Background(), rotated.Sign(t, f.claims()))
	require.NoError(t, err, "a token of a newly published key")
	require.EqualValues(t, 2, f.p.KeySetHits())

	// Made-up key ids right after: no refresh each time, no wait.
	stranger := oauthtest.NewKey(t, "key-3", "ES256")
	for range 5 {
		_, err = f.v.Verify(context.Background(), stranger.Sign(t, f.claims()))
		require.ErrorIs(t, err, oauth.ErrInvalidToken)
	}
	assert.EqualValues(t, 2, f.p.KeySetHits(), "every unknown kid refreshed the key set")
}

// An https provider whose metadata redirects to plain http is refused: the
// answer could be anyone's, and it names the keys tokens are checked with
// (and where the client secret goes). The same provider without the
// redirect is the control.
func TestDiscoveryRefusesRedirectToHTTP(t *testing.T) {
	p := oauthtest.NewProvider(t, oauthtest.Options{})
	var tlsURL string
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, tlsURL, tlsURL+"/jwks")
	}))
	t.Cleanup(plain.Close)
	var redirect atomic.Bool
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/jwks":
			res, err := http.Get(p.Issuer + "/jwks")
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer res.Body.Close()
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.Copy(w, res.Body)
		case redirect.Load():
			http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusFound)
		default:
			plain.Config.Handler.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(secure.Close)
	tlsURL = secure.URL
	roots := x509.NewCertPool()
	roots.AddCert(secure.Certificate())
	claims := p.Claims(resource, "aipaint", "user-1", time.Now())
	claims["iss"] = tlsURL
	token := p.Token(t, claims)
	verify := func() error {
		v, err := oauth.New(t.Context(), oauth.Options{Issuer: tlsURL, Resource: resource, Scopes: []string{"aipaint"}, RootCAs: roots})
		require.NoError(t, err)
		_, err = v.Verify(t.Context(), token)
		return err
	}

	require.NoError(t, verify(), "the control: the same provider, without the redirect")
	redirect.Store(true)
	err := verify()
	require.ErrorIs(t, err, oauth.ErrInvalidToken)
	assert.Contains(t, err.Error(), "redirect")
}

func TestDiscovery(t *testing.T) {
	t.Run("path-qualified issuer, RFC 8414 address", func(t *testing.T) {
		f := newFixture(t, oauthtest.Options{Path: "/realms/corp"})
		_, err := f.v.Verify(context.Background(), f.p.Token(t, f.claims()))
		require.NoError(t, err)
	})
	t.Run("OpenID discovery only", func(t *testing.T) {
		f := newFixture(t, oauthtest.Options{Path: "/tenant", OpenIDOnly: true})
		_, err := f.v.Verify(context.Background(), f.p.Token(t, f.claims()))
		require.NoError(t, err)
	})
	t.Run("metadata of another issuer", func(t *testing.T) {
		f := newFixture(t, oauthtest.Options{MetadataIssuer: "https://evil.example"})
		_, err := f.v.Verify(context.Background(), f.p.Token(t, f.claims()))
		require.ErrorIs(t, err, oauth.ErrInvalidToken)
		assert.Contains(t, err.Error(), "evil.example")
	})
	t.Run("no metadata at all", func(t *testing.T) {
		f := newFixture(t, oauthtest.Options{}, func(o *oauth.Options) { o.Issuer += "/nowhere" })
		_, err := f.v.Verify(context.Background(), f.p.Token(t, f.claims()))
		require.ErrorIs(t, err, oauth.ErrInvalidToken)
		assert.Contains(t, err.Error(), "no authorization server metadata")
	})
	t.Run("addresses", func(t *testing.T) {
		assert.Equal(t, []string{
			"https://sso.example/.well-known/oauth-authorization-server",
			"https://sso.example/.well-known/openid-configuration",
		}, oauth.MetadataURLs("https://sso.example"))
		assert.Equal(t, []string{
			"https://sso.example/.well-known/oauth-authorization-server/realms/corp",
			"https://sso.example/.well-known/openid-configuration/realms/corp",
			"https://sso.example/realms/corp/.well-known/openid-configuration",
		}, oauth.MetadataURLs("https://sso.example/realms/corp/"))
	})
}

// TestIntrospection: opaque tokens are asked about, with the client's
// credentials, and the answer kept for at most a minute and never past exp.
func TestIntrospection(t *testing.T) {
	f := newFixture(t, oauthtest.Options{ClientID: "aipaint-rs", ClientSecret: "s3cret:with/odd chars"})
	answer := func(exp time.Time) map[string]any {
		return map[string]any{"iss": f.p.Issuer, "sub": "user-7", "aud": resource, "scope": "aipaint",
			"exp": exp.Unix(), "iat": f.clock.now().Unix(), "username": "seven"}
	}
	f.p.Introspection("opaque-token-long", answer(f.clock.now().Add(time.Hour)))
	f.p.Introspection("opaque-token-short", answer(f.clock.now().Add(20*time.Second)))
	f.p.Introspection("opaque-token-other-aud", map[string]any{"sub": "u", "aud": "https://wiki.example/mcp", "scope": "aipaint", "exp": f.clock.now().Add(time.Hour).Unix()})
	f.p.Introspection("opaque-token-no-scope", map[string]any{"sub": "u", "aud": resource, "exp": f.clock.now().Add(time.Hour).Unix()})
	f.p.Introspection("opaque-token-other-iss", map[string]any{"iss": "https://evil.example", "sub": "u", "aud": resource, "scope": "aipaint", "exp": f.clock.now().Add(time.Hour).Unix()})
	f.p.Introspection("opaque-token-no-exp", map[string]any{"sub": "u", "aud": resource, "scope": "aipaint"})
	ctx := context.Background()

	id, err := f.v.Verify(ctx, "opaque-token-long")
	require.NoError(t, err)
	assert.Equal(t, "user-7", id.Subject)
	assert.Equal(t, "seven", id.Shown())
	require.EqualValues(t, 1, f.p.IntrospectionHits())
	_, err = f.v.Verify(ctx, "opaque-token-long")
	require.NoError(t, err)
	assert.EqualValues(t, 1, f.p.IntrospectionHits(), "not cached")
	f.clock.advance(oauth.CacheFor + time.Second)
	_, err = f.v.Verify(ctx, "opaque-token-long")
	require.NoError(t, err)
	assert.EqualValues(t, 2, f.p.IntrospectionHits(), "cached longer than a minute")

	// Never past exp: an answer for a token expiring in 20 s is kept 20 s.
	f.p.Introspection("opaque-token-short", answer(f.clock.now().Add(20*time.Second)))
	_, err = f.v.Verify(ctx, "opaque-token-short")
	require.NoError(t, err)
	hits := f.p.IntrospectionHits()
	f.clock.advance(21 * time.Second)
	_, _ = f.v.Verify(ctx, "opaque-token-short") // expired, but within the leeway
	assert.Equal(t, hits+1, f.p.IntrospectionHits(), "the answer outlived the token's exp")
	f.clock.advance(oauth.Leeway)
	_, err = f.v.Verify(ctx, "opaque-token-short")
	assert.ErrorIs(t, err, oauth.ErrInvalidToken, "an expired opaque token")

	for token, want := range map[string]error{
		"opaque-token-unknown":   oauth.ErrInvalidToken, // active: false
		"opaque-token-other-aud": oauth.ErrInvalidToken,
		"opaque-token-other-iss": oauth.ErrInvalidToken,
		"opaque-token-no-exp":    oauth.ErrInvalidToken,
		"opaque-token-no-scope":  oauth.ErrInsufficientScope,
	} {
		hits := f.p.IntrospectionHits()
		for range 2 {
			_, err := f.v.Verify(ctx, token)
			require.ErrorIs(t, err, want, token)
			assert.NotContains(t, err.Error(), token)
		}
		assert.Equal(t, hits+1, f.p.IntrospectionHits(), "%s: refusal not cached", token)
	}
	assert.NotContains(t, f.log.String(), "s3cret")
}

func TestIntrospectionRefused(t *testing.T) {
	t.Run("wrong client secret: not cached", func(t *testing.T) {
		f := newFixture(t, oauthtest.Options{ClientID: "aipaint-rs", ClientSecret: "right"}, func(o *oauth.Options) { o.ClientSecret = "wrong" })
		f.p.Introspection("opaque-token-long", map[string]any{"sub": "u", "aud": resource, "scope": "aipaint", "exp": f.clock.now().Add(time.Hour).Unix()})
		for range 2 {
			_, err := f.v.Verify(context.Background(), "opaque-token-long")
			require.ErrorIs(t, err, oauth.ErrInvalidToken)
			assert.Contains(t, err.Error(), "401")
		}
		assert.EqualValues(t, 2, f.p.IntrospectionHits())
	})
	t.Run("no client id: opaque tokens refused without asking", func(t *testing.T) {
		f := newFixture(t, oauthtest.Options{ClientID: "aipaint-rs", ClientSecret: "right"}, func(o *oauth.Options) { o.ClientID, o.ClientSecret = "", "" })
		_, err := f.v.Verify(context.Background(), "opaque-token-long")
		require.ErrorIs(t, err, oauth.ErrInvalidToken)
		assert.Zero(t, f.p.IntrospectionHits())
	})
	t.Run("bound to a DPoP key", func(t *testing.T) {
		f := newFixture(t, oauthtest.Options{ClientID: "aipaint-rs", ClientSecret: "right"})
		f.p.Introspection("opaque-token-long", map[string]any{"sub": "u", "aud": resource, "scope": "aipaint", "exp": f.clock.now().Add(time.Hour).Unix(), "cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}})
		_, err := f.v.Verify(context.Background(), "opaque-token-long")
		require.ErrorIs(t, err, oauth.ErrInvalidToken)
		assert.Contains(t, err.Error(), "cnf")
	})
	t.Run("no jwks_uri: JWTs refused", func(t *testing.T) {
		f := newFixture(t, oauthtest.Options{ClientID: "aipaint-rs", ClientSecret: "right", NoKeys: true})
		_, err := f.v.Verify(context.Background(), f.p.Token(t, f.claims()))
		require.ErrorIs(t, err, oauth.ErrInvalidToken)
		assert.Contains(t, err.Error(), "jwks_uri")
	})
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	for _, o := range []oauth.Options{
		{Resource: resource, Scopes: []string{"aipaint"}},
		{Issuer: "https://sso.example", Scopes: []string{"aipaint"}},
		{Issuer: "https://sso.example", Resource: resource},
		{Issuer: "https://sso.example", Resource: resource, Scopes: []string{"aipaint"}, ClientID: "x"},
	} {
		_, err := oauth.New(context.Background(), o)
		assert.Error(t, err)
	}
}

// BenchmarkVerifyJWT is the cost of checking one JWT access token on a
// request, the key set already read (RS256 and ES256).
func BenchmarkVerifyJWT(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			p := oauthtest.NewProvider(b, oauthtest.Options{Alg: alg})
			v, err := oauth.New(b.Context(), oauth.Options{Issuer: p.Issuer, Resource: resource, Scopes: []string{"aipaint"}})
			if err != nil {
				b.Fatal(err)
			}
			token := p.Token(b, p.Claims(resource, "aipaint", "user-1", time.Now()))
			if _, err := v.Verify(b.Context(), token); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyOpaqueCached is the cost of an opaque token whose
// introspection answer is in the cache (every request but one a minute).
func BenchmarkVerifyOpaqueCached(b *testing.B) {
	p := oauthtest.NewProvider(b, oauthtest.Options{ClientID: "aipaint-rs", ClientSecret: "s3cret"})
	v, err := oauth.New(b.Context(), oauth.Options{Issuer: p.Issuer, Resource: resource, Scopes: []string{"aipaint"}, ClientID: "aipaint-rs", ClientSecret: "s3cret"})
	if err != nil {
		b.Fatal(err)
	}
	p.Introspection("opaque-token-bench", map[string]any{"sub": "u", "aud": resource, "scope": "aipaint", "exp": time.Now().Add(time.Hour).Unix()})
	if _, err := v.Verify(b.Context(), "opaque-token-bench"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), "opaque-token-bench"); err != nil {
			b.Fatal(err)
		}
	}
	if p.IntrospectionHits() != 1 {
		b.Fatalf("%d introspections: the cache did not answer", p.IntrospectionHits())
	}
}
