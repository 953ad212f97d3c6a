package risk_test

import (
	"testing"

	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/risk"
)

func regEvent() device.Event {
	return device.Event{Kind: "device.registration.start", InstitutionID: "cl_bank", CustomerID: "cus_1",
		CustomerKey: "ck_1", Fingerprint: "fp0123456789abcdef", IP: "203.0.113.10", Result: "failure", Reason: "carrier_mismatch", Time: base}
}

// TestDeviceVerdicts: a deny is high whatever Next says; any other outcome
// leaves the verdict to Next, so the built-in scorer keeps working.
func TestDeviceVerdicts(t *testing.T) {
	tests := []struct {
		name      string
		outcome   fds.Outcome
		next      device.Risk
		want      device.Risk
		nextCalls int
	}{
		{"deny: high without asking Next", fds.Deny, device.RiskLow, device.RiskHigh, 0},
		{"review: Next says low", fds.Review, device.RiskLow, device.RiskLow, 1},
		{"allow: Next says high", fds.Allow, device.RiskHigh, device.RiskHigh, 1},
		{"step_up: Next says low", fds.StepUp, device.RiskLow, device.RiskLow, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.force(t, fds.KindRegistration, tt.outcome)
			calls := 0
			h := risk.Device{Engine: f.eng, Next: verdict{tt.next, &calls}, Log: f.log}
			r, err := h.Assess(t.Context(), regEvent())
			if err != nil || r != tt.want || calls != tt.nextCalls {
				t.Fatalf("assess = %s, %v (Next asked %d times), want %s (%d)", r, err, calls, tt.want, tt.nextCalls)
			}
			d := f.only(t)
			if d.Kind != fds.KindRegistration || d.Features["action"] != "device.registration.start" || d.Features["result"] != "failure" {
				t.Fatalf("decision %+v", d)
			}
		})
	}
}

func TestDeviceEngineDown(t *testing.T) {
	for _, tt := range []struct {
		name string
		next device.RiskHook
		want device.Risk
	}{
		{"Next's verdict stands", verdict{r: device.RiskHigh}, device.RiskHigh},
		{"no Next: low", nil, device.RiskLow},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := risk.Device{Engine: broken(t), Next: tt.next, Log: newFixture(t).log}
			if r, err := h.Assess(t.Context(), regEvent()); err != nil || r != tt.want {
				t.Fatalf("assess = %s, %v, want %s", r, err, tt.want)
			}
		})
	}
}
