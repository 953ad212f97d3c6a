package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
)

// The gateway's routes have three callers: the buyer's checkout client
// (public, rate limited by IP like every public route) opens a checkout
// and pays it with a card; the merchant's server (an institution client
// with scope payment) reads, confirms, net-cancels and refunds its own
// payments; operators register merchants and look payments up.
//
// Every state-changing call runs under an Idempotency-Key: its body is
// decoded and checked first, so a malformed request is refused without
// taking a key, and then the call runs at most once per key.

// maxReasonLen bounds a net-cancel or refund reason, in characters.
const maxReasonLen = 200

var (
	errPaymentsOff = errs.New(errs.Unavailable, "payments_not_configured",
		"The payment gateway is not configured on this server.", "이 서버에는 결제 게이트웨이가 설정되어 있지 않습니다.")
	// A client with scope payment but no merchant record is authenticated
	// yet may act on no payment: forbidden, not "not found".
	errNotMerchant = errs.New(errs.Forbidden, payment.ErrMerchantNotFound.Code,
		payment.ErrMerchantNotFound.EN, payment.ErrMerchantNotFound.KO)
)

// gateway returns the payment service for a read.
func (s *Server) gateway() (*payment.Service, error) {
	if s.Payments == nil {
		return nil, errPaymentsOff
	}
	return s.Payments, nil
}

// gatewayWrite returns the payment service for a state-changing call,
// which cannot run without the idempotency keys.
func (s *Server) gatewayWrite() (*payment.Service, error) {
	if s.Payments == nil || s.Idempotency == nil {
		return nil, errPaymentsOff
	}
	return s.Payments, nil
}

// pathTransaction reads {id}; an id that cannot exist is the same 404 as
// one that does not.
func pathTransaction(r *http.Request) (string, error) {
	id, err := pathID(r)
	if err != nil {
		return "", payment.ErrTransactionNotFound
	}
	return id, nil
}

// parts turns fingerprint fields into the byte slices Fingerprint takes.
func parts(fields ...string) [][]byte {
	out := make([][]byte, len(fields))
	for i, f := range fields {
		out[i] = []byte(f)
	}
	return out
}

// ---- amounts ----

// parseAmount reads an amount as written. The value is kept raw rather
// than as json.Number because encoding/json fills a json.Number from a
// quoted string too, and "6900" is not an amount.
func parseAmount(raw json.RawMessage) (int64, error) {
	return payinfo.ParseAmount(json.Number(raw))
}

func parseQuantity(raw json.RawMessage) (int64, error) {
	return payinfo.ParseQuantity(json.Number(raw))
}

// paymentInfoError names the field of a payinfo refusal.
func paymentInfoError(err error) error {
	var fe *payinfo.FieldError
	if errors.As(err, &fe) {
		return payment.ErrInvalidPaymentInfo.WithField(fe.Field)
	}
	return err
}

// validReason accepts at most 200 characters of text without control
// characters (the service's rule), and at least one when required.
func validReason(s string, required bool) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxReasonLen || required && s == "" {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// ---- checkout client (public) ----

// checkoutRequest is C with TID_C (steps 4–6).
type checkoutRequest struct {
	MerchantID string          `json:"merchant_id"`
	OrderNo    string          `json:"order_no"`
	ItemName   string          `json:"item_name"`
	Amount     json.RawMessage `json:"amount"`
	Quantity   json.RawMessage `json:"quantity"`
	Currency   string          `json:"currency"`
	TID        string          `json:"tid"`

	c payinfo.Tagged
}

// Validate checks C field by field in payinfo's order. A number that did
// not parse is left 0, which Info.Validate refuses under its own name, so
// the first bad field is named whichever it is.
func (q *checkoutRequest) Validate() error {
	amount, errAmount := parseAmount(q.Amount)
	quantity, errQuantity := parseQuantity(q.Quantity)
	q.c = payinfo.Tagged{Info: payinfo.Info{MerchantID: q.MerchantID, OrderNo: q.OrderNo, ItemName: q.ItemName,
		Amount: amount, Quantity: quantity, Currency: q.Currency}, TID: q.TID}
	if err := cmp.Or(q.c.Validate(), errAmount, errQuantity); err != nil {
		return paymentInfoError(err)
	}
	// A TID_C that cannot be a TID is a broken client, not a tampered
	// order: refused here like the other fields, before a key is taken.
	if !lowerHex(q.TID, payinfo.TIDLen) {
		return payment.ErrInvalidPaymentInfo.WithField("tid")
	}
	return nil
}

// lowerHex reports whether s is n lower-case hex digits.
func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkoutView is the answer of steps 7–9. The client secret is shown
// this once (and to a replay of this call), for NORMAL only.
type checkoutView struct {
	Transaction  *payment.View `json:"transaction"`
	ClientSecret string        `json:"client_secret,omitempty"`
}

func (s *Server) checkout(w http.ResponseWriter, r *http.Request) error {
	pay, err := s.gatewayWrite()
	if err != nil {
		return err
	}
	var req checkoutRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	fp := s.Idempotency.Fingerprint(parts("POST", "/v1/checkout/transactions",
		string(req.c.Canonical()), req.c.TID)...)
	ip := ipString(s.clientIP(r))
	s.idempotent(w, r, "checkout:"+req.c.MerchantID, fp, func() (int, any, error) {
		co, err := pay.Checkout(r.Context(), payment.CheckoutRequest{C: req.c, IP: ip})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, checkoutView{Transaction: co.Transaction, ClientSecret: co.ClientSecret}, nil
	})
	return nil
}

type cardJSON struct {
	PAN    string `json:"pan"`
	Expiry string `json:"expiry"`
	CVV    string `json:"cvv"`
}

// authorizeRequest is steps 10–11. The card's form and expiry are checked
// here, so a typo is refused before an idempotency key is taken.
type authorizeRequest struct {
	ClientSecret string    `json:"client_secret"`
	Card         *cardJSON `json:"card"`

	now  time.Time // set before decoding; the card must not be expired at it
	card cardnet.Card
}

func (q *authorizeRequest) Validate() error {
	if q.Card == nil {
		return cardnet.ErrInvalidCard.WithField("card")
	}
	q.card = cardnet.Card{PAN: q.Card.PAN, Expiry: q.Card.Expiry, CVV: q.Card.CVV}
	return cardnet.Validate(q.card, q.now)
}

func (s *Server) authorizePayment(w http.ResponseWriter, r *http.Request) error {
	pay, err := s.gatewayWrite()
	if err != nil {
		return err
	}
	id, err := pathTransaction(r)
	if err != nil {
		return err
	}
	req := authorizeRequest{now: s.Now()}
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	// The fingerprint is a keyed MAC, so the PAN may go in; the CVV stays
	// out, so that nothing derived from it outlives this call.
	fp := s.Idempotency.Fingerprint(parts("POST", "/v1/checkout/transactions/{id}/authorize",
		id, req.ClientSecret, req.card.PAN, req.card.Expiry)...)
	in := payment.AuthorizeRequest{TransactionID: id, ClientSecret: req.ClientSecret, Card: req.card, IP: ipString(s.clientIP(r))}
	s.idempotent(w, r, "authorize:"+id, fp, func() (int, any, error) {
		v, err := pay.Authorize(r.Context(), in)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, v, nil
	})
	return nil
}

// ---- merchant (scope payment) ----

// merchantOf is the merchant the authenticated client acts as.
func (s *Server) merchantOf(ctx context.Context, pay *payment.Service) (*payment.Merchant, error) {
	p, ok := principalFrom(ctx)
	if !ok {
		return nil, errs.ErrUnauth
	}
	m, err := pay.MerchantForClient(ctx, p.ClientID)
	if errors.Is(err, payment.ErrMerchantNotFound) {
		return nil, errNotMerchant
	}
	return m, err
}

// merchantTarget is what a merchant route on {id} acts on: the payment
// service (s.gateway for a read, s.gatewayWrite for a change), the
// caller's merchant and the payment id, refused in that order.
func (s *Server) merchantTarget(r *http.Request, service func() (*payment.Service, error)) (pay *payment.Service, merchantID, id string, err error) {
	if pay, err = service(); err != nil {
		return nil, "", "", err
	}
	m, err := s.merchantOf(r.Context(), pay)
	if err != nil {
		return nil, "", "", err
	}
	if id, err = pathTransaction(r); err != nil {
		return nil, "", "", err
	}
	return pay, m.ID, id, nil
}

// getPayment shows one of the caller's payments; another merchant's is
// not found, exactly like one that does not exist.
func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) error {
	pay, merchantID, id, err := s.merchantTarget(r, s.gateway)
	if err != nil {
		return err
	}
	v, err := pay.Payment(r.Context(), merchantID, id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, v)
	return nil
}

// merchantStep is one state-changing merchant call on the {id} payment.
type merchantStep func(ctx context.Context, pay *payment.Service, merchantID, id string) (*payment.View, error)

// runMerchantStep decodes req, then runs step once per Idempotency-Key
// under the merchant's scope; fields are what the fingerprint covers
// besides the route and the id.
func (s *Server) runMerchantStep(w http.ResponseWriter, r *http.Request, pattern string, req any, fields func() []string, step merchantStep) error {
	pay, merchantID, id, err := s.merchantTarget(r, s.gatewayWrite)
	if err != nil {
		return err
	}
	if err := decode(w, r, req, s.BodyLimit); err != nil {
		return err
	}
	fp := s.Idempotency.Fingerprint(parts(append([]string{"POST", pattern, id}, fields()...)...)...)
	s.idempotent(w, r, merchantID, fp, func() (int, any, error) {
		v, err := step(r.Context(), pay, merchantID, id)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, v, nil
	})
	return nil
}

// confirmPaymentRequest is the merchant's own record of the order. A
// malformed order number is refused rather than treated as a mismatch,
// which would cancel the payment over a typo.
type confirmPaymentRequest struct {
	OrderNo string          `json:"order_no"`
	Amount  json.RawMessage `json:"amount"`

	amount int64
}

// Validate holds the order number to payinfo's rule for it, through an
// Info whose other fields are valid (the rule itself is unexported).
func (q *confirmPaymentRequest) Validate() (err error) {
	probe := payinfo.Info{MerchantID: "m", OrderNo: q.OrderNo, ItemName: "i", Amount: 1, Quantity: 1, Currency: payinfo.Currencies[0]}
	if err := probe.Validate(); err != nil {
		return paymentInfoError(err)
	}
	q.amount, err = parseAmount(q.Amount)
	return paymentInfoError(err)
}

func (s *Server) confirmPayment(w http.ResponseWriter, r *http.Request) error {
	var req confirmPaymentRequest
	return s.runMerchantStep(w, r, "/v1/payments/{id}/confirm", &req,
		func() []string { return []string{req.OrderNo, strconv.FormatInt(req.amount, 10)} },
		func(ctx context.Context, pay *payment.Service, merchantID, id string) (*payment.View, error) {
			return pay.Confirm(ctx, merchantID, id, req.OrderNo, req.amount)
		})
}

type netCancelRequest struct {
	Reason string `json:"reason"`
}

func (q *netCancelRequest) Validate() error {
	if !validReason(q.Reason, true) {
		return errs.ErrInvalid.WithField("reason")
	}
	return nil
}

func (s *Server) netCancelPayment(w http.ResponseWriter, r *http.Request) error {
	var req netCancelRequest
	return s.runMerchantStep(w, r, "/v1/payments/{id}/net-cancel", &req,
		func() []string { return []string{req.Reason} },
		func(ctx context.Context, pay *payment.Service, merchantID, id string) (*payment.View, error) {
			return pay.NetCancel(ctx, merchantID, id, req.Reason)
		})
}

// refundRequest is one refund; its reason is optional.
type refundRequest struct {
	Amount json.RawMessage `json:"amount"`
	Reason string          `json:"reason"`

	amount int64
}

func (q *refundRequest) Validate() (err error) {
	if q.amount, err = parseAmount(q.Amount); err != nil {
		return paymentInfoError(err)
	}
	if !validReason(q.Reason, false) {
		return errs.ErrInvalid.WithField("reason")
	}
	return nil
}

func (s *Server) refundPayment(w http.ResponseWriter, r *http.Request) error {
	var req refundRequest
	return s.runMerchantStep(w, r, "/v1/payments/{id}/refunds", &req,
		func() []string { return []string{strconv.FormatInt(req.amount, 10), req.Reason} },
		func(ctx context.Context, pay *payment.Service, merchantID, id string) (*payment.View, error) {
			return pay.Refund(ctx, merchantID, id, req.amount, req.Reason)
		})
}

// ---- operator side ----

type merchantRequest struct {
	Name       string `json:"name"`
	LookupURL  string `json:"lookup_url"`
	WebhookURL string `json:"webhook_url"`
	Mode       string `json:"mode"`
}

// Validate checks the mode, which becomes a Go value; the service judges
// the name and the URLs.
func (q *merchantRequest) Validate() error {
	switch payment.Mode(q.Mode) {
	case "", payment.Protected, payment.Legacy:
		return nil
	}
	return errs.ErrInvalid.WithField("mode")
}

// merchantCreated shows the merchant's three secrets this once.
type merchantCreated struct {
	Merchant      *payment.Merchant `json:"merchant"`
	APIKey        string            `json:"api_key"`
	TIDKey        string            `json:"tid_key"`
	WebhookSecret string            `json:"webhook_secret"`
}

func (s *Server) createMerchant(w http.ResponseWriter, r *http.Request) error {
	pay, err := s.gateway()
	if err != nil {
		return err
	}
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	var req merchantRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	mc, err := pay.RegisterMerchant(r.Context(), actorOf(a), payment.NewMerchant{
		Name: req.Name, LookupURL: req.LookupURL, WebhookURL: req.WebhookURL, Mode: payment.Mode(req.Mode)})
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, merchantCreated{Merchant: mc.Merchant, APIKey: mc.APIKey,
		TIDKey: mc.TIDKey, WebhookSecret: mc.WebhookSecret})
	return nil
}

func (s *Server) listMerchants(w http.ResponseWriter, r *http.Request) error {
	pay, err := s.gateway()
	if err != nil {
		return err
	}
	ms, err := pay.Merchants(r.Context())
	if err != nil {
		return err
	}
	if ms == nil {
		ms = []*payment.Merchant{}
	}
	respond(w, http.StatusOK, map[string]any{"merchants": ms})
	return nil
}

// operatorPayment shows any merchant's payment: operators serve them all.
func (s *Server) operatorPayment(w http.ResponseWriter, r *http.Request) error {
	pay, err := s.gateway()
	if err != nil {
		return err
	}
	id, err := pathTransaction(r)
	if err != nil {
		return err
	}
	v, err := pay.PaymentAny(r.Context(), id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, v)
	return nil
}
