package fds

import (
	"math"
	"slices"
	"time"
)

// Feature value types, as CEL sees them. Feature maps hold Go string,
// int64, float64 and bool values respectively.
const (
	TypeString = "string"
	TypeInt    = "int"
	TypeDouble = "double"
	TypeBool   = "bool"
)

// FeatureSpec documents one feature: its name, its CEL type and meaning.
type FeatureSpec struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Doc  string `json:"doc"`
}

// Travel and pace limits.
const (
	ImpossibleKmh     = 900.0           // faster than an airliner
	TravelToleranceKm = 100.0           // IP geolocation and GPS error
	MaxClockSkew      = 5 * time.Minute // later event times are replaced by the engine's
	BotCV             = 0.1             // interval coefficient of variation below which attempts are machine-paced
	BotMinIntervals   = 4               // intervals needed before interval_cv means anything
	PaceWindow        = time.Hour       // attempts further apart are not a pace
	UnusualHourShare  = 0.05            // hour_share below which an hour is unusual
	UnusualHourMin    = 10              // successes needed before an hour can be unusual
)

// Seoul is the default zone for hour-of-day features. A fixed offset
// (Korea has no daylight saving) avoids depending on tzdata.
var Seoul = time.FixedZone("Asia/Seoul", 9*60*60)

// Inputs is everything features are computed from besides the event,
// gathered from the store (and cache) beforehand.
type Inputs struct {
	Customer, Device, IP Velocity
	DeviceHistory        DeviceHistory
	Profile              Profile
	Lists                []ListEntry
	// ClockSkew: the event claimed a time too far in the future and the
	// engine replaced it with its own.
	ClockSkew bool
}

var windowSuffix = [4]string{"1m", "10m", "1h", "24h"}

// velocityNames[prefix][attempts|failures|customers][window].
var velocityNames = func() map[string][3][4]string {
	m := map[string][3][4]string{}
	for _, p := range []string{"cust", "dev", "ip"} {
		var n [3][4]string
		for w, s := range windowSuffix {
			n[0][w] = p + "_attempts_" + s
			n[1][w] = p + "_failures_" + s
			n[2][w] = p + "_customers_" + s
		}
		m[p] = n
	}
	return m
}()

// ComputeFeatures derives the flat feature map rules read. Every name in
// FeatureSpecs is present with a value of its declared type. Counts come
// from history recorded before this event, so the event itself is not
// counted.
func ComputeFeatures(ev *Event, in Inputs, zone *time.Location) map[string]any {
	if zone == nil {
		zone = Seoul
	}
	f := make(map[string]any, len(featureSpecs)+8)
	f["kind"] = string(ev.Kind)
	f["action"] = ev.Action
	f["result"] = string(ev.Result)
	f["amount"] = ev.AmountKRW
	f["hour"] = int64(ev.Time.In(zone).Hour())
	f["clock_skew"] = in.ClockSkew
	f["bot_suspected"] = ev.BotSuspected
	putVelocity(f, "cust", in.Customer)
	putVelocity(f, "dev", in.Device)
	putVelocity(f, "ip", in.IP)
	putDevice(f, ev, in.DeviceHistory)
	putPlace(f, ev, in.Profile.LastSuccess)
	putHabits(f, ev, in.Profile, zone)
	putPace(f, ev, in.Profile.Recent)
	putAmount(f, ev, in.Profile)
	putLists(f, in.Lists)
	return f
}

// putVelocity: distinct customers are counted per device and per IP; a
// customer's own count of customers would always be one.
func putVelocity(f map[string]any, prefix string, v Velocity) {
	n := velocityNames[prefix]
	for w := range Windows {
		f[n[0][w]] = int64(v.Attempts[w])
		f[n[1][w]] = int64(v.Failures[w])
		if prefix != "cust" {
			f[n[2][w]] = int64(v.Customers[w])
		}
	}
}

// putDevice: an event without a fingerprint says nothing about devices, so
// it is neither new nor a first use.
func putDevice(f map[string]any, ev *Event, h DeviceHistory) {
	known := ev.Fingerprint != ""
	f["device_new"] = known && h.FirstSeen.IsZero()
	f["first_use"] = known && ev.CustomerID != "" && h.CustomerFirstSeen.IsZero()
	age := 0.0
	if known && !h.FirstSeen.IsZero() {
		age = max(0, ev.Time.Sub(h.FirstSeen).Hours())
	}
	f["device_age_hours"] = age
}

func putPlace(f map[string]any, ev *Event, last *Event) {
	f["country"] = ev.Country
	f["country_known"] = ev.Country != ""
	f["country_changed"] = ev.Country != "" && last != nil && last.Country != "" && last.Country != ev.Country
	f["anonymous_ip"] = ev.Anonymous
	t := travelFrom(last, ev)
	f["location_source"] = t.source
	f["distance_km"] = t.km
	f["travel_kmh"] = t.kmh
	f["travel_damped"] = t.damped
	f["impossible_travel"] = !t.damped && t.kmh > ImpossibleKmh
}

// travel is the move from the last successful event to this one.
type travel struct {
	source string  // "gps", "ip" or "none": the locations compared
	km     float64 // great-circle distance
	kmh    float64 // speed after subtracting TravelToleranceKm
	damped bool    // a location is missing or an address is anonymous: never impossible
}

// travelFrom compares GPS fixes when both events have one, else IP
// locations. A VPN or relay moves the IP location, not the GPS fix, so
// anonymity damps only IP-based travel; otherwise switching a VPN on would
// switch the check off. Events out of time order use the absolute time
// between them (the same two places, the same speed), and less than a
// second counts as one second so the speed stays finite.
func travelFrom(last, ev *Event) travel {
	if last == nil {
		return travel{source: "none", damped: true}
	}
	var a, b *Location
	t := travel{source: "none"}
	switch {
	case last.GPS != nil && ev.GPS != nil:
		a, b, t.source = last.GPS, ev.GPS, "gps"
	case last.IPLoc != nil && ev.IPLoc != nil:
		a, b, t.source = last.IPLoc, ev.IPLoc, "ip"
		t.damped = last.Anonymous || ev.Anonymous
	default:
		t.damped = true
		return t
	}
	t.km = haversineKm(*a, *b)
	dt := ev.Time.Sub(last.Time)
	if dt < 0 {
		dt = -dt
	}
	dt = max(dt, time.Second)
	t.kmh = max(0, t.km-TravelToleranceKm) / dt.Hours()
	return t
}

func haversineKm(a, b Location) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (b.Lat-a.Lat)*rad, (b.Lon-a.Lon)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Sqrt(min(1, h)))
}

func putHabits(f map[string]any, ev *Event, p Profile, zone *time.Location) {
	f["history_events_30d"] = int64(p.Events)
	share, total := hourShare(ev.Time, p.HourCounts, zone)
	f["hour_share"] = share
	f["hour_unusual"] = total >= UnusualHourMin && share < UnusualHourShare
	r24, r30 := rate(p.Successes24h, p.Events24h), rate(p.Successes, p.Events)
	f["success_rate_24h"] = r24
	f["success_rate_30d"] = r30
	f["success_drift"] = r30 - r24
}

// rate is successes/events; with no events nothing failed, so 1.
func rate(ok, all int) float64 {
	if all <= 0 {
		return 1
	}
	return float64(ok) / float64(all)
}

// hourShare is the share of the customer's successes whose local hour is
// the event's hour ±1. The store counts by UTC hour; each UTC hour is
// placed at the local hour of its midpoint on the event's day, which also
// handles half-hour offsets. No history gives 0 (hour_unusual guards it).
func hourShare(at time.Time, counts [24]int, zone *time.Location) (float64, int) {
	local := at.In(zone)
	y, m, d := at.UTC().Date()
	near, total := 0, 0
	for h, n := range counts {
		total += n
		lh := time.Date(y, m, d, h, 30, 0, 0, time.UTC).In(zone).Hour()
		if hourDistance(lh, local.Hour()) <= 1 {
			near += n
		}
	}
	if total == 0 {
		return 0, 0
	}
	return float64(near) / float64(total), total
}

func hourDistance(a, b int) int {
	d := (a - b + 24) % 24
	return min(d, 24-d)
}

// putPace measures how regular the customer's attempts are. Only attempts
// within PaceWindow of the event count: someone who logs in every morning
// is regular too, at a human scale. Times are sorted first, so an event
// older than recorded attempts cannot make a negative interval; its own
// gap to the latest attempt is then 0, which is what racing parallel
// attempts look like.
func putPace(f map[string]any, ev *Event, recent []time.Time) {
	last := -1.0
	if len(recent) > 0 {
		latest := slices.MaxFunc(recent, time.Time.Compare)
		last = max(0, ev.Time.Sub(latest).Seconds())
	}
	times := make([]time.Time, 0, len(recent)+1)
	for _, t := range recent {
		if d := ev.Time.Sub(t); d <= PaceWindow && d >= -PaceWindow {
			times = append(times, t)
		}
	}
	cv := intervalCV(append(times, ev.Time))
	f["last_interval_s"] = last
	f["interval_cv"] = cv
	f["bot_paced"] = ev.BotSuspected || (cv >= 0 && cv < BotCV) || (last >= 0 && last < 1)
}

// intervalCV is the coefficient of variation (stddev/mean) of the gaps
// between times, -1 with fewer than BotMinIntervals gaps; 0 when every
// gap is zero.
func intervalCV(times []time.Time) float64 {
	if len(times)-1 < BotMinIntervals {
		return -1
	}
	slices.SortFunc(times, time.Time.Compare)
	gaps := make([]float64, len(times)-1)
	sum := 0.0
	for i := range gaps {
		gaps[i] = times[i+1].Sub(times[i]).Seconds()
		sum += gaps[i]
	}
	mean := sum / float64(len(gaps))
	if mean == 0 {
		return 0
	}
	v := 0.0
	for _, g := range gaps {
		v += (g - mean) * (g - mean)
	}
	return math.Sqrt(v/float64(len(gaps))) / mean
}

func putAmount(f map[string]any, ev *Event, p Profile) {
	avg := 0.0
	if p.Payments > 0 {
		avg = float64(p.AmountSum) / float64(p.Payments)
	}
	ratio := 0.0
	if ev.AmountKRW > 0 {
		ratio = float64(ev.AmountKRW) / max(avg, 1)
	}
	f["amount_avg_90d"] = avg
	f["amount_max_90d"] = p.AmountMax
	f["amount_ratio"] = ratio
	f["payments_90d"] = int64(p.Payments)
}

func putLists(f map[string]any, entries []ListEntry) {
	var allow, block bool
	blocked := map[ListKind]bool{}
	for _, le := range entries {
		if le.Block {
			block = true
			blocked[le.List] = true
		} else {
			allow = true
		}
	}
	f["listed_allow"] = allow
	f["listed_block"] = block
	f["block_device"] = blocked[ListDevice]
	f["block_ip"] = blocked[ListIP]
	f["block_customer"] = blocked[ListCustomer]
	f["block_bin"] = blocked[ListBIN]
}
