package carrier

import (
	"context"
	"errors"
	"fmt"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
	"github.com/haechi/haechi/internal/mask"
)

// HTTP is the Provider for a real carrier identity service, spoken to over
// this JSON API (every call a POST with "Authorization: Bearer <token>"):
//
//	POST {base}/v1/subscriber-match  {"name", "birth_date", "phone"} → 200 {"match": bool}
//	POST {base}/v1/sms               {"phone", "text"}               → 200 {}
//
// Any other status, a malformed answer or a timeout (5 s by default) is an
// error wrapping errs.ErrUnavailable. Errors name the phone masked only.
type HTTP struct {
	c *jsonapi.Client
}

var _ Provider = (*HTTP)(nil)

// NewHTTP returns an adapter for the service at cfg.BaseURL.
func NewHTTP(cfg jsonapi.Config) (*HTTP, error) {
	c, err := jsonapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("carrier: %w", err)
	}
	return &HTTP{c: c}, nil
}

type matchRequest struct {
	Name      string `json:"name"`
	BirthDate string `json:"birth_date"`
	Phone     string `json:"phone"`
}

type matchAnswer struct {
	Match *bool `json:"match"` // a pointer, so that a missing answer is an error, not "no"
}

// Match asks the carrier whether the subscriber of id.Phone has id's name
// and birth date.
func (h *HTTP) Match(ctx context.Context, id Identity) (bool, error) {
	var a matchAnswer
	err := h.c.Post(ctx, "v1/subscriber-match", matchRequest(id), &a)
	if err == nil && a.Match == nil {
		err = errs.ErrUnavailable.WithCause(errors.New(`answer lacks "match"`))
	}
	if err != nil {
		return false, fmt.Errorf("carrier: match %s: %w", mask.Phone(id.Phone), err)
	}
	return *a.Match, nil
}

type smsRequest struct {
	Phone string `json:"phone"`
	Text  string `json:"text"`
}

// SendCode asks the carrier to deliver code by SMS.
func (h *HTTP) SendCode(ctx context.Context, phone, code string) error {
	var a struct{}
	if err := h.c.Post(ctx, "v1/sms", smsRequest{Phone: phone, Text: smsText(code)}, &a); err != nil {
		return fmt.Errorf("carrier: send code to %s: %w", mask.Phone(phone), err)
	}
	return nil
}

// smsText is the message around the code. It names the service and warns
// against passing the code on, the usual defence against phishing by phone.
func smsText(code string) string {
	return "[haechi] 인증번호 " + code + " — 타인에게 절대 알려주지 마세요. Never share this code."
}
