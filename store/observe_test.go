package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"aipaint-mcp/store"
)

// leasing is a file store that is also a Leaser whose calls fail.
type leasing struct{ *store.File }

var errDown = errors.New("database down")

func (leasing) Claim(context.Context, string, string, time.Duration) (bool, error) {
	return false, errDown
}
func (leasing) ClaimPending(context.Context, string, time.Time, time.Duration, int) ([]store.Record, error) {
	return nil, errDown
}
func (leasing) Renew(context.Context, string, []string, time.Duration) ([]string, error) {
	return nil, errDown
}
func (leasing) Unclaim(context.Context, string, string) error { return errDown }
func (leasing) Holders(context.Context) (int, error)          { return 0, errDown }

// timingOut is a file store whose Get runs out of its own time, as a store
// on a database that does not answer does (pgx's connect timeout).
type timingOut struct{ *store.File }

func (timingOut) Get(context.Context, string) (store.Record, error) {
	return store.Record{}, fmt.Errorf("connect: dial tcp 10.0.0.9:5432: %w", context.DeadlineExceeded)
}

// TestObserve: failures are reported by method; a task not stored and a
// caller's ended context are no failure; the wrapper is a Leaser exactly
// when the store is one.
func TestObserve(t *testing.T) {
	f, err := store.Open(filepath.Join(t.TempDir(), "data"))
	require.NoError(t, err)
	var failed []string
	note := func(m string) { failed = append(failed, m) }

	plain := store.Observe(f, note)
	_, isLeaser := plain.(store.Leaser)
	assert.False(t, isLeaser)
	_, err = plain.Get(t.Context(), "nope")
	assert.ErrorIs(t, err, store.ErrNotFound)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _ = plain.Usage(ctx, store.Policy{})
	p, ok := plain.(store.Pinger)
	require.True(t, ok)
	assert.NoError(t, p.Ping(t.Context()))
	assert.Empty(t, failed)

	// A database that does not answer: the store's own timeout ends the
	// call, not the caller's context. That is a failure.
	slow := store.Observe(timingOut{f}, note)
	_, err = slow.Get(t.Context(), "t1")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, []string{"get"}, failed)
	_, _ = slow.Get(ctx, "t1") // the caller left: not the store's failure
	assert.Equal(t, []string{"get"}, failed)
	failed = nil

	l, ok := store.Observe(leasing{f}, note).(store.Leaser)
	require.True(t, ok, "a Leaser stays one")
	_, err = l.Claim(t.Context(), "t1", "me", time.Second)
	assert.ErrorIs(t, err, errDown)
	_, _ = l.Holders(t.Context())
	assert.Equal(t, []string{"claim", "holders"}, failed)
	require.NoError(t, f.Close())
}
