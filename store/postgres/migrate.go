package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// lockClass is the first key of this store's advisory locks ("AIPT"); the
// second is a hash of the schema, so stores in other schemas of the same
// database (tests, other teams) never wait for each other.
const (
	lockClass = 0x41495054
	// migrateLock and reserveLock are added to lockClass.
	migrateLock = 0
	reserveLock = 1
)

// lockSQL takes one of the store's transaction-scoped advisory locks.
func lockSQL(which int) string {
	return fmt.Sprintf("SELECT pg_advisory_xact_lock(%d, hashtext(coalesce(current_schema(), '')))", lockClass+which)
}

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads migrations/NNN_name.sql in version order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name is not NNN_name.sql", e.Name())
		}
		raw, err := fs.ReadFile(migrations, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(raw)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies the migrations the schema lacks, all in one transaction
// under an advisory lock: replicas starting together apply each once, and
// a failure leaves the schema as it was.
func (s *Store) migrate(ctx context.Context) error {
	all, err := loadMigrations()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockSQL(migrateLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS aipaint_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		applied := map[int]bool{}
		rows, err := tx.Query(ctx, "SELECT version FROM aipaint_migrations")
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		newest := 0
		for _, v := range versions {
			applied[int(v)] = true
			newest = max(newest, int(v))
		}
		for _, m := range all {
			if applied[m.version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("schema: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO aipaint_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return fmt.Errorf("schema: migration %s: %w", m.name, err)
			}
			s.log.Info("task store: schema migrated", "migration", m.name)
		}
		if len(all) > 0 && newest > all[len(all)-1].version {
			// A newer server migrated the schema; migrations only add, so
			// this one still works, but it should be upgraded.
			s.log.Warn("task store: the schema is newer than this server", "schema", newest, "server", all[len(all)-1].version)
		}
		return nil
	})
}
