package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/sqlite"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *sqlstore.DB { return storetest.NewSQLite(t, storetest.Options()) })
}

// TestSharedFile appends through two pools on one file, as two processes
// would: the file lock, not the in-process queue, must keep one chain.
func TestSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "haechi.db")
	a, b := open(t, path), open(t, path)
	if _, err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	storetest.ConcurrentChain(t, a, b)
}

func TestOpenRefusesOddPaths(t *testing.T) {
	tests := []struct{ name, path string }{
		{"error/empty", ""},
		{"error/query string", "/tmp/x.db?_txlock=deferred"},
		{"error/uri", "file:/tmp/x.db"},
		{"error/memory", ":memory:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if db, err := sqlite.Open(tc.path, storetest.Options()); err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", tc.path)
			}
		})
	}
}

func open(t *testing.T, path string) *sqlstore.DB {
	t.Helper()
	db, err := sqlite.Open(path, storetest.Options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkAuditAppend measures sequential appends, each its own durable
// (fsynced) transaction.
func BenchmarkAuditAppend(b *testing.B) {
	db := storetest.MustOpenSQLite(b, storetest.Options())
	benchAppend(b, db)
}

func benchAppend(b *testing.B, db *sqlstore.DB) {
	ctx := context.Background()
	e := audit.Entry{Actor: "op_bench", Action: "bench.append", Target: "t", Result: audit.ResultSuccess}
	for b.Loop() {
		if err := db.AppendAudit(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// TestPragmas checks that every pooled connection gets the settings the
// store's durability and locking rely on.
func TestPragmas(t *testing.T) {
	db := storetest.NewSQLite(t, storetest.Options())
	tests := []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"secure_delete", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.pragma, func(t *testing.T) {
			var got string
			if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
			}
		})
	}
}
