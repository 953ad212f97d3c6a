package cardnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
)

// HTTP is the Network backed by a real acquirer or van, spoken to over
// this JSON API (every call a POST with "Authorization: Bearer <token>"):
//
//	POST {base}/v1/authorizations {"key", "pan", "expiry", "cvv", "amount_krw", "merchant_id"}
//	  → 200 {"status": "approved", "approval_code": "30012345"}
//	      | {"status": "declined" | "insufficient_funds", "reason": "do_not_honor"}
//	POST {base}/v1/cancellations  {"key", "auth_key", "amount_krw"}
//	  → 200 {"result": "ok", "ref": "C20250301-0001"} | {"result": "not_cancellable"}
//
// The acquirer must treat "key" as an idempotency key: a repeated key gets
// the first answer and nothing is done twice. A decline is an answer, not
// an error; "not_cancellable" gives ErrNotCancellable. Verdicts come in a
// 200 answer rather than as a status, so that a wrong path or a proxy's
// 404 is never taken for one. Any other status, an answer with a missing,
// unknown or malformed field, or a timeout (5 s by default) is an error
// wrapping errs.ErrUnavailable: the card may have been charged, and the
// gateway asks again with the same key or cancels it.
//
// The card's form and the amounts are checked before anything is sent;
// its expiry is the issuer's to judge. Errors name the key and the card
// masked (BIN + last 4) only, never the PAN or the CVV; the request body,
// which holds them, is never logged (jsonapi keeps bodies out of errors).
type HTTP struct {
	c *jsonapi.Client
}

var _ Network = (*HTTP)(nil)

// NewHTTP returns an adapter for the acquirer at cfg.BaseURL.
func NewHTTP(cfg jsonapi.Config) (*HTTP, error) {
	c, err := jsonapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("cardnet: %w", err)
	}
	return &HTTP{c: c}, nil
}

// Authorize asks the acquirer to authorize a.
func (h *HTTP) Authorize(ctx context.Context, a Authorization) (Result, error) {
	if err := validateAuthorization(a); err != nil {
		return Result{}, err
	}
	req := authRequest{Key: a.Key, PAN: a.Card.PAN, Expiry: a.Card.Expiry, CVV: a.Card.CVV,
		AmountKRW: a.AmountKRW, MerchantID: a.MerchantID}
	var raw json.RawMessage
	if err := h.c.Post(ctx, "v1/authorizations", req, &raw); err != nil {
		return Result{}, fmt.Errorf("cardnet: authorize %s with %s: %w", a.Key, a.Card, err)
	}
	res, err := parseAuthAnswer(raw)
	if err != nil {
		return Result{}, errs.ErrUnavailable.WithCause(
			fmt.Errorf("cardnet: authorize %s with %s: acquirer answer: %w", a.Key, a.Card, err))
	}
	return res, nil
}

// Cancel asks the acquirer to reverse c.AmountKRW of c.AuthKey's approval.
func (h *HTTP) Cancel(ctx context.Context, c Cancellation) (string, error) {
	if err := validateCancellation(c); err != nil {
		return "", err
	}
	var raw json.RawMessage
	if err := h.c.Post(ctx, "v1/cancellations", cancelRequest(c), &raw); err != nil {
		return "", fmt.Errorf("cardnet: cancel %s of %s: %w", c.Key, c.AuthKey, err)
	}
	ref, err := parseCancelAnswer(raw)
	switch {
	case errors.Is(err, ErrNotCancellable):
		return "", fmt.Errorf("cardnet: cancel %s of %s: %w", c.Key, c.AuthKey, err)
	case err != nil:
		return "", errs.ErrUnavailable.WithCause(
			fmt.Errorf("cardnet: cancel %s of %s: acquirer answer: %w", c.Key, c.AuthKey, err))
	}
	return ref, nil
}
