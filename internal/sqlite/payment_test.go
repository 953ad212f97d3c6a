package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/haechi/haechi/internal/storetest"
)

// TestPaymentsSharedFile races payments of one order through two pools on
// one file, as two processes would: one must take the order.
func TestPaymentsSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "haechi.db")
	a, b := open(t, path), open(t, path)
	if _, err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	storetest.PaymentsConcurrentOrder(t, a, b)
}
