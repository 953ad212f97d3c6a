package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/haechi/haechi/internal/storetest"
)

// TestFDSSharedFile races rule set saves and activations through two pools
// on one file, as two processes would.
func TestFDSSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "haechi.db")
	a, b := open(t, path), open(t, path)
	if _, err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	storetest.FDSConcurrentRuleSets(t, a, b)
}

// BenchmarkFDSHistory measures the history lookups of one decision.
func BenchmarkFDSHistory(b *testing.B) {
	storetest.BenchFDSHistory(b, storetest.MustOpenSQLite(b, storetest.Options()))
}

// BenchmarkFDSDecide measures whole decisions with 100 active rules.
func BenchmarkFDSDecide(b *testing.B) {
	storetest.BenchFDSDecide(b, storetest.MustOpenSQLite(b, storetest.Options()), nil)
}
