package risk

import (
	"context"
	"log/slog"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/fds"
)

// Verification is the eKYC observer: every counted attempt of a method is
// decided and recorded, so verification failures count in the customer's
// and the address's velocity. It acts on nothing itself: a session's
// outcome is the policy's, and the institution sees the decision through
// the risk API.
type Verification struct {
	Engine *fds.Engine
	Log    *slog.Logger // nil: slog.Default()
}

var _ ekyc.RiskObserver = Verification{}

// ObserveAttempt decides the attempt. The address is the request's, which
// the API puts in the context.
func (h Verification) ObserveAttempt(ctx context.Context, a ekyc.AttemptEvent) {
	decide(ctx, h.Engine, h.Log, fds.Event{Kind: fds.KindVerification, Action: "ekyc." + string(a.Method),
		InstitutionID: a.InstitutionID, CustomerID: a.CustomerID, IP: audit.MetaFrom(ctx).ClientIP,
		Result: result(a.Result), Time: a.Time})
}
