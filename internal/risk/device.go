package risk

import (
	"context"
	"log/slog"

	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/fds"
)

// Device is the registration hook: every attempt is decided; a deny is
// device.RiskHigh, which hard-blocks the customer and the fingerprint.
// Otherwise Next (the built-in device.SimpleScorer) gives the verdict, so
// its spraying and rooted-emulator rules keep working whatever rule set is
// active, and while the engine is down.
type Device struct {
	Engine *fds.Engine
	Next   device.RiskHook // nil: low
	Log    *slog.Logger    // nil: slog.Default()
}

var _ device.RiskHook = Device{}

// Assess decides the attempt. An engine error never reaches the caller:
// Next's verdict stands.
func (h Device) Assess(ctx context.Context, e device.Event) (device.Risk, error) {
	ev := fds.Event{Kind: fds.KindRegistration, Action: e.Kind, InstitutionID: e.InstitutionID,
		CustomerID: e.CustomerID, Fingerprint: e.Fingerprint, IP: e.IP, Result: result(e.Result), Time: e.Time}
	if d := decide(ctx, h.Engine, h.Log, ev); d != nil && d.Outcome == fds.Deny {
		return device.RiskHigh, nil
	}
	if h.Next == nil {
		return device.RiskLow, nil
	}
	return h.Next.Assess(ctx, e)
}
