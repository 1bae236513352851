package serve

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/oauth"
	"aipaint-mcp/oauth/oauthtest"
)

const (
	publicURL   = "https://paint.example"
	resourceURI = publicURL + "/mcp"
	// metadataAt is where the challenges point.
	metadataAt = publicURL + "/.well-known/oauth-protected-resource/mcp"
)

// newVerifier checks the tokens of p for resourceURI, scope aipaint, and
// reads their groups claim.
func newVerifier(t *testing.T, p *oauthtest.Provider) *oauth.Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := oauth.New(ctx, oauth.Options{Issuer: p.Issuer, Resource: resourceURI, Scopes: []string{"aipaint"}, GroupsClaim: "groups"})
	require.NoError(t, err)
	return v
}

// signedInServer serves whoServer with sign-in at p (and the tokens file of
// tm, if any); tokens issued by the test are added to r.secrets.
func signedInServer(t *testing.T, transport string, p *oauthtest.Provider, team People, defaultLimit *int) *running {
	t.Helper()
	return startHTTPWith(t, whoServer(), HTTPOptions{Transport: transport, OAuth: newVerifier(t, p), People: team, OAuthDefaultLimit: defaultLimit})
}

// token is an access token of p for this server, with extra claims, kept
// out of the server's log.
func token(t *testing.T, r *running, p *oauthtest.Provider, sub string, extra jwt.MapClaims) string {
	t.Helper()
	c := p.Claims(resourceURI, "aipaint", sub, time.Now())
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	tok := p.Token(t, c)
	r.secrets = append(r.secrets, tok)
	return tok
}

// The protected resource metadata: at both addresses, on both transports,
// without a token, naming the /mcp resource.
func TestSignInMetadata(t *testing.T) {
	p := oauthtest.NewProvider(t, oauthtest.Options{})
	for _, tr := range []string{TransportHTTP, TransportSSE} {
		r := signedInServer(t, tr, p, nil, nil)
		for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
			resp, err := r.client.Get(r.base + path)
			require.NoError(t, err)
			body := readAll(t, resp)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, tr+" "+path)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var md struct {
				Resource               string   `json:"resource"`
				AuthorizationServers   []string `json:"authorization_servers"`
				ScopesSupported        []string `json:"scopes_supported"`
				BearerMethodsSupported []string `json:"bearer_methods_supported"`
			}
			require.NoError(t, json.Unmarshal([]byte(body), &md), body)
			assert.Equal(t, resourceURI, md.Resource)
			assert.Equal(t, []string{p.Issuer}, md.AuthorizationServers)
			assert.Equal(t, []string{"aipaint"}, md.ScopesSupported)
			assert.Equal(t, []string{"header"}, md.BearerMethodsSupported)
		}
		// Nothing else is open.
		resp, err := r.client.Get(r.base + "/.well-known/oauth-protected-resource/other")
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	// Without sign-in there is no metadata.
	r := startHTTP(t, HTTPOptions{Transport: TransportHTTP})
	resp, err := r.client.Get(r.base + "/.well-known/oauth-protected-resource/mcp")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// Every refusal of item 2 of the issue, on both transports: the status,
// the challenge, a body with the code alone, the reason in the log and no
// token in it.
func TestSignInChallenges(t *testing.T) {
	p := oauthtest.NewProvider(t, oauthtest.Options{})
	foreign := oauthtest.NewKey(t, "key-1", "RS256")
	for _, tr := range []string{TransportHTTP, TransportSSE} {
		t.Run(tr, func(t *testing.T) {
			r := signedInServer(t, tr, p, nil, nil)
			path := "/mcp"
			if tr == TransportSSE {
				path = "/message?sessionId=any"
			}
			none, err := jwt.NewWithClaims(jwt.SigningMethodNone, p.Claims(resourceURI, "aipaint", "u", time.Now())).SignedString(jwt.UnsafeAllowNoneSignatureType)
			require.NoError(t, err)
			foreignToken := foreign.Sign(t, p.Claims(resourceURI, "aipaint", "u", time.Now()))
			r.secrets = append(r.secrets, none, foreignToken)
			valid := token(t, r, p, "u", nil)
			invalid := `Bearer error="invalid_token", resource_metadata="` + metadataAt + `", scope="aipaint"`
			for _, tc := range []struct {
				name      string
				header    string
				query     string
				status    int
				challenge string
				reason    string // in the log
			}{
				{"no token", "", "", 401, `Bearer resource_metadata="` + metadataAt + `", scope="aipaint"`, ""},
				{"empty bearer", "Bearer ", "", 401, `Bearer resource_metadata="` + metadataAt + `", scope="aipaint"`, ""},
				{"basic scheme", "Basic " + valid, "", 401, `Bearer resource_metadata="` + metadataAt + `", scope="aipaint"`, ""},
				{"token in the query string", "", "access_token=" + valid, 400, `Bearer error="invalid_request", resource_metadata="` + metadataAt + `", scope="aipaint"`, "query string"},
				{"token in the query string and the header", "Bearer " + valid, "access_token=" + valid, 400, `Bearer error="invalid_request", resource_metadata="` + metadataAt + `", scope="aipaint"`, "query string"},
				{"bad signature", "Bearer " + foreignToken, "", 401, invalid, "signature"},
				{"alg none", "Bearer " + none, "", 401, invalid, "signing method none"},
				{"wrong issuer", "Bearer " + token(t, r, p, "u", jwt.MapClaims{"iss": "https://sso.evil.example"}), "", 401, invalid, "issuer"},
				{"wrong audience", "Bearer " + token(t, r, p, "u", jwt.MapClaims{"aud": "https://wiki.example/mcp"}), "", 401, invalid, "audience"},
				{"no audience", "Bearer " + token(t, r, p, "u", jwt.MapClaims{"aud": nil}), "", 401, invalid, "aud"},
				{"expired", "Bearer " + token(t, r, p, "u", jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}), "", 401, invalid, "expired"},
				{"not yet valid", "Bearer " + token(t, r, p, "u", jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()}), "", 401, invalid, "not valid yet"},
				{"opaque, no introspection", "Bearer an-opaque-token-0123456789", "", 401, invalid, "not a JWT"},
				{"no scope", "Bearer " + token(t, r, p, "u", jwt.MapClaims{"scope": "openid email"}), "", 403,
					`Bearer error="insufficient_scope", resource_metadata="` + metadataAt + `", scope="aipaint"`, "lacks scope"},
			} {
				target := path
				if tc.query != "" {
					target += map[bool]string{true: "&", false: "?"}[strings.Contains(path, "?")] + tc.query
				}
				h := map[string]string{}
				if tc.header != "" {
					h["Authorization"] = tc.header
				}
				resp := r.post(t, target, initializeRequest, h)
				body := readAll(t, resp)
				assert.Equal(t, tc.status, resp.StatusCode, tc.name)
				assert.Equal(t, tc.challenge, resp.Header.Get("WWW-Authenticate"), tc.name)
				code := "bearer token required"
				if i := strings.Index(tc.challenge, `error="`); i >= 0 {
					code = strings.SplitN(tc.challenge[i+len(`error="`):], `"`, 2)[0]
				}
				assert.Equal(t, http.StatusText(tc.status)+": "+code+"\n", body, "%s: the body says the code, nothing more", tc.name)
				if tc.reason != "" {
					logged, err := os.ReadFile(r.logs.Name())
					require.NoError(t, err)
					assert.Contains(t, string(logged), tc.reason, tc.name)
				}
			}
			// The same token in the header, in either case of the scheme: admitted.
			for _, scheme := range []string{"Bearer ", "bearer ", "BEARER "} {
				resp := r.post(t, path, initializeRequest, map[string]string{"Authorization": scheme + valid})
				body := readAll(t, resp)
				assert.NotEqual(t, http.StatusUnauthorized, resp.StatusCode, body)
				assert.NotEqual(t, http.StatusForbidden, resp.StatusCode, body)
			}
		})
	}
}

// The person behind a token: the tokens file's line of their verified
// email or sub (its name and limit), else their own name with the default
// limit; an unverified email names nobody. Static tokens of the file still work.
func TestSignInPerson(t *testing.T) {
	p := oauthtest.NewProvider(t, oauthtest.Options{})
	tm := newTeam(t, "ann@example.com - 2\nsub-bob - 0\ncarl "+carolToken+" 7\n")
	five := 5
	for _, tc := range []struct {
		name   string
		team   bool
		limit  *int
		sub    string
		claims jwt.MapClaims
		static string
		want   string
	}{
		{"verified email in the file, any case", true, &five, "sub-ann", jwt.MapClaims{"email": "Ann@Example.COM", "email_verified": true}, "", `name="ann@example.com" limit=2 found=true`},
		{"sub in the file", true, &five, "sub-bob", nil, "", `name="sub-bob" limit=0 found=true`},
		{"unverified email names nobody", true, &five, "mallory", jwt.MapClaims{"email": "ann@example.com", "email_verified": false}, "", `name="mallory" limit=5 found=true`},
		{"verified email not in the file", true, &five, "sub-dave", jwt.MapClaims{"email": "Dave@Example.com", "email_verified": true}, "", `name="dave@example.com" limit=5 found=true`},
		{"no default limit", true, nil, "sub-erin", nil, "", `name="sub-erin" limit=none found=true`},
		{"no tokens file", false, &five, "sub-ann", jwt.MapClaims{"email": "ann@example.com", "email_verified": true}, "", `name="ann@example.com" limit=5 found=true`},
		{"static token of the file", true, &five, "", nil, carolToken, `name="carl" limit=7 found=true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var team People
			if tc.team {
				team = tm.watcher
			}
			r := signedInServer(t, TransportHTTP, p, team, tc.limit)
			r.secrets = append(r.secrets, carolToken)
			tok := tc.static
			if tok == "" {
				tok = token(t, r, p, tc.sub, tc.claims)
			}
			id := streamableSession(t, r, bearerOf(tok))
			resp := r.post(t, "/mcp", toolCall(2, "whoami", `{}`), withSession(bearerOf(tok), id))
			body := readAll(t, resp)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			assert.Equal(t, tc.want, textOf(t, body))
		})
	}
	t.Run("static tokens need the file", func(t *testing.T) {
		r := signedInServer(t, TransportHTTP, p, nil, nil)
		r.secrets = append(r.secrets, carolToken)
		resp := r.post(t, "/mcp", initializeRequest, bearerOf(carolToken))
		readAll(t, resp)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
}

// With AIPAINT_OAUTH_GROUPS, a person who signs in must be in one of the
// groups or have a line in the tokens file; anyone else gets 403 without
// an RFC 6750 code (no new token or scope would help), and the log says why.
func TestSignInGroups(t *testing.T) {
	p := oauthtest.NewProvider(t, oauthtest.Options{})
	tm := newTeam(t, "ann@example.com - 2\ncarl "+carolToken+" 7\n")
	r := startHTTPWith(t, whoServer(), HTTPOptions{Transport: TransportHTTP, OAuth: newVerifier(t, p), People: tm.watcher, OAuthGroups: []string{"/designers", "/admins"}})
	r.secrets = append(r.secrets, carolToken)
	for _, tc := range []struct {
		name   string
		tok    string
		status int
	}{
		{"in a group", token(t, r, p, "sub-dave", jwt.MapClaims{"groups": []string{"/staff", "/designers"}}), http.StatusOK},
		{"in the other group, as one string", token(t, r, p, "sub-erin", jwt.MapClaims{"groups": "/admins"}), http.StatusOK},
		{"listed in the file by verified email", token(t, r, p, "sub-ann", jwt.MapClaims{"email": "ann@example.com", "email_verified": true}), http.StatusOK},
		{"a static token of the file", carolToken, http.StatusOK},
		{"in another group", token(t, r, p, "sub-mallory", jwt.MapClaims{"groups": []string{"/staff", "/Designers"}}), http.StatusForbidden},
		{"in no group", token(t, r, p, "sub-oscar", nil), http.StatusForbidden},
		{"unverified email of a listed person", token(t, r, p, "sub-trudy", jwt.MapClaims{"email": "ann@example.com", "email_verified": false}), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := r.post(t, "/mcp", initializeRequest, bearerOf(tc.tok))
			body := readAll(t, resp)
			require.Equal(t, tc.status, resp.StatusCode, body)
			if tc.status == http.StatusForbidden {
				ch := resp.Header.Get("WWW-Authenticate")
				assert.True(t, strings.HasPrefix(ch, "Bearer "), ch)
				assert.NotContains(t, ch, "error=", "no RFC 6750 code fits: a client must not retry for another scope")
				assert.Contains(t, ch, "resource_metadata=")
				assert.Equal(t, "Forbidden\n", body, "the body says no more")
			}
		})
	}
	require.NoError(t, r.stop(t))
	logged, err := os.ReadFile(r.logs.Name())
	require.NoError(t, err)
	assert.Contains(t, string(logged), "in none of AIPAINT_OAUTH_GROUPS")
	assert.Contains(t, string(logged), "sub-mallory")
}

// A session belongs to the person who opened it, not to the token: a
// refreshed token of theirs keeps it, another person's token gets 404.
func TestSignInSessions(t *testing.T) {
	p := oauthtest.NewProvider(t, oauthtest.Options{})
	t.Run("streamable HTTP", func(t *testing.T) {
		r := signedInServer(t, TransportHTTP, p, nil, nil)
		ann := token(t, r, p, "sub-ann", nil)
		id := streamableSession(t, r, bearerOf(ann))
		refreshed := token(t, r, p, "sub-ann", nil)
		require.NotEqual(t, ann, refreshed)
		resp := r.post(t, "/mcp", toolCall(2, "whoami", `{}`), withSession(bearerOf(refreshed), id))
		body := readAll(t, resp)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Equal(t, `name="sub-ann" limit=none found=true`, textOf(t, body))

		bob := token(t, r, p, "sub-bob", nil)
		resp = r.post(t, "/mcp", toolCall(3, "whoami", `{}`), withSession(bearerOf(bob), id))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, readAll(t, resp))
		assert.Equal(t, http.StatusNotFound, r.status(t, http.MethodDelete, "/mcp", withSession(bearerOf(bob), id)))
	})
	t.Run("SSE", func(t *testing.T) {
		r := signedInServer(t, TransportSSE, p, nil, nil)
		ann := bearerOf(token(t, r, p, "sub-ann", nil))
		stream := openSSE(t, r, ann)
		require.Equal(t, http.StatusOK, stream.resp.StatusCode)
		path := strings.TrimPrefix(messageURL(t, r, stream.next(t, "endpoint")), r.base)
		resp := r.post(t, path, initializeRequest, bearerOf(token(t, r, p, "sub-bob", nil)))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, readAll(t, resp))
		resp = r.post(t, path, initializeRequest, bearerOf(token(t, r, p, "sub-ann", nil)))
		assert.Equal(t, http.StatusAccepted, resp.StatusCode, readAll(t, resp))
		stream.next(t, "message")
	})
}

// A provider that is down at start does not stop the server: its tokens
// get 401 and the log says why.
func TestSignInProviderDown(t *testing.T) {
	p := oauthtest.NewProvider(t, oauthtest.Options{})
	p.Down(true)
	r := signedInServer(t, TransportHTTP, p, nil, nil)
	resp := r.post(t, "/mcp", initializeRequest, bearerOf(token(t, r, p, "u", nil)))
	readAll(t, resp)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
	logged, err := os.ReadFile(r.logs.Name())
	require.NoError(t, err)
	assert.Contains(t, string(logged), "identity provider unavailable")
	assert.Contains(t, string(logged), "503")
}

func TestSignInRefusals(t *testing.T) {
	p := oauthtest.NewProvider(t, oauthtest.Options{}) // on http://127.0.0.1
	logger := slog.New(slog.DiscardHandler)
	refused := func(o HTTPOptions) error {
		t.Helper()
		o.Logger = logger
		return HTTPTuned(context.Background(), whoServer(), o, Tuning{Ready: func(net.Addr) { t.Error("listened") }})
	}
	err := refused(HTTPOptions{Transport: TransportHTTP, Addr: "127.0.0.1:0", Token: "shared-token-12345", OAuth: newVerifier(t, p)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AIPAINT_OAUTH_ISSUER")
	assert.NotContains(t, err.Error(), "shared-token-12345")

	err = refused(HTTPOptions{Transport: TransportHTTP, Addr: "0.0.0.0:0", OAuth: newVerifier(t, p)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AIPAINT_OAUTH_ISSUER is not https://")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := oauth.New(ctx, oauth.Options{Issuer: "https://sso.example", Resource: "http://paint.example/mcp", Scopes: []string{"aipaint"}})
	require.NoError(t, err)
	err = refused(HTTPOptions{Transport: TransportSSE, Addr: "0.0.0.0:0", OAuth: v})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AIPAINT_PUBLIC_URL is not https://")

	// Sign-in alone is enough beyond loopback.
	assert.NoError(t, CheckBind("0.0.0.0:8080", "", "", "https://sso.example"))
}
