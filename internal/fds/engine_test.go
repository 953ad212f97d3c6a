package fds

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

const (
	fpHome  = "a1b2c3d4e5f60718"
	fpNew   = "ffeeddccbbaa9988"
	ipSeoul = "203.0.113.7"
	ipParis = "198.51.100.9"
	ipVPN   = "192.0.2.1"
)

var testGeo = mapGeo{
	ipSeoul: {Country: "KR", Loc: &seoul},
	ipParis: {Country: "FR", Loc: &paris},
	ipVPN:   {Country: "FR", Loc: &paris, Anonymous: true},
}

func newTestEngine(t testing.TB) (*Engine, *memStore, *clock) {
	t.Helper()
	s, c := newMemStore(), newClock(t0.Add(30*24*time.Hour))
	return &Engine{Store: s, Geo: testGeo, Now: c.Now}, s, c
}

// seedHabits gives cus_1 twenty days of successful 10 a.m. logins from
// the home device in Seoul.
func seedHabits(s *memStore, now time.Time) {
	for d := 1; d <= 20; d++ {
		s.addEvents(Event{ID: "evt_seed", Kind: KindLogin, CustomerID: "cus_1", Fingerprint: fpHome, IP: ipSeoul,
			Country: "KR", IPLoc: &seoul, Result: ResultSuccess, Time: now.Add(-time.Duration(d) * 24 * time.Hour)})
	}
}

func login(now time.Time) Event {
	return Event{InstitutionID: "inst_1", Kind: KindLogin, CustomerID: "cus_1", Fingerprint: fpHome, IP: ipSeoul, Time: now}
}

func TestDecideDefaultPack(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		prepare  func(s *memStore, now time.Time)
		event    func(now time.Time) Event
		atLeast  Outcome
		atMost   Outcome
		features map[string]any
	}{
		{"calm login allows", nil, login, Allow, Allow,
			map[string]any{"country": "KR", "device_new": false, "impossible_travel": false, "hour": int64(10)}},
		{"five failures in a minute on a new device", func(s *memStore, now time.Time) {
			for i := 1; i <= 5; i++ {
				s.addEvents(Event{Kind: KindLogin, CustomerID: "cus_1", Fingerprint: fpNew, IP: ipSeoul, Result: ResultFailure,
					Time: now.Add(-time.Duration(i*11) * time.Second)})
			}
		}, func(now time.Time) Event {
			ev := login(now)
			ev.Fingerprint = "0123456789abcdef"
			return ev
		}, StepUp, Deny, map[string]any{"cust_failures_1m": int64(5), "device_new": true}},
		{"block-listed device denies", func(s *memStore, now time.Time) {
			s.lists = append(s.lists, ListEntry{ID: "lst_1", List: ListDevice, Value: fpHome, Block: true, Reason: "stolen"})
		}, login, Deny, Deny, map[string]any{"block_device": true}},
		{"impossible travel from Seoul to Paris", func(s *memStore, now time.Time) {
			s.addEvents(Event{Kind: KindLogin, CustomerID: "cus_1", Fingerprint: fpHome, IP: ipSeoul, IPLoc: &seoul,
				Country: "KR", Result: ResultSuccess, Time: now.Add(-time.Hour)})
		}, func(now time.Time) Event {
			ev := login(now)
			ev.IP = ipParis
			return ev
		}, StepUp, Deny, map[string]any{"impossible_travel": true, "location_source": "ip", "country_changed": true}},
		{"a VPN exit in Paris is not impossible travel", func(s *memStore, now time.Time) {
			s.addEvents(Event{Kind: KindLogin, CustomerID: "cus_1", Fingerprint: fpHome, IP: ipSeoul, IPLoc: &seoul,
				Country: "KR", Result: ResultSuccess, Time: now.Add(-time.Hour)})
		}, func(now time.Time) Event {
			ev := login(now)
			ev.IP = ipVPN
			return ev
		}, Allow, StepUp, map[string]any{"impossible_travel": false, "travel_damped": true, "anonymous_ip": true}},
		{"GPS in Paris an hour after Seoul GPS", func(s *memStore, now time.Time) {
			s.addEvents(Event{Kind: KindLogin, CustomerID: "cus_1", Fingerprint: fpHome, IP: ipSeoul, GPS: &seoul,
				Result: ResultSuccess, Time: now.Add(-time.Hour)})
		}, func(now time.Time) Event {
			ev := login(now)
			ev.GPS = &paris
			return ev
		}, StepUp, Deny, map[string]any{"impossible_travel": true, "location_source": "gps"}},
		{"large payment from a new device", nil, func(now time.Time) Event {
			return Event{Kind: KindPayment, CustomerID: "cus_1", Fingerprint: fpNew, IP: ipSeoul, AmountKRW: 3_000_000, Time: now}
		}, Review, Deny, map[string]any{"device_new": true, "amount": int64(3_000_000)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, s, c := newTestEngine(t)
			now := c.Now()
			seedHabits(s, now)
			if tc.prepare != nil {
				tc.prepare(s, now)
			}
			d, err := e.Decide(ctx, tc.event(now))
			if err != nil {
				t.Fatal(err)
			}
			if sev := d.Outcome.Severity(); sev < tc.atLeast.Severity() || sev > tc.atMost.Severity() {
				t.Fatalf("outcome %s (score %d, matched %+v), want %s..%s", d.Outcome, d.Score, d.Matched, tc.atLeast, tc.atMost)
			}
			for k, v := range tc.features {
				if d.Features[k] != v {
					t.Errorf("feature %s = %#v, want %#v", k, d.Features[k], v)
				}
			}
			checkRecorded(t, s, d)
		})
	}
}

// checkRecorded: the decision, its event and (for review and deny) its
// case are in the store, tied together.
func checkRecorded(t *testing.T, s *memStore, d *Decision) {
	t.Helper()
	stored, err := s.Decision(context.Background(), "", d.ID)
	if err != nil || stored.Outcome != d.Outcome || stored.RuleSetVersion != 0 || !strings.HasPrefix(d.ID, "dec_") {
		t.Fatalf("stored decision %+v, %v", stored, err)
	}
	ev := s.events[len(s.events)-1]
	if ev.ID != d.EventID || !strings.HasPrefix(ev.ID, "evt_") {
		t.Errorf("event %q, decision says %q", ev.ID, d.EventID)
	}
	wantCase := d.Outcome.Severity() >= Review.Severity()
	if (d.CaseID != "") != wantCase {
		t.Fatalf("outcome %s with case %q", d.Outcome, d.CaseID)
	}
	if wantCase {
		c, err := s.Case(context.Background(), d.CaseID)
		if err != nil || c.DecisionID != d.ID || c.Status != CaseOpen || c.Outcome != d.Outcome {
			t.Fatalf("case %+v, %v", c, err)
		}
	}
}

func TestDecideRefusesInvalidEvents(t *testing.T) {
	nan := 0.0
	nan /= nan
	tests := []struct {
		name  string
		edit  func(*Event)
		field string
	}{
		{"unknown kind", func(e *Event) { e.Kind = "transfer" }, "kind"},
		{"no time", func(e *Event) { e.Time = time.Time{} }, "time"},
		{"unknown result", func(e *Event) { e.Result = "maybe" }, "result"},
		{"id with spaces", func(e *Event) { e.ID = "evt 1" }, "id"},
		{"customer with markup", func(e *Event) { e.CustomerID = "<script>" }, "customer_id"},
		{"overlong fingerprint", func(e *Event) { e.Fingerprint = strings.Repeat("a", MaxIDLen+1) }, "fingerprint"},
		{"institution with newline", func(e *Event) { e.InstitutionID = "inst\n1" }, "institution_id"},
		{"bad ip", func(e *Event) { e.IP = "999.1.1.1" }, "ip"},
		{"gps off the planet", func(e *Event) { e.GPS = &Location{Lat: 91} }, "gps"},
		{"gps not a number", func(e *Event) { e.GPS = &Location{Lat: nan} }, "gps"},
		{"negative amount", func(e *Event) { e.AmountKRW = -1 }, "amount_krw"},
		{"short bin", func(e *Event) { e.BIN = "12345" }, "bin"},
		{"action with spaces", func(e *Event) { e.Action = "login failure" }, "action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, s, c := newTestEngine(t)
			ev := login(c.Now())
			tc.edit(&ev)
			d, err := e.Decide(context.Background(), ev)
			if d != nil || !errors.Is(err, ErrInvalidEvent) || errs.As(err).Field != tc.field {
				t.Fatalf("Decide = %v, %v; want invalid_event on %s", d, err, tc.field)
			}
			if len(s.events) != 0 || len(s.decisions) != 0 {
				t.Fatal("an invalid event was recorded")
			}
		})
	}
}

func TestDecideNormalizesEvent(t *testing.T) {
	e, s, c := newTestEngine(t)
	ev := login(c.Now().In(Seoul))
	ev.ID = "evt_given"
	ev.IP = "::ffff:" + ipSeoul
	ev.Country, ev.Anonymous = "US", true // callers cannot set what the IP database says
	d, err := e.Decide(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	got := s.events[0]
	if got.ID != "evt_given" || d.EventID != "evt_given" || got.IP != ipSeoul || got.Country != "KR" || got.Anonymous ||
		got.Time.Location() != time.UTC || !got.Time.Equal(c.Now()) {
		t.Fatalf("stored event %+v", got)
	}
}

func TestDecideWithoutGeo(t *testing.T) {
	e, s, c := newTestEngine(t)
	e.Geo = nil // no MMDB configured, or the file was missing or corrupt
	ev := login(c.Now())
	ev.Country, ev.IPLoc = "KR", &seoul
	d, err := e.Decide(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if d.Features["country"] != "" || d.Features["country_known"] != false || s.events[0].IPLoc != nil {
		t.Fatalf("country %v known %v", d.Features["country"], d.Features["country_known"])
	}
	e.Geo = testGeo
	ev.IP = "198.18.0.1" // not in the database
	if d, err = e.Decide(context.Background(), ev); err != nil || d.Features["country"] != "" {
		t.Fatalf("unknown address: %v %v", d.Features["country"], err)
	}
}

func TestDecideClockSkew(t *testing.T) {
	tests := []struct {
		name   string
		ahead  time.Duration
		skewed bool
	}{
		{"within tolerance keeps the event's time", 4 * time.Minute, false},
		{"beyond tolerance uses the engine's time", 10 * time.Minute, true},
		{"far future", 365 * 24 * time.Hour, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, s, c := newTestEngine(t)
			now := c.Now()
			d, err := e.Decide(context.Background(), login(now.Add(tc.ahead)))
			if err != nil {
				t.Fatal(err)
			}
			want := now.Add(tc.ahead)
			if tc.skewed {
				want = now
			}
			if !s.events[0].Time.Equal(want) || d.Features["clock_skew"] != tc.skewed {
				t.Fatalf("stored time %v (want %v), clock_skew %v", s.events[0].Time, want, d.Features["clock_skew"])
			}
		})
	}
}

func TestDecideOutOfOrderEvent(t *testing.T) {
	e, s, c := newTestEngine(t)
	now := c.Now()
	// A success in Paris ten minutes ago is already recorded when a Seoul
	// login from an hour ago arrives late.
	s.addEvents(Event{Kind: KindLogin, CustomerID: "cus_1", IP: ipParis, IPLoc: &paris, Country: "FR", Result: ResultSuccess, Time: now.Add(-10 * time.Minute)})
	for i := 2; i <= 6; i++ {
		s.addEvents(Event{Kind: KindLogin, CustomerID: "cus_1", Time: now.Add(-time.Duration(i) * time.Minute)})
	}
	d, err := e.Decide(context.Background(), login(now.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	f := d.Features
	if f["travel_kmh"].(float64) <= ImpossibleKmh || f["impossible_travel"] != true {
		t.Errorf("travel %v impossible %v", f["travel_kmh"], f["impossible_travel"])
	}
	if f["last_interval_s"].(float64) != 0 || f["interval_cv"].(float64) < 0 || f["cust_attempts_1h"] != int64(6) {
		t.Errorf("last interval %v cv %v attempts %v", f["last_interval_s"], f["interval_cv"], f["cust_attempts_1h"])
	}
}

func TestDecideVelocityCache(t *testing.T) {
	e, s, c := newTestEngine(t)
	now := c.Now()
	s.addEvents(Event{Kind: KindLogin, CustomerID: "cus_1", IP: ipSeoul, Result: ResultFailure, Time: now.Add(-time.Second)})
	cache := &fakeCache{warm: map[string]Velocity{"device:" + fpHome: {Attempts: [4]int{7, 7, 7, 7}}}}
	e.Cache = cache
	d, err := e.Decide(context.Background(), login(now))
	if err != nil {
		t.Fatal(err)
	}
	if d.Features["dev_attempts_1m"] != int64(7) || d.Features["cust_failures_1m"] != int64(1) || d.Features["ip_attempts_1m"] != int64(1) {
		t.Fatalf("warm device from cache, cold customer and IP from store: %v %v %v",
			d.Features["dev_attempts_1m"], d.Features["cust_failures_1m"], d.Features["ip_attempts_1m"])
	}
	if len(cache.observed) != 1 || cache.observed[0] != d.EventID {
		t.Fatalf("observed %v", cache.observed)
	}
	cache.err = errors.New("redis down")
	c.Add(time.Second)
	if d, err = e.Decide(context.Background(), login(c.Now())); err != nil ||
		d.Features["cust_attempts_1m"] != int64(2) || d.Features["dev_attempts_1m"] != int64(1) {
		t.Fatalf("a failing cache must fall back to the store: %v, %v", d, err)
	}
}

func TestDecideStoreTrouble(t *testing.T) {
	e, s, c := newTestEngine(t)
	s.activeErr = errs.ErrUnavailable
	if _, err := e.Decide(context.Background(), login(c.Now())); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("no program and no store: %v", err)
	}
	s.activeErr = nil
	if _, err := e.Decide(context.Background(), login(c.Now())); err != nil {
		t.Fatal(err)
	}
	s.activeErr = errs.ErrUnavailable
	c.Add(time.Hour)
	if d, err := e.Decide(context.Background(), login(c.Now())); err != nil || d.RuleSetVersion != 0 {
		t.Fatalf("with a program loaded, a failing re-read keeps deciding: %v", err)
	}
}

func TestExplain(t *testing.T) {
	e, _, c := newTestEngine(t)
	d, err := e.Decide(context.Background(), login(c.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range []string{"", "inst_1"} {
		got, err := e.Explain(context.Background(), inst, d.ID)
		if err != nil || got.ID != d.ID || len(got.Features) != len(featureSpecs) {
			t.Fatalf("explain as %q: %+v, %v", inst, got, err)
		}
	}
	for _, id := range []string{d.ID, "dec_none", "../etc"} {
		if _, err := e.Explain(context.Background(), "inst_2", id); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("%s for another institution: %v", id, err)
		}
	}
}

func ruleSet(name string, score int) RuleSet {
	return RuleSet{Name: name, Thresholds: testThresholds, Rules: []Rule{{Name: "new_device", Expr: "device_new", Score: score, Description: name}}}
}

func TestSaveRuleSet(t *testing.T) {
	e, s, _ := newTestEngine(t)
	bad := ruleSet("bad", 10)
	bad.Rules[0].Expr = "device_new + 1"
	if _, err := e.SaveRuleSet(context.Background(), "op_1", bad); !errors.Is(err, ErrInvalidRule) || len(s.sets) != 0 {
		t.Fatalf("an invalid set was stored: %v", err)
	}
	v, err := e.SaveRuleSet(context.Background(), "op_1", ruleSet("good", 10))
	if err != nil || v != 1 || s.sets[0].CreatedBy != "op_1" || s.sets[0].ActivatedAt != nil {
		t.Fatalf("v%d %+v %v", v, s.sets, err)
	}
	if a := s.auditActions(); len(a) != 1 || a[0] != ActionRuleSetSave {
		t.Fatalf("audit %v", a)
	}
}

func TestActivateConcurrentlyOneWins(t *testing.T) {
	ctx := context.Background()
	e, s, _ := newTestEngine(t)
	for _, n := range []string{"a", "b"} {
		if _, err := e.SaveRuleSet(ctx, "op_1", ruleSet(n, 10)); err != nil {
			t.Fatal(err)
		}
	}
	var barrier sync.WaitGroup
	barrier.Add(2) // both read the active version before either writes
	s.activeBarrier = &barrier
	errsOut := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { errsOut[i] = e.Activate(ctx, "op_1", int64(i+1)) })
	}
	wg.Wait()
	s.activeBarrier = nil
	won := -1
	for i, err := range errsOut {
		switch {
		case err == nil:
			won = i
		case !errors.Is(err, errs.ErrConflict):
			t.Fatalf("activation %d: %v", i+1, err)
		}
	}
	if won < 0 || errsOut[1-won] == nil {
		t.Fatalf("results %v: exactly one must win", errsOut)
	}
	rs, err := e.Active(ctx)
	if err != nil || rs.Version != int64(won+1) {
		t.Fatalf("active %+v, winner v%d", rs, won+1)
	}
	if n := strings.Count(strings.Join(s.auditActions(), " "), ActionRuleSetActivate); n != 1 {
		t.Fatalf("%d activation audit entries", n)
	}
}

func TestActivateAndRollback(t *testing.T) {
	ctx := context.Background()
	e, s, c := newTestEngine(t)
	if rs, err := e.Active(ctx); err != nil || rs.Version != 0 || rs.Name != "default" {
		t.Fatalf("no active set: %+v %v", rs, err)
	}
	for _, n := range []string{"v1", "v2"} {
		if _, err := e.SaveRuleSet(ctx, "op_1", ruleSet(n, 10*len(n))); err != nil {
			t.Fatal(err)
		}
	}
	ev := login(c.Now())
	ev.Fingerprint = fpNew
	for _, v := range []int64{1, 2, 1} {
		if err := e.Activate(ctx, "op_1", v); err != nil {
			t.Fatalf("activate v%d: %v", v, err)
		}
		d, err := e.Decide(ctx, ev)
		if err != nil || d.RuleSetVersion != v {
			t.Fatalf("after activating v%d the deciding node uses v%d (%v)", v, d.RuleSetVersion, err)
		}
	}
	if err := e.Activate(ctx, "op_1", 1); err != nil {
		t.Fatalf("activating the active version: %v", err)
	}
	if err := e.Activate(ctx, "op_1", 9); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("unknown version: %v", err)
	}
	s.sets = append(s.sets, RuleSet{Version: 3, Thresholds: testThresholds, Rules: []Rule{{Name: "x", Expr: "nope"}}})
	if err := e.Activate(ctx, "op_1", 3); !errors.Is(err, ErrInvalidRule) || s.active != 1 {
		t.Fatalf("a stored set that does not compile: %v, active v%d", err, s.active)
	}
}

func TestHotReloadAfterRefresh(t *testing.T) {
	ctx := context.Background()
	e, s, c := newTestEngine(t)
	e.Refresh = 10 * time.Second
	other := &Engine{Store: s, Now: c.Now} // another node
	for _, n := range []string{"v1", "v2"} {
		if _, err := e.SaveRuleSet(ctx, "op_1", ruleSet(n, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Activate(ctx, "op_1", 1); err != nil {
		t.Fatal(err)
	}
	decide := func() int64 {
		t.Helper()
		d, err := e.Decide(ctx, login(c.Now()))
		if err != nil {
			t.Fatal(err)
		}
		return d.RuleSetVersion
	}
	if v := decide(); v != 1 {
		t.Fatalf("v%d", v)
	}
	if err := other.Activate(ctx, "op_2", 2); err != nil {
		t.Fatal(err)
	}
	reads := s.activeReads
	c.Add(9 * time.Second)
	if v := decide(); v != 1 {
		t.Fatalf("before Refresh the node keeps v1, got v%d", v)
	}
	if s.activeReads != reads {
		t.Fatalf("the active set was re-read %d times within Refresh", s.activeReads-reads)
	}
	c.Add(time.Second)
	if v := decide(); v != 2 {
		t.Fatalf("after Refresh the node must use v2, got v%d", v)
	}
	c.Add(-time.Minute) // the clock stepped back: re-read rather than trust the cache forever
	if v := decide(); v != 2 || s.activeReads != reads+2 {
		t.Fatalf("v%d, %d reads", v, s.activeReads-reads)
	}
}

func TestActiveSetThatNoLongerCompilesFallsBack(t *testing.T) {
	e, s, c := newTestEngine(t)
	s.sets = []RuleSet{{Version: 1, Thresholds: testThresholds, Rules: []Rule{{Name: "old", Expr: "retired_feature"}}}}
	s.active = 1
	d, err := e.Decide(context.Background(), login(c.Now()))
	if err != nil || d.RuleSetVersion != 0 {
		t.Fatalf("version %d, %v: want the default pack", d.RuleSetVersion, err)
	}
}

// A device block entry is stored lower case; the same fingerprint sent in
// upper case must not slip past it.
func TestDecideUpperCaseFingerprintStillBlocked(t *testing.T) {
	e, s, c := newTestEngine(t)
	s.lists = append(s.lists, ListEntry{ID: "lst_1", List: ListDevice, Value: fpHome, Block: true, Reason: "stolen"})
	ev := login(c.Now())
	ev.Fingerprint = strings.ToUpper(fpHome)
	d, err := e.Decide(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if d.Features["block_device"] != true || d.Outcome != Deny {
		t.Errorf("upper-case fingerprint: block_device %v, outcome %s; want true, deny", d.Features["block_device"], d.Outcome)
	}
}
