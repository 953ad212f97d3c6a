package payment

import (
	"context"
	"log/slog"
	"time"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/webhook"
)

// Service runs the gateway. Store, Ring, Pepper, Lookup, Network and Now
// are required; Institutions and Webhooks for RegisterMerchant only; Risk
// may be nil (no fraud engine).
type Service struct {
	Store        Store
	Ring         *crypto.Keyring
	Pepper       []byte // keys client-secret MACs
	Lookup       Lookup
	Network      cardnet.Network
	Institutions *institution.Service // a merchant's client and API key
	Webhooks     *webhook.Service     // a merchant's endpoint; its secrets also sign lookups
	Risk         RiskHook
	AllowLegacy  bool // legacy-mode merchants may be registered and served
	Log          *slog.Logger
	Now          func() time.Time

	CheckoutTTL   time.Duration // DefaultCheckoutTTL when 0
	ConfirmWindow time.Duration // DefaultConfirmWindow when 0
	AuthLease     time.Duration // DefaultAuthLease when 0
	AuthGiveUp    time.Duration // DefaultAuthGiveUp when 0
	LookupTimeout time.Duration // DefaultLookupTimeout when 0: a merchant answering later is unreachable
}

// NewMerchant is what an operator (or the CLI) registers.
type NewMerchant struct {
	Name       string
	LookupURL  string
	WebhookURL string
	Mode       Mode // "" is Protected
}

// MerchantCredentials are shown once at registration: the API key the
// merchant calls the gateway with (scope payment), the TID key (hex, 32
// bytes) it computes TIDs with, and the webhook secret that signs the
// gateway's webhooks and order lookups.
type MerchantCredentials struct {
	Merchant      *Merchant
	APIKey        string
	TIDKey        string
	WebhookSecret string
}

// Merchant is a merchant as shown (no key material).
type Merchant struct {
	ID        string    `json:"id"`
	ClientID  string    `json:"client_id"`
	Name      string    `json:"name"`
	LookupURL string    `json:"lookup_url"`
	Mode      Mode      `json:"mode"`
	CreatedAt time.Time `json:"created_at"`
}

// CheckoutRequest is steps 4–6: C with TID_C as the client sent it, and
// the client's address for the fraud engine.
type CheckoutRequest struct {
	C  payinfo.Tagged
	IP string
}

// Checkout is the answer of steps 7–9. ClientSecret is set for NORMAL
// only: the checkout client must present it with the card data, so that
// knowing a transaction id is not enough to pay (or probe cards) on it.
type Checkout struct {
	Transaction  *View
	ClientSecret string
}

// AuthorizeRequest is steps 10–11: the card for a NORMAL transaction.
type AuthorizeRequest struct {
	TransactionID string
	ClientSecret  string
	Card          cardnet.Card
	IP            string
}

// View is a transaction as shown to the client, the merchant and
// operators: the card masked, nothing secret.
type View struct {
	ID             string         `json:"id"`
	MerchantID     string         `json:"merchant_id"`
	OrderNo        string         `json:"order_no"`
	ItemName       string         `json:"item_name"`
	Amount         int64          `json:"amount"`
	Quantity       int64          `json:"quantity"`
	Currency       string         `json:"currency"`
	Mode           Mode           `json:"mode"`
	Code           Code           `json:"code"`
	Reason         payinfo.Reason `json:"reason,omitempty"`
	Status         Status         `json:"status"`
	Card           string         `json:"card,omitempty"` // BIN + last 4
	ApprovalCode   string         `json:"approval_code,omitempty"`
	DeclineReason  string         `json:"decline_reason,omitempty"`
	RefundedAmount int64          `json:"refunded_amount"`
	CreatedAt      time.Time      `json:"created_at"`
	ExpiresAt      *time.Time     `json:"expires_at,omitempty"`
	ConfirmedAt    *time.Time     `json:"confirmed_at,omitempty"`
}

// RegisterMerchant creates a merchant: an institution client with scope
// payment and its API key, a TID key, and the webhook endpoint (whose
// secret also signs lookups). Mode Legacy needs AllowLegacy
// (ErrLegacyNotAllowed). Audited as "payment.merchant.create".
func (s *Service) RegisterMerchant(ctx context.Context, actor string, n NewMerchant) (*MerchantCredentials, error) {
	return s.registerMerchant(ctx, actor, n)
}

// Merchants lists every merchant.
func (s *Service) Merchants(ctx context.Context) ([]*Merchant, error) {
	return s.merchants(ctx)
}

// MerchantForClient is the merchant an authenticated institution client
// acts as; ErrMerchantNotFound when it is none.
func (s *Service) MerchantForClient(ctx context.Context, clientID string) (*Merchant, error) {
	return s.merchantForClient(ctx, clientID)
}

// Checkout runs steps 7–9 on C: validation (ErrInvalidPaymentInfo with the
// field; nothing recorded), then in protected mode the lookup at the
// merchant and payinfo.Compare, in legacy mode nothing. An order already
// paid is ErrOrderPaid. Every other outcome is a recorded transaction:
// NORMAL (status verified, with a client secret) or ABNORMAL with its
// reason (audited, announced to the merchant, and reported to Risk).
func (s *Service) Checkout(ctx context.Context, req CheckoutRequest) (*Checkout, error) {
	return s.checkout(ctx, req)
}

// Authorize runs steps 10–15 on a NORMAL transaction: the client secret
// must match (else ErrTransactionNotFound), the card must be valid
// (cardnet.ErrInvalidCard, cardnet.ErrCardExpired; nothing recorded), Risk
// may refuse (ErrPaymentRefused, status refused), the transaction takes
// the order (ErrOrderTaken if another did) and the card network is asked
// for the transaction's Info.Amount with the transaction id as key. A
// network that does not answer leaves the transaction authorizing and
// gives ErrCardNetwork: the retry asks again with the same key, so the
// card is charged once. Approved and declined results are recorded with
// the PAN sealed and masked, audited, and announced by webhook; the CVV
// is used for the one call and dropped.
func (s *Service) Authorize(ctx context.Context, req AuthorizeRequest) (*View, error) {
	return s.authorize(ctx, req)
}

// Payment shows a transaction of merchantID; another merchant's is
// ErrTransactionNotFound.
func (s *Service) Payment(ctx context.Context, merchantID, id string) (*View, error) {
	t, err := s.loadFor(ctx, merchantID, id)
	if err != nil {
		return nil, err
	}
	return t.View(), nil
}

// PaymentAny shows any transaction, for operators.
func (s *Service) PaymentAny(ctx context.Context, id string) (*View, error) {
	t, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return t.View(), nil
}

// Confirm is the merchant's server-to-server check (step 18): orderNo and
// amount must be the approved transaction's; then it is confirmed. An
// amount mismatch net-cancels the payment and gives ErrConfirmMismatch; a
// payment of another order is ErrConfirmWrongOrder and stays as it is (it
// may be that order's honest payment). Only an
// approved transaction can be confirmed (ErrNotConfirmable); confirming a
// confirmed one again with the same values returns it unchanged.
func (s *Service) Confirm(ctx context.Context, merchantID, id, orderNo string, amount int64) (*View, error) {
	return s.confirm(ctx, merchantID, id, orderNo, amount)
}

// NetCancel reverses an approved (not yet confirmed) payment because the
// merchant's own check failed (step 19's failure branch).
func (s *Service) NetCancel(ctx context.Context, merchantID, id, reason string) (*View, error) {
	return s.netCancel(ctx, merchantID, id, reason)
}

// Refund reverses amount of a confirmed payment: 1 ≤ amount ≤ what is left
// (ErrRefundExceeds). Partial refunds add up to at most the amount.
func (s *Service) Refund(ctx context.Context, merchantID, id string, amount int64, reason string) (*View, error) {
	return s.refund(ctx, merchantID, id, amount, reason)
}

// Sweep does the gateway's own work due at now: expires unpaid NORMAL
// transactions, net-cancels approvals not confirmed within ConfirmWindow,
// reverses authorizations that never answered within AuthGiveUp, and
// retries pending refunds with their keys. It returns how many
// transactions it changed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	return s.sweep(ctx)
}
