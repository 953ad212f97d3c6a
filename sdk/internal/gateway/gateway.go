// Package gateway is what the two SDKs share of talking to haechi's
// payment gateway: the transaction as the gateway shows it, its
// problem+json errors, idempotency keys, and the one JSON call that
// retries a lost answer with the same Idempotency-Key. The buyer's
// checkout client (sdk/checkout) and the merchant's server
// (sdk/merchant) expose these under their own names, as aliases and thin
// wrappers, so the rules live once.
//
// Like the SDKs, it imports nothing of haechi's server.
package gateway

import (
	"crypto/rand"
	"time"
)

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

// Transaction codes and statuses as the gateway writes them; each SDK
// names the ones its caller deals with.
const (
	CodeNormal   = "NORMAL"
	CodeAbnormal = "ABNORMAL"

	StatusAbnormal     = "abnormal"
	StatusVerified     = "verified"
	StatusApproved     = "approved"
	StatusDeclined     = "declined"
	StatusConfirmed    = "confirmed"
	StatusNetCancelled = "net_cancelled"
	StatusPartRefunded = "partially_refunded"
	StatusRefunded     = "refunded"
)

// Approved reports whether the card network approved the payment. The
// order is not paid until the merchant confirms it server to server.
func (p *Payment) Approved() bool { return p.Status == StatusApproved }

// The gateway's bounds of an Idempotency-Key; a transaction id is held to
// the same characters and upper bound.
const (
	minKeyLen = 16
	maxKeyLen = 128
)

// NewIdempotencyKey is 26 random base32 characters from crypto/rand,
// inside the gateway's 16–128 [A-Za-z0-9_-].
func NewIdempotencyKey() string { return rand.Text() }

// ValidIdempotencyKey is the gateway's rule: 16–128 of [A-Za-z0-9_-].
func ValidIdempotencyKey(s string) bool {
	return len(s) >= minKeyLen && len(s) <= maxKeyLen && idChars(s)
}

// ValidTransactionID is a gateway id ("ptx_…"): it goes into a URL path,
// so nothing that could change the path is sent.
func ValidTransactionID(s string) bool {
	return s != "" && len(s) <= maxKeyLen && idChars(s)
}

func idChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
