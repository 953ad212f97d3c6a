package lockout_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/postgres"
	"github.com/haechi/haechi/internal/sqlite"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

// base is a fixed start; tests move time by hand and never sleep.
var base = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// nodes opens two handles on one fresh, migrated database, as two haechi
// processes share one in production.
type nodes func(t *testing.T) (a, b *sqlstore.DB)

func sqliteNodes(t *testing.T) (a, b *sqlstore.DB) {
	path := filepath.Join(t.TempDir(), "haechi.db")
	open := func() *sqlstore.DB {
		db, err := sqlite.Open(path, storetest.Options())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b = open(), open()
	migrateDB(t, a)
	return a, b
}

func postgresNodes(t *testing.T) (a, b *sqlstore.DB) {
	url := storetest.PostgresSchemaURL(t)
	open := func() *sqlstore.DB {
		db, err := postgres.Open(t.Context(), url, storetest.Options())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b = open(), open()
	migrateDB(t, a)
	return a, b
}

func migrateDB(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
}

// engines runs fn on SQLite and, when configured, PostgreSQL.
func engines(t *testing.T, fn func(t *testing.T, open nodes)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, sqliteNodes) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, postgresNodes) })
}

// clock is a test clock for operator actions.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newService(db *sqlstore.DB, c *clock, bot bool) *lockout.Service {
	return &lockout.Service{Store: db, Ladders: lockout.DefaultLadders(), Bot: lockout.BotRule{Disabled: !bot}, Now: c.Now}
}

var meta = lockout.Meta{Actor: "cl_app", RequestID: "req_1", IP: "203.0.113.7", Fingerprint: "fp_phone"}

// failOnce reserves and fails one attempt at now.
func failOnce(t *testing.T, s *lockout.Service, cus string, m lockout.Method, now time.Time, md lockout.Meta) lockout.State {
	t.Helper()
	a, err := s.Begin(t.Context(), cus, m, now)
	if err != nil {
		t.Fatalf("begin at %s: %v", now.Sub(base), err)
	}
	st, err := a.Fail(t.Context(), now, md)
	if err != nil {
		t.Fatalf("fail: %v", err)
	}
	return st
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func wantRefusal(t *testing.T, err error, want *errs.Error, kind errs.Kind, retry time.Duration) {
	t.Helper()
	wantErr(t, err, want)
	e := errs.As(err)
	if e.Kind != kind || e.RetryAfter != retry {
		t.Fatalf("%s: kind %v retry %v, want %v %v", e.Code, e.Kind, e.RetryAfter, kind, retry)
	}
}

func hasTransition(st lockout.State, tr lockout.Transition) bool {
	for _, x := range st.Transitions {
		if x == tr {
			return true
		}
	}
	return false
}

func auditSeq(t *testing.T, db *sqlstore.DB) int64 {
	t.Helper()
	h, err := db.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return h.Seq
}

func lastEvents(t *testing.T, db *sqlstore.DB, after int64) []audit.Event {
	t.Helper()
	evs, err := db.AuditEvents(context.Background(), after, 100)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func noteKinds(t *testing.T, db *sqlstore.DB, customerID string) []string {
	t.Helper()
	ns, err := db.DueNotifications(t.Context(), base.AddDate(100, 0, 0), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, n := range ns {
		if n.CustomerID == customerID {
			kinds = append(kinds, n.Kind)
		}
	}
	return kinds
}
