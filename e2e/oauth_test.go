//go:build unix

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"aipaint-mcp/sandbox/sandboxtest"
	"aipaint-mcp/store/postgres/pgtest"
)

// The people of TestOAuthTeam, each signing in with a different client.
// Their limits are lines of the tokens file: alice by her verified email,
// bob by his subject; carol and dave have the default limit.
const (
	oauthScriptToken   = "script-e2e-token-4f0c9d27" // a static token beside OAuth, for scripts
	oauthAliceLimit    = 1
	oauthBobLimit      = 3
	oauthDefaultLimit  = 2
	oauthPeopleFile    = "script " + oauthScriptToken + "\nalice@example.com - 1\nbob - 3\n"
	oauthRedirect      = "http://127.0.0.1:9/callback" // never listened on: the browsers' redirects are caught
	limitRefusalMarker = "今日已用"                        // the limit error's words, as in TestTeamReplicas
)

// balancer is a load balancer without sticky sessions in front of the
// replicas: a reverse proxy on loopback whose URL is the public URL. Each
// request goes to the next replica; it notes which replicas each bearer
// token reached (the tokens stay in memory, for the log check).
type balancer struct {
	*httptest.Server
	mu       sync.Mutex
	replicas []string // host:port
	next     int
	requests int
	reached  map[string]map[string]int // token -> replica -> requests
	order    []string                  // tokens in the order first seen
}

func newBalancer(t *testing.T) *balancer {
	t.Helper()
	b := &balancer{reached: map[string]map[string]int{}}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil
	t.Cleanup(base.CloseIdleConnections)
	rp := &httputil.ReverseProxy{
		Transport:     base,
		FlushInterval: -1, // server-sent events pass at once
		Rewrite: func(pr *httputil.ProxyRequest) {
			b.mu.Lock()
			addr := b.replicas[b.next%len(b.replicas)]
			b.next++
			b.requests++
			if tok, ok := bearer(pr.In.Header.Get("Authorization")); ok {
				if b.reached[tok] == nil {
					b.reached[tok] = map[string]int{}
					b.order = append(b.order, tok)
				}
				b.reached[tok][addr]++
			}
			b.mu.Unlock()
			pr.SetURL(&url.URL{Scheme: "http", Host: addr})
			pr.Out.Host = pr.In.Host // the public host, as a load balancer passes it
			pr.SetXForwarded()
		},
	}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A replica may answer before the proxy has read the request body
		// to its end (EOF); without full duplex, net/http then closes that
		// body, the write of the request to the replica fails, and the
		// transport drops the connection in the middle of the answer.
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	return strings.TrimSpace(tok), ok && strings.EqualFold(scheme, "Bearer")
}

// add puts a replica behind the balancer.
func (b *balancer) add(addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.replicas = append(b.replicas, addr)
}

// mark is where the balancer's counts stand, to see what one phase did.
type mark struct{ requests, tokens int }

func (b *balancer) mark() mark {
	b.mu.Lock()
	defer b.mu.Unlock()
	return mark{b.requests, len(b.order)}
}

// since returns the requests and the new tokens since m.
func (b *balancer) since(m mark) (requests int, tokens []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests - m.requests, slices.Clone(b.order[m.tokens:])
}

// replicasOf is how many replicas served requests with token.
func (b *balancer) replicasOf(token string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reached[token])
}

func (b *balancer) tokens() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.order)
}

// countingClient is a loopback HTTP client that counts its requests.
type countingClient struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    int
}

func (c *countingClient) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.base.RoundTrip(req)
}

func (c *countingClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func newCountingClient(t *testing.T) (*http.Client, *countingClient) {
	t.Helper()
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil
	t.Cleanup(base.CloseIdleConnections)
	cc := &countingClient{base: base}
	return &http.Client{Transport: cc}, cc
}

// signInFigures are the costs of one client's sign-in, reported by the test.
type signInFigures struct {
	client           string
	providerRequests int // answered by the OpenID provider
	serverRequests   int // answered by the replicas (through the balancer)
	took             time.Duration
	what             string // what the figures cover
}

// rawReply is an HTTP answer read whole.
type rawReply struct {
	status int
	header http.Header
	body   string
}

// postMCP sends one JSON-RPC message to endpoint with the given headers.
func postMCP(t *testing.T, ctx context.Context, endpoint, message string, header http.Header) rawReply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(message))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	hc := httpClient(nil, nil)
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return rawReply{resp.StatusCode, resp.Header, string(body)}
}

const initializeMessage = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`

// bearerChallenge is the Bearer challenge of a reply's WWW-Authenticate.
func bearerChallenge(t *testing.T, r rawReply) map[string]string {
	t.Helper()
	cs, err := oauthex.ParseWWWAuthenticate(r.header.Values("WWW-Authenticate"))
	if err != nil {
		t.Fatalf("WWW-Authenticate %q: %v", r.header.Values("WWW-Authenticate"), err)
	}
	for _, c := range cs {
		if c.Scheme == "bearer" {
			return c.Params
		}
	}
	t.Fatalf("no Bearer challenge in WWW-Authenticate %q (HTTP %d)", r.header.Values("WWW-Authenticate"), r.status)
	return nil
}

// runNode runs a node program of oauthDir (or a path under it) with env
// added to the test's environment; it returns stdout and fails the test,
// with stderr, if the program fails.
func runNode(t *testing.T, ctx context.Context, env []string, program string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", append([]string{program}, args...)...)
	cmd.Dir = oauthDir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s %s: %v\nstdout:\n%s\nstderr:\n%s", program, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// inspectorResult reads the tool result the Inspector CLI prints with
// --format json.
func inspectorResult(t *testing.T, out []byte) (r struct {
	IsError bool `json:"isError"`
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent"`
}) {
	t.Helper()
	var wrap struct {
		Result *json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(out, &wrap); err != nil || wrap.Result == nil {
		t.Fatalf("the Inspector printed %q: %v", out, err)
	}
	if err := json.Unmarshal(*wrap.Result, &r); err != nil {
		t.Fatalf("the Inspector's result %s: %v", *wrap.Result, err)
	}
	return r
}

// TestOAuthTeam: the team server as an OAuth 2.1 resource server, end to
// end, with a real OpenID provider (oidc-provider, e2e/oauth/provider.mjs)
// and real clients, against three replicas on one PostgreSQL behind a
// round-robin load balancer (the public URL), on the sandbox upstream.
//   - Discovery: the protected resource metadata at both addresses; a
//     request without a token gets the challenge that leads to it.
//   - The TypeScript SDK (bob), the Go SDK (alice) and the MCP Inspector CLI
//     (carol) each register, sign in and call list_styles and a sandbox
//     generate_image; a client that sends no resource, as Dify (dave), gets a
//     token for this server by the provider's default and works.
//   - Every token works on every replica; alice hits her own limit (1, a
//     tokens-file line by email); alice cannot read bob's task.
//   - Hostile tokens (wrong or missing audience, expired, not yet valid,
//     another issuer, a foreign key, alg none, a token for another resource
//     of the same provider, without the scope, in the query string, another
//     person's token on a session) are refused with the right status and
//     challenge, nothing reaches the upstream, and no token is in any log.
//   - The static token of a script still works beside OAuth.
func TestOAuthTeam(t *testing.T) {
	needOAuthTools(t)
	storeURL := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	top := t
	lb := newBalancer(t)
	public := lb.URL
	resource := public + "/mcp"
	otherResource := "http://127.0.0.1:9/other/mcp" // another resource server of the same provider
	provider := startIDP(t, resource, otherResource)

	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(oauthPeopleFile), 0o600); err != nil {
		t.Fatal(err)
	}
	sb := sandboxtest.Start(t, sandboxtest.Delay(time.Second))
	tm := &team{
		sb: sb, queries: &queryLog{log: map[string][]queryAt{}}, storeURL: storeURL, tokens: tokens,
		env: []string{
			"AIPAINT_STORE_URL=" + storeURL, "AIPAINT_HTTP_TOKENS_FILE=" + tokens,
			"AIPAINT_PUBLIC_URL=" + public, "AIPAINT_OAUTH_ISSUER=" + provider.issuer,
			fmt.Sprintf("AIPAINT_OAUTH_DEFAULT_LIMIT=%d", oauthDefaultLimit),
		},
	}
	for range 3 {
		p := tm.start(t)
		tm.replicas = append(tm.replicas, p)
		lb.add(p.addr)
	}
	var minted []string // hostile tokens, for the log check
	t.Cleanup(func() {
		for _, tok := range append(lb.tokens(), minted...) {
			for _, p := range tm.replicas {
				if strings.Contains(p.stderr.String(), tok) {
					t.Errorf("token %s is in the log of %s", tokenID(tok), p.name)
				}
			}
			if strings.Contains(provider.log.String(), tok) {
				t.Errorf("token %s is in the provider's log", tokenID(tok))
			}
		}
	})
	var figures []signInFigures
	t.Cleanup(func() {
		for _, f := range figures {
			t.Logf("sign-in of %-21s %2d requests to the provider, %2d to the server, %6s: %s", f.client+":", f.providerRequests, f.serverRequests, f.took.Round(time.Millisecond), f.what)
		}
	})

	t.Run("discovery", func(t *testing.T) {
		hc := httpClient(nil, nil)
		t.Cleanup(hc.CloseIdleConnections)
		get := func(u string) oauthex.ProtectedResourceMetadata {
			t.Helper()
			resp, err := hc.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m oauthex.ProtectedResourceMetadata
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
			}
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
				t.Fatalf("GET %s: %v", u, err)
			}
			return m
		}
		for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
			m := get(public + path)
			if m.Resource != resource || !slices.Equal(m.AuthorizationServers, []string{provider.issuer}) ||
				!slices.Contains(m.ScopesSupported, "aipaint") || !slices.Equal(m.BearerMethodsSupported, []string{"header"}) {
				t.Errorf("%s: %+v; want resource %s, authorization_servers [%s], scopes with aipaint, bearer_methods_supported [header]", path, m, resource, provider.issuer)
			}
		}
		r := postMCP(t, ctx, resource, initializeMessage, nil)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("no token: HTTP %d, want 401", r.status)
		}
		ch := bearerChallenge(t, r)
		if ch["scope"] != "aipaint" || ch["error"] != "" {
			t.Errorf("no token: challenge %v; want scope=\"aipaint\" and no error code", ch)
		}
		if m := get(ch["resource_metadata"]); m.Resource != resource {
			t.Errorf("the challenge's resource_metadata %s names resource %q, want %s", ch["resource_metadata"], m.Resource, resource)
		}
	})

	// ---- The TypeScript SDK: bob, limited by his subject. ----
	var bobTask string
	t.Run("typescript_sdk", func(t *testing.T) {
		before, m, start := provider.requests(), lb.mark(), time.Now()
		raw := runNode(t, ctx, nil, "client.mjs", resource, "bob")
		took := time.Since(start)
		serverRequests, toks := lb.since(m)
		var out struct {
			SignInMillis float64 `json:"signInMillis"`
			ListStyles   struct {
				IsError bool   `json:"isError"`
				Text    string `json:"text"`
			} `json:"listStyles"`
			Generate struct {
				IsError    bool       `json:"isError"`
				Text       string     `json:"text"`
				Structured taskFields `json:"structured"`
			} `json:"generate"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("client.mjs printed %q: %v", raw, err)
		}
		if out.ListStyles.IsError || out.ListStyles.Text == "" {
			t.Errorf("list_styles: %+v", out.ListStyles)
		}
		g := out.Generate
		if g.IsError || g.Structured.Status != "done" || len(g.Structured.Images) != 1 {
			t.Fatalf("generate_image: isError %v, %+v, %q", g.IsError, g.Structured, g.Text)
		}
		bobTask = g.Structured.TaskID
		if len(toks) != 1 {
			t.Fatalf("the TypeScript client used %d tokens, want 1", len(toks))
		}
		if c := claimsOf(t, toks[0]); c["sub"] != "bob" || c["aud"] != resource {
			t.Errorf("bob's token: sub %v aud %v", c["sub"], c["aud"])
		}
		figures = append(figures, signInFigures{"TypeScript SDK", provider.requests() - before, serverRequests, took,
			"the whole node process: start, sign-in, reconnect, list_styles, generate_image (1 s in the sandbox)"})
		t.Logf("TypeScript SDK: signed in and connected in %.0f ms (in the process); the whole run took %s", out.SignInMillis, took.Round(time.Millisecond))
	})

	// ---- The Go SDK: alice, limited by her verified email. ----
	var alice *mcp.ClientSession
	t.Run("go_sdk", func(t *testing.T) {
		u := newBrowserUser(t, provider.issuer, "alice")
		hc, counted := newCountingClient(t)
		h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
			DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
				Metadata: &oauthex.ClientRegistrationMetadata{
					RedirectURIs: []string{oauthRedirect}, TokenEndpointAuthMethod: "none", ClientName: "aipaint-e2e-go-sdk",
				},
			},
			RedirectURL:              oauthRedirect,
			AuthorizationCodeFetcher: u.fetcher,
			Client:                   hc,
		})
		if err != nil {
			t.Fatal(err)
		}
		before, m, start := provider.requests(), lb.mark(), time.Now()
		tr := &mcp.StreamableClientTransport{Endpoint: resource, HTTPClient: hc, OAuthHandler: h, MaxRetries: -1}
		// The 2025-11-25 revision, which has sessions: the hostile phase
		// aims at alice's. (dave's client speaks the latest, sessionless.)
		cs, err := newClient(nil).Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		if cs.ID() == "" {
			t.Fatal("no session id on the 2025-11-25 revision")
		}
		top.Cleanup(func() { _ = cs.Close() }) // the hostile phase aims at this session
		alice = cs
		mustOK(t, call(t, ctx, alice, "list_styles", map[string]any{}))
		took := time.Since(start)
		serverRequests, toks := lb.since(m)
		figures = append(figures, signInFigures{"Go SDK", provider.requests() - before, serverRequests, took,
			"in the test's process: connect (sign-in included) and list_styles"})
		t.Logf("Go SDK: %d requests by the client, %d by the browser", counted.count(), u.requests)
		if len(toks) != 1 {
			t.Fatalf("the Go client used %d tokens, want 1", len(toks))
		}
		if c := claimsOf(t, toks[0]); c["sub"] != "alice" || c["aud"] != resource || c["email"] != "alice@example.com" {
			t.Errorf("alice's token: sub %v aud %v email %v", c["sub"], c["aud"], c["email"])
		}

		r := generate(t, ctx, alice, map[string]any{"text": "alice 的 Go 熊猫", "wait_seconds": 20})
		if r.Status != "done" || len(r.Images) != 1 {
			t.Errorf("generate_image: %+v", r)
		}
		res := call(t, ctx, alice, "generate_image", map[string]any{"text": "alice 的第二张", "wait": false})
		if !res.IsError || !strings.Contains(textOf(res), limitRefusalMarker) {
			t.Errorf("alice's second image with a limit of %d: isError %v %q; want the limit error", oauthAliceLimit, res.IsError, textOf(res))
		}
		var c taskFields
		res = call(t, ctx, alice, "check_task", map[string]any{"task_id": r.TaskID})
		mustOK(t, res)
		structured(t, res, &c)
		if c.TaskID != r.TaskID || c.Status != "done" {
			t.Errorf("check_task of her own task: %+v", c)
		}
		if bobTask == "" {
			t.Skip("no task of bob's to look for (the TypeScript client failed)")
		}
		res = call(t, ctx, alice, "check_task", map[string]any{"task_id": bobTask})
		if !res.IsError || !strings.Contains(textOf(res), "No such task") {
			t.Errorf("alice's check_task of bob's task: isError %v %q; want not found", res.IsError, textOf(res))
		}
	})

	// ---- The MCP Inspector CLI: carol, the default limit. ----
	t.Run("inspector", func(t *testing.T) {
		home := t.TempDir()
		browser, err := filepath.Abs(filepath.Join(oauthDir, "browser.mjs"))
		if err != nil {
			t.Fatal(err)
		}
		browserLog := filepath.Join(home, "browser.log")
		t.Cleanup(func() {
			if b, err := os.ReadFile(browserLog); err == nil && t.Failed() {
				t.Logf("the Inspector's browser:\n%s", b)
			}
		})
		env := []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + home, "NO_COLOR=1",
			"BROWSER=" + browser, "OIDC_LOGIN=carol", "OIDC_BROWSER_LOG=" + browserLog,
			"MCP_AUTO_OPEN_ENABLED=true", // no TTY here: let the Inspector open the "browser"
			// No keychain here: keep the tokens in a file of the scratch
			// HOME, so that the second run finds them.
			"MCP_INSPECTOR_SECRET_STORE=file",
		}
		callback := "http://" + freeAddr(t) + "/oauth/callback"
		inspector := func(args ...string) []byte {
			t.Helper()
			cmd := exec.CommandContext(ctx, filepath.Join("node_modules", ".bin", "mcp-inspector"),
				append([]string{"--cli", resource, "--transport", "http", "--format", "json", "--callback-url", callback}, args...)...)
			cmd.Dir = oauthDir
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("mcp-inspector %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
			}
			return stdout.Bytes()
		}
		before, m, start := provider.requests(), lb.mark(), time.Now()
		out := inspector("--method", "tools/call", "--tool-name", "list_styles")
		took := time.Since(start)
		serverRequests, toks := lb.since(m)
		figures = append(figures, signInFigures{"MCP Inspector CLI", provider.requests() - before, serverRequests, took,
			"the whole CLI process: start, sign-in through BROWSER, list_styles"})
		if r := inspectorResult(t, out); r.IsError || len(r.Content) == 0 || r.Content[0].Text == "" {
			t.Fatalf("list_styles through the Inspector: %s", out)
		}
		if len(toks) != 1 {
			t.Fatalf("the Inspector used %d tokens, want 1", len(toks))
		}
		if c := claimsOf(t, toks[0]); c["sub"] != "carol" || c["aud"] != resource {
			t.Errorf("carol's token: sub %v aud %v", c["sub"], c["aud"])
		}
		// A second run signs in no more: it uses the token the first stored.
		out = inspector("--stored-auth-only", "--method", "tools/call", "--tool-name", "generate_image",
			"--tool-args-json", `{"text":"carol 的 Inspector 熊猫","wait_seconds":20}`)
		gen := inspectorResult(t, out)
		var r taskFields
		if err := json.Unmarshal(gen.StructuredContent, &r); err != nil || gen.IsError || r.Status != "done" || len(r.Images) != 1 {
			t.Errorf("generate_image through the Inspector: %v, %s", err, out)
		}
	})

	// ---- No resource parameter, as Dify: dave, by the provider's default. ----
	t.Run("no_resource", func(t *testing.T) {
		u := newBrowserUser(t, provider.issuer, "dave")
		before, start := provider.requests(), time.Now()
		tok := authCodeFlow(t, ctx, provider, u, "")
		took := time.Since(start)
		figures = append(figures, signInFigures{"no SDK, no resource", provider.requests() - before, 0, took,
			"the authorization code flow alone (registration, pages, token), in the test's process"})
		if c := claimsOf(t, tok); c["aud"] != resource || c["sub"] != "dave" {
			t.Fatalf("a token asked for without resource: aud %v sub %v; want the default, %s", c["aud"], c["sub"], resource)
		}
		hc := httpClient(http.Header{"Authorization": {"Bearer " + tok}}, nil)
		t.Cleanup(hc.CloseIdleConnections)
		cs := connect(t, ctx, newClient(nil), &mcp.StreamableClientTransport{Endpoint: resource, HTTPClient: hc, MaxRetries: -1}, nil, nil)
		mustOK(t, call(t, ctx, cs, "list_styles", map[string]any{}))
		for i := range oauthDefaultLimit {
			if r := generate(t, ctx, cs, map[string]any{"text": fmt.Sprintf("dave 的第 %d 只熊猫", i+1), "wait_seconds": 20}); r.Status != "done" || len(r.Images) != 1 {
				t.Errorf("generate_image %d: %+v", i+1, r)
			}
		}
		res := call(t, ctx, cs, "generate_image", map[string]any{"text": "dave 的多一只", "wait": false})
		if !res.IsError || !strings.Contains(textOf(res), limitRefusalMarker) {
			t.Errorf("dave's image %d with the default limit of %d: isError %v %q; want the limit error", oauthDefaultLimit+1, oauthDefaultLimit, res.IsError, textOf(res))
		}
	})

	t.Run("static_token", func(t *testing.T) {
		hc := httpClient(http.Header{"Authorization": {"Bearer " + oauthScriptToken}}, nil)
		t.Cleanup(hc.CloseIdleConnections)
		cs := connect(t, ctx, newClient(nil), &mcp.StreamableClientTransport{Endpoint: resource, HTTPClient: hc, MaxRetries: -1}, nil, nil)
		mustOK(t, call(t, ctx, cs, "list_styles", map[string]any{}))
	})

	t.Run("every_replica", func(t *testing.T) {
		for _, tok := range lb.tokens() {
			if tok == oauthScriptToken {
				continue
			}
			if n := lb.replicasOf(tok); n != len(tm.replicas) {
				t.Errorf("the token of %v reached %d of %d replicas", claimsOf(t, tok)["sub"], n, len(tm.replicas))
			}
		}
	})

	t.Run("hostile", func(t *testing.T) {
		if alice == nil {
			t.Skip("no session of alice's to aim at")
		}
		foreign := newRSAKey(t)
		now := time.Now()
		otherTok := authCodeFlow(t, ctx, provider, newBrowserUser(t, provider.issuer, "mallory"), otherResource)
		if c := claimsOf(t, otherTok); c["aud"] != otherResource {
			t.Fatalf("a token for the other resource has aud %v", c["aud"])
		}
		dave := lb.tokens()
		var daveTok string
		for _, tok := range dave {
			if tok != oauthScriptToken && claimsOf(t, tok)["sub"] == "dave" {
				daveTok = tok
			}
		}
		cases := []struct {
			name   string
			token  string
			query  bool // in the query string instead of the header
			status int
			code   string // the challenge's error
		}{
			{"wrong audience", provider.mint(t, provider.key, "https://elsewhere.example/mcp", nil), false, 401, "invalid_token"},
			{"no audience", provider.mint(t, provider.key, resource, jwt.MapClaims{"aud": nil}), false, 401, "invalid_token"},
			{"expired", provider.mint(t, provider.key, resource, jwt.MapClaims{"exp": now.Add(-10 * time.Minute).Unix(), "iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix()}), false, 401, "invalid_token"},
			{"not yet valid", provider.mint(t, provider.key, resource, jwt.MapClaims{"nbf": now.Add(10 * time.Minute).Unix()}), false, 401, "invalid_token"},
			{"another issuer", provider.mint(t, provider.key, resource, jwt.MapClaims{"iss": "http://127.0.0.1:9"}), false, 401, "invalid_token"},
			{"foreign key", provider.mint(t, foreign, resource, nil), false, 401, "invalid_token"},
			{"alg none", provider.mint(t, nil, resource, nil), false, 401, "invalid_token"},
			{"another resource of the same provider", otherTok, false, 401, "invalid_token"},
			{"without the scope", provider.mint(t, provider.key, resource, jwt.MapClaims{"scope": "openid"}), false, 403, "insufficient_scope"},
			{"in the query string", provider.mint(t, provider.key, resource, nil), true, 400, "invalid_request"},
		}
		for _, c := range cases {
			minted = append(minted, c.token)
		}
		minted = append(minted, otherTok)
		// The control: a token minted the same way, valid, is let in.
		valid := provider.mint(t, provider.key, resource, nil)
		minted = append(minted, valid)
		if r := postMCP(t, ctx, resource, initializeMessage, http.Header{"Authorization": {"Bearer " + valid}}); r.status != http.StatusOK {
			t.Fatalf("a valid token minted with the provider's key: HTTP %d %s (the hostile cases below mean nothing)", r.status, r.body)
		}

		submits := sb.Stats().Submits
		// Each hostile request is a generate_image on alice's live session.
		draw := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"generate_image","arguments":{"text":"不该画的猫","wait":false}}}`
		session := http.Header{"Mcp-Session-Id": {alice.ID()}, "Mcp-Protocol-Version": {alice.InitializeResult().ProtocolVersion}}
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				h := session.Clone()
				endpoint := resource
				if c.query {
					endpoint += "?access_token=" + url.QueryEscape(c.token)
				} else {
					h.Set("Authorization", "Bearer "+c.token)
				}
				r := postMCP(t, ctx, endpoint, draw, h)
				if r.status != c.status {
					t.Fatalf("HTTP %d, want %d; body %q", r.status, c.status, r.body)
				}
				ch := bearerChallenge(t, r)
				if ch["error"] != c.code {
					t.Errorf("challenge %v; want error=%q", ch, c.code)
				}
				if c.status == http.StatusForbidden && ch["scope"] != "aipaint" {
					t.Errorf("challenge %v; want scope=\"aipaint\"", ch)
				}
				if ch["resource_metadata"] == "" {
					t.Errorf("challenge %v without resource_metadata", ch)
				}
				for _, why := range []string{"expired", "audience", "signature", "issuer", "alg", "key"} {
					if strings.Contains(strings.ToLower(r.body), why) {
						t.Errorf("the body tells why (%q): %q", why, r.body)
					}
				}
			})
		}
		t.Run("another_persons_session", func(t *testing.T) {
			if daveTok == "" {
				t.Skip("no token of dave's")
			}
			h := session.Clone()
			h.Set("Authorization", "Bearer "+daveTok)
			r := postMCP(t, ctx, resource, draw, h)
			// As unknown to dave as a session that never existed.
			if r.status != http.StatusNotFound {
				t.Errorf("dave's token on alice's session: HTTP %d %q; want 404", r.status, r.body)
			}
			// ... and still alice's.
			mustOK(t, call(t, ctx, alice, "list_styles", map[string]any{}))
		})
		if got := sb.Stats().Submits - submits; got != 0 {
			t.Errorf("hostile requests reached the upstream: %d submits", got)
		}
	})

	// The people who signed in, in usage under their names, with their limits.
	t.Run("usage", func(t *testing.T) {
		got, out := usageRows(t, ctx, tm.env)
		def := strconv.Itoa(oauthDefaultLimit)
		for who, want := range map[string][3]string{
			"alice@example.com": {"1", "1", strconv.Itoa(oauthAliceLimit)}, // her line, by email
			"bob":               {"1", "1", strconv.Itoa(oauthBobLimit)},   // his line, by sub
			"carol@example.com": {"1", "1", def},                           // no line: the default
			"dave@example.com":  {def, def, def},
		} {
			if got[who] != want {
				t.Errorf("usage of %s: today/month/limit %v; want %v\n%s", who, got[who], want, out)
			}
		}
	})

	t.Run("validation_cost", func(t *testing.T) {
		if alice == nil {
			t.Skip("no session of alice's")
		}
		hc := httpClient(http.Header{"Authorization": {"Bearer " + oauthScriptToken}}, nil)
		t.Cleanup(hc.CloseIdleConnections)
		script := connect(t, ctx, newClient(nil), &mcp.StreamableClientTransport{Endpoint: resource, HTTPClient: hc, MaxRetries: -1}, nil, nil)
		median := func(cs *mcp.ClientSession) time.Duration {
			var d []time.Duration
			for range 200 {
				start := time.Now()
				if _, err := cs.ListTools(ctx, nil); err != nil {
					t.Fatal(err)
				}
				d = append(d, time.Since(start))
			}
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			return d[len(d)/2]
		}
		// Interleaved, so that the machine's load falls on both alike.
		var jwtRuns, staticRuns []time.Duration
		for range 3 {
			jwtRuns = append(jwtRuns, median(alice))
			staticRuns = append(staticRuns, median(script))
		}
		t.Logf("tools/list through the balancer, median of 200, three runs each: JWT access token %v, static token %v", jwtRuns, staticRuns)
	})
}
