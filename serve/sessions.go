package serve

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/mark3labs/mcp-go/server"
)

// With a tokens file, a session belongs to the token that opened it: its id
// ends in a MAC of the id keyed by (a hash of) that token, so another
// person's requests cannot join it, end it or read its streams. The MAC
// needs no state and no shared key, so a session works across replicas
// exactly as one without it.

type sessionKeyOf struct{}

// sessionKey is the MAC key of a token's sessions.
func sessionKey(token string) []byte {
	k := sha256.Sum256([]byte("aipaint-mcp session\x00" + token))
	return k[:]
}

// sealSession appends to base the MAC of the token in ctx.
func sealSession(ctx context.Context, base string) string {
	key, _ := ctx.Value(sessionKeyOf{}).([]byte)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(base))
	return base + "." + hex.EncodeToString(m.Sum(nil)[:16])
}

// sessionIsTheirs: every session the request names (streamable HTTP's
// header, SSE's query parameter, each as often as it is given) is sealed
// with its token.
func sessionIsTheirs(ctx context.Context, r *http.Request) bool {
	ids := append(r.Header.Values(server.HeaderKeySessionID), r.URL.Query()["sessionId"]...)
	for _, id := range ids {
		base, _ := unsealSession(id)
		if !hmac.Equal([]byte(sealSession(ctx, base)), []byte(id)) {
			return false
		}
	}
	return true
}

// unsealSession is the id mcp-go's own session manager made.
func unsealSession(id string) (base string, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return id, false
	}
	return id[:i], true
}

// sealedSessions gives streamable HTTP sessions sealed ids; mcp-go's own
// manager (inner) sees them without their seal. The guard checks the seal.
type sealedSessions struct{ inner server.SessionIdManager }

func (s sealedSessions) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	ctx := context.Background() // the idle sweeper's: it only ends sessions
	if r != nil {
		ctx = r.Context()
	}
	return sealedManager{inner: s.inner, ctx: ctx}
}

type sealedManager struct {
	inner server.SessionIdManager
	ctx   context.Context
}

func (m sealedManager) Generate() string {
	if base := m.inner.Generate(); base != "" {
		return sealSession(m.ctx, base)
	}
	return ""
}

func (m sealedManager) Validate(id string) (bool, error) {
	base, ok := unsealSession(id)
	if !ok {
		return false, errors.New("invalid session id")
	}
	return m.inner.Validate(base)
}

func (m sealedManager) Terminate(id string) (bool, error) {
	base, _ := unsealSession(id)
	return m.inner.Terminate(base)
}
