// Package storetest is one test suite for haechi's storage, run against
// every engine (SQLite and PostgreSQL), plus helpers that give each test a
// fresh database.
package storetest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/sqlstore"
)

// checkpointEvery is the Signer interval the suite expects.
const checkpointEvery = 10

// Signer is the suite's fixed audit signer: a deterministic test key, so
// that checkpoints can be verified with PublicKey.
func Signer() *audit.Signer {
	seed := bytes.Repeat([]byte("haechi-storetest"), 2) // 32 bytes
	return &audit.Signer{Key: ed25519.NewKeyFromSeed(seed), Every: checkpointEvery}
}

// PublicKey verifies what Signer signs.
func PublicKey() ed25519.PublicKey { return Signer().Key.Public().(ed25519.PublicKey) }

// Options are what a database under test must be opened with.
func Options() sqlstore.Options {
	return sqlstore.Options{Signer: Signer(), Now: time.Now}
}

// Run runs the whole suite. open must return a fresh database, opened with
// Options() and with no migration applied yet (the suite tests migrating it);
// MustOpenSQLite/NewSQLite and their PostgreSQL twins are made for this.
func Run(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	migrated := func(t *testing.T) *sqlstore.DB {
		t.Helper()
		db := open(t)
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		return db
	}
	t.Run("migrations", func(t *testing.T) { testMigrations(t, open) })
	t.Run("audit", func(t *testing.T) { testAudit(t, migrated) })
	t.Run("data keys", func(t *testing.T) { testDataKeys(t, migrated) })
	t.Run("clients", func(t *testing.T) { testClients(t, migrated) })
	t.Run("api keys", func(t *testing.T) { testAPIKeys(t, migrated) })
	t.Run("operators", func(t *testing.T) { testOperators(t, migrated) })
	t.Run("signing keys", func(t *testing.T) { testSigningKeys(t, migrated) })
	t.Run("customers and codes", func(t *testing.T) { testCustomers(t, migrated); testOneTimeCodes(t, migrated) })
	t.Run("notifications", func(t *testing.T) { testNotifications(t, migrated) })
	t.Run("webhooks", func(t *testing.T) { testWebhooks(t, migrated) })
	t.Run("passkey sessions", func(t *testing.T) { testPasskeySessions(t, migrated) })
	t.Run("devices", func(t *testing.T) { testDevices(t, migrated) })
	t.Run("device nonces", func(t *testing.T) { testDeviceNonces(t, migrated(t)) })
	t.Run("lockout", func(t *testing.T) { testLockout(t, migrated) })
	t.Run("credentials", func(t *testing.T) { testCredentials(t, migrated(t)) })
	t.Run("sessions", func(t *testing.T) { testSessions(t, migrated(t)) })
	t.Run("sessions of a revoked institution", func(t *testing.T) { testSessionsOfRevokedInstitution(t, migrated(t)) })
	t.Run("ekyc", func(t *testing.T) { testEKYC(t, migrated) })
	t.Run("security media", func(t *testing.T) { testSecurityMedia(t, migrated) })
	t.Run("fds", func(t *testing.T) { testFDS(t, migrated) })
	t.Run("payments", func(t *testing.T) { testPayments(t, migrated) })
	t.Run("idempotency", func(t *testing.T) { testIdempotency(t, migrated) })
}

// base is a fixed time with nanoseconds, which every engine must keep.
var base = time.Date(2025, 3, 1, 9, 30, 0, 123456789, time.UTC)

func entry(action, target string) audit.Entry {
	return audit.Entry{Actor: "op_test", Action: action, Target: target, Result: audit.ResultSuccess}
}

// headSeq is how many audit events the database holds.
func headSeq(t *testing.T, db *sqlstore.DB) int64 {
	t.Helper()
	h, err := db.AuditHead(t.Context())
	if err != nil {
		t.Fatalf("audit head: %v", err)
	}
	return h.Seq
}

// verifyChain checks the whole log with audit.Verify and that it holds want
// events.
func verifyChain(t *testing.T, db *sqlstore.DB, want int64) {
	t.Helper()
	checked, brk, err := audit.Verify(t.Context(), db, PublicKey())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if brk != nil {
		t.Fatalf("verify: chain broken at %v", brk)
	}
	if checked != want {
		t.Fatalf("verify checked %d events, want %d", checked, want)
	}
}

// wantErr fails unless errors.Is(err, want).
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// sameJSON compares two values by their JSON form, which shows times (UTC,
// nanoseconds), byte slices and nil pointers in a way a failure message can
// show.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	must(t, err)
	w, err := json.Marshal(want)
	must(t, err)
	if !bytes.Equal(g, w) {
		t.Fatalf("%s:\n got  %s\n want %s", what, g, w)
	}
}
