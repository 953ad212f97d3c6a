package fds

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

// t0 is 10:00 in Seoul.
var t0 = time.Date(2025, 3, 10, 1, 0, 0, 0, time.UTC)

var (
	seoul = Location{Lat: 37.5665, Lon: 126.9780}
	busan = Location{Lat: 35.1796, Lon: 129.0756}
	paris = Location{Lat: 48.8566, Lon: 2.3522}
)

func loginAt(t time.Time) *Event {
	return &Event{Kind: KindLogin, CustomerID: "cus_1", Fingerprint: "ab12", IP: "203.0.113.7", Time: t}
}

func TestFeatureSpecsMatchComputed(t *testing.T) {
	inputs := []Inputs{{}, {
		Customer: Velocity{Attempts: [4]int{1, 2, 3, 4}}, Lists: []ListEntry{{List: ListBIN, Block: true}},
		Profile: Profile{Events: 30, Successes: 20, LastSuccess: &Event{Time: t0.Add(-time.Hour), GPS: &seoul},
			Recent: []time.Time{t0.Add(-time.Minute)}, Payments: 2, AmountSum: 10, AmountMax: 8},
	}}
	for _, in := range inputs {
		f := ComputeFeatures(&Event{Kind: KindPayment, AmountKRW: 5, Time: t0, GPS: &paris}, in, nil)
		if len(f) != len(featureSpecs) {
			t.Errorf("computed %d features, declared %d", len(f), len(featureSpecs))
		}
		for _, s := range featureSpecs {
			v, ok := f[s.Name]
			if !ok {
				t.Errorf("feature %s declared but not computed", s.Name)
				continue
			}
			if got := goType(v); got != s.Type {
				t.Errorf("feature %s is %s (%T), declared %s", s.Name, got, v, s.Type)
			}
		}
	}
}

func goType(v any) string {
	switch v.(type) {
	case string:
		return TypeString
	case int64:
		return TypeInt
	case float64:
		return TypeDouble
	case bool:
		return TypeBool
	}
	return "?"
}

func TestFeaturesVelocityMapping(t *testing.T) {
	in := Inputs{
		Customer: Velocity{Attempts: [4]int{1, 2, 3, 4}, Failures: [4]int{5, 6, 7, 8}},
		Device:   Velocity{Attempts: [4]int{11, 12, 13, 14}, Failures: [4]int{15, 16, 17, 18}, Customers: [4]int{19, 20, 21, 22}},
		IP:       Velocity{Attempts: [4]int{31, 32, 33, 34}, Failures: [4]int{35, 36, 37, 38}, Customers: [4]int{39, 40, 41, 42}},
	}
	f := ComputeFeatures(loginAt(t0), in, nil)
	for w, suf := range []string{"1m", "10m", "1h", "24h"} {
		want := map[string]int{
			"cust_attempts_": in.Customer.Attempts[w], "cust_failures_": in.Customer.Failures[w],
			"dev_attempts_": in.Device.Attempts[w], "dev_failures_": in.Device.Failures[w], "dev_customers_": in.Device.Customers[w],
			"ip_attempts_": in.IP.Attempts[w], "ip_failures_": in.IP.Failures[w], "ip_customers_": in.IP.Customers[w],
		}
		for prefix, n := range want {
			if got := f[prefix+suf]; got != int64(n) {
				t.Errorf("%s%s = %v, want %d", prefix, suf, got, n)
			}
		}
	}
}

func TestFeaturesDevice(t *testing.T) {
	other := DeviceHistory{FirstSeen: t0.Add(-48 * time.Hour)}
	own := DeviceHistory{FirstSeen: t0.Add(-48 * time.Hour), CustomerFirstSeen: t0.Add(-24 * time.Hour)}
	tests := []struct {
		name     string
		fp       string
		h        DeviceHistory
		newDev   bool
		first    bool
		ageHours float64
	}{
		{"no fingerprint says nothing", "", DeviceHistory{}, false, false, 0},
		{"never seen", "ab12", DeviceHistory{}, true, true, 0},
		{"seen with another customer", "ab12", other, false, true, 48},
		{"seen with this customer", "ab12", own, false, false, 48},
		{"out of order: first seen after the event", "ab12", DeviceHistory{FirstSeen: t0.Add(time.Hour), CustomerFirstSeen: t0.Add(time.Hour)}, false, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := loginAt(t0)
			ev.Fingerprint = tc.fp
			f := ComputeFeatures(ev, Inputs{DeviceHistory: tc.h}, nil)
			if f["device_new"] != tc.newDev || f["first_use"] != tc.first || f["device_age_hours"] != tc.ageHours {
				t.Errorf("device_new=%v first_use=%v age=%v, want %v %v %v",
					f["device_new"], f["first_use"], f["device_age_hours"], tc.newDev, tc.first, tc.ageHours)
			}
		})
	}
}

func TestFeaturesCountry(t *testing.T) {
	tests := []struct {
		name, now, last string
		noLast          bool
		known, changed  bool
	}{
		{"same country", "KR", "KR", false, true, false},
		{"changed", "US", "KR", false, true, true},
		{"last unknown", "US", "", false, true, false},
		{"now unknown", "", "KR", false, false, false},
		{"no previous success", "US", "", true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := loginAt(t0)
			ev.Country = tc.now
			var p Profile
			if !tc.noLast {
				p.LastSuccess = &Event{Country: tc.last, Time: t0.Add(-time.Hour)}
			}
			f := ComputeFeatures(ev, Inputs{Profile: p}, nil)
			if f["country"] != tc.now || f["country_known"] != tc.known || f["country_changed"] != tc.changed {
				t.Errorf("country=%v known=%v changed=%v", f["country"], f["country_known"], f["country_changed"])
			}
		})
	}
}

func TestFeaturesTravel(t *testing.T) {
	type side struct {
		gps, ip *Location
		anon    bool
		at      time.Time
	}
	tests := []struct {
		name       string
		last       *side
		now        side
		source     string
		impossible bool
		damped     bool
		minKmh     float64
		maxKmh     float64
	}{
		{"gps: Seoul to Busan in an hour is a car", &side{gps: &seoul, at: t0.Add(-time.Hour)}, side{gps: &busan, at: t0}, "gps", false, false, 200, 250},
		{"gps: Seoul to Paris in an hour", &side{gps: &seoul, at: t0.Add(-time.Hour)}, side{gps: &paris, at: t0}, "gps", true, false, 8000, 9000},
		{"gps: Seoul to Paris in twelve hours is a flight", &side{gps: &seoul, at: t0.Add(-12 * time.Hour)}, side{gps: &paris, at: t0}, "gps", false, false, 600, 800},
		{"ip: Seoul to Paris in an hour", &side{ip: &seoul, at: t0.Add(-time.Hour)}, side{ip: &paris, at: t0}, "ip", true, false, 8000, 9000},
		{"ip preferred over mixed gps", &side{gps: &seoul, ip: &seoul, at: t0.Add(-time.Hour)}, side{ip: &paris, at: t0}, "ip", true, false, 8000, 9000},
		{"ip: anonymous now is damped", &side{ip: &seoul, at: t0.Add(-time.Hour)}, side{ip: &paris, anon: true, at: t0}, "ip", false, true, 8000, 9000},
		{"ip: anonymous before is damped", &side{ip: &seoul, anon: true, at: t0.Add(-time.Hour)}, side{ip: &paris, at: t0}, "ip", false, true, 8000, 9000},
		{"gps is not damped by a VPN", &side{gps: &seoul, at: t0.Add(-time.Hour)}, side{gps: &paris, anon: true, at: t0}, "gps", true, false, 8000, 9000},
		{"missing location now", &side{ip: &seoul, at: t0.Add(-time.Hour)}, side{at: t0}, "none", false, true, 0, 0},
		{"gps now, only ip before", &side{ip: &seoul, at: t0.Add(-time.Hour)}, side{gps: &paris, at: t0}, "none", false, true, 0, 0},
		{"no previous success", nil, side{gps: &paris, at: t0}, "none", false, true, 0, 0},
		{"within tolerance in a second", &side{gps: &seoul, at: t0.Add(-time.Second)}, side{gps: &Location{Lat: 37.9, Lon: 127.5}, at: t0}, "gps", false, false, 0, 0},
		{"out of order: previous success is later", &side{gps: &seoul, at: t0.Add(time.Hour)}, side{gps: &paris, at: t0}, "gps", true, false, 8000, 9000},
		{"same instant stays finite", &side{gps: &seoul, at: t0}, side{gps: &busan, at: t0}, "gps", true, false, 1e5, 1e6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := &Event{Kind: KindLogin, Time: tc.now.at, GPS: tc.now.gps, IPLoc: tc.now.ip, Anonymous: tc.now.anon}
			var p Profile
			if tc.last != nil {
				p.LastSuccess = &Event{Time: tc.last.at, GPS: tc.last.gps, IPLoc: tc.last.ip, Anonymous: tc.last.anon}
			}
			f := ComputeFeatures(ev, Inputs{Profile: p}, nil)
			kmh := f["travel_kmh"].(float64)
			if f["location_source"] != tc.source || f["impossible_travel"] != tc.impossible || f["travel_damped"] != tc.damped {
				t.Errorf("source=%v impossible=%v damped=%v", f["location_source"], f["impossible_travel"], f["travel_damped"])
			}
			if kmh < tc.minKmh || kmh > tc.maxKmh || math.IsInf(kmh, 0) || math.IsNaN(kmh) {
				t.Errorf("travel_kmh = %v, want within [%v, %v]", kmh, tc.minKmh, tc.maxKmh)
			}
		})
	}
}

func TestHaversine(t *testing.T) {
	// Seoul–Busan is about 325 km, Seoul–Paris about 8,950 km.
	for _, tc := range []struct {
		a, b     Location
		min, max float64
	}{{seoul, busan, 315, 335}, {seoul, paris, 8900, 9000}, {seoul, seoul, 0, 0}} {
		if d := haversineKm(tc.a, tc.b); d < tc.min || d > tc.max {
			t.Errorf("distance %v→%v = %v", tc.a, tc.b, d)
		}
	}
}

func TestFeaturesHourHistogram(t *testing.T) {
	var at10 [24]int
	at10[1] = 20 // 01:xx UTC is 10:xx in Seoul
	var few [24]int
	few[1] = 9
	india := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name    string
		at      time.Time
		zone    *time.Location
		counts  [24]int
		hour    int64
		share   float64
		unusual bool
	}{
		{"usual hour in Seoul", t0.Add(30 * time.Minute), nil, at10, 10, 1, false},
		{"neighbouring hour counts", t0.Add(time.Hour + 30*time.Minute), nil, at10, 11, 1, false},
		{"two hours away is outside", t0.Add(2 * time.Hour), nil, at10, 12, 0, true},
		{"3 a.m. in Seoul", t0.Add(17 * time.Hour), nil, at10, 3, 0, true},
		{"too little history is never unusual", t0.Add(17 * time.Hour), nil, few, 3, 0, false},
		{"no history", t0, nil, [24]int{}, 10, 0, false},
		{"zone UTC", t0.Add(10 * time.Minute), time.UTC, at10, 1, 1, false},
		{"half-hour zone", t0.Add(40 * time.Minute), india, at10, 7, 1, false},
		{"wraps around midnight", time.Date(2025, 3, 10, 15, 10, 0, 0, time.UTC), nil, func() [24]int {
			var c [24]int
			c[14] = 20 // 23:xx in Seoul
			return c
		}(), 0, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ComputeFeatures(loginAt(tc.at), Inputs{Profile: Profile{HourCounts: tc.counts}}, tc.zone)
			if f["hour"] != tc.hour || f["hour_share"] != tc.share || f["hour_unusual"] != tc.unusual {
				t.Errorf("hour=%v share=%v unusual=%v, want %v %v %v", f["hour"], f["hour_share"], f["hour_unusual"], tc.hour, tc.share, tc.unusual)
			}
		})
	}
}

func TestFeaturesSuccessRates(t *testing.T) {
	f := ComputeFeatures(loginAt(t0), Inputs{}, nil)
	if f["success_rate_24h"] != 1.0 || f["success_rate_30d"] != 1.0 || f["success_drift"] != 0.0 {
		t.Errorf("no history: %v %v %v", f["success_rate_24h"], f["success_rate_30d"], f["success_drift"])
	}
	p := Profile{Events: 100, Successes: 80, Events24h: 10, Successes24h: 2}
	f = ComputeFeatures(loginAt(t0), Inputs{Profile: p}, nil)
	if f["success_rate_24h"] != 0.2 || f["success_rate_30d"] != 0.8 || math.Abs(f["success_drift"].(float64)-0.6) > 1e-9 {
		t.Errorf("drift: %v %v %v", f["success_rate_24h"], f["success_rate_30d"], f["success_drift"])
	}
}

func secondsBefore(at time.Time, s ...float64) []time.Time {
	out := make([]time.Time, len(s))
	for i, x := range s {
		out[i] = at.Add(-time.Duration(x * float64(time.Second)))
	}
	return out
}

func TestFeaturesPace(t *testing.T) {
	tests := []struct {
		name    string
		recent  []time.Time
		bot     bool
		suspect bool
		cvMin   float64
		cvMax   float64
		last    float64
	}{
		{"no history", nil, false, false, -1, -1, -1},
		{"three intervals are too few", secondsBefore(t0, 30, 20, 10), false, false, -1, -1, 10},
		{"metronome", secondsBefore(t0, 40, 30, 20, 10), true, false, 0, 0.0001, 10},
		{"nearly regular", secondsBefore(t0, 40.2, 30.1, 19.9, 10), true, false, 0, 0.1, 10},
		{"human", secondsBefore(t0, 300, 250, 70, 40), false, false, 0.5, 2, 40},
		{"under a second since the last", secondsBefore(t0, 600, 0.5), true, false, -1, -1, 0.5},
		{"caller says bot", secondsBefore(t0, 600), true, true, -1, -1, 600},
		{"daily habit is not a pace", secondsBefore(t0, 4*86400, 3*86400, 2*86400, 86400), false, false, -1, -1, 86400},
		{"out of order: a later attempt is recorded", append(secondsBefore(t0, 300, 250, 70), t0.Add(20*time.Second)), true, false, 0.1, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := loginAt(t0)
			ev.BotSuspected = tc.suspect
			f := ComputeFeatures(ev, Inputs{Profile: Profile{Recent: tc.recent}}, nil)
			cv := f["interval_cv"].(float64)
			if f["bot_paced"] != tc.bot || cv < tc.cvMin || cv > tc.cvMax || math.Abs(f["last_interval_s"].(float64)-tc.last) > 1e-6 {
				t.Errorf("bot=%v cv=%v last=%v", f["bot_paced"], cv, f["last_interval_s"])
			}
		})
	}
}

func TestFeaturesAmount(t *testing.T) {
	tests := []struct {
		name   string
		amount int64
		p      Profile
		avg    float64
		ratio  float64
	}{
		{"ten times the average", 500_000, Profile{Payments: 4, AmountSum: 200_000, AmountMax: 80_000}, 50_000, 10},
		{"no amount", 0, Profile{Payments: 4, AmountSum: 200_000}, 50_000, 0},
		{"no history divides by one", 30_000, Profile{}, 0, 30_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := &Event{Kind: KindPayment, AmountKRW: tc.amount, Time: t0}
			f := ComputeFeatures(ev, Inputs{Profile: tc.p}, nil)
			if f["amount"] != tc.amount || f["amount_avg_90d"] != tc.avg || f["amount_ratio"] != tc.ratio ||
				f["amount_max_90d"] != tc.p.AmountMax || f["payments_90d"] != int64(tc.p.Payments) {
				t.Errorf("amount=%v avg=%v ratio=%v max=%v n=%v", f["amount"], f["amount_avg_90d"], f["amount_ratio"], f["amount_max_90d"], f["payments_90d"])
			}
		})
	}
}

func TestFeaturesLists(t *testing.T) {
	f := ComputeFeatures(loginAt(t0), Inputs{Lists: []ListEntry{{List: ListIP, Block: true}, {List: ListCustomer}}}, nil)
	want := map[string]bool{"listed_block": true, "listed_allow": true, "block_ip": true,
		"block_device": false, "block_customer": false, "block_bin": false}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %v, want %v", k, f[k], v)
		}
	}
}

func TestNormalizeFeaturesRoundTrip(t *testing.T) {
	in := Inputs{Customer: Velocity{Attempts: [4]int{1, 2, 3, 4}}, Profile: Profile{AmountMax: 1 << 40, Payments: 3, AmountSum: 90}}
	f := ComputeFeatures(&Event{Kind: KindPayment, AmountKRW: 1234567, Time: t0, Country: "KR"}, in, nil)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	delete(back, "cust_attempts_24h") // as if stored before the feature existed
	back["retired_feature"] = 1.0
	got := NormalizeFeatures(back)
	f["cust_attempts_24h"] = int64(0)
	if !reflect.DeepEqual(got, f) {
		for k := range f {
			if got[k] != f[k] {
				t.Errorf("%s: %#v, want %#v", k, got[k], f[k])
			}
		}
		t.Fatalf("extra keys? %d vs %d", len(got), len(f))
	}
}

// FuzzNormalizeFeatures: whatever JSON a stored decision holds, the
// normalized map has every feature with its declared type.
func FuzzNormalizeFeatures(f *testing.F) {
	b, _ := json.Marshal(calmFeatures())
	f.Add(b)
	f.Add([]byte(`{"amount": 1e300, "hour": -1.5, "country": 7, "device_new": "yes", "amount_ratio": null}`))
	f.Add([]byte(`{"cust_attempts_1m": 9223372036854775808}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		got := NormalizeFeatures(m)
		if len(got) != len(featureSpecs) {
			t.Fatalf("%d features", len(got))
		}
		for _, s := range featureSpecs {
			if goType(got[s.Name]) != s.Type {
				t.Fatalf("%s: %T", s.Name, got[s.Name])
			}
		}
	})
}
