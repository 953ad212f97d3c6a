// Package postgres opens haechi's production database: PostgreSQL through
// pgx's database/sql driver, served by the shared sqlstore code.
//
// Transactions run at READ COMMITTED. Where correctness needs more, the SQL
// says so: counters move in single UPDATE statements, compare-and-set
// updates carry their condition in the WHERE clause, and audit appends lock
// the chain's head row (SELECT … FOR UPDATE), which orders them across every
// process sharing the database.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/haechi/haechi/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Pool limits: enough connections for a node's concurrent requests without
// letting many nodes exhaust the server's max_connections.
const (
	maxOpenConns    = 20
	maxIdleConns    = 10
	connMaxIdleTime = 5 * time.Minute
)

// uniqueViolation is SQLSTATE unique_violation.
const uniqueViolation = "23505"

// Dialect is what sqlstore needs to know about PostgreSQL.
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:      "postgres",
		Numbered:  true,
		ForUpdate: "FOR UPDATE",
		// Keyed by schema, so databases in different schemas of one server
		// (tests, tenants) migrate independently.
		MigrationLock:     `SELECT pg_advisory_xact_lock(hashtext('haechi.migrate.' || current_schema()))`,
		HasTable:          `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`,
		IsUniqueViolation: isUniqueViolation,
	}
}

// Migrations returns the PostgreSQL schema migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string) and checks that it answers. It does not migrate: call
// Migrate or CheckSchema.
func Open(ctx context.Context, url string, opts sqlstore.Options) (*sqlstore.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("postgres: the connection URL is not valid")
	}
	// The store's reasoning assumes READ COMMITTED; a server default of
	// SERIALIZABLE would turn contention into errors nobody retries.
	cfg.RuntimeParams["default_transaction_isolation"] = "read committed"
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	return sqlstore.New(db, Dialect(), Migrations(), opts), nil
}

func isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == uniqueViolation
}
