package risk

import (
	"context"
	"log/slog"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/payment"
)

// Payment is the gateway's hook. Every ABNORMAL checkout is recorded as a
// failed payment event of the buyer's address, so tampering counts in
// that address's velocity; every authorization is decided before the card
// network is asked, and only a deny refuses it. Review and step-up open
// no door and close none here: a review opens an analyst's case, and the
// payment goes on.
type Payment struct {
	Engine *fds.Engine
	Log    *slog.Logger // nil: slog.Default()
}

var _ payment.RiskHook = Payment{}

// Actions of payment events.
const (
	ActionPaymentAbnormal  = "payment.abnormal"
	ActionPaymentAuthorize = "payment.authorize"
)

// ObserveAbnormal records the ABNORMAL checkout as a failure, with the
// amount the client claimed. The transaction id is the event's id, so one
// checkout is recorded once.
func (h Payment) ObserveAbnormal(ctx context.Context, ev payment.RiskEvent) {
	decide(ctx, h.Engine, h.Log, fds.Event{ID: ev.TransactionID, Kind: fds.KindPayment,
		Action: ActionPaymentAbnormal, Result: fds.ResultFailure, InstitutionID: ev.InstitutionID,
		IP: paymentIP(ctx, ev), AmountKRW: ev.AmountKRW, Time: ev.Time})
}

// ReviewAuthorization decides the authorization before its outcome is
// known. Without an engine, or when it cannot decide, the payment goes on.
func (h Payment) ReviewAuthorization(ctx context.Context, ev payment.RiskEvent) payment.RiskVerdict {
	d := decide(ctx, h.Engine, h.Log, fds.Event{Kind: fds.KindPayment, Action: ActionPaymentAuthorize,
		InstitutionID: ev.InstitutionID, IP: paymentIP(ctx, ev), AmountKRW: ev.AmountKRW, BIN: ev.BIN,
		Time: ev.Time})
	if d == nil {
		return payment.RiskVerdict{}
	}
	return payment.RiskVerdict{Deny: d.Outcome == fds.Deny, DecisionID: d.ID}
}

// paymentIP is the buyer's address as the gateway saw it, else the
// request's.
func paymentIP(ctx context.Context, ev payment.RiskEvent) string {
	if ev.IP != "" {
		return ev.IP
	}
	return audit.MetaFrom(ctx).ClientIP
}
