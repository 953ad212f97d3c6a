package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
)

// Errors of CheckSchema, Pending and Migrate; match them with errors.Is.
var (
	// ErrSchemaOutdated: migrations are pending.
	ErrSchemaOutdated = errors.New("database schema is outdated")
	// ErrSchemaUnknown: the database holds migrations this binary does not
	// know (a newer binary ran), different ones, or has a gap. Running
	// against it could misread data, so haechi refuses.
	ErrSchemaUnknown = errors.New("database schema is not one this binary knows")
)

// migrationTable is the runner's own bookkeeping, created before anything is
// read so that migrations themselves start at 0001.
const migrationTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

type migration struct {
	version int
	name    string // the file name, e.g. 0001_audit.sql
}

// parseMigrationName returns the version of a file named NNNN_name.sql.
func parseMigrationName(name string) (int, bool) {
	m := migrationName.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	v, err := strconv.Atoi(m[1])
	return v, err == nil && v > 0
}

// loadMigrations lists the embedded migrations, which must be numbered
// 1, 2, 3… with no gap: a stray or misnumbered file is a build mistake.
func (db *DB) loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(db.migrations, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	ms := make([]migration, 0, len(entries))
	for _, e := range entries {
		v, ok := parseMigrationName(e.Name())
		if !ok || e.IsDir() {
			return nil, fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		ms = append(ms, migration{version: v, name: e.Name()})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %04d", m.name, i+1)
		}
	}
	return ms, nil
}

// Migrate applies the pending migrations in order, each in its own
// transaction with its record in schema_migrations, and returns their names.
// Two processes migrating at once do not apply anything twice.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := db.loadMigrations()
	if err != nil {
		return nil, err
	}
	var done []string
	for _, m := range ms {
		applied, err := db.applyMigration(ctx, ms, m)
		if err != nil {
			return done, fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if applied {
			done = append(done, m.name)
		}
	}
	return done, nil
}

// applyMigration applies m unless it already is, re-reading the state under
// the migration lock so a concurrent migrator is seen.
func (db *DB) applyMigration(ctx context.Context, ms []migration, m migration) (applied bool, err error) {
	err = db.write(ctx, func(tx *dbtx) error {
		if db.d.MigrationLock != "" {
			if _, err := tx.exec(ctx, db.d.MigrationLock); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.exec(ctx, migrationTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		have, err := appliedMigrations(ctx, tx)
		if err != nil {
			return err
		}
		if err := checkKnown(have, ms); err != nil {
			return err
		}
		if _, ok := have[m.version]; ok {
			return nil
		}
		applied = true
		return db.runMigration(ctx, tx, m)
	})
	return applied, err
}

func (db *DB) runMigration(ctx context.Context, tx *dbtx, m migration) error {
	body, err := fs.ReadFile(db.migrations, m.name)
	if err != nil {
		return err
	}
	// Migration files run as written: they are ours, embedded at build time,
	// and may hold placeholders-looking text ($$ bodies) that must not be
	// rebound.
	if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, nanos(db.now()))
	return err
}

// Pending returns the names of the migrations not yet applied.
func (db *DB) Pending(ctx context.Context) ([]string, error) {
	ms, have, err := db.schemaState(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms[len(have):] {
		out = append(out, m.name)
	}
	return out, nil
}

// CheckSchema refuses a database whose schema is not exactly the one this
// binary was built for: outdated (pending migrations) or unknown (newer,
// different or with a gap). Servers call it before serving.
func (db *DB) CheckSchema(ctx context.Context) error {
	ms, have, err := db.schemaState(ctx)
	if err != nil {
		return err
	}
	if len(have) < len(ms) {
		return fmt.Errorf("%w: schema is at version %d, this binary needs %d: run `haechi migrate` or start with --migrate",
			ErrSchemaOutdated, len(have), len(ms))
	}
	return nil
}

// schemaState reads the applied migrations and checks they are a prefix of
// the known ones.
func (db *DB) schemaState(ctx context.Context) ([]migration, map[int]string, error) {
	ms, err := db.loadMigrations()
	if err != nil {
		return nil, nil, err
	}
	var have map[int]string
	err = db.read(ctx, func(tx *dbtx) error {
		var n int64
		if err := tx.queryRow(ctx, db.d.HasTable, "schema_migrations").Scan(&n); err != nil {
			return fmt.Errorf("look for schema_migrations: %w", err)
		}
		if n == 0 {
			have = map[int]string{}
			return nil
		}
		var rerr error
		have, rerr = appliedMigrations(ctx, tx)
		return rerr
	})
	if err != nil {
		return nil, nil, err
	}
	return ms, have, checkKnown(have, ms)
}

func appliedMigrations(ctx context.Context, tx *dbtx) (map[int]string, error) {
	rows, err := tx.query(ctx, `SELECT version, name FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	have := map[int]string{}
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return nil, err
		}
		have[v] = name
	}
	return have, rows.Err()
}

// checkKnown verifies the applied migrations are exactly the first
// len(have) known ones, under the same names.
func checkKnown(have map[int]string, ms []migration) error {
	versions := make([]int, 0, len(have))
	for v := range have {
		versions = append(versions, v)
	}
	sort.Ints(versions)
	for i, v := range versions {
		switch {
		case v > len(ms):
			return fmt.Errorf("%w: version %d (%s) was applied by a newer binary, this one knows up to %d; refusing to run",
				ErrSchemaUnknown, v, have[v], len(ms))
		case v != i+1:
			return fmt.Errorf("%w: migration %04d is missing while %04d is applied", ErrSchemaUnknown, i+1, v)
		case have[v] != ms[i].name:
			return fmt.Errorf("%w: version %d was applied as %s, this binary has %s", ErrSchemaUnknown, v, have[v], ms[i].name)
		}
	}
	return nil
}
