package lockout

import (
	"context"
	"time"
)

// Spray is the spraying rule: one source (device fingerprint or IP) failing
// for Customers distinct customers within Window is throttled as a whole for
// Throttle. Zero fields take the defaults shown.
type Spray struct {
	Customers int           // 5
	Window    time.Duration // 10 min
	Throttle  time.Duration // 1 h
}

func (s Spray) withDefaults() Spray {
	if s.Customers <= 0 {
		s.Customers = 5
	}
	if s.Window <= 0 {
		s.Window = 10 * time.Minute
	}
	if s.Throttle <= 0 {
		s.Throttle = time.Hour
	}
	return s
}

// SourceFailure is one failure charged to its sources, in the order the
// store locks them (fingerprint before IP).
type SourceFailure struct {
	Sources    []string
	CustomerID string
	At         time.Time
	Rule       Spray
	Actor      string // for the audit entry of a throttle
	RequestID  string
}

// Source keys: the kind prefix keeps a fingerprint and an IP that happen
// to be equal strings apart.
func fingerprintSource(fp string) string { return "fp:" + fp }
func ipSource(ip string) string          { return "ip:" + ip }

func sources(fingerprint, ip string) []string {
	var ss []string
	if fingerprint != "" {
		ss = append(ss, fingerprintSource(fingerprint))
	}
	if ip != "" {
		ss = append(ss, ipSource(ip))
	}
	return ss
}

// failure is the source failure of a failed attempt, or nil when the
// request named no source.
func (s Spray) failure(customerID string, m Meta, now time.Time) *SourceFailure {
	ss := sources(m.Fingerprint, m.IP)
	if len(ss) == 0 {
		return nil
	}
	return &SourceFailure{Sources: ss, CustomerID: customerID, At: now, Rule: s.withDefaults(), Actor: m.Actor, RequestID: m.RequestID}
}

// CheckSource refuses a request from a throttled fingerprint or IP. Call it
// before Begin, so a spraying source gets no attempt at any customer.
func (s *Service) CheckSource(ctx context.Context, fingerprint, ip string, now time.Time) error {
	ss := sources(fingerprint, ip)
	if len(ss) == 0 {
		return nil
	}
	until, err := s.Store.SourceThrottledUntil(ctx, ss)
	if err != nil {
		return err
	}
	if until.After(now) {
		return ErrSourceThrottled.WithRetryAfter(retryAfter(until, now))
	}
	return nil
}
