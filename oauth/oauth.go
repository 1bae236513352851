// Package oauth makes a team server an OAuth 2.1 resource server: it checks
// the access tokens a company's identity provider (the authorization
// server) issued for this server, as the MCP authorization specification
// asks of a server. It issues no tokens and runs no login page.
//
// JWT access tokens are checked locally against the key set the provider
// publishes (its jwks_uri); opaque tokens through the provider's RFC 7662
// introspection endpoint, with client credentials, each answer kept for at
// most a minute. The provider's metadata (RFC 8414, or OpenID discovery) is
// fetched on first use: a provider that does not answer does not stop the
// server, its tokens are refused until it does.
//
// Errors say why a token was refused, for the server's log; none of them
// holds the token.
package oauth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// What a refused token is, as RFC 6750 names it. Verify's errors wrap one
// of them (errors.Is), with the reason for the log.
var (
	// ErrInvalidToken: not a token of the provider for this resource, or
	// expired, or not valid yet, or one the provider cannot vouch for now.
	ErrInvalidToken = errors.New("invalid_token")
	// ErrInsufficientScope: a valid token without every scope required.
	ErrInsufficientScope = errors.New("insufficient_scope")
)

// Algorithms a token may be signed with: asymmetric ones only, so a
// published key can never sign (no "none", no HS256 keyed by a public key).
var algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

const (
	// leeway is the clock skew allowed between this server and the provider
	// on exp, nbf and iat.
	leeway = 30 * time.Second
	// cacheFor bounds how long an introspection answer is kept (never past
	// the token's exp): a revoked opaque token works for at most this long.
	cacheFor = time.Minute
	// maxCached bounds the introspection cache; beyond it, expired answers
	// are dropped, then all of them.
	maxCached = 10000
	// retryAfter spaces the attempts to reach a provider that did not answer.
	retryAfter = 10 * time.Second
	// unknownKeyEvery bounds the key set refreshes a token with an unknown
	// key id causes (a new key after a rotation; or made-up key ids).
	unknownKeyEvery = 10 * time.Second
	// httpTimeout bounds each request to the provider.
	httpTimeout = 10 * time.Second
	// maxDocument bounds a metadata, key set or introspection answer.
	maxDocument = 1 << 20
)

// Options configure a Verifier.
type Options struct {
	// Issuer is the provider's issuer identifier, exactly as its tokens'
	// iss claim and its metadata's issuer say it.
	Issuer string
	// Resource is this server's canonical URI (AIPAINT_PUBLIC_URL + /mcp):
	// a token's aud must name it (with or without a trailing slash).
	Resource string
	// Scopes are required, every one of them, of every token.
	Scopes []string
	// ClientID and ClientSecret authenticate this server at the provider's
	// introspection endpoint; without them, opaque tokens are refused.
	ClientID, ClientSecret string
	// GroupsClaim names the claim that lists a person's groups (an array,
	// or one string) for Identity.Groups; "" = groups are not read (and
	// cost nothing).
	GroupsClaim string
	// RootCAs are the roots that the provider's certificate is checked
	// against; nil = the system's.
	RootCAs *x509.CertPool
	Logger  *slog.Logger
}

// Identity is the person a valid token was issued to.
type Identity struct {
	Subject       string // sub: the person, for the provider (its issuer is the Verifier's)
	Email         string // as the provider has it; trust it only if EmailVerified
	EmailVerified bool
	Username      string // preferred_username (or introspection's username); not verified
	Scopes        []string
	Groups        []string // of Options.GroupsClaim
}

// Shown is how the person reads in a log: email, else user name, else sub.
func (id Identity) Shown() string {
	switch {
	case id.Email != "":
		return id.Email
	case id.Username != "":
		return id.Username
	}
	return id.Subject
}

// Verifier checks access tokens. Its methods are safe for concurrent use.
type Verifier struct {
	o      Options
	logger *slog.Logger
	client *http.Client
	jwt    *jwt.Parser
	claims *jwt.Validator // introspection answers: the rules of JWTs but iss
	ctx    context.Context
	t      tuning

	mu        sync.Mutex
	prov      *provider // nil until the provider's metadata and keys are read
	failed    time.Time // of the last attempt to read them, if it failed
	lastErr   error
	discovery singleflight.Group // one attempt to read them at a time

	flight singleflight.Group // one introspection at a time per token
	cacheM sync.Mutex
	cache  map[[sha256.Size]byte]cached
}

// tuning holds what only tests change (export_test.go).
type tuning struct {
	now        func() time.Time
	retryAfter time.Duration
}

// provider is what the provider's metadata gave.
type provider struct {
	keys          keyfunc.Keyfunc // nil: no jwks_uri (opaque tokens only)
	introspection string          // "" = none
}

type cached struct {
	id    Identity
	err   error
	until time.Time
}

// New returns a Verifier. It does not reach the provider: that happens on
// the first token (or Prepare). ctx ends the key set's background refresh.
func New(ctx context.Context, o Options) (*Verifier, error) {
	return newVerifier(ctx, o, tuning{})
}

func newVerifier(ctx context.Context, o Options, t tuning) (*Verifier, error) {
	if o.Issuer == "" || o.Resource == "" || len(o.Scopes) == 0 {
		return nil, errors.New("oauth: an issuer, a resource and at least one scope are required")
	}
	if (o.ClientID == "") != (o.ClientSecret == "") {
		return nil, errors.New("oauth: a client id and a client secret go together")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.retryAfter == 0 {
		t.retryAfter = retryAfter
	}
	opts := []jwt.ParserOption{
		jwt.WithAudience(strings.TrimSuffix(o.Resource, "/"), strings.TrimSuffix(o.Resource, "/")+"/"),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(t.now),
	}
	return &Verifier{
		o:      o,
		logger: o.Logger,
		client: newHTTPClient(o.RootCAs),
		jwt:    jwt.NewParser(append(opts, jwt.WithIssuer(o.Issuer), jwt.WithValidMethods(algorithms))...),
		claims: jwt.NewValidator(opts...), // iss is optional in an introspection answer: askProvider checks it
		ctx:    ctx,
		t:      t,
		cache:  map[[sha256.Size]byte]cached{},
	}, nil
}

// Issuer, Resource and Scopes are the Verifier's Options.
func (v *Verifier) Issuer() string   { return v.o.Issuer }
func (v *Verifier) Resource() string { return v.o.Resource }
func (v *Verifier) Scopes() []string { return slices.Clone(v.o.Scopes) }

// Prepare reads the provider's metadata and key set now, so the log says
// early whether the provider answers (and doctor can say it). Its failure
// is logged and returned; tokens are refused (and the provider tried
// again) until it answers.
func (v *Verifier) Prepare(ctx context.Context) error {
	_, err := v.provider(ctx)
	return err
}

// Verify checks a bearer token and returns whose it is. Its errors wrap
// ErrInvalidToken (and the Identity is zero) or ErrInsufficientScope (and
// the Identity is the token's, for the log), and never contain the token.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	p, err := v.provider(ctx)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: identity provider unavailable: %w", ErrInvalidToken, err)
	}
	var id Identity
	if strings.Count(token, ".") == 2 {
		id, err = v.verifyJWT(ctx, p, token)
	} else {
		id, err = v.introspect(ctx, p, token)
	}
	if err != nil {
		return Identity{}, err
	}
	for _, s := range v.o.Scopes {
		if !slices.Contains(id.Scopes, s) {
			// The identity, for the log: whose token lacked it.
			return id, fmt.Errorf("%w: the token lacks scope %q (it has %q)", ErrInsufficientScope, s, strings.Join(id.Scopes, " "))
		}
	}
	return id, nil
}

// claims are those of a JWT access token (RFC 9068), or of an
// introspection answer (RFC 7662), which has the same names.
type claims struct {
	jwt.RegisteredClaims
	Scope             string           `json:"scope"`
	Scp               jwt.ClaimStrings `json:"scp"` // Okta's and Entra ID's: an array, or a string
	Email             string           `json:"email"`
	EmailVerified     flag             `json:"email_verified"`
	PreferredUsername string           `json:"preferred_username"`
	Username          string           `json:"username"` // introspection's
	Active            bool             `json:"active"`   // introspection's
	// Cnf binds the token to a key its holder must prove (RFC 9449's DPoP
	// jkt, RFC 8705's certificate thumbprint); this server checks no such
	// proof, so a bound token sent as a bearer token is refused.
	Cnf map[string]json.RawMessage `json:"cnf"`
	// raw is the claims as sent, for the one Options.GroupsClaim names
	// (whose name is the provider's choice: Auth0's are URLs).
	raw []byte
}

func (c *claims) UnmarshalJSON(b []byte) error {
	type named claims // without this method
	if err := json.Unmarshal(b, (*named)(c)); err != nil {
		return err
	}
	c.raw = bytes.Clone(b)
	return nil
}

// groups reads the claim name as an array of strings, or one string.
func (c *claims) groups(name string) ([]string, error) {
	if name == "" {
		return nil, nil
	}
	var all map[string]json.RawMessage
	var groups jwt.ClaimStrings
	if err := json.Unmarshal(c.raw, &all); err != nil {
		return nil, err
	}
	if raw, ok := all[name]; ok {
		if err := json.Unmarshal(raw, &groups); err != nil {
			return nil, err
		}
	}
	return groups, nil
}

// flag is a boolean claim that some providers (Amazon Cognito) send as a string.
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = s == "true"
		return nil
	}
	var v bool
	err := json.Unmarshal(b, &v)
	*f = flag(v)
	return err
}

func (c *claims) identity(groupsClaim string) (Identity, error) {
	if c.Subject == "" {
		return Identity{}, fmt.Errorf("%w: no sub claim", ErrInvalidToken)
	}
	if len(c.Cnf) > 0 {
		return Identity{}, fmt.Errorf("%w: a sender-constrained token (cnf claim), sent as a bearer token", ErrInvalidToken)
	}
	scopes := strings.Fields(c.Scope)
	for _, s := range c.Scp {
		scopes = append(scopes, strings.Fields(s)...)
	}
	groups, err := c.groups(groupsClaim)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: the %s claim is neither a string nor an array of strings", ErrInvalidToken, groupsClaim)
	}
	return Identity{
		Subject:       c.Subject,
		Email:         c.Email,
		EmailVerified: bool(c.EmailVerified),
		Username:      cmp.Or(c.PreferredUsername, c.Username),
		Scopes:        scopes,
		Groups:        groups,
	}, nil
}

func (v *Verifier) verifyJWT(ctx context.Context, p *provider, token string) (Identity, error) {
	if p.keys == nil {
		return Identity{}, fmt.Errorf("%w: a JWT, and the provider's metadata has no jwks_uri", ErrInvalidToken)
	}
	var c claims
	if _, err := v.jwt.ParseWithClaims(token, &c, p.keys.KeyfuncCtx(ctx)); err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return c.identity(v.o.GroupsClaim)
}

// introspect asks the provider about an opaque token (RFC 7662), or
// answers from the cache: at most a minute, never past the token's exp.
func (v *Verifier) introspect(ctx context.Context, p *provider, token string) (Identity, error) {
	if p.introspection == "" || v.o.ClientID == "" {
		return Identity{}, fmt.Errorf("%w: not a JWT, and no introspection (the provider's metadata has no introspection_endpoint, or no client id is set)", ErrInvalidToken)
	}
	key := sha256.Sum256([]byte(token))
	now := v.t.now()
	v.cacheM.Lock()
	c, ok := v.cache[key]
	v.cacheM.Unlock()
	if ok && now.Before(c.until) {
		return c.id, c.err
	}
	// The question outlives a caller that leaves: others may wait for it.
	asking := context.WithoutCancel(ctx)
	ch := v.flight.DoChan(string(key[:]), func() (any, error) {
		id, until, err := v.askProvider(asking, p.introspection, token)
		if until.IsZero() { // the provider did not answer: nothing to keep
			return cached{id: id, err: err}, nil
		}
		c := cached{id: id, err: err, until: until}
		v.cacheM.Lock()
		defer v.cacheM.Unlock()
		if len(v.cache) >= maxCached {
			for k, e := range v.cache {
				if !now.Before(e.until) {
					delete(v.cache, k)
				}
			}
			if len(v.cache) >= maxCached {
				clear(v.cache)
			}
		}
		v.cache[key] = c
		return c, nil
	})
	select {
	case r := <-ch:
		c = r.Val.(cached)
		return c.id, c.err
	case <-ctx.Done():
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, ctx.Err())
	}
}

// askProvider posts the token to the introspection endpoint. until is when
// the answer stops being worth keeping; zero when there is no answer to keep.
func (v *Verifier) askProvider(ctx context.Context, endpoint, token string) (_ Identity, until time.Time, _ error) {
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Identity{}, time.Time{}, fmt.Errorf("%w: introspection request: %w", ErrInvalidToken, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 section 2.3.1: the id and secret are form-encoded first.
	req.SetBasicAuth(url.QueryEscape(v.o.ClientID), url.QueryEscape(v.o.ClientSecret))
	var c claims
	if err := v.getJSON(req, &c); err != nil {
		return Identity{}, time.Time{}, fmt.Errorf("%w: introspection: %w", ErrInvalidToken, err)
	}
	// A refusal is kept a minute; an identity a minute at most, and never
	// past the token's exp.
	now := v.t.now()
	refused := now.Add(cacheFor)
	if !c.Active {
		return Identity{}, refused, fmt.Errorf("%w: introspection: not active", ErrInvalidToken)
	}
	if err := v.claims.Validate(&c); err != nil {
		return Identity{}, refused, fmt.Errorf("%w: introspection: %w", ErrInvalidToken, err)
	}
	if c.Issuer != "" && c.Issuer != v.o.Issuer {
		return Identity{}, refused, fmt.Errorf("%w: introspection: issuer %q", ErrInvalidToken, c.Issuer)
	}
	id, err := c.identity(v.o.GroupsClaim)
	if err != nil {
		return Identity{}, refused, err
	}
	until = now.Add(cacheFor)
	if exp := c.ExpiresAt.Time; exp.Before(until) { // Validate required exp
		until = exp
	}
	if !until.After(now) {
		until = time.Time{} // expired, within the leeway: not kept
	}
	return id, until, nil
}

// provider returns the provider's metadata and keys, reading them on the
// first call, and again no more often than every retryAfter while it fails.
// The reading is the Verifier's, not the caller's: a request that leaves
// stops waiting for it, and does not make it fail.
func (v *Verifier) provider(ctx context.Context) (*provider, error) {
	v.mu.Lock()
	p, failed, lastErr := v.prov, v.failed, v.lastErr
	v.mu.Unlock()
	switch {
	case p != nil:
		return p, nil
	case !failed.IsZero() && v.t.now().Sub(failed) < v.t.retryAfter:
		return nil, lastErr
	}
	ch := v.discovery.DoChan("", func() (any, error) {
		v.mu.Lock()
		done := v.prov
		v.mu.Unlock()
		if done != nil { // read by an attempt that ended since this caller looked
			return done, nil
		}
		p, err := v.discover(v.ctx)
		v.mu.Lock()
		defer v.mu.Unlock()
		if err != nil {
			v.failed, v.lastErr = v.t.now(), err
			v.logger.Error("identity provider unreachable: bearer tokens are refused until it answers", "issuer", v.o.Issuer, "err", err)
			return nil, err
		}
		v.prov = p
		v.logger.Info("identity provider ready", "issuer", v.o.Issuer, "jwt", p.keys != nil, "introspection", p.introspection != "" && v.o.ClientID != "")
		return p, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*provider), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// metadata is what the provider's metadata document says that this server uses.
type metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// discover reads the provider's metadata, from the first of its well-known
// addresses that has it, and its key set.
func (v *Verifier) discover(ctx context.Context) (_ *provider, err error) {
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	// The key set's refresh runs until keysCtx ends: the Verifier's
	// context, or now if this attempt fails (keyfunc starts it before its
	// first read, and leaves it running when that read fails).
	keysCtx, stopKeys := context.WithCancel(v.ctx)
	defer func() {
		if err != nil {
			stopKeys()
		}
	}()
	var m *metadata
	var tried []string
	for _, u := range metadataURLs(v.o.Issuer) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		var doc metadata
		err = v.getJSON(req, &doc)
		var st statusError
		if errors.As(err, &st) && st >= 400 && st < 500 {
			tried = append(tried, fmt.Sprintf("%s: %d", u, st))
			continue // not at this address: try the next one
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u, err)
		}
		if doc.Issuer != v.o.Issuer {
			// RFC 8414 section 3.3: metadata of another issuer is not this one's.
			return nil, fmt.Errorf("%s names issuer %q, not %q", u, doc.Issuer, v.o.Issuer)
		}
		m = &doc
		break
	}
	if m == nil {
		return nil, fmt.Errorf("no authorization server metadata (%s)", strings.Join(tried, "; "))
	}
	p := &provider{introspection: m.IntrospectionEndpoint}
	if m.JWKSURI != "" {
		if err := checkEndpoint(m.JWKSURI, v.o.Issuer); err != nil {
			return nil, fmt.Errorf("jwks_uri: %w", err)
		}
		noErr := false
		keys, err := keyfunc.NewDefaultOverrideCtx(keysCtx, []string{m.JWKSURI}, keyfunc.Override{
			Client:                    v.client,
			HTTPTimeout:               httpTimeout,
			NoErrorReturnFirstHTTPReq: &noErr,
			// A token with an unknown key id refreshes the set at most this
			// often, and never waits for its turn.
			RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKeyEvery), 1),
			RateLimitWaitMax:  100 * time.Millisecond,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(_ context.Context, err error) {
					v.logger.Warn("identity provider's key set not refreshed; keeping the keys read before", "jwks_uri", u, "err", err)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("key set: %w", err)
		}
		p.keys = keys
	}
	if p.introspection != "" {
		if err := checkEndpoint(p.introspection, v.o.Issuer); err != nil {
			return nil, fmt.Errorf("introspection_endpoint: %w", err)
		}
	}
	if p.keys == nil && p.introspection == "" {
		return nil, errors.New("the provider's metadata has neither jwks_uri nor introspection_endpoint")
	}
	return p, nil
}

// checkEndpoint: an endpoint is https, or http like the issuer (which the
// server only accepts when it listens on loopback).
func checkEndpoint(raw, issuer string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("not a URL")
	}
	if u.Scheme == "https" || (u.Scheme == "http" && strings.HasPrefix(issuer, "http://")) {
		return nil
	}
	return errors.New("not https")
}

// metadataURLs are the addresses of an issuer's metadata, in the order the
// MCP authorization specification tries them: RFC 8414's (the well-known
// segment inserted before the issuer's path), then OpenID Connect
// discovery's, inserted and then appended.
func metadataURLs(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	p := strings.Trim(u.Path, "/")
	at := func(path string) string {
		c := *u
		c.Path, c.RawPath = path, ""
		return c.String()
	}
	if p == "" {
		return []string{at("/.well-known/oauth-authorization-server"), at("/.well-known/openid-configuration")}
	}
	return []string{
		at("/.well-known/oauth-authorization-server/" + p),
		at("/.well-known/openid-configuration/" + p),
		at("/" + p + "/.well-known/openid-configuration"),
	}
}

type statusError int

func (e statusError) Error() string { return fmt.Sprintf("HTTP status %d", int(e)) }

// getJSON does req and decodes its JSON answer into dst. Its errors never
// quote the answer.
func (v *Verifier) getJSON(req *http.Request, dst any) error {
	res, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDocument))
		return statusError(res.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("answer is %q, not JSON", mt)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDocument+1))
	if err != nil {
		return err
	}
	if len(body) > maxDocument {
		return fmt.Errorf("answer larger than %d bytes", maxDocument)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return errors.New("answer is not the JSON object expected")
	}
	return nil
}

// newHTTPClient talks to the provider: proxies from the environment,
// certificates checked against roots, a timeout; redirects followed only
// by GETs (metadata, keys), never by an introspection carrying the client
// secret and the token, and never from https to plain http (whoever
// answered there would name the keys tokens are checked with).
func newHTTPClient(roots *x509.CertPool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{
		Transport: t,
		Timeout:   httpTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.Method != http.MethodGet || len(via) >= 5 {
				return http.ErrUseLastResponse
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return errors.New("redirected from https to " + req.URL.Scheme)
			}
			return nil
		},
	}
}
