// Package sqlstore is haechi's storage written once over database/sql. The
// engine packages (sqlite, postgres) open the connection and hand in what
// differs between engines as a Dialect, plus their own migration files.
//
// Every time is stored as a BIGINT of Unix nanoseconds in UTC (0 for the zero
// time). Both engines keep such integers exactly, so the Go code, the hashes
// computed over audit events and the signatures over checkpoints are the same
// whichever engine holds them.
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/oauth"
	"github.com/haechi/haechi/internal/operator"
)

var (
	_ audit.Store         = (*DB)(nil)
	_ crypto.DataKeyStore = (*DB)(nil)
	_ institution.Store   = (*DB)(nil)
	_ operator.Store      = (*DB)(nil)
	_ oauth.KeyStore      = (*DB)(nil)
)

// Dialect is what differs between engines. Queries are written once with ?
// placeholders and the engine-specific parts come from here. Writing
// transactions begin with default options and reading ones read-only; an
// engine that needs a locking BEGIN (SQLite: IMMEDIATE) sets it in its
// connection string.
type Dialect struct {
	Name string
	// Numbered placeholders ($1, $2, …) replace ? before a query is sent.
	Numbered bool
	// ForUpdate is appended to the read of the audit head. Where the engine
	// has row locks it must lock the row ("FOR UPDATE"), which serializes
	// audit appends across every process sharing the database. SQLite has
	// none: its writing transactions begin IMMEDIATE and so already exclude
	// each other.
	ForUpdate string
	// SingleWriter says the engine runs one writing transaction at a time.
	// The DB then queues its own writers in Go, where waiting is cheap and
	// cancellable, instead of letting them poll in the engine's busy handler.
	SingleWriter bool
	// MigrationLock, when set, runs first in each migration transaction to
	// keep two processes from migrating at once.
	MigrationLock string
	// HasTable is a query with one ? (the table name) returning a count,
	// used to tell a fresh database from one being migrated.
	HasTable string
	// IsUniqueViolation reports whether err is a unique or primary key
	// violation; such errors become errs.ErrConflict.
	IsUniqueViolation func(error) bool
}

// Options are the DB's collaborators. Production wiring always sets Signer;
// without one, events are still chained but no checkpoint or head is signed.
type Options struct {
	Signer *audit.Signer
	Now    func() time.Time
}

// DB implements every capability's store interface.
type DB struct {
	db         *sql.DB
	d          Dialect
	migrations fs.FS
	signer     *audit.Signer
	now        func() time.Time
	// writer is a one-slot queue of writing transactions, used only when
	// the dialect is SingleWriter.
	writer chan struct{}
}

// New wraps an open database. migrations holds the engine's NNNN_name.sql
// files at its root.
func New(db *sql.DB, d Dialect, migrations fs.FS, opts Options) *DB {
	s := &DB{db: db, d: d, migrations: migrations, signer: opts.Signer, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if d.SingleWriter {
		s.writer = make(chan struct{}, 1)
	}
	return s
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%s: ping: %w", db.d.Name, err)
	}
	return nil
}

// Close closes the connection pool.
func (db *DB) Close() error { return db.db.Close() }

// SQL returns the underlying pool for tools and tests. Domain code uses the
// typed methods, which keep each change and its audit event together.
func (db *DB) SQL() *sql.DB { return db.db }

// Rebind rewrites a query written with ? placeholders for this engine.
func (db *DB) Rebind(query string) string {
	if !db.d.Numbered {
		return query
	}
	return rebindNumbered(query)
}
