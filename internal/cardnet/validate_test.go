package cardnet_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/errs"
)

// t0 is the fixed clock of every test; nothing sleeps.
var t0 = time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC)

func card(pan string) cardnet.Card { return cardnet.Card{PAN: pan, Expiry: "12/30", CVV: "123"} }

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		card  cardnet.Card
		err   *errs.Error
		field string
	}{
		{"ok/visa", card(cardnet.CardApproved), nil, ""},
		{"ok/mastercard", card(cardnet.CardMastercard), nil, ""},
		{"ok/13 digits", card("4222222222222"), nil, ""},
		{"ok/19 digits", card("6222222222222222222"), nil, ""},
		{"ok/4-digit cvv", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/30", CVV: "1234"}, nil, ""},
		{"ok/this month", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "03/26", CVV: "123"}, nil, ""},
		{"error/pan check digit", card("4111111111111112"), cardnet.ErrInvalidCard, "card.pan"},
		{"error/pan 12 digits", card("411111111116"), cardnet.ErrInvalidCard, "card.pan"},
		{"error/pan 20 digits", card("62222222222222222222"), cardnet.ErrInvalidCard, "card.pan"},
		{"error/pan with spaces", card("4111 1111 1111 1111"), cardnet.ErrInvalidCard, "card.pan"},
		{"error/pan with a letter", card("411111111111111a"), cardnet.ErrInvalidCard, "card.pan"},
		{"error/pan empty", card(""), cardnet.ErrInvalidCard, "card.pan"},
		{"error/pan full-width digits", card("４１１１１１１１１１１１１１１１"), cardnet.ErrInvalidCard, "card.pan"},
		{"error/month 13", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "13/30", CVV: "123"}, cardnet.ErrInvalidCard, "card.expiry"},
		{"error/month 00", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "00/30", CVV: "123"}, cardnet.ErrInvalidCard, "card.expiry"},
		{"error/one-digit month", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "1/30", CVV: "123"}, cardnet.ErrInvalidCard, "card.expiry"},
		{"error/four-digit year", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/2030", CVV: "123"}, cardnet.ErrInvalidCard, "card.expiry"},
		{"error/hyphen", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12-30", CVV: "123"}, cardnet.ErrInvalidCard, "card.expiry"},
		{"error/last month", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "02/26", CVV: "123"}, cardnet.ErrCardExpired, "card.expiry"},
		{"ok/99 is 2099", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/99", CVV: "123"}, nil, ""},
		{"error/cvv 2 digits", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/30", CVV: "12"}, cardnet.ErrInvalidCard, "card.cvv"},
		{"error/cvv 5 digits", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/30", CVV: "12345"}, cardnet.ErrInvalidCard, "card.cvv"},
		{"error/cvv missing", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/30"}, cardnet.ErrInvalidCard, "card.cvv"},
		{"error/cvv letter", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/30", CVV: "12a"}, cardnet.ErrInvalidCard, "card.cvv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := cardnet.Validate(tc.card, t0)
			if tc.err == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			wantField(t, err, tc.err, tc.field)
			if tc.card.PAN != "" && strings.Contains(err.Error(), tc.card.PAN) {
				t.Fatalf("error %q shows the PAN", err)
			}
		})
	}
}

// TestValidateExpiryBoundary: a card works through the last instant of its
// month and not one instant later.
func TestValidateExpiryBoundary(t *testing.T) {
	c := cardnet.Card{PAN: cardnet.CardApproved, Expiry: "03/26", CVV: "123"}
	end := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	if err := cardnet.Validate(c, end.Add(-time.Nanosecond)); err != nil {
		t.Fatalf("last instant of the month: %v", err)
	}
	if err := cardnet.Validate(c, end); !errors.Is(err, cardnet.ErrCardExpired) {
		t.Fatalf("first instant of the next month: %v", err)
	}
	// December rolls over into the next year.
	dec := cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/26", CVV: "123"}
	if err := cardnet.Validate(dec, time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("31 December: %v", err)
	}
	if err := cardnet.Validate(dec, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, cardnet.ErrCardExpired) {
		t.Fatalf("1 January: %v", err)
	}
}

func TestCardNeverPrintsPANOrCVV(t *testing.T) {
	c := cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/30", CVV: "8642"}
	for _, s := range []string{c.String(), c.GoString(), c.LogValue().String()} {
		if strings.Contains(s, c.PAN) || strings.Contains(s, c.CVV) || !strings.Contains(s, "411111******1111") {
			t.Fatalf("card shown as %q", s)
		}
	}
}

// wantField wants err to be want naming field.
func wantField(t *testing.T, err error, want *errs.Error, field string) {
	t.Helper()
	e := errs.As(err)
	if !errors.Is(err, want) || e == nil || e.Field != field {
		t.Fatalf("error %v (field %q), want %s on %q", err, fieldOf(e), want.Code, field)
	}
}

func fieldOf(e *errs.Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}
