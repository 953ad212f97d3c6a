package fds

import (
	"encoding/json"
	"math"
	"slices"
)

// featureSpecs is the one list of features: the CEL environment declares
// exactly these, so a rule naming anything else is refused at load.
var featureSpecs = buildSpecs()

func buildSpecs() []FeatureSpec {
	s := []FeatureSpec{
		{"kind", TypeString, "event kind: login, registration, verification, payment, operator"},
		{"action", TypeString, "the audit action, e.g. login.failure"},
		{"result", TypeString, `success, failure or "" when not known yet`},
		{"amount", TypeInt, "payment amount in KRW, 0 when none"},
		{"hour", TypeInt, "hour of day of the event in the engine's zone"},
		{"clock_skew", TypeBool, "the event's time was too far ahead and was replaced by the engine's"},
		{"bot_suspected", TypeBool, "the caller's own pace signal (the login ladder)"},
	}
	s = append(s, velocitySpecs("cust", "customer", false)...)
	s = append(s, velocitySpecs("dev", "device fingerprint", true)...)
	s = append(s, velocitySpecs("ip", "IP address", true)...)
	return append(s, []FeatureSpec{
		{"device_new", TypeBool, "the fingerprint was never seen before, by any customer"},
		{"first_use", TypeBool, "this customer never used this fingerprint before"},
		{"device_age_hours", TypeDouble, "hours since the fingerprint was first seen, 0 when new"},
		{"country", TypeString, `ISO country of the IP, "" unknown`},
		{"country_known", TypeBool, "the IP's country is known"},
		{"country_changed", TypeBool, "both countries known and different from the last successful event's"},
		{"anonymous_ip", TypeBool, "the IP is a known VPN, proxy or relay"},
		{"location_source", TypeString, "locations compared for travel: gps, ip or none"},
		{"distance_km", TypeDouble, "distance from the last successful event"},
		{"travel_kmh", TypeDouble, "speed from the last successful event after a 100 km tolerance"},
		{"travel_damped", TypeBool, "travel could not be judged: no last success, a missing location, or an anonymous IP"},
		{"impossible_travel", TypeBool, "travel_kmh above 900 and not damped"},
		{"history_events_30d", TypeInt, "the customer's events in 30 days"},
		{"hour_share", TypeDouble, "share of 30-day successes within ±1 h of this hour, 0 without history"},
		{"hour_unusual", TypeBool, "at least 10 successes in 30 days and hour_share below 0.05"},
		{"success_rate_24h", TypeDouble, "successes/events in 24 h, 1 without events"},
		{"success_rate_30d", TypeDouble, "successes/events in 30 days, 1 without events"},
		{"success_drift", TypeDouble, "success_rate_30d - success_rate_24h: positive when today fails more"},
		{"last_interval_s", TypeDouble, "seconds since the previous attempt of this kind, -1 none"},
		{"interval_cv", TypeDouble, "stddev/mean of intervals between this kind's attempts within 1 h, -1 with fewer than 4"},
		{"bot_paced", TypeBool, "interval_cv below 0.1, an interval under 1 s, or bot_suspected"},
		{"amount_avg_90d", TypeDouble, "average successful payment in 90 days"},
		{"amount_max_90d", TypeInt, "largest successful payment in 90 days"},
		{"amount_ratio", TypeDouble, "amount / max(amount_avg_90d, 1), 0 without an amount"},
		{"payments_90d", TypeInt, "successful payments in 90 days"},
		{"listed_allow", TypeBool, "an allow-list entry matches"},
		{"listed_block", TypeBool, "a block-list entry matches"},
		{"block_device", TypeBool, "the device is block-listed"},
		{"block_ip", TypeBool, "the IP is block-listed"},
		{"block_customer", TypeBool, "the customer is block-listed"},
		{"block_bin", TypeBool, "the card BIN is block-listed"},
	}...)
}

func velocitySpecs(prefix, what string, customers bool) []FeatureSpec {
	var s []FeatureSpec
	for _, suf := range windowSuffix {
		s = append(s,
			FeatureSpec{prefix + "_attempts_" + suf, TypeInt, "events of the " + what + " in " + suf},
			FeatureSpec{prefix + "_failures_" + suf, TypeInt, "failed events of the " + what + " in " + suf})
		if customers {
			s = append(s, FeatureSpec{prefix + "_customers_" + suf, TypeInt, "distinct customers of the " + what + " in " + suf})
		}
	}
	return s
}

// FeatureSpecs lists every feature, in a stable order.
func FeatureSpecs() []FeatureSpec { return slices.Clone(featureSpecs) }

var featureTypes = func() map[string]string {
	m := make(map[string]string, len(featureSpecs))
	for _, s := range featureSpecs {
		m[s.Name] = s.Type
	}
	return m
}()

// NormalizeFeatures returns features as the rules expect them: every
// declared feature present with its Go type (int64, float64, bool,
// string). Stored decisions come back from JSON with float64 numbers and
// may predate a feature; a missing or unreadable value becomes its type's
// zero. Names not declared are dropped.
func NormalizeFeatures(in map[string]any) map[string]any {
	out := make(map[string]any, len(featureSpecs))
	for _, s := range featureSpecs {
		out[s.Name] = coerce(in[s.Name], s.Type)
	}
	return out
}

func coerce(v any, typ string) any {
	switch typ {
	case TypeString:
		s, _ := v.(string)
		return s
	case TypeBool:
		b, _ := v.(bool)
		return b
	case TypeInt:
		return toInt(v)
	default:
		return toFloat(v)
	}
}

func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i
		}
	}
	f := toFloat(v)
	if math.IsNaN(f) || f >= math.MaxInt64 || f < math.MinInt64 {
		return 0
	}
	return int64(f)
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	case int:
		return float64(n)
	case json.Number:
		f, _ := n.Float64()
		return f
	}
	return 0
}
