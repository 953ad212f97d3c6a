package merchant

import (
	"context"
	"fmt"
	"net/http"

	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/sdk/internal/gateway"
)

// Payment is a gateway transaction as the gateway shows it (its View):
// the card masked to BIN + last 4, nothing secret.
type Payment = gateway.Payment

// Transaction codes and the statuses Confirm and Refund deal with.
const (
	CodeNormal   = gateway.CodeNormal
	CodeAbnormal = gateway.CodeAbnormal

	StatusApproved     = gateway.StatusApproved
	StatusConfirmed    = gateway.StatusConfirmed
	StatusNetCancelled = gateway.StatusNetCancelled
	StatusPartRefunded = gateway.StatusPartRefunded
	StatusRefunded     = gateway.StatusRefunded
)

// maxReason is the gateway's limit of a net-cancel or refund reason.
const maxReason = 200

// MismatchError is Confirm's refusal: the payment differs from the order
// in Field, so the order was not marked paid and the payment was
// net-cancelled — except a payment of another of the merchant's own
// orders (Field "order_no", Payment nil), which may be that order's honest
// payment and is left alone. When the net-cancel itself failed, CancelErr says why;
// the gateway reverses approvals nobody confirms, so the buyer is still
// not charged for long.
type MismatchError struct {
	Field     string   // first field that differed; "gateway" when the gateway's own check refused
	Payment   *Payment // the payment after the net-cancel; nil when it failed
	CancelErr error
}

func (e *MismatchError) Error() string {
	s := "merchant: payment does not match the order (" + e.Field + ")"
	if e.CancelErr != nil {
		s += "; net-cancel failed: " + e.CancelErr.Error()
	}
	return s
}

// Unwrap makes errors.Is(err, ErrMismatch) hold, and reaches CancelErr.
func (e *MismatchError) Unwrap() []error {
	if e.CancelErr == nil {
		return []error{ErrMismatch}
	}
	return []error{ErrMismatch, e.CancelErr}
}

// Payment fetches a transaction of this merchant; another merchant's is
// the gateway's 404 transaction_not_found.
func (m *Merchant) Payment(ctx context.Context, transactionID string) (*Payment, error) {
	if !gateway.ValidTransactionID(transactionID) {
		return nil, fmt.Errorf("%w: transaction id", ErrInvalid)
	}
	var p Payment
	if err := m.do(ctx, gateway.Call{Method: http.MethodGet, Path: paymentPath(transactionID, "")}, &p); err != nil {
		return nil, err
	}
	if p.ID != transactionID {
		return nil, fmt.Errorf("%w: asked for %s", ErrBadAnswer, transactionID)
	}
	return &p, nil
}

// Confirm is steps 16–19, server to server: it fetches the payment from
// the gateway (never trusting what came back through the buyer) and checks
// it against the stored order: code NORMAL, status approved, this
// merchant, orderNo, and the order's amount, quantity, currency and item.
// If all match it confirms at the gateway and marks the order paid. If
// anything differs it net-cancels the payment and returns a *MismatchError
// (errors.Is ErrMismatch) naming the field; the order is not marked paid.
//
// Confirm may be called again for the same payment (after a crash, or
// from both the return page and the webhook): a payment already confirmed
// that still matches is marked paid and returned. A payment that is not
// approved (declined, ABNORMAL, expired…) is ErrNotApproved and nothing is
// sent. An unknown orderNo is ErrOrderNotFound before the gateway is asked.
func (m *Merchant) Confirm(ctx context.Context, transactionID, orderNo string) (*Payment, error) {
	if m.Orders == nil {
		return nil, fmt.Errorf("%w: Orders", ErrConfig)
	}
	if !gateway.ValidTransactionID(transactionID) {
		return nil, fmt.Errorf("%w: transaction id", ErrInvalid)
	}
	o, err := m.Orders.Get(ctx, orderNo)
	if err != nil {
		return nil, err
	}
	p, err := m.Payment(ctx, transactionID)
	if err != nil {
		return nil, err
	}
	if p.Status != StatusApproved && p.Status != StatusConfirmed {
		return p, fmt.Errorf("%w: status %s", ErrNotApproved, p.Status)
	}
	if field := m.mismatch(o, orderNo, p); field != "" {
		if field == "order_no" && m.knownOrder(ctx, p.OrderNo) {
			// The payment is another of our orders' honest payment:
			// refuse it for this order, but do not cancel it.
			return nil, &MismatchError{Field: field}
		}
		return nil, m.refuse(ctx, p, field)
	}
	if p.Status == StatusApproved {
		if p, err = m.confirm(ctx, p.ID, orderNo, o.S.Amount); err != nil {
			return nil, err
		}
	}
	if err := m.Orders.MarkPaid(ctx, orderNo, p.ID); err != nil {
		return nil, fmt.Errorf("merchant: payment %s confirmed but not recorded: %w", p.ID, err)
	}
	return p, nil
}

// knownOrder reports whether orderNo is one of this merchant's orders.
func (m *Merchant) knownOrder(ctx context.Context, orderNo string) bool {
	_, err := m.Orders.Get(ctx, orderNo)
	return err == nil
}

// mismatch is the first field in which p differs from the order, "" when
// none does. The comparison is against the stored order, never the
// payment's own claims.
func (m *Merchant) mismatch(o Order, orderNo string, p *Payment) string {
	s := o.S.Info
	switch {
	case p.MerchantID != m.ID:
		return "merchant_id"
	case p.OrderNo != orderNo || p.OrderNo != s.OrderNo:
		return "order_no"
	case p.Code != CodeNormal:
		return "code"
	case p.Amount != s.Amount:
		return "amount"
	case p.Quantity != s.Quantity:
		return "quantity"
	case p.Currency != s.Currency:
		return "currency"
	case p.ItemName != s.ItemName:
		return "item_name"
	case o.Paid() && o.PaidBy != p.ID:
		return "already_paid"
	}
	return ""
}

// confirm is step 18 at the gateway. A gateway that finds its own
// mismatch net-cancels and answers confirm_mismatch: that is a refusal
// like ours.
func (m *Merchant) confirm(ctx context.Context, id, orderNo string, amount int64) (*Payment, error) {
	body := struct {
		OrderNo string `json:"order_no"`
		Amount  int64  `json:"amount"`
	}{orderNo, amount}
	var p Payment
	err := m.do(ctx, gateway.Call{Method: http.MethodPost, Path: paymentPath(id, "/confirm"), Body: body, Key: gateway.NewIdempotencyKey()}, &p)
	switch {
	case CodeOf(err) == "confirm_mismatch":
		return nil, &MismatchError{Field: "gateway"}
	case CodeOf(err) == "confirm_wrong_order":
		return nil, &MismatchError{Field: "order_no"}
	case err != nil:
		return nil, err
	case p.ID != id || p.Status != StatusConfirmed:
		return nil, fmt.Errorf("%w: confirm of %s answered status %q", ErrBadAnswer, id, p.Status)
	}
	return &p, nil
}

// refuse net-cancels p because the merchant's check failed on field.
func (m *Merchant) refuse(ctx context.Context, p *Payment, field string) error {
	cancelled, err := m.NetCancel(ctx, p.ID, "merchant_check_failed: "+field)
	return &MismatchError{Field: field, Payment: cancelled, CancelErr: err}
}

// NetCancel reverses an approved, not yet confirmed payment (the failure
// branch of step 19); reason is 1–200 characters.
func (m *Merchant) NetCancel(ctx context.Context, transactionID, reason string) (*Payment, error) {
	if !gateway.ValidTransactionID(transactionID) || reason == "" || len(reason) > maxReason {
		return nil, fmt.Errorf("%w: transaction id or reason", ErrInvalid)
	}
	body := struct {
		Reason string `json:"reason"`
	}{reason}
	var p Payment
	err := m.do(ctx, gateway.Call{Method: http.MethodPost, Path: paymentPath(transactionID, "/net-cancel"), Body: body, Key: gateway.NewIdempotencyKey()}, &p)
	if err != nil {
		return nil, err
	}
	if p.ID != transactionID {
		return nil, fmt.Errorf("%w: net-cancel of %s", ErrBadAnswer, transactionID)
	}
	return &p, nil
}

// Refund reverses amount won of a confirmed payment; partial refunds add
// up to at most the amount (the gateway's 400 refund_exceeds_balance).
// Retries after a lost answer reuse one Idempotency-Key, so a refund is
// made once per call.
func (m *Merchant) Refund(ctx context.Context, transactionID string, amount int64, reason string) (*Payment, error) {
	switch {
	case !gateway.ValidTransactionID(transactionID):
		return nil, fmt.Errorf("%w: transaction id", ErrInvalid)
	case amount < 1 || amount > payinfo.MaxAmount:
		return nil, fmt.Errorf("%w: amount", ErrInvalid)
	case reason == "" || len(reason) > maxReason:
		return nil, fmt.Errorf("%w: reason", ErrInvalid)
	}
	body := struct {
		Amount int64  `json:"amount"`
		Reason string `json:"reason"`
	}{amount, reason}
	var p Payment
	err := m.do(ctx, gateway.Call{Method: http.MethodPost, Path: paymentPath(transactionID, "/refunds"), Body: body, Key: gateway.NewIdempotencyKey()}, &p)
	if err != nil {
		return nil, err
	}
	if p.ID != transactionID {
		return nil, fmt.Errorf("%w: refund of %s", ErrBadAnswer, transactionID)
	}
	return &p, nil
}
