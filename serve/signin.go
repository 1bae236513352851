package serve

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/server"

	"aipaint-mcp/config"
	"aipaint-mcp/oauth"
	"aipaint-mcp/people"
)

// Sign-in: with HTTPOptions.OAuth the server is an OAuth 2.1 resource
// server (RFC 9728 metadata, RFC 6750 challenges), as the MCP authorization
// specification asks. A static token of the tokens file still works; any
// other bearer token must be an access token of the identity provider for
// this resource.

// signIn admits a request that carries a static token of the tokens file
// or a valid access token, with its person; else it answers the challenge
// and returns false.
func signIn(w http.ResponseWriter, r *http.Request, o HTTPOptions) (*http.Request, bool) {
	v := o.OAuth
	if r.URL.Query().Has("access_token") {
		// RFC 6750 section 2.3 allows it; the MCP specification does not:
		// a token in a URL ends up in logs and browser histories.
		o.Logger.Info("bearer token refused", "reason", "access_token in the query string", "remote", r.RemoteAddr)
		challenge(w, v, http.StatusBadRequest, "invalid_request")
		return r, false
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok || token == "" {
		challenge(w, v, http.StatusUnauthorized, "")
		return r, false
	}
	if o.People != nil {
		if p, ok := o.People.Lookup(token); ok {
			return admit(w, r, p, sessionKey(token))
		}
	}
	id, err := v.Verify(r.Context(), token)
	if err != nil {
		status, code := http.StatusUnauthorized, "invalid_token"
		if errors.Is(err, oauth.ErrInsufficientScope) {
			status, code = http.StatusForbidden, "insufficient_scope"
		}
		o.Logger.Info("bearer token refused", "reason", err.Error(), "person", id.Shown(), "remote", r.RemoteAddr)
		challenge(w, v, status, code)
		return r, false
	}
	p, listed := signedIn(id, o.People, o.OAuthDefaultLimit)
	if !listed && len(o.OAuthGroups) > 0 && !slices.ContainsFunc(id.Groups, func(g string) bool { return slices.Contains(o.OAuthGroups, g) }) {
		// Signed in, but not one of the people this server is for: no
		// scope or new token would help, so no RFC 6750 code either.
		o.Logger.Info("bearer token refused", "reason", "in none of "+config.OAuthGroups, "person", p.Name, "groups", id.Groups, "remote", r.RemoteAddr)
		challenge(w, v, http.StatusForbidden, "")
		return r, false
	}
	o.Logger.Debug("signed in", "person", p.Name, "shown", id.Shown(), "sub", id.Subject)
	// A session belongs to the person, not to the token: a client that
	// refreshes its token keeps its session. A static token can hold no NUL.
	return admit(w, r, p, sessionKey("\x00oauth\x00"+id.Subject))
}

// signedIn is the Person of an identity: the tokens file's line named by
// their verified email or by their sub (its limit, and its name as
// written; listed), else a person of their own with the default limit,
// named by their verified email (in lower case) or, without one, their
// sub. Only the provider's verified claims name a person: tasks belong to
// names.
func signedIn(id oauth.Identity, team People, defaultLimit *int) (_ people.Person, listed bool) {
	var names []string
	if id.EmailVerified && id.Email != "" {
		names = append(names, strings.ToLower(id.Email))
	}
	names = append(names, id.Subject)
	if team != nil {
		for _, n := range names {
			if p, ok := team.Named(n); ok {
				return p, true
			}
		}
	}
	p := people.Person{Name: names[0]}
	if defaultLimit != nil {
		p.Limit = new(*defaultLimit)
	}
	return p, false
}

// challenge answers a request without a usable token: the status, and a
// WWW-Authenticate header that points to the resource metadata, names the
// scopes, and gives the RFC 6750 error code (none when no token was sent).
// The body is the code alone: the reason goes to the server's log. A 403
// without a code: signed in, but not allowed (AIPAINT_OAUTH_GROUPS).
func challenge(w http.ResponseWriter, v *oauth.Verifier, status int, code string) {
	var params []string
	if code != "" {
		params = append(params, `error="`+code+`"`)
	}
	params = append(params,
		`resource_metadata="`+metadataURL(v.Resource())+`"`,
		`scope="`+strings.Join(v.Scopes(), " ")+`"`) // scopes hold no quote (config.scopeList)
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	w.Header().Set("Cache-Control", "no-store")
	body := http.StatusText(status)
	switch {
	case code != "":
		body += ": " + code
	case status == http.StatusUnauthorized:
		body += ": bearer token required"
	}
	http.Error(w, body, status)
}

// metadataURL is where the resource's metadata is published (RFC 9728
// section 3.1): the well-known path, then the resource's own path.
func metadataURL(resource string) string {
	u, err := url.Parse(resource)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + server.ProtectedResourceMetadataPath(resource)
}

// withMetadata serves the protected resource metadata (RFC 9728), without a
// token, at the resource's well-known address and at the root one (some
// clients look only there); both describe the /mcp resource.
func withMetadata(next http.Handler, o HTTPOptions) http.Handler {
	if o.OAuth == nil {
		return next
	}
	md := server.NewProtectedResourceMetadataHandler(server.ProtectedResourceMetadataConfig{
		Resource:               o.OAuth.Resource(),
		AuthorizationServers:   []string{o.OAuth.Issuer()},
		ScopesSupported:        o.OAuth.Scopes(),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "aipaint-mcp",
	})
	mux := http.NewServeMux()
	mux.Handle(server.WellKnownProtectedResourcePath, md)
	mux.Handle(server.ProtectedResourceMetadataPath(o.OAuth.Resource()), md)
	mux.Handle("/", next)
	return mux
}

// checkSignIn: an http:// issuer or public URL only on a loopback address
// (tests, trying it out); beyond it, tokens and keys would cross the
// network in clear text.
func checkSignIn(v *oauth.Verifier, addr string) error {
	if v == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || config.IsLoopbackHost(host) {
		return nil // checkBind has said what is wrong with addr
	}
	for _, s := range []struct{ name, url string }{{config.OAuthIssuer, v.Issuer()}, {config.PublicURL, v.Resource()}} {
		if !strings.HasPrefix(s.url, "https://") {
			return fmt.Errorf("%s is not https://: plain http is only accepted when listening on a loopback address, not on %q", s.name, addr)
		}
	}
	return nil
}
