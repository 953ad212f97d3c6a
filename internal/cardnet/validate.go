package cardnet

import (
	"errors"
	"time"

	"github.com/haechi/haechi/internal/payinfo"
)

// Card limits.
const (
	minPANDigits = 13
	maxPANDigits = 19
	minCVVDigits = 3
	maxCVVDigits = 4
	// maxKeyLen bounds idempotency keys, merchant ids and network
	// references: they are stored and shown.
	maxKeyLen = 128
)

// Fields named by ErrInvalidCard and ErrCardExpired, as the checkout API
// nests them.
const (
	FieldPAN    = "card.pan"
	FieldExpiry = "card.expiry"
	FieldCVV    = "card.cvv"
)

// Validate checks what the buyer typed before anything is sent: the PAN is
// 13–19 digits with a valid Luhn check digit, the expiry "MM/YY" with month
// 01–12, the CVV 3 or 4 digits. A malformed card is ErrInvalidCard naming
// the field; a card past the end of its expiry month (UTC) at now is
// ErrCardExpired. Digits only: the checkout strips spaces and hyphens, so
// what reaches here is exactly what the network is sent. Errors never
// carry the card's values.
func Validate(c Card, now time.Time) error {
	if err := validateForm(c); err != nil {
		return err
	}
	if expired(c.Expiry, now) {
		return ErrCardExpired.WithField(FieldExpiry)
	}
	return nil
}

// validateForm is Validate without the clock: the issuer, not the
// adapter, is the authority on expiry, and a repeated key must get its
// recorded answer even after the expiry month ended.
func validateForm(c Card) error {
	switch {
	case !isDigits(c.PAN, minPANDigits, maxPANDigits) || !luhn(c.PAN):
		return ErrInvalidCard.WithField(FieldPAN)
	case !validExpiry(c.Expiry):
		return ErrInvalidCard.WithField(FieldExpiry)
	case !isDigits(c.CVV, minCVVDigits, maxCVVDigits):
		return ErrInvalidCard.WithField(FieldCVV)
	}
	return nil
}

// luhn reports whether the digits end in a valid Luhn check digit.
func luhn(digits string) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// validExpiry accepts exactly "MM/YY" with MM 01–12.
func validExpiry(s string) bool {
	_, _, ok := parseExpiry(s)
	return ok
}

// parseExpiry reads "MM/YY" as a month of 2000–2099.
func parseExpiry(s string) (year int, month time.Month, ok bool) {
	if len(s) != 5 || s[2] != '/' || !isDigits(s[:2], 2, 2) || !isDigits(s[3:], 2, 2) {
		return 0, 0, false
	}
	m := int(s[0]-'0')*10 + int(s[1]-'0')
	if m < 1 || m > 12 {
		return 0, 0, false
	}
	return 2000 + int(s[3]-'0')*10 + int(s[4]-'0'), time.Month(m), true
}

// expired reports whether now is past the end of the expiry month: a card
// marked 03/26 works through 31 March 2026.
func expired(expiry string, now time.Time) bool {
	y, m, ok := parseExpiry(expiry)
	if !ok {
		return true
	}
	end := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	return !now.Before(end)
}

// validateAuthorization checks the gateway's side of an authorization.
// These are the gateway's own mistakes, so they are internal errors, not
// errs values a buyer would see.
func validateAuthorization(a Authorization) error {
	if err := validateForm(a.Card); err != nil {
		return err
	}
	switch {
	case !validToken(a.Key, maxKeyLen):
		return errors.New("cardnet: malformed authorization key")
	case !validToken(a.MerchantID, maxKeyLen):
		return errors.New("cardnet: malformed merchant id")
	case a.AmountKRW < 1 || a.AmountKRW > payinfo.MaxAmount:
		return errors.New("cardnet: authorization amount out of range")
	}
	return nil
}

// validateCancellation checks a cancellation before it is sent.
func validateCancellation(c Cancellation) error {
	switch {
	case !validToken(c.Key, maxKeyLen):
		return errors.New("cardnet: malformed cancellation key")
	case !validToken(c.AuthKey, maxKeyLen):
		return errors.New("cardnet: malformed authorization key to cancel")
	case c.AmountKRW < 1 || c.AmountKRW > payinfo.MaxAmount:
		return errors.New("cardnet: cancellation amount out of range")
	}
	return nil
}

// validToken accepts 1–limit characters of letters, digits and ".:_-":
// keys, ids, approval codes, reasons and references, which end up in
// logs, webhooks and pages.
func validToken(s string, limit int) bool {
	if s == "" || len(s) > limit {
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

// isDigits reports whether s is lo to hi ASCII digits.
func isDigits(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
