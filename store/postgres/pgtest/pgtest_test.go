package pgtest_test

import (
	"context"
	"strings"
	"testing"

	"aipaint-mcp/store/postgres/pgtest"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func query(t *testing.T, url, sql string, args ...any) string {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer c.Close(context.Background())
	var out string
	require.NoError(t, c.QueryRow(context.Background(), sql, args...).Scan(&out))
	return out
}

// Each test's URL puts it in a schema of its own, dropped when it ends.
func TestURLIsPrivateAndDropped(t *testing.T) {
	base := pgtest.Base(t)
	var first, second string
	t.Run("first", func(t *testing.T) { first = query(t, pgtest.URL(t), "SELECT current_schema()") })
	t.Run("second", func(t *testing.T) { second = query(t, pgtest.URL(t), "SELECT current_schema()") })
	assert.True(t, strings.HasPrefix(first, "aipaint_test_"), first)
	assert.NotEqual(t, first, second)
	for _, schema := range []string{first, second} {
		assert.Equal(t, "0", query(t, base, "SELECT count(*)::text FROM pg_namespace WHERE nspname = $1", schema), "%s dropped", schema)
	}
}

func TestWithSearchPath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://u@h:5432/d?sslmode=disable", "postgres://u@h:5432/d?options=-c%20search_path%3Ds&sslmode=disable"},
		{"postgres://u@h/d?options=-c%20work_mem%3D4MB", "postgres://u@h/d?options=-c%20work_mem%3D4MB%20-c%20search_path%3Ds"},
		{"host=h dbname=d", "host=h dbname=d options='-c search_path=s'"},
	} {
		got, err := pgtest.WithSearchPath(c.in, "s")
		require.NoError(t, err)
		assert.Equal(t, c.want, got)
	}
}
