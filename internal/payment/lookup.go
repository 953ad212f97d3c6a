package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/webhook"
)

// MaxLookupAnswer bounds a merchant's answer to an order lookup; an order
// is a few hundred bytes.
const MaxLookupAnswer = 16 << 10

// HTTPLookup is the Lookup that asks the merchant's server (steps 7–8):
// POST {"merchant_id","order_no"} to the merchant's lookup URL, signed
// like a webhook (Haechi-Signature) with the secrets of the merchant's
// webhook endpoint, so the merchant knows the gateway asked. The merchant
// answers 200 with S and TID_S, or 404 for an order it does not know.
type HTTPLookup struct {
	// Client should come from webhook.NewClient, which refuses private
	// addresses (a merchant chooses its URL); redirects are never
	// followed whatever the client says. nil is webhook.NewClient(false).
	Client  *http.Client
	Secrets webhook.Resolver // the merchant's endpoint secrets (owner = merchant id)
	Now     func() time.Time
	Timeout time.Duration // DefaultLookupTimeout when 0
}

var _ Lookup = (*HTTPLookup)(nil)

var defaultLookupClient = webhook.NewClient(false)

// lookupRequest is the body the merchant receives.
type lookupRequest struct {
	MerchantID string `json:"merchant_id"`
	OrderNo    string `json:"order_no"`
}

// Order asks the merchant for its record of orderNo. Everything but a
// well-formed 200 or a 404 is errs.ErrUnavailable: the caller makes the
// transaction ABNORMAL (merchant_unreachable) rather than trust it.
func (l *HTTPLookup) Order(ctx context.Context, m *MerchantRecord, orderNo string) (payinfo.Tagged, error) {
	ep, err := l.Secrets.Endpoint(ctx, m.ID)
	if err != nil {
		return payinfo.Tagged{}, unreachable(m.ID, fmt.Errorf("no signing secret: %w", err))
	}
	body, err := json.Marshal(lookupRequest{MerchantID: m.ID, OrderNo: orderNo})
	if err != nil {
		return payinfo.Tagged{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(l.Timeout, DefaultLookupTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.LookupURL, bytes.NewReader(body))
	if err != nil {
		return payinfo.Tagged{}, unreachable(m.ID, errors.New("lookup URL does not make a request"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "haechi-lookup/1")
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(ep.Secrets, l.now(), body))
	resp, err := l.client().Do(req)
	if err != nil {
		return payinfo.Tagged{}, unreachable(m.ID, withoutURL(err))
	}
	defer resp.Body.Close()
	return readAnswer(m.ID, resp)
}

// readAnswer reads at most MaxLookupAnswer bytes of a 200 answer.
func readAnswer(merchantID string, resp *http.Response) (payinfo.Tagged, error) {
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return payinfo.Tagged{}, ErrUnknownOrder
	default:
		return payinfo.Tagged{}, unreachable(merchantID, fmt.Errorf("merchant answered %d", resp.StatusCode))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxLookupAnswer+1))
	if err != nil {
		return payinfo.Tagged{}, unreachable(merchantID, withoutURL(err))
	}
	if len(data) > MaxLookupAnswer {
		return payinfo.Tagged{}, unreachable(merchantID, errors.New("answer too large"))
	}
	s, err := decodeOrder(data)
	if err != nil {
		return payinfo.Tagged{}, unreachable(merchantID, err)
	}
	return s, nil
}

// orderAnswer is the merchant's answer as sent. Amount and quantity are
// kept raw so that a string ("6900"), which encoding/json would accept
// into a json.Number, is refused like any other non-number.
type orderAnswer struct {
	MerchantID string          `json:"merchant_id"`
	OrderNo    string          `json:"order_no"`
	ItemName   string          `json:"item_name"`
	Amount     json.RawMessage `json:"amount"`
	Quantity   json.RawMessage `json:"quantity"`
	Currency   string          `json:"currency"`
	TID        string          `json:"tid"`
}

// decodeOrder reads S and TID_S strictly: one JSON object, no unknown
// fields, no trailing data, whole positive amounts and quantities in
// range, and every field valid. The TID is left to payinfo.Compare.
func decodeOrder(data []byte) (payinfo.Tagged, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var a orderAnswer
	if err := dec.Decode(&a); err != nil {
		return payinfo.Tagged{}, fmt.Errorf("malformed answer: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return payinfo.Tagged{}, errors.New("malformed answer: data after the object")
	}
	amount, err := number(a.Amount, payinfo.ParseAmount)
	if err != nil {
		return payinfo.Tagged{}, err
	}
	quantity, err := number(a.Quantity, payinfo.ParseQuantity)
	if err != nil {
		return payinfo.Tagged{}, err
	}
	s := payinfo.Tagged{Info: payinfo.Info{MerchantID: a.MerchantID, OrderNo: a.OrderNo, ItemName: a.ItemName,
		Amount: amount, Quantity: quantity, Currency: a.Currency}, TID: a.TID}
	if err := s.Info.Validate(); err != nil {
		return payinfo.Tagged{}, err
	}
	return s, nil
}

// number parses a raw JSON value that must be a bare number.
func number(raw json.RawMessage, parse func(json.Number) (int64, error)) (int64, error) {
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return parse("") // the field's own error
	}
	return parse(json.Number(raw))
}

func unreachable(merchantID string, cause error) error {
	return errs.ErrUnavailable.WithCause(fmt.Errorf("order lookup at %s: %w", merchantID, cause))
}

// withoutURL drops the URL an *url.Error names: a lookup URL may carry the
// merchant's own token in its query, which must not reach the logs.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// client is the configured one with redirects turned off: a merchant must
// not send the signed lookup on to a third party.
func (l *HTTPLookup) client() *http.Client {
	if l.Client == nil {
		return defaultLookupClient
	}
	c := *l.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (l *HTTPLookup) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}
