// Package checkout is the Go checkout client — the paper's "PG program" —
// that a buyer's app runs against haechi's payment gateway (steps 4–6 and
// 10–11 of Heo & Lee's figure 5; see internal/payment):
//
//	4–6   Start sends the payment information C, copied from the
//	      merchant's S, with TID_C, and gets the transaction code
//	10–11 Pay sends the card, and only for a NORMAL transaction
//
// The gateway decides; this client only makes sure that card data never
// leaves the buyer's device for a transaction the gateway found ABNORMAL,
// and that a retry after a lost answer cannot charge twice.
//
// The package imports of haechi only internal/payinfo, internal/mask and
// sdk/internal/gateway (what it shares with sdk/merchant).
// Info and Tagged are aliases of the payinfo types, so code outside this
// module can name them.
package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/sdk/internal/gateway"
)

// Info is one order's payment information (payinfo.Info).
type Info = payinfo.Info

// Tagged is payment information with its TID (payinfo.Tagged).
type Tagged = payinfo.Tagged

// Client talks to the gateway's public checkout API. The zero value needs
// only Gateway.
type Client struct {
	Gateway string       // the gateway's base URL
	HTTP    *http.Client // nil: a 15 s client that follows no redirect

	// Sleep waits between retries; nil waits on a timer that ctx cancels.
	// Tests inject one so that nothing sleeps.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Transaction is the gateway's answer to Start: the transaction as shown
// (code NORMAL or ABNORMAL with its reason) and, for NORMAL only, the
// client secret Pay must present. The secret never prints or marshals.
type Transaction struct {
	Payment
	ClientSecret string `json:"-"`
}

// Errors of the checkout client.
var (
	ErrAbnormal  = errors.New("checkout: the gateway found the payment information ABNORMAL; no card data is sent")
	ErrInvalid   = errors.New("checkout: invalid argument")
	ErrBadAnswer = errors.New("checkout: gateway answer does not fit the request")
)

// Start is steps 4–6 with a fresh Idempotency-Key; see StartWithKey.
func (c *Client) Start(ctx context.Context, s payinfo.Tagged) (*Transaction, error) {
	return c.StartWithKey(ctx, NewIdempotencyKey(), s)
}

// StartWithKey copies the merchant's S into C and sends C with TID_C
// (POST /v1/checkout/transactions). TID_C is S's TID as is: the TID is an
// HMAC under a key only the merchant and the gateway hold, so the client
// cannot compute one (which is the point — the paper's unkeyed TID is one
// an attacker recomputes after changing the amount); the gateway checks it
// against the merchant's own answer. C is not validated here: the gateway
// does, and answers 400 invalid_payment_info naming the field.
//
// A lost answer, a 5xx or a request still running is retried with key;
// an app that restarts mid-checkout calls StartWithKey with the key it
// used, so the gateway replays its first answer instead of starting over.
// An ABNORMAL code is an answer, not an error: check Transaction.Code.
func (c *Client) StartWithKey(ctx context.Context, key string, s payinfo.Tagged) (*Transaction, error) {
	if !ValidIdempotencyKey(key) {
		return nil, fmt.Errorf("%w: idempotency key", ErrInvalid)
	}
	C := s // steps 4–5: C is S, field for field, with TID_C = TID_S
	var out struct {
		Transaction  *Payment `json:"transaction"`
		ClientSecret string   `json:"client_secret"`
	}
	if err := c.post(ctx, "/v1/checkout/transactions", key, C, &out); err != nil {
		return nil, err
	}
	if out.Transaction == nil || out.Transaction.ID == "" {
		return nil, fmt.Errorf("%w: no transaction", ErrBadAnswer)
	}
	return &Transaction{Payment: *out.Transaction, ClientSecret: out.ClientSecret}, nil
}

// Pay is steps 10–11 with a fresh Idempotency-Key; see PayWithKey.
func (c *Client) Pay(ctx context.Context, tx *Transaction, card Card) (*Payment, error) {
	return c.PayWithKey(ctx, NewIdempotencyKey(), tx, card)
}

// PayWithKey sends the card for tx (POST
// /v1/checkout/transactions/{id}/authorize) and returns the payment,
// approved or declined (a decline is an answer, not an error). A
// transaction that is not NORMAL is refused here with ErrAbnormal before
// anything is sent, so no card data ever leaves for it.
//
// A card network that does not answer (503 card_network_unavailable), a
// lost answer or a request still running is retried up to 3 times with
// the same key: the gateway runs a key once and replays its answer, and
// asks the card network with the transaction id as its key, so a timeout
// never charges twice. Call PayWithKey with the same key to retry later.
func (c *Client) PayWithKey(ctx context.Context, key string, tx *Transaction, card Card) (*Payment, error) {
	switch {
	case tx == nil:
		return nil, fmt.Errorf("%w: no transaction", ErrInvalid)
	case tx.Code != CodeNormal:
		return nil, fmt.Errorf("%w (reason %q)", ErrAbnormal, tx.Reason)
	case tx.ClientSecret == "":
		return nil, fmt.Errorf("%w: the transaction has no client secret", ErrInvalid)
	case !gateway.ValidTransactionID(tx.ID):
		return nil, fmt.Errorf("%w: transaction id", ErrInvalid)
	case !ValidIdempotencyKey(key):
		return nil, fmt.Errorf("%w: idempotency key", ErrInvalid)
	}
	body := authorizeBody{ClientSecret: tx.ClientSecret, Card: wireCard(card)}
	var p Payment
	path := "/v1/checkout/transactions/" + url.PathEscape(tx.ID) + "/authorize"
	if err := c.post(ctx, path, key, body, &p); err != nil {
		return nil, err
	}
	if p.ID != tx.ID {
		return nil, fmt.Errorf("%w: authorized %q for %s", ErrBadAnswer, p.ID, tx.ID)
	}
	return &p, nil
}

// authorizeBody is the only place the full card is written; its card
// member is wireCard, whose JSON holds the PAN and CVV (Card's own does
// not).
type authorizeBody struct {
	ClientSecret string   `json:"client_secret"`
	Card         wireCard `json:"card"`
}

type wireCard struct {
	PAN    string `json:"pan"`
	Expiry string `json:"expiry"`
	CVV    string `json:"cvv"`
}

// String shows the transaction without its client secret.
func (t Transaction) String() string {
	s := "transaction " + t.ID + " " + t.Code
	if t.Reason != "" {
		s += "(" + t.Reason + ")"
	}
	return s + " " + t.Status
}

// GoString keeps %#v from printing the client secret.
func (t Transaction) GoString() string {
	return "checkout.Transaction{ID: " + strconv.Quote(t.ID) + ", Code: " + strconv.Quote(t.Code) + "}"
}

// Format makes every verb print String (or GoString for %#v).
func (t Transaction) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, t.GoString())
		return
	}
	fmt.Fprint(f, t.String())
}

// LogValue keeps slog from printing the client secret.
func (t Transaction) LogValue() slog.Value { return slog.StringValue(t.String()) }
