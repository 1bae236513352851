// Package oauthtest is a stand-in identity provider for tests, on
// loopback: its metadata (RFC 8414), its key set (keys made by the test)
// and an introspection endpoint (RFC 7662), with switches to take it down
// and to rotate its keys; and the minting of access tokens, good or bad.
// Tests only: nothing in the binary imports it.
package oauthtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Key is a signing key of the provider (or a foreign one).
type Key struct {
	ID     string
	Method jwt.SigningMethod
	Signer crypto.Signer
}

// NewKey makes a key for alg: RS256, PS256, ES256 or EdDSA.
func NewKey(t testing.TB, id, alg string) Key {
	t.Helper()
	var s crypto.Signer
	var err error
	switch alg {
	case "RS256", "PS256":
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, s, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("oauthtest: no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return Key{ID: id, Method: jwt.GetSigningMethod(alg), Signer: s}
}

// Sign makes a JWT of claims signed with k (kid = k.ID unless empty).
func (k Key) Sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.Method, claims)
	if k.ID != "" {
		tok.Header["kid"] = k.ID
	}
	s, err := tok.SignedString(k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Provider is the stand-in identity provider.
type Provider struct {
	// Issuer is the provider's issuer: its URL, plus Options.Path.
	Issuer string
	// Key is the key tokens are signed with, published from the start.
	Key Key

	srv       *httptest.Server
	o         Options
	down      atomic.Bool
	keysDown  atomic.Bool
	mu        sync.Mutex
	hold      chan struct{} // metadata requests wait for it to close; nil = none
	keys      []Key
	active    map[string]map[string]any // introspection answers by token
	metaHits  atomic.Int64
	keyHits   atomic.Int64
	introHits atomic.Int64
}

// Options configure a Provider.
type Options struct {
	// Path makes the issuer path-qualified (e.g. "/realms/corp"): its
	// metadata is then at the RFC 8414 address with the path inserted.
	Path string
	// OpenIDOnly publishes the metadata at the OpenID Connect discovery
	// address (the path appended) only.
	OpenIDOnly bool
	// ClientID and ClientSecret are what the introspection endpoint
	// requires; empty: no introspection endpoint in the metadata.
	ClientID, ClientSecret string
	// NoKeys leaves jwks_uri out of the metadata.
	NoKeys bool
	// Alg of the first key; "" = RS256.
	Alg string
	// MetadataIssuer, if set, is the issuer the metadata claims (to test a mismatch).
	MetadataIssuer string
}

// NewProvider starts a provider on loopback, until the test ends.
func NewProvider(t testing.TB, o Options) *Provider {
	t.Helper()
	alg := o.Alg
	if alg == "" {
		alg = "RS256"
	}
	p := &Provider{o: o, active: map[string]map[string]any{}}
	p.Key = NewKey(t, "key-1", alg)
	p.keys = []Key{p.Key}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	p.Issuer = p.srv.URL + o.Path
	return p
}

// Down makes every answer a 503 (true) or brings the provider back.
func (p *Provider) Down(down bool) { p.down.Store(down) }

// KeySetDown makes the key set's answers 503 (true), the metadata still
// answering, or brings the key set back.
func (p *Provider) KeySetDown(down bool) { p.keysDown.Store(down) }

// Hold makes metadata requests wait until release is called (a slow provider).
func (p *Provider) Hold() (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold = ch
	p.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// Publish adds k to the published key set (a rotation).
func (p *Provider) Publish(k Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, k)
}

// Introspection makes the introspection endpoint answer claims for token
// (claims without "active" get active: true).
func (p *Provider) Introspection(token string, claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := claims["active"]; !ok {
		claims["active"] = true
	}
	p.active[token] = claims
}

// MetadataHits, KeySetHits and IntrospectionHits count the requests the
// provider answered (or refused as down) at each address.
func (p *Provider) MetadataHits() int64      { return p.metaHits.Load() }
func (p *Provider) KeySetHits() int64        { return p.keyHits.Load() }
func (p *Provider) IntrospectionHits() int64 { return p.introHits.Load() }

// Claims are those of a valid access token for resource with scope, issued
// at now to sub, valid for an hour.
func (p *Provider) Claims(resource, scope, sub string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":   p.Issuer,
		"sub":   sub,
		"aud":   resource,
		"scope": scope,
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"jti":   rand.Text(),
	}
}

// Token is a valid access token of the provider's Key with claims.
func (p *Provider) Token(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return p.Key.Sign(t, claims)
}

func (p *Provider) serve(w http.ResponseWriter, r *http.Request) {
	rfc8414 := "/.well-known/oauth-authorization-server" + p.o.Path
	openid := p.o.Path + "/.well-known/openid-configuration"
	switch r.URL.Path {
	case rfc8414, openid:
		p.metaHits.Add(1)
		p.mu.Lock()
		hold := p.hold
		p.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
	case "/jwks":
		p.keyHits.Add(1)
	case "/introspect":
		p.introHits.Add(1)
	}
	if p.down.Load() || (r.URL.Path == "/jwks" && p.keysDown.Load()) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	switch {
	case r.URL.Path == rfc8414 && !p.o.OpenIDOnly, r.URL.Path == openid && p.o.OpenIDOnly:
		m := map[string]any{"issuer": p.Issuer, "code_challenge_methods_supported": []string{"S256"}}
		if p.o.MetadataIssuer != "" {
			m["issuer"] = p.o.MetadataIssuer
		}
		if !p.o.NoKeys {
			m["jwks_uri"] = p.srv.URL + "/jwks"
		}
		if p.o.ClientID != "" {
			m["introspection_endpoint"] = p.srv.URL + "/introspect"
		}
		writeJSON(w, m)
	case r.URL.Path == "/jwks":
		writeJSON(w, p.keySet())
	case r.URL.Path == "/introspect" && r.Method == http.MethodPost && p.o.ClientID != "":
		p.introspect(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (p *Provider) keySet() json.RawMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := jwkset.NewMemoryStorage()
	for _, k := range p.keys {
		jwk, err := jwkset.NewJWKFromKey(k.Signer.Public(), jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: k.ID, ALG: jwkset.ALG(k.Method.Alg()), USE: jwkset.UseSig},
		})
		if err != nil {
			panic(err) // keys made by NewKey always marshal
		}
		if err := set.KeyWrite(context.Background(), jwk); err != nil {
			panic(err)
		}
	}
	raw, err := set.JSONPublic(context.Background())
	if err != nil {
		panic(err)
	}
	return raw
}

func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	// RFC 6749 section 2.3.1: both are form-encoded before Basic.
	id, err1 := url.QueryUnescape(id)
	secret, err2 := url.QueryUnescape(secret)
	if !ok || err1 != nil || err2 != nil || id != p.o.ClientID || secret != p.o.ClientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" || strings.Contains(r.URL.RawQuery, "token") {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	claims, ok := p.active[r.PostForm.Get("token")]
	p.mu.Unlock()
	if !ok {
		claims = map[string]any{"active": false}
	}
	writeJSON(w, claims)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
