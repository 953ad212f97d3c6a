package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/postgres"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

func TestStore(t *testing.T) {
	storetest.PostgresURL(t) // skip once here rather than in every subtest
	storetest.Run(t, func(t *testing.T) *sqlstore.DB { return storetest.NewPostgres(t, storetest.Options()) })
}

// TestSharedSchema appends through two pools on one schema, as two nodes
// would: the head row lock must keep one chain.
func TestSharedSchema(t *testing.T) {
	url := storetest.PostgresSchemaURL(t)
	a, b := open(t, url), open(t, url)
	if _, err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	storetest.ConcurrentChain(t, a, b)
}

func TestOpenHidesPassword(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://u:s3cret-pw@[::1/db", storetest.Options())
	if err == nil {
		t.Fatal("Open accepted a malformed URL")
	}
	if got := err.Error(); strings.Contains(got, "s3cret-pw") {
		t.Fatalf("error %q shows the password", got)
	}
}

func open(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), url, storetest.Options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkAuditAppend measures sequential appends, each its own
// transaction taking the head row lock.
func BenchmarkAuditAppend(b *testing.B) {
	db := storetest.MustOpenPostgres(b, storetest.Options())
	ctx := context.Background()
	e := audit.Entry{Actor: "op_bench", Action: "bench.append", Target: "t", Result: audit.ResultSuccess}
	for b.Loop() {
		if err := db.AppendAudit(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// TestReadCommitted checks the isolation level the store's locking assumes,
// whatever the server's default.
func TestReadCommitted(t *testing.T) {
	db := storetest.NewPostgres(t, storetest.Options())
	var got string
	if err := db.SQL().QueryRowContext(t.Context(), "SHOW transaction_isolation").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "read committed" {
		t.Fatalf("transaction_isolation = %q", got)
	}
}
