package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"aipaint-mcp/store"
	"aipaint-mcp/store/storetest"

	"github.com/stretchr/testify/require"
)

// The file store passes the conformance suite, each handle opened on one
// folder as another process would.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time, loc *time.Location) func() store.Store {
		dir := filepath.Join(t.TempDir(), "数据 data")
		return func() store.Store {
			s, err := store.Open(dir, store.WithClock(now), store.WithLocation(loc))
			require.NoError(t, err)
			return s
		}
	})
}
