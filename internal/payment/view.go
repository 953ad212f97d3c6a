package payment

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/webhook"
)

// View is the transaction as shown: the charged information, the code,
// the status and the card masked to BIN + last 4. Nothing secret (client
// secret MAC, sealed PAN, lease) leaves through it.
func (t *Transaction) View() *View {
	v := &View{ID: t.ID, MerchantID: t.MerchantID, OrderNo: t.Info.OrderNo, ItemName: t.Info.ItemName,
		Amount: t.Info.Amount, Quantity: t.Info.Quantity, Currency: t.Info.Currency, Mode: t.Mode,
		Code: t.Code, Reason: t.Reason, Status: t.Status, Card: t.PANMasked, ApprovalCode: t.ApprovalCode,
		DeclineReason: t.DeclineReason, RefundedAmount: t.RefundedAmount, CreatedAt: t.CreatedAt,
		ConfirmedAt: t.ConfirmedAt}
	// A deadline means something only while it is running.
	if t.Status == StatusVerified || t.Status == StatusApproved {
		exp := t.ExpiresAt
		v.ExpiresAt = &exp
	}
	return v
}

// eventBody is a webhook's payload: the event type and the masked view.
type eventBody struct {
	Type        string `json:"type"`
	Transaction *View  `json:"transaction"`
}

// announce is the merchant's webhook event about t as it is now.
func announce(t *Transaction, typ string, now time.Time) (webhook.Event, error) {
	body, err := json.Marshal(eventBody{Type: typ, Transaction: t.View()})
	if err != nil {
		return webhook.Event{}, fmt.Errorf("webhook payload of %s: %w", t.ID, err)
	}
	return webhook.NewEvent(t.MerchantID, typ, body, now), nil
}

// Audit actions and actors of the gateway.
const (
	actMerchantCreate = "payment.merchant.create"
	actCheckout       = "payment.checkout"
	actAuthorize      = "payment.authorize"
	actRefuse         = "payment.refuse"
	actConfirm        = "payment.confirm"
	actExpire         = "payment.expire"
	actNetCancel      = "payment.net_cancel"
	actRefund         = "payment.refund"
	actReverse        = "payment.reverse"
	actReversalDone   = "payment.reversal"

	actorBuyer   = "checkout" // the buyer's checkout client
	actorGateway = "payment"  // the gateway's own sweeper

	resultAbnormal = "abnormal"
)

// entry is an audit entry about t; details hold ids, codes and amounts
// only (the card appears masked, if at all).
func entry(now time.Time, actor, action string, t *Transaction, result string, details map[string]string) audit.Entry {
	d := map[string]string{"merchant": t.MerchantID, "order": t.Info.OrderNo, "status": string(t.Status)}
	for k, v := range details {
		d[k] = v
	}
	return audit.Entry{Time: now, Actor: actor, Action: action, Target: t.ID, Result: result, Details: d}
}
