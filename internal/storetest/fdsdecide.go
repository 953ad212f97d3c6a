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

// BenchFDSDecide measures, over 100,000 stored events with 100 active
// rules, the verdict (history lookups one after another, features, rules)
// and the whole decision (the same plus recording event and decision in a
// committed transaction), one after another, and reports p50, p99 and
// decisions per second. With cache (Redis) the velocity lookups go there
// once it has observed each subject for a day; the benchmark warms it with
// one old event per subject, so its counts are not the database's, only
// its cost is.
func BenchFDSDecide(b *testing.B, db *sqlstore.DB, cache fds.VelocityCache) {
	now := base
	SeedFDSEvents(b, db, 100_000, now)
	eng := &fds.Engine{Store: db.FDS(), Cache: cache, Now: func() time.Time { return now }}
	rs := BenchRuleSet(100)
	v, err := eng.SaveRuleSet(b.Context(), "bench", rs)
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.Activate(b.Context(), "bench", v); err != nil {
		b.Fatal(err)
	}
	if cache != nil {
		warmFDSCache(b, cache, now)
	}
	prog, err := fds.Compile(rs)
	if err != nil {
		b.Fatal(err)
	}
	store := db.FDS() // prepares the history queries once, as the engine's does
	b.Run("verdict", func(b *testing.B) {
		benchFDSLatency(b, func(ev fds.Event) error { return fdsVerdict(b, store, cache, prog, &ev) })
	})
	b.Run("decide", func(b *testing.B) {
		benchFDSLatency(b, func(ev fds.Event) error { _, err := eng.Decide(b.Context(), ev); return err })
	})
}

// fdsVerdict is what a decision computes before it records anything.
func fdsVerdict(b *testing.B, s fds.Store, cache fds.VelocityCache, prog *fds.Program, e *fds.Event) error {
	ctx := b.Context()
	var in fds.Inputs
	vel := func(k fds.SubjectKind, v string) (fds.Velocity, error) {
		if cache != nil {
			if got, ok, err := cache.Velocity(ctx, k, v, e.Time); err == nil && ok {
				return got, nil
			}
		}
		return s.Velocity(ctx, k, v, e.Time)
	}
	var err error
	if in.Customer, err = vel(fds.SubjectCustomer, e.CustomerID); err != nil {
		return err
	}
	if in.Device, err = vel(fds.SubjectDevice, e.Fingerprint); err != nil {
		return err
	}
	if in.IP, err = vel(fds.SubjectIP, e.IP); err != nil {
		return err
	}
	if in.DeviceHistory, err = s.Device(ctx, e.Fingerprint, e.CustomerID, e.Time); err != nil {
		return err
	}
	if in.Profile, err = s.Profile(ctx, e.CustomerID, e.Kind, e.Time); err != nil {
		return err
	}
	if in.Lists, err = s.ListMatches(ctx, e); err != nil {
		return err
	}
	prog.Eval(fds.ComputeFeatures(e, in, nil))
	return nil
}

// benchFDSLatency runs op on random subjects and reports p50, p99 and
// operations per second.
func benchFDSLatency(b *testing.B, op func(fds.Event) error) {
	r := rand.New(rand.NewPCG(5, 6))
	runs := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		customer, fingerprint, ip := benchFDSSubjects(r)
		i++
		ev := fds.Event{ID: fmt.Sprintf("evt_bench_%d_%d_%d", time.Now().UnixNano(), b.N, i), InstitutionID: "cl_1", Kind: fds.KindLogin,
			Action: "login.failure", CustomerID: customer, Fingerprint: fingerprint, IP: ip, Result: fds.ResultFailure, Time: base}
		start := time.Now()
		if err := op(ev); err != nil {
			b.Fatal(err)
		}
		runs = append(runs, time.Since(start))
	}
	slices.Sort(runs)
	b.ReportMetric(float64(runs[len(runs)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(runs[len(runs)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
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
