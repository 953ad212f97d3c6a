package fds

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// realisticRules are n rules shaped like an analyst's: velocity bounds,
// combinations with device and place, amounts, string tests; every tenth
// is a shadow rule.
func realisticRules(n int) RuleSet {
	templates := []string{
		"cust_failures_1m >= %d",
		"cust_failures_10m >= %d && device_new",
		"dev_customers_24h >= %d",
		"ip_failures_1h >= %d && !country_known",
		`kind == "payment" && amount >= %d000 && first_use`,
		"amount_ratio > %d.5 && payments_90d >= 3",
		`country in ["KP", "IR", "SY", "CU"] && cust_attempts_1h > %d`,
		"travel_kmh > %d00.0 && !travel_damped",
		"hour_unusual && success_drift > 0.%d",
		"interval_cv >= 0.0 && interval_cv < 0.0%d",
		`action.startsWith("login") && cust_attempts_10m > %d`,
		"device_age_hours < %d.0 && amount > 100000 && (listed_allow == false)",
	}
	rs := RuleSet{Name: "bench", Thresholds: DefaultThresholds}
	for i := range n {
		rs.Rules = append(rs.Rules, Rule{
			Name:        fmt.Sprintf("r%03d", i),
			Expr:        fmt.Sprintf(templates[i%len(templates)], i/len(templates)+1),
			Score:       i%7 + 3,
			Shadow:      i%10 == 9,
			Description: "benchmark rule",
		})
	}
	return rs
}

func benchFeatures() map[string]any {
	ev := &Event{Kind: KindLogin, Action: "login.failure", CustomerID: "cus_1", Fingerprint: fpNew, IP: ipParis,
		Country: "FR", IPLoc: &paris, Result: ResultFailure, Time: t0}
	return ComputeFeatures(ev, Inputs{
		Customer: Velocity{Attempts: [4]int{3, 6, 9, 20}, Failures: [4]int{2, 4, 5, 6}},
		Device:   Velocity{Attempts: [4]int{3, 6, 9, 20}, Failures: [4]int{2, 4, 5, 6}, Customers: [4]int{1, 2, 2, 3}},
		IP:       Velocity{Attempts: [4]int{5, 9, 30, 200}, Failures: [4]int{2, 4, 9, 20}, Customers: [4]int{2, 5, 12, 40}},
		Profile: Profile{Events: 80, Successes: 70, Events24h: 10, Successes24h: 4, HourCounts: [24]int{1: 40, 2: 20, 11: 10},
			LastSuccess: &Event{Country: "KR", IPLoc: &seoul, Time: t0.Add(-2 * time.Hour)},
			Recent:      secondsBefore(t0, 50, 40, 30, 20, 10), Payments: 12, AmountSum: 600_000, AmountMax: 120_000},
	}, nil)
}

// latency runs op b.N times and reports p50 and p99 from a histogram of
// every run.
func latency(b *testing.B, op func()) {
	b.Helper()
	runs := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		op()
		runs = append(runs, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(runs)
	pct := func(p float64) float64 {
		return float64(runs[min(len(runs)-1, int(p*float64(len(runs))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

func BenchmarkEval100Rules(b *testing.B) {
	p, err := Compile(realisticRules(100))
	if err != nil {
		b.Fatal(err)
	}
	f := benchFeatures()
	if ev := p.Eval(f); len(ev.Errors) != 0 || len(ev.Matched) == 0 {
		b.Fatalf("the benchmark set must evaluate cleanly and match something: %+v", ev)
	}
	latency(b, func() { p.Eval(f) })
}

func BenchmarkDecideFake(b *testing.B) {
	ctx := context.Background()
	e, s, c := newTestEngine(b)
	now := c.Now()
	seedHabits(s, now)
	for i := range 200 { // other customers' traffic on the same IP
		s.addEvents(Event{Kind: KindLogin, CustomerID: fmt.Sprintf("cus_%d", i%40), IP: ipParis, Result: ResultSuccess,
			Time: now.Add(-time.Duration(i) * time.Minute)})
	}
	v, err := e.SaveRuleSet(ctx, "op_1", realisticRules(100))
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Activate(ctx, "op_1", v); err != nil {
		b.Fatal(err)
	}
	s.frozen = true // every iteration sees the same history
	ev := login(now)
	ev.IP, ev.Fingerprint = ipParis, fpNew
	if d, err := e.Decide(ctx, ev); err != nil || d.RuleSetVersion != v {
		b.Fatalf("%v %v", d, err)
	}
	latency(b, func() {
		if _, err := e.Decide(ctx, ev); err != nil {
			b.Fatal(err)
		}
	})
}
