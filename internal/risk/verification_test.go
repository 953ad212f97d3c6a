package risk_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/risk"
)

func TestVerificationRecordsAttempts(t *testing.T) {
	tests := []struct {
		name   string
		result string
	}{
		{"failure", "failure"},
		{"success", "success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := audit.WithMeta(t.Context(), audit.Meta{RequestID: "req_1", ClientIP: "198.51.100.7"})
			risk.Verification{Engine: f.eng, Log: f.log}.ObserveAttempt(ctx, ekyc.AttemptEvent{InstitutionID: "cl_bank",
				SessionID: "kyc_1", CustomerID: "cus_1", Method: ekyc.IDCard, Result: tt.result, Reason: "id_unknown", Time: base})
			d := f.only(t)
			if d.Kind != fds.KindVerification || d.CustomerID != "cus_1" || d.InstitutionID != "cl_bank" ||
				d.Features["action"] != "ekyc.id_card" || d.Features["result"] != tt.result {
				t.Fatalf("decision %+v", d)
			}
			if n, _ := d.Features["ip_attempts_24h"].(int64); n != 0 {
				t.Fatalf("first event of the address counted %d before it", n)
			}
		})
	}
}

// TestVerificationIPFromRequest: two attempts from one address count in
// that address's velocity, which only the request context carries.
func TestVerificationIPFromRequest(t *testing.T) {
	f := newFixture(t)
	ctx := audit.WithMeta(context.Background(), audit.Meta{ClientIP: "198.51.100.7"})
	h := risk.Verification{Engine: f.eng, Log: f.log}
	ev := ekyc.AttemptEvent{InstitutionID: "cl_bank", SessionID: "kyc_1", Method: ekyc.Carrier, Result: "failure", Time: base}
	h.ObserveAttempt(ctx, ev)
	ev.Time = base.Add(time.Second)
	h.ObserveAttempt(ctx, ev)
	ds := f.decisions(t)
	// Both are decided at the engine's one instant, so their order is
	// the store's; the later event must count the earlier one.
	if len(ds) != 2 || toInt(ds[0].Features["ip_attempts_1m"])+toInt(ds[1].Features["ip_attempts_1m"]) != 1 {
		t.Fatalf("decisions %+v", ds)
	}
}

func TestOperatorActions(t *testing.T) {
	tests := []struct {
		name   string
		status int
		result string
	}{
		{"2xx is a success", 200, "success"},
		{"3xx is a success", 302, "success"},
		{"4xx is a failure", 403, "failure"},
		{"5xx is a failure", 503, "failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			risk.Operator{Engine: f.eng, Log: f.log}.ObserveOperator(t.Context(), api.OperatorEvent{OperatorID: "op_1",
				Route: "/v1/operator/customers/{id}/login-state/{method}/clear", Method: "POST", CustomerID: "cus_1",
				IP: "192.0.2.5", Status: tt.status, Time: base})
			d := f.only(t)
			if d.Kind != fds.KindOperator || d.InstitutionID != risk.PlatformInstitution || d.CustomerID != "op_1" ||
				d.Features["action"] != "POST:customers.id.login-state.method.clear" || d.Features["result"] != tt.result {
				t.Fatalf("decision %+v", d)
			}
		})
	}
}

func TestOperatorEngineDown(t *testing.T) {
	f := newFixture(t)
	risk.Operator{Engine: broken(t), Log: f.log}.ObserveOperator(t.Context(), api.OperatorEvent{Route: "/v1/operator/risk/cases", Method: "GET", Status: 200, Time: base})
	if !strings.Contains(f.logs.String(), "fraud engine could not decide") {
		t.Fatalf("log:\n%s", f.logs.String())
	}
}

func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case int:
		return int64(n)
	}
	return -1
}
