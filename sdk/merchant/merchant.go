// Package merchant is the Go SDK a merchant's server uses with haechi's
// payment gateway. Steps are numbered as in Heo & Lee's figure 5 (see
// internal/payment):
//
//	1–3   CreateOrder stores the order and tags it with TID_S; hand the
//	      returned S to the buyer (CheckoutURL)
//	7–8   LookupHandler answers the gateway's signed order lookup with S
//	      and TID_S, so the gateway can compare what the buyer's client
//	      sent against the merchant's own record
//	16–19 Confirm checks the payment server to server (code, status,
//	      order, amount, quantity, currency) before marking the order
//	      paid, and net-cancels it when anything differs
//
// and Refund and WebhookHandler for what follows. Nothing here trusts the
// buyer: the amount an order is paid with is always checked against the
// order store, never against what came back through the browser.
//
// The package imports of haechi only internal/payinfo, internal/webhook and
// sdk/internal/gateway (what it shares with sdk/checkout), so a merchant's
// build stays small. Info and Tagged are aliases of the payinfo types, so
// code outside this module can name them.
package merchant

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/payinfo"
)

// Info is one order's payment information (payinfo.Info).
type Info = payinfo.Info

// Tagged is payment information with its TID (payinfo.Tagged): S with
// TID_S as CreateOrder returns it.
type Tagged = payinfo.Tagged

// Merchant is one merchant's side of the protocol. ID, TIDKey, Gateway,
// APIKey and WebhookSecrets are what the operator's registration showed
// once; keep them out of source and logs (the Merchant's own String and
// LogValue show the id only).
type Merchant struct {
	ID             string   // "mch_…"
	TIDKey         []byte   // payinfo.TIDKeyLen bytes; ParseTIDKey reads the hex form
	Gateway        string   // the gateway's base URL, e.g. https://pay.example
	APIKey         string   // "hk_…", for the gateway's merchant API
	WebhookSecrets [][]byte // "whsec_…" as shown, newest first; they sign webhooks and lookups
	Orders         OrderStore
	HTTP           *http.Client     // nil: a 15 s client that follows no redirect
	Now            func() time.Time // nil: time.Now

	// Sleep waits between retries of a gateway call; nil waits on a timer
	// that ctx cancels. Tests inject one so that nothing sleeps.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Errors of the merchant SDK.
var (
	ErrConfig        = errors.New("merchant: incomplete configuration")
	ErrOrderExists   = errors.New("merchant: order number already used for another order")
	ErrOrderNotFound = errors.New("merchant: unknown order")
	ErrOrderPaid     = errors.New("merchant: order already paid by another transaction")
	ErrMismatch      = errors.New("merchant: payment does not match the order")
	ErrNotApproved   = errors.New("merchant: payment is not approved")
	ErrBadAnswer     = errors.New("merchant: gateway answer does not fit the request")
	ErrInvalid       = errors.New("merchant: invalid argument")
)

// New builds a merchant with an in-memory order store from the values
// registration showed: the TID key in hex and the webhook secrets as is.
func New(id, tidKeyHex, gateway, apiKey string, webhookSecrets ...string) (*Merchant, error) {
	key, err := ParseTIDKey(tidKeyHex)
	if err != nil {
		return nil, err
	}
	m := &Merchant{ID: id, TIDKey: key, Gateway: gateway, APIKey: apiKey, Orders: NewMemoryOrders()}
	for _, s := range webhookSecrets {
		m.WebhookSecrets = append(m.WebhookSecrets, []byte(s))
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseTIDKey reads the TID key as registration showed it: 64 hex digits.
func ParseTIDKey(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != payinfo.TIDKeyLen {
		return nil, fmt.Errorf("%w: the TID key must be %d hex digits", ErrConfig, 2*payinfo.TIDKeyLen)
	}
	return b, nil
}

// Validate names the first missing or malformed setting (never its value).
func (m *Merchant) Validate() error {
	u, err := url.Parse(m.Gateway)
	switch {
	case !validMerchantID(m.ID):
		return fmt.Errorf("%w: ID", ErrConfig)
	case len(m.TIDKey) != payinfo.TIDKeyLen:
		return fmt.Errorf("%w: TIDKey must be %d bytes", ErrConfig, payinfo.TIDKeyLen)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return fmt.Errorf("%w: Gateway must be an http(s) URL", ErrConfig)
	case m.APIKey == "":
		return fmt.Errorf("%w: APIKey", ErrConfig)
	case len(m.WebhookSecrets) == 0:
		return fmt.Errorf("%w: WebhookSecrets", ErrConfig)
	case m.Orders == nil:
		return fmt.Errorf("%w: Orders", ErrConfig)
	}
	return nil
}

// validMerchantID applies payinfo's id rule to a merchant id alone.
func validMerchantID(id string) bool {
	probe := payinfo.Info{MerchantID: id, OrderNo: "o", ItemName: "i", Amount: 1, Quantity: 1, Currency: "KRW"}
	return probe.Validate() == nil
}

// CreateOrder is steps 1–3 with a background context; see
// CreateOrderContext.
func (m *Merchant) CreateOrder(orderNo, itemName string, amount, quantity int64, currency string) (payinfo.Tagged, error) {
	return m.CreateOrderContext(context.Background(), orderNo, itemName, amount, quantity, currency)
}

// CreateOrderContext validates the order (a *payinfo.FieldError naming the
// field, errors.Is payinfo.ErrInvalid), stores it, and returns S: the
// order with TID_S = HMAC-SHA256(TIDKey, canonical order). Amount is the
// total in whole won. Creating the same order again returns the same S; an
// order number already used for different values is ErrOrderExists, so a
// buyer holding the first S can never be charged the second's amount.
func (m *Merchant) CreateOrderContext(ctx context.Context, orderNo, itemName string, amount, quantity int64, currency string) (payinfo.Tagged, error) {
	if len(m.TIDKey) != payinfo.TIDKeyLen || m.Orders == nil {
		return payinfo.Tagged{}, fmt.Errorf("%w: TIDKey and Orders are required", ErrConfig)
	}
	info := payinfo.Info{MerchantID: m.ID, OrderNo: orderNo, ItemName: itemName,
		Amount: amount, Quantity: quantity, Currency: currency}
	if err := info.Validate(); err != nil {
		return payinfo.Tagged{}, err
	}
	s := payinfo.Tag(m.TIDKey, info)
	err := m.Orders.Put(ctx, Order{S: s, CreatedAt: m.now()})
	switch {
	case err == nil:
		return s, nil
	case !errors.Is(err, ErrOrderExists):
		return payinfo.Tagged{}, err
	}
	prev, gerr := m.Orders.Get(ctx, orderNo)
	if gerr != nil || prev.S.Info != info {
		return payinfo.Tagged{}, err
	}
	return prev.S, nil
}

// CheckoutURL is where the merchant sends the buyer: the gateway's
// checkout page with S in the query.
func CheckoutURL(gatewayBase string, s payinfo.Tagged) string {
	q := []struct{ k, v string }{
		{"merchant_id", s.MerchantID}, {"order_no", s.OrderNo}, {"item_name", s.ItemName},
		{"amount", strconv.FormatInt(s.Amount, 10)}, {"quantity", strconv.FormatInt(s.Quantity, 10)},
		{"currency", s.Currency}, {"tid", s.TID},
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(gatewayBase, "/"))
	b.WriteString("/checkout")
	for i, p := range q {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.v))
	}
	return b.String()
}

func (m *Merchant) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

// String shows the merchant id only: the keys and secrets never print.
func (m Merchant) String() string { return "merchant " + m.ID }

// GoString keeps %#v from printing the keys.
func (m Merchant) GoString() string { return "merchant.Merchant{ID: " + strconv.Quote(m.ID) + "}" }

// Format makes every verb, not only %v and %s, print String.
func (m Merchant) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, m.GoString())
		return
	}
	fmt.Fprint(f, m.String())
}

// LogValue keeps slog from printing the keys.
func (m Merchant) LogValue() slog.Value { return slog.StringValue(m.String()) }
