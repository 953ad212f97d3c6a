// Package cardnet is the card network the gateway authorizes payments at.
// Network has two implementations: Simulator, a deterministic built-in
// network of test cards for the demo and the tests (NOT a real card
// network), and HTTP, an adapter for a real acquirer or van, spoken to
// over a small JSON API.
//
// Every call carries a Key chosen by the gateway; a network answers a
// repeated Key with its first answer and does nothing twice. That is what
// makes a retry after a timeout safe: the gateway asks again with the same
// key and the card is charged at most once.
package cardnet

import (
	"context"
	"log/slog"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/mask"
)

// Card is what the buyer types. Its String, GoString and LogValue show the
// PAN masked to BIN + last 4 and never the CVV, so a card printed or
// logged by mistake leaks nothing.
type Card struct {
	PAN    string // 13–19 digits, Luhn-valid
	Expiry string // "MM/YY"
	CVV    string // 3 or 4 digits; never stored, never logged
}

// Authorization asks the network to approve AmountKRW on Card.
type Authorization struct {
	Key        string // idempotency key: the gateway's transaction id
	Card       Card
	AmountKRW  int64
	MerchantID string
}

// Status of an authorization.
type Status string

const (
	Approved          Status = "approved"
	Declined          Status = "declined"
	InsufficientFunds Status = "insufficient_funds"
)

// Result is the network's answer. ApprovalCode is set when Approved.
type Result struct {
	Status       Status
	ApprovalCode string
	Reason       string // the network's short reason for a decline
}

// Cancellation reverses all or part of an approved authorization: a
// net-cancel (망취소) when the merchant refuses the result, a refund later.
type Cancellation struct {
	Key       string // idempotency key of this cancellation
	AuthKey   string // the Authorization.Key it reverses
	AmountKRW int64
}

// Network is a card network.
//
// Authorize answers a decided authorization as a Result (a decline is not
// an error). A network that does not answer in time or cannot be reached
// gives an error wrapping errs.ErrUnavailable: the card may or may not have
// been charged, and the caller must ask again with the same Key (or
// cancel it) before it gives up.
//
// Cancel reverses AmountKRW of AuthKey's approval, at most once per Key;
// cancelling more than is left, or an authorization the network never
// approved, is ErrNotCancellable.
type Network interface {
	Authorize(ctx context.Context, a Authorization) (Result, error)
	Cancel(ctx context.Context, c Cancellation) (ref string, err error)
}

// Errors of this package.
var (
	ErrInvalidCard = errs.New(errs.Invalid, "invalid_card",
		"The card number, expiry or security code is not valid.",
		"카드 번호, 유효기간 또는 보안코드가 올바르지 않습니다.")
	ErrCardExpired = errs.New(errs.Invalid, "card_expired",
		"The card has expired.", "카드 유효기간이 지났습니다.")
	ErrNotCancellable = errs.New(errs.Conflict, "not_cancellable",
		"The card network cannot cancel this amount.", "카드사에서 이 금액을 취소할 수 없습니다.")
)

// Masked is the PAN as shown anywhere: BIN (first 6) + last 4.
func (c Card) Masked() string { return mask.PAN(c.PAN) }

// String never shows the full PAN or the CVV.
func (c Card) String() string { return "card " + c.Masked() }

// GoString keeps %#v from printing the PAN or the CVV.
func (c Card) GoString() string { return "cardnet.Card{" + c.Masked() + "}" }

// LogValue keeps slog from printing the PAN or the CVV.
func (c Card) LogValue() slog.Value { return slog.StringValue(c.String()) }
