package payment_test

import (
	"testing"

	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

// BenchmarkCheckoutAuthorize pays orders one after another: checkout
// (steps 4–9) and authorization (10–15), with the merchant's lookup and
// the card network in process, so what is measured is the gateway and
// its store. A protected payment is two write transactions and one
// lookup; a legacy one skips the lookup and the TID check. PostgreSQL
// runs when HAECHI_TEST_POSTGRES_URL is set.
func BenchmarkCheckoutAuthorize(b *testing.B) {
	engines := []struct {
		name string
		open func(testing.TB, sqlstore.Options) *sqlstore.DB
	}{{"sqlite", storetest.MustOpenSQLite}, {"postgres", storetest.MustOpenPostgres}}
	for _, e := range engines {
		for _, mode := range []payment.Mode{payment.Protected, payment.Legacy} {
			b.Run(e.name+"/"+string(mode), func(b *testing.B) {
				f := newFixtureOn(b, e.open)
				m := f.register("shop", mode)
				i := 0
				for b.Loop() {
					co := f.normal(f.order(m, orderNo(i), 6900, 1))
					v, err := f.authorize(co, visa)
					if err != nil || v.Status != payment.StatusApproved {
						b.Fatalf("payment %d: %v %v", i, v, err)
					}
					i++
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
			})
		}
	}
}
