package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/sqlstore"
)

// benchRuleTemplates are analysts' rule shapes over the engine's features.
var benchRuleTemplates = []string{
	"cust_failures_1m >= %d",
	"cust_failures_10m >= %d && device_new",
	"dev_customers_24h >= %d",
	"ip_failures_1h >= %d && !country_known",
	`kind == "payment" && amount >= %d000 && first_use`,
	"amount_ratio > %d.5 && payments_90d >= 3",
	`country in ["KP", "IR", "SY", "CU"] && cust_attempts_1h > %d`,
	"travel_kmh > %d00.0 && !travel_damped",
	"hour_unusual && success_drift > 0.%d",
	`action.startsWith("login") && cust_attempts_10m > %d`,
}

// BenchRuleSet is n rules of those shapes; every tenth is a shadow rule.
func BenchRuleSet(n int) fds.RuleSet {
	rs := fds.RuleSet{Name: "bench", Thresholds: fds.DefaultThresholds}
	for i := range n {
		rs.Rules = append(rs.Rules, fds.Rule{Name: fmt.Sprintf("r%03d", i),
			Expr:  fmt.Sprintf(benchRuleTemplates[i%len(benchRuleTemplates)], i/len(benchRuleTemplates)+1),
			Score: i%7 + 3, Shadow: i%10 == 9, Description: "benchmark rule"})
	}
	return rs
}

// BenchFDSDecide measures whole decisions (history lookups, features, 100
// active rules, recording event and decision) over 100,000 stored events,
// one after another, and reports p50, p99 and decisions per second. With
// cache (Redis) the velocity lookups go there once it has observed each
// subject for a day; the benchmark warms it with one old event per
// subject, so its counts are not the database's, only its cost is.
func BenchFDSDecide(b *testing.B, db *sqlstore.DB, cache fds.VelocityCache) {
	now := base
	SeedFDSEvents(b, db, 100_000, now)
	eng := &fds.Engine{Store: db.FDS(), Cache: cache, Now: func() time.Time { return now }}
	v, err := eng.SaveRuleSet(b.Context(), "bench", BenchRuleSet(100))
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.Activate(b.Context(), "bench", v); err != nil {
		b.Fatal(err)
	}
	if cache != nil {
		warmFDSCache(b, cache, now)
	}
	r := rand.New(rand.NewPCG(5, 6))
	runs := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		customer, fingerprint, ip := benchFDSSubjects(r)
		i++
		ev := fds.Event{ID: fmt.Sprintf("evt_bench_%d_%d", b.N, i), InstitutionID: "cl_1", Kind: fds.KindLogin,
			Action: "login.failure", CustomerID: customer, Fingerprint: fingerprint, IP: ip, Result: fds.ResultFailure, Time: now}
		start := time.Now()
		if _, err := eng.Decide(b.Context(), ev); err != nil {
			b.Fatal(err)
		}
		runs = append(runs, time.Since(start))
	}
	slices.Sort(runs)
	b.ReportMetric(float64(runs[len(runs)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(runs[len(runs)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

func warmFDSCache(b *testing.B, cache fds.VelocityCache, now time.Time) {
	for c := range benchFDSCustomers {
		for d := range 2 {
			e := &fds.Event{ID: fmt.Sprintf("evt_warm_%d_%d", c, d), Kind: fds.KindLogin, CustomerID: fmt.Sprint("cus_", c),
				Fingerprint: fmt.Sprintf("fp_%d_%d", c, d), IP: fmt.Sprintf("10.%d.%d.7", c%benchFDSAddresses/250, c%benchFDSAddresses%250),
				Result: fds.ResultSuccess, Time: now.Add(-25 * time.Hour)}
			if err := cache.Observe(b.Context(), e); err != nil {
				b.Fatal(err)
			}
		}
	}
	shared := &fds.Event{ID: "evt_warm_shared", Kind: fds.KindLogin, IP: benchFDSSharedIP, Result: fds.ResultSuccess, Time: now.Add(-25 * time.Hour)}
	if err := cache.Observe(b.Context(), shared); err != nil {
		b.Fatal(err)
	}
}
