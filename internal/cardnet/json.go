package cardnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The JSON API of HTTP and Handler. Request bodies carry the PAN and the
// CVV, so their String and GoString say nothing: a request printed by
// mistake leaks nothing.

type authRequest struct {
	Key        string `json:"key"`
	PAN        string `json:"pan"`
	Expiry     string `json:"expiry"`
	CVV        string `json:"cvv"`
	AmountKRW  int64  `json:"amount_krw"`
	MerchantID string `json:"merchant_id"`
}

func (authRequest) String() string   { return "cardnet authorization request" }
func (authRequest) GoString() string { return "cardnet.authRequest{}" }

type cancelRequest struct {
	Key       string `json:"key"`
	AuthKey   string `json:"auth_key"`
	AmountKRW int64  `json:"amount_krw"`
}

// authAnswer: approval_code only with "approved"; reason only with a
// decline. Pointers tell an absent field from an empty one.
type authAnswer struct {
	Status       string  `json:"status"`
	ApprovalCode *string `json:"approval_code,omitempty"`
	Reason       *string `json:"reason,omitempty"`
}

type cancelAnswer struct {
	Result string  `json:"result"`
	Ref    *string `json:"ref,omitempty"`
}

// Results of a cancellation.
const (
	resultOK             = "ok"
	resultNotCancellable = "not_cancellable"
)

// maxRefLen bounds approval codes, decline reasons and references.
const maxRefLen = 64

// parseAuthAnswer returns the Result a network's answer gives, or why the
// answer is malformed. A decline without a reason gets its status as the
// reason.
func parseAuthAnswer(data []byte) (Result, error) {
	var a authAnswer
	if err := strictUnmarshal(data, &a); err != nil {
		return Result{}, fmt.Errorf("malformed: %w", scrub(err))
	}
	switch st := Status(a.Status); st {
	case Approved:
		if a.ApprovalCode == nil || !validToken(*a.ApprovalCode, maxRefLen) || a.Reason != nil {
			return Result{}, errors.New(`"approved" needs a well-formed approval_code and no reason`)
		}
		return Result{Status: Approved, ApprovalCode: *a.ApprovalCode}, nil
	case Declined, InsufficientFunds:
		if a.ApprovalCode != nil || (a.Reason != nil && !validToken(*a.Reason, maxRefLen)) {
			return Result{}, fmt.Errorf("%q with an approval_code or a malformed reason", st)
		}
		r := Result{Status: st, Reason: string(st)}
		if a.Reason != nil {
			r.Reason = *a.Reason
		}
		return r, nil
	}
	return Result{}, errors.New("unrecognised status")
}

// parseCancelAnswer returns the reference of a cancellation,
// ErrNotCancellable, or why the answer is malformed.
func parseCancelAnswer(data []byte) (string, error) {
	var a cancelAnswer
	if err := strictUnmarshal(data, &a); err != nil {
		return "", fmt.Errorf("malformed: %w", scrub(err))
	}
	switch {
	case a.Result == resultNotCancellable && a.Ref == nil:
		return "", ErrNotCancellable
	case a.Result == resultOK && a.Ref != nil && validToken(*a.Ref, maxRefLen):
		return *a.Ref, nil
	case a.Result == resultOK:
		return "", errors.New(`"ok" without a well-formed ref`)
	}
	return "", errors.New("unrecognised result or extra fields")
}

// parseAuthRequest reads an authorization request as Handler receives it.
// Whether its values are well formed is the simulator's to check.
func parseAuthRequest(data []byte) (Authorization, error) {
	var r authRequest
	if err := strictUnmarshal(data, &r); err != nil {
		return Authorization{}, scrub(err)
	}
	return Authorization{Key: r.Key, Card: Card{PAN: r.PAN, Expiry: r.Expiry, CVV: r.CVV},
		AmountKRW: r.AmountKRW, MerchantID: r.MerchantID}, nil
}

// parseCancelRequest reads a cancellation request as Handler receives it.
func parseCancelRequest(data []byte) (Cancellation, error) {
	var r cancelRequest
	if err := strictUnmarshal(data, &r); err != nil {
		return Cancellation{}, scrub(err)
	}
	return Cancellation(r), nil
}

// strictUnmarshal decodes exactly one JSON object into v and refuses fields
// v does not have: an answer that says more than we understand may qualify
// the part we read, so it is not one to act on.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// scrub keeps a decoding error's kind and drops any value it quotes: a
// type error may quote a number, and a PAN sent as a number is a number.
func scrub(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q has the wrong type", te.Field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("syntax error at offset %d", se.Offset)
	}
	return errors.New("not the expected object")
}
