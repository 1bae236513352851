// Package pgtest gives each test its own PostgreSQL schema on the server
// named by AIPAINT_TEST_POSTGRES_URL, dropped when the test ends. Without
// the variable the test is skipped, except in CI (CI=true), where it fails:
// CI must not pass by testing nothing.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the server the tests use, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const Env = "AIPAINT_TEST_POSTGRES_URL"

// Base returns the server's URL, or skips t (fails it in CI) without one.
func Base(t testing.TB) string {
	t.Helper()
	base := os.Getenv(Env)
	if base == "" {
		msg := "PostgreSQL tests need a server: set " + Env +
			"=postgres://postgres@127.0.0.1:5432/test?sslmode=disable (any database the user may create schemas in; CI sets it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return base
}

// URL returns a URL of the test server whose search_path is a new schema
// private to t: every Store opened on it (in this process or another)
// shares that schema, and nothing else does. The schema is dropped at t's
// cleanup, after the cleanups registered later (the stores' Close).
func URL(t testing.TB) string {
	t.Helper()
	base := Base(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "aipaint_test_" + hex.EncodeToString(b[:])
	exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA "+schema+" CASCADE") })
	u, err := WithSearchPath(base, schema)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	return u
}

// WithSearchPath makes a URL or key=value connection string use schema,
// through the options parameter (-c search_path=...), which pgx, psql and
// every libpq client understand; other options are kept.
func WithSearchPath(conn, schema string) (string, error) {
	opt := "-c search_path=" + schema
	if !strings.Contains(conn, "://") {
		return conn + " options='" + opt + "'", nil
	}
	u, err := url.Parse(conn)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if old := q.Get("options"); old != "" {
		opt = old + " " + opt
	}
	q.Set("options", opt)
	// Encode writes a space as +, which libpq does not decode (QueryEscape
	// writes a literal + as %2B, so every + here is a space).
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String(), nil
}

func exec(t testing.TB, conn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, conn)
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v", Env, err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
