package checkout

import "time"

// Payment is a gateway transaction as the gateway shows it (its View):
// the card masked to BIN + last 4, nothing secret.
type Payment struct {
	ID             string     `json:"id"`
	MerchantID     string     `json:"merchant_id"`
	OrderNo        string     `json:"order_no"`
	ItemName       string     `json:"item_name"`
	Amount         int64      `json:"amount"`
	Quantity       int64      `json:"quantity"`
	Currency       string     `json:"currency"`
	Mode           string     `json:"mode"`
	Code           string     `json:"code"`
	Reason         string     `json:"reason,omitempty"`
	Status         string     `json:"status"`
	Card           string     `json:"card,omitempty"`
	ApprovalCode   string     `json:"approval_code,omitempty"`
	DeclineReason  string     `json:"decline_reason,omitempty"`
	RefundedAmount int64      `json:"refunded_amount"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	ConfirmedAt    *time.Time `json:"confirmed_at,omitempty"`
}

// Transaction codes and the statuses a checkout ends in.
const (
	CodeNormal   = "NORMAL"
	CodeAbnormal = "ABNORMAL"

	StatusAbnormal = "abnormal"
	StatusVerified = "verified"
	StatusApproved = "approved"
	StatusDeclined = "declined"
)

// Approved reports whether the card network approved the payment. The
// order is not paid until the merchant confirms it server to server.
func (p *Payment) Approved() bool { return p.Status == StatusApproved }
