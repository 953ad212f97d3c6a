package postgres_test

import (
	"testing"

	"github.com/haechi/haechi/internal/storetest"
)

// TestPaymentsSharedSchema races payments of one order through two pools on
// one schema, as two nodes would: the unique index must let one take it.
func TestPaymentsSharedSchema(t *testing.T) {
	url := storetest.PostgresSchemaURL(t)
	a, b := open(t, url), open(t, url)
	if _, err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	storetest.PaymentsConcurrentOrder(t, a, b)
}
