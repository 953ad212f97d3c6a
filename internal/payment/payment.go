// Package payment is haechi as a payment gateway: merchants, checkout
// transactions verified server-to-server against the merchant's own record
// of the order (Heo & Lee's protocol, strengthened with a keyed TID; see
// internal/payinfo), card authorization with the merchant's amount, the
// merchant's confirmation, net-cancel, refunds and signed webhooks.
//
// Steps, numbered as in the paper's figure 5:
//
//	1–3   the merchant server creates the order and its TID_S (sdk/merchant)
//	4–6   the checkout client sends C and TID_C             → Service.Checkout
//	7–9   the gateway looks the order up at the merchant, compares, and
//	      issues NORMAL or ABNORMAL(reason)                  (Checkout)
//	10–15 on NORMAL only, card data; authorization with S's amount
//	                                                         → Service.Authorize
//	16–19 result to the client and, by webhook, the merchant; the merchant
//	      confirms server-to-server                          → Service.Confirm
//	      or the gateway net-cancels                         → NetCancel, Sweep
//
// A merchant in legacy mode skips 7–9 (the paper's vulnerable baseline):
// the gateway charges whatever amount the client sent. It exists to show
// the attack and for migrations, is allowed only when the server is
// configured for it, and every legacy transaction is logged as a warning.
package payment

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/webhook"
)

// Mode is how a merchant's checkouts are verified.
type Mode string

const (
	Protected Mode = "protected" // server-to-server lookup and TID check (the default)
	Legacy    Mode = "legacy"    // no check: the client's amount is charged
)

// Code is the transaction code of steps 7–9.
type Code string

const (
	Normal   Code = "NORMAL"
	Abnormal Code = "ABNORMAL"
)

// Status of a transaction.
type Status string

const (
	StatusAbnormal     Status = "abnormal"      // ABNORMAL: ended at checkout, no card data taken
	StatusVerified     Status = "verified"      // NORMAL: waiting for card data until ExpiresAt
	StatusExpired      Status = "expired"       // NORMAL but no card data in time
	StatusAuthorizing  Status = "authorizing"   // at the card network (holds the order)
	StatusApproved     Status = "approved"      // approved, waiting for the merchant's confirmation (holds the order)
	StatusConfirmed    Status = "confirmed"     // the merchant checked code and amount (holds the order)
	StatusDeclined     Status = "declined"      // the card network declined
	StatusRefused      Status = "refused"       // the fraud engine denied it before the card network
	StatusFailed       Status = "failed"        // the network never answered; reversed by the sweeper
	StatusNetCancelled Status = "net_cancelled" // approved, then reversed because the merchant refused or never confirmed
	StatusPartRefunded Status = "partially_refunded"
	StatusRefunded     Status = "refunded"
)

// HoldsOrder reports whether a transaction in s is the order's one payment:
// no other transaction of the order may enter these statuses (the store
// enforces it with a unique index).
func (s Status) HoldsOrder() bool {
	switch s {
	case StatusAuthorizing, StatusApproved, StatusConfirmed, StatusPartRefunded, StatusRefunded:
		return true
	}
	return false
}

// Defaults of the Service's durations.
const (
	DefaultCheckoutTTL   = 15 * time.Minute // NORMAL → card data
	DefaultConfirmWindow = 10 * time.Minute // approved → merchant confirms, else net-cancel
	DefaultAuthLease     = 30 * time.Second // one authorization call's claim
	DefaultAuthGiveUp    = 10 * time.Minute // authorizing this long → reversed (failed)
)

// MerchantRecord is a merchant as stored; the TID key is sealed (AAD
// table "merchants", column "tid_key", row id = ID).
type MerchantRecord struct {
	ID           string // "mch_…"
	ClientID     string // the institution client its API keys belong to (scope payment)
	Name         string
	LookupURL    string // where the gateway looks orders up (steps 7–8)
	Mode         Mode
	SealedTIDKey []byte
	CreatedAt    time.Time
	DisabledAt   *time.Time
}

// Transaction is one checkout and its payment. Info is what will be (or
// was) charged: the merchant's S in protected mode, the client's C in
// legacy mode; Claimed is C as the client sent it (kept for forensics of
// an ABNORMAL code; it holds no card data).
type Transaction struct {
	ID         string // "ptx_…"
	MerchantID string
	Info       payinfo.Info
	Claimed    payinfo.Info
	Mode       Mode
	Code       Code
	Reason     payinfo.Reason
	Status     Status

	ClientSecretMAC []byte // MAC(pepper, client secret); the secret is shown once

	PANSealed     []byte // AAD table "payment_transactions", column "pan", row id = ID
	PANMasked     string // BIN + last 4
	ApprovalCode  string
	DeclineReason string
	AuthAttempts  int        // card network calls made
	AuthLeaseEnd  *time.Time // an authorization call in flight until then

	RefundedAmount int64
	ConfirmedAt    *time.Time
	ExpiresAt      time.Time // verified → card data deadline; approved → confirmation deadline
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Version        int
}

// Refund is one reversal at the card network: a net-cancel or a refund.
// It is written pending before the network is asked (so a crash between
// the two is retried by the sweeper with the same Key) and done after.
type Refund struct {
	ID            string // "prf_…", also the network's idempotency key
	TransactionID string
	Kind          RefundKind
	Amount        int64
	Reason        string
	Status        RefundStatus
	NetworkRef    string
	CreatedAt     time.Time
	DoneAt        *time.Time
}

// RefundKind distinguishes net-cancels from refunds.
type RefundKind string

const (
	KindNetCancel RefundKind = "net_cancel"
	KindRefund    RefundKind = "refund"
	KindReversal  RefundKind = "reversal" // an authorization that never answered
)

// RefundStatus of a Refund.
type RefundStatus string

const (
	RefundPending RefundStatus = "pending"
	RefundDone    RefundStatus = "done"
)

// Change is one transition of a transaction, written atomically: T (with
// Version = PrevVersion+1) replaces the stored transaction only while it is
// still at PrevVersion, together with the refunds to insert or update (by
// ID), the webhook events for the merchant and the audit entries.
type Change struct {
	T           *Transaction
	PrevVersion int
	Refunds     []Refund
	Events      []webhook.Event
	Audit       []audit.Entry
}

// Store keeps merchants and transactions (internal/sqlstore/payment*.go).
//
// SavePaymentTransaction is a compare-and-set: a transaction changed since
// PrevVersion is errs.ErrConflict and nothing is written. A change that
// would give an order a second transaction in a status that HoldsOrder is
// ErrOrderTaken and nothing is written.
//
// OrderHolder returns the transaction of the order whose status HoldsOrder,
// or errs.ErrNotFound.
//
// DuePaymentTransactions returns up to limit transactions needing the
// sweeper at now: verified past ExpiresAt, approved past ExpiresAt,
// authorizing with no lease in flight for DefaultAuthGiveUp (UpdatedAt
// before now − giveUp), and those with a pending refund.
type Store interface {
	CreateMerchant(ctx context.Context, m *MerchantRecord, e audit.Entry) error
	Merchant(ctx context.Context, id string) (*MerchantRecord, error)
	MerchantByClient(ctx context.Context, clientID string) (*MerchantRecord, error)
	Merchants(ctx context.Context) ([]*MerchantRecord, error)

	CreatePaymentTransaction(ctx context.Context, t *Transaction, evs []webhook.Event, e audit.Entry) error
	PaymentTransaction(ctx context.Context, id string) (*Transaction, error)
	OrderHolder(ctx context.Context, merchantID, orderNo string) (*Transaction, error)
	SavePaymentTransaction(ctx context.Context, c Change) error
	DuePaymentTransactions(ctx context.Context, now time.Time, giveUp time.Duration, limit int) ([]*Transaction, error)
	PaymentRefunds(ctx context.Context, transactionID string) ([]Refund, error)

	AppendAudit(ctx context.Context, e audit.Entry) error
}

// Lookup asks a merchant server for its record of an order (steps 7–8).
// Order returns S with TID_S as the merchant answered (unverified: Compare
// checks the TID). A merchant that does not know the order gives
// ErrUnknownOrder; one that cannot be reached, answers late, or answers
// anything malformed gives an error wrapping errs.ErrUnavailable.
type Lookup interface {
	Order(ctx context.Context, m *MerchantRecord, orderNo string) (payinfo.Tagged, error)
}

// RiskHook connects payments to the fraud engine (internal/risk.Payment).
// ObserveAbnormal hears every ABNORMAL code. ReviewAuthorization is asked
// before the card network; Deny refuses the payment (StatusRefused).
type RiskHook interface {
	ObserveAbnormal(ctx context.Context, ev RiskEvent)
	ReviewAuthorization(ctx context.Context, ev RiskEvent) RiskVerdict
}

// RiskEvent is one payment event for the fraud engine. InstitutionID is
// the merchant's client.
type RiskEvent struct {
	TransactionID string
	InstitutionID string
	MerchantID    string
	Reason        payinfo.Reason // ABNORMAL only
	AmountKRW     int64
	BIN           string // authorization only
	IP            string
	Time          time.Time
}

// RiskVerdict is the engine's answer to an authorization.
type RiskVerdict struct {
	Deny       bool
	DecisionID string
}

// Webhook event types sent to the merchant's endpoint; the payload is the
// transaction's View.
const (
	EventAbnormal     = "payment.abnormal"
	EventApproved     = "payment.approved"
	EventDeclined     = "payment.declined"
	EventConfirmed    = "payment.confirmed"
	EventNetCancelled = "payment.net_cancelled"
	EventRefunded     = "payment.refunded"
	EventFailed       = "payment.failed"
	EventRefused      = "payment.refused" // the fraud engine denied it before the card network
	EventExpired      = "payment.expired" // NORMAL, but no card data came in time
)

// Errors of this package.
var (
	ErrInvalidPaymentInfo = errs.New(errs.Invalid, "invalid_payment_info",
		"The payment information is not valid.", "결제 정보가 올바르지 않습니다.")
	ErrUnknownOrder = errs.New(errs.NotFound, "unknown_order",
		"The merchant does not know this order.", "가맹점에 없는 주문입니다.")
	ErrTransactionNotFound = errs.New(errs.NotFound, "transaction_not_found",
		"The transaction does not exist.", "거래가 없습니다.")
	ErrMerchantNotFound = errs.New(errs.NotFound, "merchant_not_found",
		"The caller is not a registered merchant.", "등록된 가맹점이 아닙니다.")
	ErrTransactionAbnormal = errs.New(errs.Conflict, "transaction_abnormal",
		"The transaction failed verification; no payment can be made on it.",
		"검증에 실패한 거래입니다. 결제할 수 없습니다.")
	ErrTransactionCompleted = errs.New(errs.Conflict, "transaction_completed",
		"The transaction is already completed.", "이미 완료된 거래입니다.")
	ErrTransactionExpired = errs.New(errs.Conflict, "transaction_expired",
		"The transaction expired; start the checkout again.", "거래가 만료되었습니다. 결제를 다시 시작하세요.")
	ErrOrderPaid = errs.New(errs.Conflict, "order_already_paid",
		"This order is already paid.", "이미 결제된 주문입니다.")
	ErrOrderTaken = errs.New(errs.Conflict, "order_in_payment",
		"Another payment of this order is in progress or done.", "이 주문의 다른 결제가 진행 중이거나 완료되었습니다.")
	ErrPaymentRefused = errs.New(errs.Forbidden, "payment_refused",
		"The payment was refused.", "결제가 거절되었습니다.")
	ErrCardNetwork = errs.New(errs.Unavailable, "card_network_unavailable",
		"The card network did not answer; retry with the same card. You will not be charged twice.",
		"카드사 응답이 없습니다. 같은 카드로 다시 시도하세요. 중복 청구되지 않습니다.")
	ErrConfirmMismatch = errs.New(errs.Conflict, "confirm_mismatch",
		"The payment does not match the merchant's order; it was cancelled.",
		"결제가 가맹점 주문과 일치하지 않아 취소되었습니다.")
	ErrConfirmWrongOrder = errs.New(errs.Conflict, "confirm_wrong_order",
		"The payment is for another order; nothing was changed.",
		"다른 주문의 결제입니다. 아무것도 바뀌지 않았습니다.")
	ErrNotConfirmable = errs.New(errs.Conflict, "not_confirmable",
		"Only an approved payment can be confirmed.", "승인된 결제만 확인할 수 있습니다.")
	ErrNotCancellable = errs.New(errs.Conflict, "not_cancellable",
		"This payment cannot be cancelled in its current state.", "현재 상태에서는 결제를 취소할 수 없습니다.")
	ErrRefundExceeds = errs.New(errs.Invalid, "refund_exceeds_balance",
		"The refund is larger than what is left of the payment.", "환불 금액이 남은 결제 금액보다 큽니다.").WithField("amount")
	ErrLegacyNotAllowed = errs.New(errs.Invalid, "legacy_not_allowed",
		"Legacy (unverified) mode is not enabled on this server.", "이 서버에서는 레거시(미검증) 모드를 쓸 수 없습니다.").WithField("mode")
)
