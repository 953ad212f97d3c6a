// Package sqlite opens haechi's embedded database: one SQLite file through
// the pure-Go modernc.org/sqlite driver, served by the shared sqlstore code.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/haechi/haechi/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// maxOpenConns bounds the pool. In WAL mode readers run beside the one
// writer, so a few connections serve concurrent reads; writers queue in
// sqlstore rather than holding connections while they wait.
const maxOpenConns = 8

// params configure every connection the pool opens.
//   - WAL: readers do not block the writer nor the writer readers.
//   - synchronous FULL: each commit is fsynced before it returns. With NORMAL
//     a power loss may drop the last commits in WAL mode; for security state
//     (failure counters, locks, used codes, audit events) that would let an
//     attacker's counted failures or a reused code vanish, so the cost of an
//     fsync per commit is worth it.
//   - busy_timeout 10 s: another process holding the write lock is waited
//     for, not failed on.
//   - foreign_keys on: SQLite leaves them off unless asked.
//   - _txlock=immediate: writing transactions take the write lock at BEGIN,
//     so two of them never both read and then both fail to upgrade; read-only
//     transactions still begin DEFERRED (the driver skips the mode for them).
//   - secure_delete: deleted rows (PII past retention, ended sessions) are
//     overwritten rather than left in free pages.
var params = url.Values{
	"_journal_mode": {"WAL"},
	"_synchronous":  {"FULL"},
	"_busy_timeout": {"10000"},
	"_foreign_keys": {"on"},
	"_txlock":       {"immediate"},
	"_pragma":       {"secure_delete(on)"},
}

// Dialect is what sqlstore needs to know about SQLite.
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:              "sqlite",
		SingleWriter:      true,
		HasTable:          `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
		IsUniqueViolation: isUniqueViolation,
	}
}

// Migrations returns the SQLite schema migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// Open opens (creating if needed) the database file at path. It does not
// migrate: call Migrate or CheckSchema.
func Open(path string, opts sqlstore.Options) (*sqlstore.DB, error) {
	db, err := OpenDB(path)
	if err != nil {
		return nil, err
	}
	return sqlstore.New(db, Dialect(), Migrations(), opts), nil
}

// OpenDB opens the connection pool alone, configured as Open does.
func OpenDB(path string) (*sql.DB, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// checkPath refuses names the driver would read differently from a plain
// file path: a query string, a URI, or a private in-memory database (each
// pooled connection would get its own, empty one).
func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("sqlite: empty database path")
	case strings.ContainsAny(path, "?#"):
		return fmt.Errorf("sqlite: database path %q may not contain ? or #", path)
	case strings.HasPrefix(path, "file:"), path == ":memory:":
		return fmt.Errorf("sqlite: database path %q must be a plain file path", path)
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
