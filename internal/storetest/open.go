package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the admin connection

	"github.com/haechi/haechi/internal/postgres"
	"github.com/haechi/haechi/internal/sqlite"
	"github.com/haechi/haechi/internal/sqlstore"
)

// NewSQLite opens a fresh, unmigrated SQLite database in a temporary file,
// closed when the test ends.
func NewSQLite(tb testing.TB, opts sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "haechi.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustOpenSQLite opens a fresh, migrated SQLite database.
func MustOpenSQLite(tb testing.TB, opts sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	return migrate(tb, NewSQLite(tb, opts))
}

// NewPostgres opens a fresh, unmigrated PostgreSQL database: a schema of its
// own, dropped when the test ends. See PostgresSchemaURL.
func NewPostgres(tb testing.TB, opts sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, PostgresSchemaURL(tb), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustOpenPostgres opens a fresh, migrated PostgreSQL database.
func MustOpenPostgres(tb testing.TB, opts sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	return migrate(tb, NewPostgres(tb, opts))
}

func migrate(tb testing.TB, db *sqlstore.DB) *sqlstore.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return db
}

// PostgresURL returns HAECHI_TEST_POSTGRES_URL. When it is unset the test
// is skipped, or fails if HAECHI_TEST_REQUIRE_SERVICES=1 (CI).
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("HAECHI_TEST_POSTGRES_URL")
	if u != "" {
		return u
	}
	const msg = "HAECHI_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)"
	if os.Getenv("HAECHI_TEST_REQUIRE_SERVICES") == "1" {
		tb.Fatal(msg + " and HAECHI_TEST_REQUIRE_SERVICES=1")
	}
	tb.Skip(msg + ": skipping PostgreSQL tests")
	return ""
}

// PostgresSchemaURL creates a schema t_<random> for this test, drops it
// (with everything in it) when the test ends, and returns a connection URL
// whose search_path points at it. Databases opened on that URL share the
// schema, as two haechi processes share a production database.
func PostgresSchemaURL(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL(tb)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("postgres admin connection: %v", err)
	}
	schema := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The name is our own hex, so building the statement is safe.
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	return withSearchPath(base, schema)
}

// withSearchPath sets search_path, which pgx sends as a run-time parameter
// when the connection starts, in either form of connection string.
func withSearchPath(conn, schema string) string {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return conn + " search_path=" + schema
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
