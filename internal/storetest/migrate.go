package storetest

import (
	"strings"
	"sync"
	"testing"

	"github.com/haechi/haechi/internal/sqlstore"
)

func testMigrations(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("error/fresh database", func(t *testing.T) {
		db := open(t)
		pending, err := db.Pending(t.Context())
		must(t, err)
		if len(pending) == 0 || pending[0] != "0001_audit.sql" {
			t.Fatalf("pending on a fresh database = %v, want every migration from 0001_audit.sql", pending)
		}
		err = db.CheckSchema(t.Context())
		wantErr(t, err, sqlstore.ErrSchemaOutdated)
		if !strings.Contains(err.Error(), "schema is at version 0") || !strings.Contains(err.Error(), "haechi migrate") {
			t.Fatalf("message %q does not say the version and how to migrate", err)
		}
	})
	t.Run("ok/migrate applies everything once", func(t *testing.T) {
		db := open(t)
		want, err := db.Pending(t.Context())
		must(t, err)
		done, err := db.Migrate(t.Context())
		must(t, err)
		sameJSON(t, "applied", done, want)
		pending, err := db.Pending(t.Context())
		must(t, err)
		if len(pending) != 0 {
			t.Fatalf("pending after migrate = %v", pending)
		}
		must(t, db.CheckSchema(t.Context()))
		again, err := db.Migrate(t.Context())
		must(t, err)
		if len(again) != 0 {
			t.Fatalf("second migrate applied %v", again)
		}
	})
	t.Run("ok/concurrent migrators apply each migration once", func(t *testing.T) {
		db := open(t)
		want, err := db.Pending(t.Context())
		must(t, err)
		var mu sync.Mutex
		var applied []string
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				done, err := db.Migrate(t.Context())
				if err != nil {
					t.Errorf("migrate: %v", err)
				}
				mu.Lock()
				applied = append(applied, done...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(applied) != len(want) {
			t.Fatalf("applied %v, want each of %v once", applied, want)
		}
	})
	t.Run("error/newer version in database", func(t *testing.T) {
		db := open(t)
		_, err := db.Migrate(t.Context())
		must(t, err)
		_, err = db.SQL().ExecContext(t.Context(),
			db.Rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`), 999, "0999_future.sql", 0)
		must(t, err)
		err = db.CheckSchema(t.Context())
		wantErr(t, err, sqlstore.ErrSchemaUnknown)
		if !strings.Contains(err.Error(), "newer binary") {
			t.Fatalf("message %q does not say a newer binary ran", err)
		}
		_, err = db.Migrate(t.Context())
		wantErr(t, err, sqlstore.ErrSchemaUnknown)
		_, err = db.Pending(t.Context())
		wantErr(t, err, sqlstore.ErrSchemaUnknown)
	})
	t.Run("error/gap", func(t *testing.T) {
		db := open(t)
		_, err := db.Migrate(t.Context())
		must(t, err)
		_, err = db.SQL().ExecContext(t.Context(), db.Rebind(`DELETE FROM schema_migrations WHERE version = ?`), 2)
		must(t, err)
		err = db.CheckSchema(t.Context())
		wantErr(t, err, sqlstore.ErrSchemaUnknown)
		if !strings.Contains(err.Error(), "0002 is missing") {
			t.Fatalf("message %q does not name the gap", err)
		}
	})
	t.Run("error/different migration under a known version", func(t *testing.T) {
		db := open(t)
		_, err := db.Migrate(t.Context())
		must(t, err)
		_, err = db.SQL().ExecContext(t.Context(), db.Rebind(`UPDATE schema_migrations SET name = ? WHERE version = ?`), "0001_other.sql", 1)
		must(t, err)
		wantErr(t, db.CheckSchema(t.Context()), sqlstore.ErrSchemaUnknown)
	})
}
