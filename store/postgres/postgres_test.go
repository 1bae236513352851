package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"aipaint-mcp/store"
	"aipaint-mcp/store/postgres"
	"aipaint-mcp/store/postgres/pgtest"
	"aipaint-mcp/store/storetest"

	"github.com/stretchr/testify/require"
)

// opener gives every handle its own pool on the test's schema: as many
// replicas would.
func opener(t *testing.T, now func() time.Time, loc *time.Location) func() store.Store {
	url := pgtest.URL(t)
	return func() store.Store {
		s, err := postgres.Open(context.Background(), url, postgres.Options{Now: now, Location: loc})
		require.NoError(t, err)
		return s
	}
}

func TestConformance(t *testing.T) {
	pgtest.Base(t) // skipped (or failed in CI) once, not in every case
	storetest.Run(t, opener)
}

func TestLeaser(t *testing.T) {
	pgtest.Base(t)
	storetest.RunLeaser(t, opener)
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) next() int64 { return c.n.Add(1) }
