//go:build unix

package e2e

import (
	"aipaint-mcp/internal/syncbuf"
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"
)

// oauthDir holds the OpenID provider and the node clients (package.json,
// provider.mjs, client.mjs, browser.mjs), installed by `npm ci` there.
const oauthDir = "oauth"

// needOAuthTools skips the test without node or the pinned node modules of
// oauthDir, saying how to install them; with CI=true it fails instead.
func needOAuthTools(t *testing.T) {
	t.Helper()
	fail := func(what string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("OAuth end-to-end test cannot run: %s (CI=true: .ci/run installs it)", what)
		}
		t.Skipf("OAuth end-to-end test skipped: %s; install with: (cd e2e/oauth && npm ci) (CI=true makes this a failure)", what)
	}
	if _, err := exec.LookPath("node"); err != nil {
		fail("node is not on PATH")
	}
	var manifest struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	raw, err := os.ReadFile(filepath.Join(oauthDir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatalf("%s/package.json: %v", oauthDir, err)
	}
	for pkg, want := range manifest.DevDependencies {
		var installed struct {
			Version string `json:"version"`
		}
		raw, err := os.ReadFile(filepath.Join(oauthDir, "node_modules", filepath.FromSlash(pkg), "package.json"))
		if err != nil {
			fail(oauthDir + "/node_modules/" + pkg + " is missing")
		}
		if err := json.Unmarshal(raw, &installed); err != nil {
			t.Fatalf("node_modules/%s/package.json: %v", pkg, err)
		}
		if installed.Version != want {
			fail(fmt.Sprintf("node_modules has %s %s, package.json pins %s", pkg, installed.Version, want))
		}
	}
}

// idp is oauthDir/provider.mjs, a real OpenID provider (oidc-provider), with
// a signing key the test made, so that it can mint tokens with it.
type idp struct {
	issuer string
	key    *rsa.PrivateKey
	kid    string
	log    *syncbuf.Buffer // the provider's stderr: one line per request
}

// rsaJWK is a private RSA key as a JSON Web Key (RFC 7517, RFC 7518 6.3).
type rsaJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
	P   string `json:"p"`
	Q   string `json:"q"`
	DP  string `json:"dp"`
	DQ  string `json:"dq"`
	QI  string `json:"qi"`
}

func newRSAJWK(key *rsa.PrivateKey, kid string) rsaJWK {
	b64 := func(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }
	key.Precompute()
	return rsaJWK{
		Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
		N: b64(key.N), E: b64(big.NewInt(int64(key.E))), D: b64(key.D),
		P: b64(key.Primes[0]), Q: b64(key.Primes[1]),
		DP: b64(key.Precomputed.Dp), DQ: b64(key.Precomputed.Dq), QI: b64(key.Precomputed.Qinv),
	}
}

func newRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// startIDP runs the provider on a free loopback port; it issues tokens for
// resources (the first is the default, for clients that name none) and is
// stopped at cleanup.
func startIDP(t *testing.T, resources ...string) *idp {
	t.Helper()
	p := &idp{key: newRSAKey(t), kid: "e2e-provider-key", log: &syncbuf.Buffer{}}
	keyFile := filepath.Join(t.TempDir(), "provider-key.json")
	raw, err := json.Marshal(newRSAJWK(p.key, p.kid))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "provider.mjs")
	cmd.Dir = oauthDir
	cmd.Env = append(os.Environ(), "OIDC_KEY_FILE="+keyFile, "OIDC_RESOURCES="+strings.Join(resources, " "))
	cmd.Stderr = p.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the OpenID provider: %v", err)
	}
	exited := make(chan error, 1)
	issuer := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "issuer "); ok {
				issuer <- s
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(exitTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("stderr of the OpenID provider:\n%s", p.log.String())
		}
	})
	select {
	case p.issuer = <-issuer:
	case err := <-exited:
		t.Fatalf("the OpenID provider exited before serving (%v):\n%s", err, p.log.String())
	case <-time.After(startTimeout):
		t.Fatalf("the OpenID provider did not start within %s:\n%s", startTimeout, p.log.String())
	}
	return p
}

// requests is how many requests the provider has answered so far.
func (p *idp) requests() int {
	n := 0
	for line := range strings.Lines(p.log.String()) {
		if strings.HasPrefix(line, "request ") {
			n++
		}
	}
	return n
}

// mint signs claims as an access token (RFC 9068) with key, as the
// provider does with its own; standard claims missing from claims get the
// values of a valid token for resource.
func (p *idp) mint(t *testing.T, key *rsa.PrivateKey, resource string, claims jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{
		"iss": p.issuer, "aud": resource, "sub": "mallory", "scope": "aipaint",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"client_id": "minted-by-the-test", "jti": rand.Text(),
	}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	method := jwt.SigningMethod(jwt.SigningMethodRS256)
	var signKey any = key
	if key == nil {
		method, signKey = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType
	}
	tok := jwt.NewWithClaims(method, c)
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = p.kid
	s, err := tok.SignedString(signKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// browserUser is the person at the browser for the Go clients: it follows an
// authorization URL through the provider's login and consent pages (real
// HTML forms, parsed with x/net/html, cookies in a real jar) and returns the
// redirect back to the client. It counts its HTTP requests.
type browserUser struct {
	login    string
	issuer   *url.URL
	hc       *http.Client
	requests int
}

func newBrowserUser(t *testing.T, issuer, login string) *browserUser {
	t.Helper()
	iss, err := url.Parse(issuer)
	if err != nil {
		t.Fatal(err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &browserUser{login: login, issuer: iss}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil
	t.Cleanup(base.CloseIdleConnections)
	u.hc = &http.Client{
		Jar: jar, Transport: base, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme+"://"+req.URL.Host != iss.Scheme+"://"+iss.Host {
				return http.ErrUseLastResponse // back to the client: it, not the browser, takes it
			}
			u.requests++
			return nil
		},
	}
	return u
}

// signIn returns the URL the provider sends the browser back to.
func (u *browserUser) signIn(ctx context.Context, authURL string) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	for range 10 {
		u.requests++
		resp, err := u.hc.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			return resp.Request.URL.Parse(loc)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("sign-in: %s %s: HTTP %d", req.Method, resp.Request.URL.Path, resp.StatusCode)
		}
		action, fields, err := formOf(body)
		if err != nil {
			return nil, fmt.Errorf("sign-in: %s: %w", resp.Request.URL.Path, err)
		}
		if fields.Get("prompt") == "login" {
			fields.Set("login", u.login)
			fields.Set("password", "any")
		}
		to, err := resp.Request.URL.Parse(action)
		if err != nil {
			return nil, err
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, to.String(), strings.NewReader(fields.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return nil, errors.New("sign-in: too many pages")
}

// fetcher is the Go SDK's AuthorizationCodeFetcher: the browser's part.
func (u *browserUser) fetcher(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	back, err := u.signIn(ctx, args.URL)
	if err != nil {
		return nil, err
	}
	q := back.Query()
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("authorization refused: %s", e)
	}
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

// formOf reads the first form of a page: its action and hidden inputs.
func formOf(page []byte) (action string, fields url.Values, err error) {
	doc, err := html.Parse(strings.NewReader(string(page)))
	if err != nil {
		return "", nil, err
	}
	attr := func(n *html.Node, key string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val, true
			}
		}
		return "", false
	}
	var form *html.Node
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "form" {
			form = n
			break
		}
	}
	if form == nil {
		return "", nil, errors.New("no form on the page")
	}
	action, _ = attr(form, "action")
	fields = url.Values{}
	for n := range form.Descendants() {
		if n.Type != html.ElementNode || n.Data != "input" {
			continue
		}
		if typ, _ := attr(n, "type"); typ != "hidden" {
			continue
		}
		if name, ok := attr(n, "name"); ok {
			v, _ := attr(n, "value")
			fields.Add(name, v)
		}
	}
	return action, fields, nil
}

// authCodeFlow is a client without an MCP SDK, as Dify's: it registers
// with the provider, sends u through the authorization code flow with PKCE
// (asking for resource unless it is empty, which Dify never sends) and
// returns the access token.
func authCodeFlow(t *testing.T, ctx context.Context, p *idp, u *browserUser, resource string) string {
	t.Helper()
	hc := u.hc
	meta, err := oauthex.GetAuthServerMeta(ctx, p.issuer+"/.well-known/openid-configuration", p.issuer, hc)
	if err != nil || meta == nil {
		t.Fatalf("provider metadata: %v", err)
	}
	const redirect = "http://127.0.0.1:9/callback" // never listened on: the browser's redirect is caught
	reg, err := oauthex.RegisterClient(ctx, meta.RegistrationEndpoint, &oauthex.ClientRegistrationMetadata{
		RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none", ClientName: "aipaint-e2e-no-sdk",
	}, hc)
	if err != nil {
		t.Fatalf("dynamic client registration: %v", err)
	}
	cfg := &oauth2.Config{
		ClientID:    reg.ClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: meta.AuthorizationEndpoint, TokenURL: meta.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirect,
		Scopes:      []string{"aipaint"},
	}
	verifier := oauth2.GenerateVerifier()
	state := rand.Text()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", resource))
	}
	back, err := u.signIn(ctx, cfg.AuthCodeURL(state, opts...))
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("authorization response: state matches %v, code present %v, error %q", q.Get("state") == state, q.Get("code") != "", q.Get("error"))
	}
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, hc), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return tok.AccessToken
}

// claimsOf reads a JWT's claims without verifying it (the test checks what
// the provider issued, not whether to trust it).
func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		t.Fatalf("an access token that is not a JWT: %v", err)
	}
	return c
}

// tokenID names a token in test output without showing it.
func tokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return fmt.Sprintf("sha256:%x", sum[:6])
}
