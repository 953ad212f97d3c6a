package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/sqlstore"
)

func testFDS(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("velocity", func(t *testing.T) { testFDSVelocity(t, open(t)) })
	t.Run("device history", func(t *testing.T) { testFDSDevice(t, open(t)) })
	t.Run("profile", func(t *testing.T) { testFDSProfile(t, open(t)) })
	t.Run("list matches", func(t *testing.T) { testFDSListMatches(t, open(t)) })
	t.Run("decisions", func(t *testing.T) { testFDSDecisions(t, open(t)) })
	t.Run("decision paging", func(t *testing.T) { testFDSDecisionPaging(t, open(t)) })
	t.Run("rule sets", func(t *testing.T) { testFDSRuleSets(t, open(t)) })
	t.Run("concurrent rule sets", func(t *testing.T) { FDSConcurrentRuleSets(t, open(t)) })
	t.Run("cases", func(t *testing.T) { testFDSCases(t, open(t)) })
	t.Run("lists", func(t *testing.T) { testFDSLists(t, open(t)) })
}

// fdsEvent is a login failure of cus_1 on fp_1 from 203.0.113.9 at at.
func fdsEvent(id string, at time.Time) *fds.Event {
	return &fds.Event{ID: id, InstitutionID: "cl_1", Kind: fds.KindLogin, Action: "login.failure",
		CustomerID: "cus_1", Fingerprint: "fp_1", IP: "203.0.113.9", Result: fds.ResultFailure, Time: at}
}

// fdsDecision is an allow decision of e.
func fdsDecision(e *fds.Event) *fds.Decision {
	return &fds.Decision{ID: "dec_" + e.ID, EventID: e.ID, InstitutionID: e.InstitutionID, CustomerID: e.CustomerID,
		Kind: e.Kind, RuleSetVersion: 1, Outcome: fds.Allow, Matched: []fds.Match{}, CreatedAt: e.Time}
}

// fdsCase is the open case of d.
func fdsCase(id string, d *fds.Decision) *fds.Case {
	d.CaseID = id
	return &fds.Case{ID: id, DecisionID: d.ID, InstitutionID: d.InstitutionID, CustomerID: d.CustomerID,
		Outcome: d.Outcome, Status: fds.CaseOpen, CreatedAt: d.CreatedAt, UpdatedAt: d.CreatedAt, Version: 1}
}

func saveFDSEvents(t *testing.T, db *sqlstore.DB, evs ...*fds.Event) {
	t.Helper()
	for _, e := range evs {
		must(t, db.SaveDecision(t.Context(), e, fdsDecision(e), nil))
	}
}

// fdsAt is an event with changed subject and result, for history tables.
func fdsAt(id string, t time.Time, customer, fingerprint, ip string, r fds.Result) *fds.Event {
	e := fdsEvent(id, t)
	e.CustomerID, e.Fingerprint, e.IP, e.Result = customer, fingerprint, ip, r
	return e
}

func testFDSVelocity(t *testing.T, db *sqlstore.DB) {
	now := base
	const ip = "203.0.113.9"
	saveFDSEvents(t, db,
		fdsAt("e1", now.Add(-59*time.Second), "cus_a", "fp_v", ip, fds.ResultFailure),
		fdsAt("e2", now.Add(-61*time.Second), "cus_b", "fp_v", ip, fds.ResultSuccess),
		fdsAt("e3", now.Add(-30*time.Second), "", "fp_v", "", fds.ResultNone),
		fdsAt("e4", now.Add(-9*time.Minute-59*time.Second), "cus_a", "fp_v", "198.51.100.1", fds.ResultFailure),
		fdsAt("e5", now.Add(-10*time.Minute-time.Second), "cus_c", "fp_v", ip, fds.ResultSuccess),
		fdsAt("e6", now.Add(-59*time.Minute-59*time.Second), "cus_c", "fp_v", ip, fds.ResultFailure),
		fdsAt("e7", now.Add(-time.Hour-time.Second), "cus_d", "fp_v", ip, fds.ResultSuccess),
		fdsAt("e8", now.Add(-24*time.Hour), "cus_e", "fp_v", ip, fds.ResultFailure),
		fdsAt("e9", now.Add(-24*time.Hour-time.Nanosecond), "cus_f", "fp_v", ip, fds.ResultFailure),
		fdsAt("e10", now, "cus_a", "fp_v", ip, fds.ResultFailure),
		fdsAt("e11", now.Add(time.Second), "cus_a", "fp_v", ip, fds.ResultFailure),
		fdsAt("e12", now.Add(-time.Minute), "cus_a", "fp_other", ip, fds.ResultFailure),
	)
	tests := []struct {
		name  string
		s     fds.SubjectKind
		value string
		want  fds.Velocity
	}{
		{"ok/device: boundaries, failures, distinct customers without the anonymous event", fds.SubjectDevice, "fp_v",
			fds.Velocity{Attempts: [4]int{2, 4, 6, 8}, Failures: [4]int{1, 2, 3, 4}, Customers: [4]int{1, 2, 3, 5}}},
		{"ok/ip: an event exactly one window before now counts", fds.SubjectIP, ip,
			fds.Velocity{Attempts: [4]int{2, 3, 5, 7}, Failures: [4]int{2, 2, 3, 4}, Customers: [4]int{1, 2, 3, 5}}},
		{"ok/customer: no distinct customers", fds.SubjectCustomer, "cus_a",
			fds.Velocity{Attempts: [4]int{2, 3, 3, 3}, Failures: [4]int{2, 3, 3, 3}}},
		{"ok/unknown subject value", fds.SubjectIP, "192.0.2.1", fds.Velocity{}},
		{"ok/empty value", fds.SubjectDevice, "", fds.Velocity{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.FDS().Velocity(t.Context(), tc.s, tc.value, now)
			must(t, err)
			if got != tc.want {
				t.Fatalf("velocity = %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("ok/a later now sees the events at and after the earlier one", func(t *testing.T) {
		got, err := db.FDS().Velocity(t.Context(), fds.SubjectCustomer, "cus_a", now.Add(2*time.Second))
		must(t, err)
		if got.Attempts[2] != 5 {
			t.Fatalf("attempts in the last hour = %d, want 5 (e1, e4, e10, e11, e12)", got.Attempts[2])
		}
	})
	t.Run("error/unknown subject kind", func(t *testing.T) {
		_, err := db.FDS().Velocity(t.Context(), "merchant", "m1", now)
		wantErr(t, err, errs.ErrInvalid)
	})
}

func testFDSDevice(t *testing.T, db *sqlstore.DB) {
	now := base
	saveFDSEvents(t, db,
		fdsAt("d1", now.Add(-2*time.Hour), "cus_x", "fp_d", "", fds.ResultSuccess),
		fdsAt("d2", now.Add(-time.Hour), "cus_y", "fp_d", "", fds.ResultFailure),
		fdsAt("d3", now.Add(-30*time.Minute), "cus_y", "fp_d", "", fds.ResultSuccess),
		fdsAt("d4", now, "cus_z", "fp_d", "", fds.ResultSuccess),
		fdsAt("d5", now.Add(-3*time.Hour), "cus_y", "fp_other", "", fds.ResultSuccess),
	)
	tests := []struct {
		name              string
		fingerprint, cust string
		want              fds.DeviceHistory
	}{
		{"ok/known device, known pair", "fp_d", "cus_y", fds.DeviceHistory{FirstSeen: now.Add(-2 * time.Hour), CustomerFirstSeen: now.Add(-time.Hour)}},
		{"ok/known device, first time for this customer (event at now not seen)", "fp_d", "cus_z", fds.DeviceHistory{FirstSeen: now.Add(-2 * time.Hour)}},
		{"ok/known device, no customer", "fp_d", "", fds.DeviceHistory{FirstSeen: now.Add(-2 * time.Hour)}},
		{"ok/new device", "fp_new", "cus_y", fds.DeviceHistory{}},
		{"ok/no fingerprint", "", "cus_y", fds.DeviceHistory{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.FDS().Device(t.Context(), tc.fingerprint, tc.cust, now)
			must(t, err)
			if !got.FirstSeen.Equal(tc.want.FirstSeen) || !got.CustomerFirstSeen.Equal(tc.want.CustomerFirstSeen) {
				t.Fatalf("device history = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func testFDSProfile(t *testing.T, db *sqlstore.DB) {
	now := base // 09:30:00.123456789 UTC
	day := now.Truncate(24 * time.Hour)
	ev := func(id string, when time.Time, kind fds.Kind, r fds.Result, amount int64) *fds.Event {
		e := fdsAt(id, when, "cus_p", "fp_p", "198.51.100.20", r)
		e.Kind, e.AmountKRW = kind, amount
		return e
	}
	last := ev("p6", now.Add(-2*time.Hour), fds.KindPayment, fds.ResultSuccess, 120000)
	last.GPS, last.IPLoc = &fds.Location{Lat: 37.5665, Lon: 126.978}, &fds.Location{Lat: 37.5, Lon: 127}
	last.Country, last.Anonymous, last.BIN, last.BotSuspected, last.Action = "KR", true, "123456", true, "payment.request"
	saveFDSEvents(t, db,
		ev("p8", now.Add(-91*24*time.Hour), fds.KindPayment, fds.ResultSuccess, 70000),
		ev("p1", now.Add(-31*24*time.Hour), fds.KindPayment, fds.ResultSuccess, 50000),
		ev("p2", day.Add(-10*24*time.Hour+3*time.Hour+15*time.Minute), fds.KindLogin, fds.ResultSuccess, 0),
		ev("p3", day.Add(-5*24*time.Hour+3*time.Hour+45*time.Minute), fds.KindLogin, fds.ResultSuccess, 0),
		ev("p4", day.Add(-24*time.Hour-time.Nanosecond), fds.KindRegistration, fds.ResultSuccess, 0),
		ev("p5", day.Add(-12*time.Hour), fds.KindLogin, fds.ResultFailure, 0),
		ev("p11", now.Add(-3*time.Hour), fds.KindPayment, fds.ResultSuccess, 0),
		last,
		ev("p7", now.Add(-time.Hour), fds.KindPayment, fds.ResultFailure, 999999),
		ev("p9", now, fds.KindLogin, fds.ResultSuccess, 0),
		ev("p10", now.Add(time.Hour), fds.KindLogin, fds.ResultSuccess, 0),
		fdsAt("q1", now.Add(-time.Minute), "cus_other", "fp_p", "", fds.ResultSuccess),
	)
	t.Run("ok/windows, hour histogram, payments", func(t *testing.T) {
		p, err := db.FDS().Profile(t.Context(), "cus_p", fds.KindLogin, now)
		must(t, err)
		var hours [24]int
		hours[3], hours[23], hours[6], hours[7] = 2, 1, 1, 1
		want := fds.Profile{Events: 7, Successes: 5, Events24h: 4, Successes24h: 2, HourCounts: hours,
			Payments: 2, AmountSum: 170000, AmountMax: 120000}
		got := p
		got.LastSuccess, got.Recent = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("profile =\n %+v\nwant\n %+v", got, want)
		}
		sameJSON(t, "last success", p.LastSuccess, last)
		wantFDSTimes(t, p.Recent, day.Add(-10*24*time.Hour+3*time.Hour+15*time.Minute),
			day.Add(-5*24*time.Hour+3*time.Hour+45*time.Minute), day.Add(-12*time.Hour))
	})
	t.Run("ok/recent of another kind", func(t *testing.T) {
		p, err := db.FDS().Profile(t.Context(), "cus_p", fds.KindPayment, now)
		must(t, err)
		wantFDSTimes(t, p.Recent, now.Add(-91*24*time.Hour), now.Add(-31*24*time.Hour), now.Add(-3*time.Hour),
			now.Add(-2*time.Hour), now.Add(-time.Hour))
	})
	t.Run("ok/recent keeps the last ten, oldest first", func(t *testing.T) {
		var evs []*fds.Event
		var want []time.Time
		for i := range 12 {
			when := now.Add(-time.Duration(12-i) * time.Minute)
			evs = append(evs, fdsAt(fmt.Sprintf("r%02d", i), when, "cus_r", "fp_r", "", fds.ResultFailure))
			if i >= 2 {
				want = append(want, when)
			}
		}
		saveFDSEvents(t, db, evs...)
		p, err := db.FDS().Profile(t.Context(), "cus_r", fds.KindLogin, now)
		must(t, err)
		wantFDSTimes(t, p.Recent, want...)
		if p.LastSuccess != nil || p.Successes != 0 || p.Events != 12 {
			t.Fatalf("profile of failures only = %+v", p)
		}
	})
	t.Run("ok/no customer, unknown customer", func(t *testing.T) {
		for _, id := range []string{"", "cus_nobody"} {
			p, err := db.FDS().Profile(t.Context(), id, fds.KindLogin, now)
			must(t, err)
			if !reflect.DeepEqual(p, fds.Profile{}) {
				t.Fatalf("profile of %q = %+v, want empty", id, p)
			}
		}
	})
}

func wantFDSTimes(t *testing.T, got []time.Time, want ...time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("times = %v, want %v", got, want)
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			t.Fatalf("times = %v, want %v", got, want)
		}
	}
}

func testFDSListMatches(t *testing.T, db *sqlstore.DB) {
	entries := []fds.ListEntry{
		{ID: "le_dev", List: fds.ListDevice, Value: "fp_bad", Block: true},
		{ID: "le_cus", List: fds.ListCustomer, Value: "cus_l"},
		{ID: "le_bin", List: fds.ListBIN, Value: "123456", Block: true},
		{ID: "le_ip", List: fds.ListIP, Value: "203.0.113.9", Block: true},
		{ID: "le_net", List: fds.ListIP, Value: "10.0.0.0/8", Block: true},
		{ID: "le_v6", List: fds.ListIP, Value: "2001:db8::/32"},
		{ID: "le_mapped", List: fds.ListIP, Value: "::ffff:192.0.2.0/120", Block: true},
		{ID: "le_other", List: fds.ListDevice, Value: "fp_other"},
		{ID: "le_value_as_ip", List: fds.ListCustomer, Value: "10.1.2.3"},
	}
	for i := range entries {
		entries[i].CreatedAt, entries[i].CreatedBy = base.Add(time.Duration(i)*time.Second), "op_1"
		must(t, db.AddListEntry(t.Context(), &entries[i], entry("fds.list.add", entries[i].ID)))
	}
	tests := []struct {
		name string
		e    fds.Event
		want []string
	}{
		{"ok/device, customer, bin and prefix", fds.Event{Fingerprint: "fp_bad", CustomerID: "cus_l", BIN: "123456", IP: "10.1.2.3"},
			[]string{"le_dev", "le_cus", "le_bin", "le_net"}},
		{"ok/exact address", fds.Event{IP: "203.0.113.9"}, []string{"le_ip"}},
		{"ok/neighbour address", fds.Event{IP: "203.0.113.10"}, nil},
		{"ok/IPv4-mapped event address in an IPv4 prefix", fds.Event{IP: "::ffff:10.9.9.9"}, []string{"le_net"}},
		{"ok/IPv6 prefix", fds.Event{IP: "2001:db8::1"}, []string{"le_v6"}},
		{"ok/IPv4 address in an IPv4-mapped prefix", fds.Event{IP: "192.0.2.77"}, []string{"le_mapped"}},
		{"ok/outside the IPv4-mapped prefix", fds.Event{IP: "192.0.3.1"}, nil},
		{"ok/zone is ignored", fds.Event{IP: "2001:db8::1%eth0"}, []string{"le_v6"}},
		{"ok/unparsable IP matches no IP entry", fds.Event{IP: "not-an-ip", Fingerprint: "fp_other"}, []string{"le_other"}},
		{"ok/nothing to match", fds.Event{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.FDS().ListMatches(t.Context(), &tc.e)
			must(t, err)
			var ids []string
			for _, le := range got {
				ids = append(ids, le.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("matches = %v, want %v", ids, tc.want)
			}
		})
	}
	t.Run("ok/entries come back whole", func(t *testing.T) {
		got, err := db.FDS().ListMatches(t.Context(), &fds.Event{BIN: "123456"})
		must(t, err)
		sameJSON(t, "entry", got, entries[2:3])
	})
}

func testFDSDecisions(t *testing.T, db *sqlstore.DB) {
	e := fdsEvent("ev_1", base)
	e.GPS, e.Country = &fds.Location{Lat: 35.1796, Lon: 129.0756}, "KR"
	d := fdsDecision(e)
	d.Score, d.Outcome, d.RuleSetVersion = 72, fds.Review, 3
	d.Matched = []fds.Match{{Rule: "impossible_travel", Score: 60, Description: "faster than 900 km/h"},
		{Rule: "night", Score: 12, Shadow: true, Description: "unusual hour"}}
	d.Errors = []fds.RuleError{{Rule: "ratio", Error: "division by zero"}}
	d.Features = map[string]any{"failures_1m": 3, "speed_kmh": 1234.5, "ratio": 1.0, "new_device": true,
		"country": "KR", "hours": []float64{0.5, 2}, "nested": map[string]any{"n": int64(-7), "f": float32(0.25)},
		"big": uint64(1 << 63), "nan": fdsNaN()}
	c := fdsCase("case_1", d)
	head := headSeq(t, db)
	must(t, db.SaveDecision(t.Context(), e, d, c))
	t.Run("ok/round trip keeps integers and floats apart", func(t *testing.T) {
		got, err := db.Decision(t.Context(), "cl_1", d.ID)
		must(t, err)
		wantFeatures := map[string]any{"failures_1m": int64(3), "speed_kmh": 1234.5, "ratio": 1.0, "new_device": true,
			"country": "KR", "hours": []any{0.5, 2.0}, "nested": map[string]any{"n": int64(-7), "f": 0.25},
			"big": float64(1 << 63), "nan": nil}
		if !reflect.DeepEqual(got.Features, wantFeatures) {
			t.Fatalf("features = %#v\nwant %#v", got.Features, wantFeatures)
		}
		got.Features, d.Features = nil, nil
		sameJSON(t, "decision", got, d)
		gotCase, err := db.Case(t.Context(), "case_1")
		must(t, err)
		sameJSON(t, "case", gotCase, c)
		if headSeq(t, db) != head {
			t.Fatal("a decision was audited: events are not operator actions")
		}
	})
	t.Run("ok/operators reach any institution's decision", func(t *testing.T) {
		_, err := db.Decision(t.Context(), "", d.ID)
		must(t, err)
	})
	t.Run("error/another institution's decision", func(t *testing.T) {
		_, err := db.Decision(t.Context(), "cl_2", d.ID)
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("error/unknown decision", func(t *testing.T) {
		_, err := db.Decision(t.Context(), "", "dec_nope")
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("ok/decision without features or matches", func(t *testing.T) {
		e := fdsEvent("ev_bare", base)
		d := &fds.Decision{ID: "dec_bare", EventID: e.ID, InstitutionID: "cl_1", Kind: fds.KindLogin, Outcome: fds.Allow,
			CreatedAt: base}
		must(t, db.SaveDecision(t.Context(), e, d, nil))
		got, err := db.Decision(t.Context(), "cl_1", "dec_bare")
		must(t, err)
		sameJSON(t, "bare decision", got, d)
	})
	refused := []struct {
		name string
		e    *fds.Event
		d    func(e *fds.Event) *fds.Decision
		c    func(d *fds.Decision) *fds.Case
		want error
	}{
		{"error/event already decided", fdsEvent("ev_1", base), func(e *fds.Event) *fds.Decision {
			d := fdsDecision(e)
			d.ID = "dec_other"
			return d
		}, nil, errs.ErrConflict},
		{"error/decision id taken", fdsEvent("ev_2", base), func(e *fds.Event) *fds.Decision {
			d := fdsDecision(e)
			d.ID = "dec_ev_1"
			return d
		}, nil, errs.ErrConflict},
		{"error/case id taken", fdsEvent("ev_3", base), fdsDecision, func(d *fds.Decision) *fds.Case {
			return fdsCase("case_1", d)
		}, errs.ErrConflict},
		{"error/decision of another event", fdsEvent("ev_4", base), func(e *fds.Event) *fds.Decision {
			d := fdsDecision(e)
			d.EventID = "ev_1"
			return d
		}, nil, errs.ErrInvalid},
		{"error/case of another decision", fdsEvent("ev_5", base), fdsDecision, func(d *fds.Decision) *fds.Case {
			c := fdsCase("case_5", d)
			c.DecisionID = "dec_ev_1"
			return c
		}, errs.ErrInvalid},
		{"error/unknown outcome", fdsEvent("ev_6", base), func(e *fds.Event) *fds.Decision {
			d := fdsDecision(e)
			d.Outcome = "block"
			return d
		}, nil, errs.ErrInvalid},
		{"error/event without time", fdsEvent("ev_7", time.Time{}), fdsDecision, nil, errs.ErrInvalid},
		{"error/NUL in a field", func() *fds.Event { e := fdsEvent("ev_8", base); e.IP = "1.2.3.4\x00"; return e }(),
			fdsDecision, nil, errs.ErrInvalid},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			events, decisions, cases := countRows(t, db, "fds_events"), countRows(t, db, "fds_decisions"), countRows(t, db, "fds_cases")
			d := tc.d(tc.e)
			var c *fds.Case
			if tc.c != nil {
				c = tc.c(d)
			}
			wantErr(t, db.SaveDecision(t.Context(), tc.e, d, c), tc.want)
			if countRows(t, db, "fds_events") != events || countRows(t, db, "fds_decisions") != decisions ||
				countRows(t, db, "fds_cases") != cases {
				t.Fatal("a refused decision wrote something")
			}
		})
	}
}

// fdsNaN is NaN, which has no JSON form.
func fdsNaN() float64 {
	zero := 0.0
	return zero / zero
}

func testFDSDecisionPaging(t *testing.T, db *sqlstore.DB) {
	// Two decisions share a time: the id orders them.
	times := map[string]time.Time{"a": base, "c": base.Add(time.Second), "b": base.Add(time.Second),
		"d": base.Add(2 * time.Second), "e": base.Add(3 * time.Second), "z": base.Add(-time.Second)}
	for id, when := range times {
		e := fdsEvent("ev_"+id, when)
		d := fdsDecision(e)
		d.ID = id
		must(t, db.SaveDecision(t.Context(), e, d, nil))
	}
	since, until := base, base.Add(3*time.Second) // leaves out z (before) and e (at until)
	var got []string
	after := ""
	for range 10 {
		page, err := db.Decisions(t.Context(), since, until, after, 2)
		must(t, err)
		if len(page) == 0 {
			break
		}
		for _, d := range page {
			got = append(got, d.ID)
		}
		after = page[len(page)-1].ID
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("paged decisions = %v, want %v", got, want)
	}
	t.Run("error/unknown decision to page after", func(t *testing.T) {
		_, err := db.Decisions(t.Context(), since, until, "nope", 2)
		wantErr(t, err, errs.ErrNotFound)
	})
}

func newFDSRuleSet(name string) *fds.RuleSet {
	return &fds.RuleSet{Name: name, Rules: []fds.Rule{
		{Name: "many_failures", Expr: "customer.failures_1m >= 5", Score: 40, Description: "failures in a burst"},
		{Name: "blocked", Expr: "list.block", Force: fds.Deny, Description: "on a block list", Shadow: true},
	}, Thresholds: fds.Thresholds{StepUp: 30, Review: 60, Deny: 85}, CreatedAt: base, CreatedBy: "op_1"}
}

func testFDSRuleSets(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	_, err := db.ActiveRuleSet(ctx)
	wantErr(t, err, errs.ErrNotFound)
	rs := newFDSRuleSet("first")
	v1, err := db.SaveRuleSet(ctx, rs, entry("fds.rules.save", ""))
	must(t, err)
	v2, err := db.SaveRuleSet(ctx, newFDSRuleSet("second"), entry("fds.rules.save", ""))
	must(t, err)
	if v1 != 1 || v2 != 2 {
		t.Fatalf("versions %d, %d, want 1, 2", v1, v2)
	}
	t.Run("ok/round trip, version in the audit entry", func(t *testing.T) {
		got, err := db.RuleSet(ctx, 1)
		must(t, err)
		want := *rs
		want.Version = 1
		sameJSON(t, "rule set", got, want)
		evs, err := db.AuditEvents(ctx, headSeq(t, db)-1, 1)
		must(t, err)
		if evs[0].Details["version"] != "2" || evs[0].Target != "2" {
			t.Fatalf("audit entry of the save = %+v, want version 2", evs[0].Entry)
		}
		all, err := db.RuleSets(ctx)
		must(t, err)
		if len(all) != 2 || all[0].Version != 1 || all[1].Name != "second" {
			t.Fatalf("rule sets = %+v", all)
		}
		_, err = db.RuleSet(ctx, 9)
		wantErr(t, err, errs.ErrNotFound)
	})
	activatedAt := base.Add(time.Minute)
	lastActivated := map[int64]time.Time{}
	steps := []struct {
		name           string
		version, since int64
		want           error
		active         int64
	}{
		{"ok/activate the first", 1, 0, nil, 1},
		{"error/stale expectation writes nothing", 2, 0, errs.ErrConflict, 1},
		{"error/unknown version writes nothing", 9, 1, errs.ErrNotFound, 1},
		{"ok/activate the second", 2, 1, nil, 2},
		{"ok/roll back to the first", 1, 2, nil, 1},
		{"ok/activating the active one again", 1, 1, nil, 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			head := headSeq(t, db)
			err := db.ActivateRuleSet(ctx, s.version, s.since, activatedAt, entry("fds.rules.activate", fmt.Sprint(s.version)))
			wantErr(t, err, s.want)
			wantHead := head + 1
			if s.want != nil {
				wantHead = head
			} else {
				lastActivated[s.version] = activatedAt
			}
			if headSeq(t, db) != wantHead {
				t.Fatalf("audit head %d, want %d", headSeq(t, db), wantHead)
			}
			active, err := db.ActiveRuleSet(ctx)
			must(t, err)
			if active.Version != s.active || active.ActivatedAt == nil || !active.ActivatedAt.Equal(lastActivated[s.active]) {
				t.Fatalf("active = version %d activated %v, want %d at %v", active.Version, active.ActivatedAt,
					s.active, lastActivated[s.active])
			}
		})
		activatedAt = activatedAt.Add(time.Minute)
	}
	t.Run("ok/a refused activation leaves the rule set unmarked", func(t *testing.T) {
		v3, err := db.SaveRuleSet(ctx, newFDSRuleSet("third"), entry("fds.rules.save", ""))
		must(t, err)
		wantErr(t, db.ActivateRuleSet(ctx, v3, 2, activatedAt, entry("fds.rules.activate", "3")), errs.ErrConflict)
		got, err := db.RuleSet(ctx, v3)
		must(t, err)
		if got.ActivatedAt != nil {
			t.Fatalf("refused activation set activated_at %v", got.ActivatedAt)
		}
	})
	verifyChain(t, db, headSeq(t, db))
}

// FDSConcurrentRuleSets races rule set saves and activations across the
// handles given (two pools on one database act as two nodes): saves must
// take distinct, consecutive versions, and of activations expecting the
// same active version exactly one may win, with one audit event.
func FDSConcurrentRuleSets(t *testing.T, dbs ...*sqlstore.DB) {
	t.Helper()
	ctx := t.Context()
	const n = 8
	versions := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		db := dbs[i%len(dbs)]
		wg.Go(func() {
			v, err := db.SaveRuleSet(ctx, newFDSRuleSet(fmt.Sprint("set ", i)), entry("fds.rules.save", ""))
			if err != nil {
				t.Errorf("save %d: %v", i, err)
			}
			versions[i] = v
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("concurrent saves took versions %v, want 1..%d", versions, n)
		}
	}
	head := headSeq(t, dbs[0])
	var won atomic.Int32
	for i := range n {
		db := dbs[i%len(dbs)]
		wg.Go(func() {
			err := db.ActivateRuleSet(ctx, int64(i+1), 0, base, entry("fds.rules.activate", fmt.Sprint(i+1)))
			if err == nil {
				won.Add(1)
			} else if !errors.Is(err, errs.ErrConflict) {
				t.Errorf("activate %d: %v", i+1, err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || headSeq(t, dbs[0]) != head+1 {
		t.Fatalf("%d activations won with %d audit events, want 1 and 1", won.Load(), headSeq(t, dbs[0])-head)
	}
	active, err := dbs[len(dbs)-1].ActiveRuleSet(ctx)
	must(t, err)
	marked := 0
	all, err := dbs[0].RuleSets(ctx)
	must(t, err)
	for _, rs := range all {
		if rs.ActivatedAt != nil {
			marked++
			if rs.Version != active.Version {
				t.Fatalf("rule set %d marked activated, but %d is active", rs.Version, active.Version)
			}
		}
	}
	if marked != 1 {
		t.Fatalf("%d rule sets marked activated, want 1", marked)
	}
	verifyChain(t, dbs[0], headSeq(t, dbs[0]))
}

func testFDSCases(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	for i, id := range []string{"k1", "k2", "k3"} {
		e := fdsEvent("ev_"+id, base.Add(time.Duration(i)*time.Minute))
		d := fdsDecision(e)
		d.Outcome = fds.Review
		must(t, db.SaveDecision(ctx, e, d, fdsCase(id, d)))
	}
	t.Run("ok/newest first, limited", func(t *testing.T) {
		got, err := db.Cases(ctx, fds.CaseFilter{Limit: 2})
		must(t, err)
		if ids := fdsCaseIDs(got); !slices.Equal(ids, []string{"k3", "k2"}) {
			t.Fatalf("cases = %v, want [k3 k2]", ids)
		}
	})
	c, err := db.Case(ctx, "k1")
	must(t, err)
	stale := *c
	c.Assignee, c.UpdatedAt = "op_an", base.Add(time.Hour)
	c.Comments = append(c.Comments, fds.Comment{Author: "op_an", Text: "looks like a VPN", At: base.Add(time.Hour)})
	t.Run("ok/update moves the version", func(t *testing.T) {
		head := headSeq(t, db)
		must(t, db.UpdateCase(ctx, c, entry("fds.case.assign", "k1")))
		if c.Version != 2 || headSeq(t, db) != head+1 {
			t.Fatalf("version %d, audit events %d: want 2 and 1", c.Version, headSeq(t, db)-head)
		}
		got, err := db.Case(ctx, "k1")
		must(t, err)
		sameJSON(t, "updated case", got, c)
	})
	t.Run("ok/filters", func(t *testing.T) {
		c.Status, c.Resolution = fds.CaseClosed, "customer confirmed"
		must(t, db.UpdateCase(ctx, c, entry("fds.case.close", "k1")))
		filters := []struct {
			f    fds.CaseFilter
			want []string
		}{
			{fds.CaseFilter{Status: fds.CaseOpen}, []string{"k3", "k2"}},
			{fds.CaseFilter{Status: fds.CaseClosed}, []string{"k1"}},
			{fds.CaseFilter{Assignee: "op_an"}, []string{"k1"}},
			{fds.CaseFilter{Assignee: "op_an", Status: fds.CaseOpen}, nil},
			{fds.CaseFilter{}, []string{"k3", "k2", "k1"}},
		}
		for _, tc := range filters {
			got, err := db.Cases(ctx, tc.f)
			must(t, err)
			if ids := fdsCaseIDs(got); !slices.Equal(ids, tc.want) {
				t.Fatalf("cases %+v = %v, want %v", tc.f, ids, tc.want)
			}
		}
	})
	t.Run("error/stale version writes nothing", func(t *testing.T) {
		head := headSeq(t, db)
		stale.Assignee = "op_late"
		wantErr(t, db.UpdateCase(ctx, &stale, entry("fds.case.assign", "k1")), errs.ErrConflict)
		got, err := db.Case(ctx, "k1")
		must(t, err)
		if headSeq(t, db) != head || got.Assignee != "op_an" || stale.Version != 1 {
			t.Fatal("a refused case update wrote something")
		}
	})
	t.Run("error/unknown case", func(t *testing.T) {
		head := headSeq(t, db)
		ghost := stale
		ghost.ID = "k_nope"
		wantErr(t, db.UpdateCase(ctx, &ghost, entry("fds.case.assign", "k_nope")), errs.ErrNotFound)
		_, err := db.Case(ctx, "k_nope")
		wantErr(t, err, errs.ErrNotFound)
		if headSeq(t, db) != head {
			t.Fatal("an update of an unknown case was audited")
		}
	})
	t.Run("error/unknown status", func(t *testing.T) {
		bad := *c
		bad.Status = "pending"
		wantErr(t, db.UpdateCase(ctx, &bad, entry("fds.case.assign", "k1")), errs.ErrInvalid)
	})
	t.Run("ok/parallel writers of one version: one wins", func(t *testing.T) {
		seed, err := db.Case(ctx, "k2")
		must(t, err)
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				mine := *seed
				mine.Assignee = fmt.Sprint("op_", i)
				err := db.UpdateCase(ctx, &mine, entry("fds.case.assign", "k2"))
				if err == nil {
					won.Add(1)
				} else if !errors.Is(err, errs.ErrConflict) {
					t.Errorf("update: %v", err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d writers won, want 1", won.Load())
		}
	})
	verifyChain(t, db, headSeq(t, db))
}

func fdsCaseIDs(cs []fds.Case) []string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

func testFDSLists(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	add := func(id string, list fds.ListKind, value string, at time.Time) *fds.ListEntry {
		return &fds.ListEntry{ID: id, List: list, Value: value, Block: true, Reason: "reported", CreatedBy: "op_1", CreatedAt: at}
	}
	a, b := add("l1", fds.ListIP, "198.51.100.0/24", base), add("l2", fds.ListDevice, "198.51.100.0/24", base.Add(time.Second))
	must(t, db.AddListEntry(ctx, a, entry("fds.list.add", "l1")))
	must(t, db.AddListEntry(ctx, b, entry("fds.list.add", "l2")))
	refused := []struct {
		name string
		le   *fds.ListEntry
		want error
	}{
		{"error/value already on the list", add("l3", fds.ListIP, "198.51.100.0/24", base), errs.ErrConflict},
		{"error/id taken", add("l1", fds.ListBIN, "999999", base), errs.ErrConflict},
		{"error/IP entry that is not an address", add("l4", fds.ListIP, "198.51.100.0/33", base), errs.ErrInvalid},
		{"error/unknown list", add("l5", "email", "x@example.com", base), errs.ErrInvalid},
		{"error/empty value", add("l6", fds.ListBIN, "", base), errs.ErrInvalid},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			head := headSeq(t, db)
			wantErr(t, db.AddListEntry(ctx, tc.le, entry("fds.list.add", tc.le.ID)), tc.want)
			if headSeq(t, db) != head || countRows(t, db, "fds_lists") != 2 {
				t.Fatal("a refused list entry wrote something")
			}
		})
	}
	t.Run("ok/by list and all", func(t *testing.T) {
		all, err := db.ListEntries(ctx, "")
		must(t, err)
		sameJSON(t, "all entries", all, []*fds.ListEntry{a, b})
		ips, err := db.ListEntries(ctx, fds.ListIP)
		must(t, err)
		sameJSON(t, "ip entries", ips, []*fds.ListEntry{a})
	})
	t.Run("error/remove unknown writes nothing", func(t *testing.T) {
		head := headSeq(t, db)
		wantErr(t, db.RemoveListEntry(ctx, "l_nope", entry("fds.list.remove", "l_nope")), errs.ErrNotFound)
		if headSeq(t, db) != head {
			t.Fatal("a refused removal was audited")
		}
	})
	t.Run("ok/remove", func(t *testing.T) {
		head := headSeq(t, db)
		must(t, db.RemoveListEntry(ctx, "l1", entry("fds.list.remove", "l1")))
		left, err := db.ListEntries(ctx, "")
		must(t, err)
		if len(left) != 1 || left[0].ID != "l2" || headSeq(t, db) != head+1 {
			t.Fatalf("after removal: %+v, %d audit events", left, headSeq(t, db)-head)
		}
		// The value is free again.
		must(t, db.AddListEntry(ctx, add("l7", fds.ListIP, "198.51.100.0/24", base), entry("fds.list.add", "l7")))
	})
	verifyChain(t, db, headSeq(t, db))
}

// FDS history benchmark data: events over the last 30 days of customers
// with a device or two each, addresses from a pool, and one address shared
// by many (a carrier's NAT), as production history looks.
const (
	benchFDSCustomers = 5000
	benchFDSAddresses = 2000
	benchFDSSharedIP  = "198.51.100.1"
)

func benchFDSSubjects(r *rand.Rand) (customer, fingerprint, ip string) {
	c := r.IntN(benchFDSCustomers)
	customer, fingerprint = fmt.Sprint("cus_", c), fmt.Sprintf("fp_%d_%d", c, r.IntN(2))
	ip = fmt.Sprintf("10.%d.%d.7", c%benchFDSAddresses/250, c%benchFDSAddresses%250)
	if r.IntN(20) == 0 {
		ip = benchFDSSharedIP
	}
	return customer, fingerprint, ip
}

// SeedFDSEvents stores n events spread over the 30 days before now, with
// plain multi-row INSERTs in one transaction: recording them one decision
// at a time would measure commits, not lookups.
func SeedFDSEvents(tb testing.TB, db *sqlstore.DB, n int, now time.Time) {
	tb.Helper()
	const batch = 200
	r := rand.New(rand.NewPCG(1, 2))
	tx, err := db.SQL().BeginTx(tb.Context(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	for start := 0; start < n; start += batch {
		rows := min(batch, n-start)
		query := `INSERT INTO fds_events (id, institution_id, kind, action, customer_id, fingerprint, ip, country,
			anonymous, result, amount, bin, bot, time) VALUES ` +
			strings.TrimSuffix(strings.Repeat(`(?, 'cl_1', ?, '', ?, ?, ?, 'KR', ?, ?, ?, NULL, ?, ?),`, rows), ",")
		args := make([]any, 0, rows*10)
		for i := range rows {
			args = append(args, benchFDSEvent(r, start+i, now)...)
		}
		if _, err := tx.ExecContext(tb.Context(), db.Rebind(query), args...); err != nil {
			tb.Fatalf("seed fds events: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// benchFDSEvent is one seeded event's values: id, kind, customer,
// fingerprint, ip, anonymous, result, amount, bot, time.
func benchFDSEvent(r *rand.Rand, i int, now time.Time) []any {
	customer, fingerprint, ip := benchFDSSubjects(r)
	kind, amount := fds.KindLogin, int64(0)
	switch k := r.IntN(10); {
	case k < 2:
		kind, amount = fds.KindPayment, int64(1000+r.IntN(1_000_000))
	case k == 2:
		kind = fds.KindVerification
	}
	result := fds.ResultSuccess
	if r.IntN(100) < 15 {
		result = fds.ResultFailure
	}
	when := now.Add(-time.Duration(r.Int64N(int64(fds.ProfileWindow))) - time.Nanosecond)
	return []any{fmt.Sprint("bev_", i), string(kind), customer, fingerprint, ip, r.IntN(50) == 0, string(result),
		amount, r.IntN(100) == 0, when.UnixNano()}
}

// BenchFDSHistory measures the history lookups one decision makes, one
// after another ("round": velocity by customer, device and IP, device
// history, the customer's profile and list matches, seven statements), and
// each alone, over 100,000 events and 40 list entries.
func BenchFDSHistory(b *testing.B, db *sqlstore.DB) {
	now := base
	SeedFDSEvents(b, db, 100_000, now)
	for i := range 40 {
		le := &fds.ListEntry{ID: fmt.Sprint("ble_", i), List: fds.ListBIN, Value: fmt.Sprint(400000 + i), CreatedAt: base}
		switch {
		case i < 20:
			le.List, le.Value = fds.ListIP, fmt.Sprintf("172.16.%d.0/24", i)
		case i < 30:
			le.List, le.Value = fds.ListDevice, fmt.Sprint("fp_blocked_", i)
		}
		if err := db.AddListEntry(b.Context(), le, entry("fds.list.add", le.ID)); err != nil {
			b.Fatal(err)
		}
	}
	s, ctx := db.FDS(), b.Context()
	lookups := []struct {
		name string
		run  func(e *fds.Event) error
	}{
		{"round", func(e *fds.Event) error { return fdsLookups(ctx, s, e) }},
		{"velocity device", func(e *fds.Event) error {
			_, err := s.Velocity(ctx, fds.SubjectDevice, e.Fingerprint, e.Time)
			return err
		}},
		{"velocity ip", func(e *fds.Event) error { _, err := s.Velocity(ctx, fds.SubjectIP, e.IP, e.Time); return err }},
		{"device", func(e *fds.Event) error { _, err := s.Device(ctx, e.Fingerprint, e.CustomerID, e.Time); return err }},
		{"profile", func(e *fds.Event) error { _, err := s.Profile(ctx, e.CustomerID, e.Kind, e.Time); return err }},
		{"lists", func(e *fds.Event) error { _, err := s.ListMatches(ctx, e); return err }},
	}
	for _, l := range lookups {
		b.Run(l.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			for b.Loop() {
				customer, fingerprint, ip := benchFDSSubjects(r)
				e := &fds.Event{Kind: fds.KindLogin, CustomerID: customer, Fingerprint: fingerprint, IP: ip, Time: now}
				if err := l.run(e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/op")
		})
	}
}

// fdsLookups is what the engine reads for one event.
func fdsLookups(ctx context.Context, s fds.Store, e *fds.Event) error {
	for _, sv := range []struct {
		s fds.SubjectKind
		v string
	}{{fds.SubjectCustomer, e.CustomerID}, {fds.SubjectDevice, e.Fingerprint}, {fds.SubjectIP, e.IP}} {
		if _, err := s.Velocity(ctx, sv.s, sv.v, e.Time); err != nil {
			return err
		}
	}
	if _, err := s.Device(ctx, e.Fingerprint, e.CustomerID, e.Time); err != nil {
		return err
	}
	if _, err := s.Profile(ctx, e.CustomerID, e.Kind, e.Time); err != nil {
		return err
	}
	_, err := s.ListMatches(ctx, e)
	return err
}
