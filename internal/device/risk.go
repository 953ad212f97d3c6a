package device

import (
	"context"
	"slices"
	"time"

	"github.com/haechi/haechi/internal/audit"
)

// Risk is a hook's verdict on one attempt.
type Risk string

// Levels of risk. Only RiskHigh acts: it hard-blocks the customer and the
// fingerprint of the attempt.
const (
	RiskLow  Risk = "low"
	RiskHigh Risk = "high"
)

// Event is one registration attempt, as a risk hook sees it.
type Event struct {
	Kind          string // the audit action, e.g. "device.registration.start"
	InstitutionID string
	CustomerID    string // "" when the phone is not a customer's
	CustomerKey   string // the customer's counter subject (CustomerKey)
	Fingerprint   string // hex blind index of device id + model
	IP            string
	Result        string // audit.ResultSuccess or audit.ResultFailure
	Reason        string // the refusal code when Result is a failure
	Report        *Report
	Time          time.Time
}

// RiskHook is called on every attempt that is not refused outright for
// restriction. The FDS capability implements it later; SimpleScorer stands
// in until then. An error is treated as "no opinion": counting goes on, and
// the audit entry notes it, so a failing scorer cannot stop the count.
type RiskHook interface {
	Assess(ctx context.Context, e Event) (Risk, error)
}

// AttemptLog is what SimpleScorer reads: the customers (or unknown phones)
// for whom a fingerprint's attempts failed since a time.
type AttemptLog interface {
	FailedCustomers(ctx context.Context, fingerprint string, since time.Time) ([]string, error)
}

// SimpleScorer is the built-in risk hook. It says high in two cases only:
//   - the fingerprint has failed for Customers distinct customers (the
//     current one included) within Window: one phone spraying many people;
//   - the report says rooted and emulator at once, which no customer's real
//     phone does.
//
// Defaults: 3 customers in 10 minutes.
type SimpleScorer struct {
	Log       AttemptLog
	Window    time.Duration
	Customers int
}

// Assess scores one event.
func (s SimpleScorer) Assess(ctx context.Context, e Event) (Risk, error) {
	if e.Report != nil && e.Report.Rooted && e.Report.Emulator {
		return RiskHigh, nil
	}
	if e.Result != audit.ResultFailure || e.Fingerprint == "" {
		return RiskLow, nil
	}
	failed, err := s.Log.FailedCustomers(ctx, e.Fingerprint, e.Time.Add(-s.window()))
	if err != nil {
		return RiskLow, err
	}
	key := e.CustomerKey
	if key != "" && !slices.Contains(failed, key) {
		failed = append(failed, key)
	}
	if len(failed) >= s.customers() {
		return RiskHigh, nil
	}
	return RiskLow, nil
}

func (s SimpleScorer) window() time.Duration {
	if s.Window <= 0 {
		return 10 * time.Minute
	}
	return s.Window
}

func (s SimpleScorer) customers() int {
	if s.Customers <= 0 {
		return 3
	}
	return s.Customers
}
