package bankxfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
)

// HTTP is the Network backed by a real firm-banking or open-banking
// gateway, spoken to over this JSON API (every call a POST with
// "Authorization: Bearer <token>"):
//
//	POST {base}/v1/holder   {"bank_code", "account_number"}
//	  → 200 {"result": "ok", "holder": "김민수"} | {"result": "no_account"}
//	POST {base}/v1/deposits {"bank_code", "account_number", "amount_krw", "memo"}
//	  → 200 {"result": "ok", "ref": "T20250301-0001"} | {"result": "no_account"}
//
// "no_account" (unknown or closed) gives ErrNoAccount. The gateway says so
// in a 200 answer rather than by status, so that a wrong path or a proxy's
// 404 is never taken for a verdict on the account. Any other status, an
// answer with a missing, unknown or malformed field, or a timeout (5 s by
// default) is an error wrapping errs.ErrUnavailable. The account and the
// amounts are checked before anything is sent; errors name the account
// masked only.
type HTTP struct {
	c *jsonapi.Client
}

var _ Network = (*HTTP)(nil)

// NewHTTP returns an adapter for the gateway at cfg.BaseURL.
func NewHTTP(cfg jsonapi.Config) (*HTTP, error) {
	c, err := jsonapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("bankxfer: %w", err)
	}
	return &HTTP{c: c}, nil
}

// Results a gateway answers.
const (
	resultOK        = "ok"
	resultNoAccount = "no_account"
)

type holderRequest struct {
	Bank   string `json:"bank_code"`
	Number string `json:"account_number"`
}

type depositRequest struct {
	Bank      string `json:"bank_code"`
	Number    string `json:"account_number"`
	AmountKRW int64  `json:"amount_krw"`
	Memo      string `json:"memo"`
}

// Holder asks the gateway for a's holder.
func (h *HTTP) Holder(ctx context.Context, a Account) (string, error) {
	a, err := a.Normalize()
	if err != nil {
		return "", err
	}
	var raw json.RawMessage
	if err := h.c.Post(ctx, "v1/holder", holderRequest(a), &raw); err != nil {
		return "", fmt.Errorf("bankxfer: holder %s: %w", a, err)
	}
	name, err := parseHolderAnswer(raw)
	if err != nil {
		return "", answerError("holder", a, err)
	}
	return name, nil
}

// Deposit asks the gateway to transfer amountKRW to a with memo.
func (h *HTTP) Deposit(ctx context.Context, a Account, amountKRW int64, memo string) (string, error) {
	a, err := a.Normalize()
	if err != nil {
		return "", err
	}
	if err := ValidateDeposit(amountKRW, memo); err != nil {
		return "", err
	}
	req := depositRequest{Bank: a.Bank, Number: a.Number, AmountKRW: amountKRW, Memo: memo}
	var raw json.RawMessage
	if err := h.c.Post(ctx, "v1/deposits", req, &raw); err != nil {
		return "", fmt.Errorf("bankxfer: deposit to %s: %w", a, err)
	}
	ref, err := parseDepositAnswer(raw)
	if err != nil {
		return "", answerError("deposit to", a, err)
	}
	return ref, nil
}

// answerError passes ErrNoAccount on and makes any other fault of the
// answer an unavailable gateway.
func answerError(op string, a Account, err error) error {
	if errors.Is(err, ErrNoAccount) {
		return fmt.Errorf("bankxfer: %s %s: %w", op, a, err)
	}
	return errs.ErrUnavailable.WithCause(fmt.Errorf("bankxfer: %s %s: gateway answer: %w", op, a, err))
}

type holderAnswer struct {
	Result string  `json:"result"`
	Holder *string `json:"holder"`
}

// parseHolderAnswer returns the holder named by a gateway's answer,
// ErrNoAccount, or why the answer is malformed. Errors never quote the
// answer, which holds a name.
func parseHolderAnswer(data []byte) (string, error) {
	var a holderAnswer
	if err := strictUnmarshal(data, &a); err != nil {
		return "", fmt.Errorf("malformed: %w", scrub(err))
	}
	switch {
	case a.Result == resultNoAccount && a.Holder == nil:
		return "", ErrNoAccount
	case a.Result == resultOK && a.Holder != nil && validHolder(*a.Holder):
		return *a.Holder, nil
	case a.Result == resultOK:
		return "", errors.New(`"ok" without a well-formed holder`)
	}
	return "", fmt.Errorf("unrecognised result or extra fields for %q", safeResult(a.Result))
}

type depositAnswer struct {
	Result string  `json:"result"`
	Ref    *string `json:"ref"`
}

// parseDepositAnswer returns the transfer reference of a gateway's
// answer, ErrNoAccount, or why the answer is malformed.
func parseDepositAnswer(data []byte) (string, error) {
	var a depositAnswer
	if err := strictUnmarshal(data, &a); err != nil {
		return "", fmt.Errorf("malformed: %w", scrub(err))
	}
	switch {
	case a.Result == resultNoAccount && a.Ref == nil:
		return "", ErrNoAccount
	case a.Result == resultOK && a.Ref != nil && validRef(*a.Ref):
		return *a.Ref, nil
	case a.Result == resultOK:
		return "", errors.New(`"ok" without a well-formed ref`)
	}
	return "", fmt.Errorf("unrecognised result or extra fields for %q", safeResult(a.Result))
}

// maxRefLen bounds a transfer reference, which we store and show.
const maxRefLen = 64

// validRef accepts 1–64 characters of letters, digits and ".:_-".
func validRef(s string) bool {
	if s == "" || len(s) > maxRefLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '.' || c == ':' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// safeResult quotes a result only when it is one we know, so that an
// error never carries what a gateway put there.
func safeResult(r string) string {
	if r == resultOK || r == resultNoAccount {
		return r
	}
	return "?"
}

// scrub keeps a decoding error's kind and drops any value it quotes: a
// type error names the offending value, which may be a name.
func scrub(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q has the wrong type", te.Field) // te.Value may quote the value
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("syntax error at offset %d", se.Offset)
	}
	return errors.New("not the expected object")
}
