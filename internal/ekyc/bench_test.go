package ekyc_test

import (
	"testing"

	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

// BenchmarkSessions completes whole sessions one after another with the
// simulators: open, id_card, then the carrier or the 1-won check. Each is
// about ten write transactions (open, two per id_card, three per code
// send, three per code check). PostgreSQL runs when
// HAECHI_TEST_POSTGRES_URL is set.
func BenchmarkSessions(b *testing.B) {
	engines := []struct {
		name string
		open func(testing.TB, sqlstore.Options) *sqlstore.DB
	}{{"sqlite", storetest.MustOpenSQLite}, {"postgres", storetest.MustOpenPostgres}}
	second := []struct {
		name string
		run  func(f *fixture, id string) *ekyc.View
	}{
		{"id_card+carrier", func(f *fixture, id string) *ekyc.View { return f.carrierCheck(id, kim.Phone) }},
		{"id_card+existing_account", func(f *fixture, id string) *ekyc.View { return f.account(id, kimAccount) }},
	}
	for _, e := range engines {
		for _, m := range second {
			b.Run(e.name+"/"+m.name, func(b *testing.B) {
				f := newFixtureOn(b, e.open)
				for b.Loop() {
					id := f.open(kim, ekyc.Policy{}).Session.ID
					f.idCard(id, kimCard)
					if v := m.run(f, id); v.Status != ekyc.StatusPassed {
						b.Fatalf("session %s ended %s", id, v.Status)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
			})
		}
	}
}
