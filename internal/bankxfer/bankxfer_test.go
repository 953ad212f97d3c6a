package bankxfer_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/errs"
)

var (
	kimAcct    = bankxfer.Account{Bank: "004", Number: "11012345678901"}
	closedAcct = bankxfer.Account{Bank: "004", Number: "11012345670000"}
	minjunAcct = bankxfer.Account{Bank: "004", Number: "11098765432101"}
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   bankxfer.Account
		want bankxfer.Account
	}{
		{"ok/bare digits", kimAcct, kimAcct},
		{"ok/hyphens", bankxfer.Account{Bank: "004", Number: "110-1234-5678-901"}, kimAcct},
		{"ok/spaces and padded bank code", bankxfer.Account{Bank: " 004 ", Number: " 110 1234 5678 901 "}, kimAcct},
		{"ok/ten digits", bankxfer.Account{Bank: "088", Number: "1234567890"}, bankxfer.Account{Bank: "088", Number: "1234567890"}},
		{"ok/sixteen digits", bankxfer.Account{Bank: "088", Number: "1234-5678-9012-3456"}, bankxfer.Account{Bank: "088", Number: "1234567890123456"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.Normalize()
			if err != nil || got != tc.want {
				t.Fatalf("Normalize = %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
}

// invalidAccounts are malformed accounts and the field each is refused for.
var invalidAccounts = []struct {
	name  string
	acct  bankxfer.Account
	field string
}{
	{"error/bank code two digits", bankxfer.Account{Bank: "04", Number: kimAcct.Number}, "bank_code"},
	{"error/bank code four digits", bankxfer.Account{Bank: "0004", Number: kimAcct.Number}, "bank_code"},
	{"error/bank code letters", bankxfer.Account{Bank: "KB1", Number: kimAcct.Number}, "bank_code"},
	{"error/bank code empty", bankxfer.Account{Number: kimAcct.Number}, "bank_code"},
	{"error/bank code with hyphen", bankxfer.Account{Bank: "0-4", Number: kimAcct.Number}, "bank_code"},
	{"error/bank code full-width digits", bankxfer.Account{Bank: "００４", Number: kimAcct.Number}, "bank_code"},
	{"error/number nine digits", bankxfer.Account{Bank: "004", Number: "123456789"}, "account_number"},
	{"error/number seventeen digits", bankxfer.Account{Bank: "004", Number: "12345678901234567"}, "account_number"},
	{"error/number empty", bankxfer.Account{Bank: "004"}, "account_number"},
	{"error/number only hyphens", bankxfer.Account{Bank: "004", Number: "----------"}, "account_number"},
	{"error/number with letter", bankxfer.Account{Bank: "004", Number: "1101234567890a"}, "account_number"},
	{"error/number with dot", bankxfer.Account{Bank: "004", Number: "110.1234.5678.901"}, "account_number"},
	{"error/number with tab", bankxfer.Account{Bank: "004", Number: "110\t12345678901"}, "account_number"},
	{"error/number full-width digits", bankxfer.Account{Bank: "004", Number: "１１０１２３４５６７８９０"}, "account_number"},
	{"error/number padded far beyond any account", bankxfer.Account{Bank: "004", Number: strings.Repeat(" ", 60) + "11012345678901"}, "account_number"},
}

func TestNormalizeRefuses(t *testing.T) {
	for _, tc := range invalidAccounts {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.acct.Normalize()
			wantField(t, err, bankxfer.ErrInvalidAccount, tc.field)
		})
	}
}

func wantField(t *testing.T, err error, want *errs.Error, field string) {
	t.Helper()
	e := errs.As(err)
	if !errors.Is(err, want) || e.Field != field || e.Kind != errs.Invalid {
		t.Fatalf("error = %v, want %s on %q", err, want.Code, field)
	}
}

func TestValidateDeposit(t *testing.T) {
	tests := []struct {
		name   string
		amount int64
		memo   string
		field  string // "" when valid
	}{
		{"ok/one won", 1, "A1B2", ""},
		{"ok/the most", 1_000_000, "A1B2", ""},
		{"ok/ten Korean characters", 1, "해치인증코드하나둘셋", ""},
		{"ok/inner space", 1, "해치 A1B2", ""},
		{"error/zero", 0, "A1B2", "amount"},
		{"error/negative", -1, "A1B2", "amount"},
		{"error/one won too many", 1_000_001, "A1B2", "amount"},
		{"error/huge", 1 << 62, "A1B2", "amount"},
		{"error/empty memo", 1, "", "memo"},
		{"error/memo of eleven characters", 1, "해치인증코드하나둘셋넷", "memo"},
		{"error/memo with leading space", 1, " A1B2", "memo"},
		{"error/memo blank", 1, "   ", "memo"},
		{"error/memo with newline", 1, "A1\nB2", "memo"},
		{"error/memo not UTF-8", 1, "A1\xffB2", "memo"},
		{"error/memo with zero-width joiner", 1, "A1\u200dB2", "memo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := bankxfer.ValidateDeposit(tc.amount, tc.memo)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantField(t, err, bankxfer.ErrInvalidDeposit, tc.field)
		})
	}
}

func TestAccountPrintsMasked(t *testing.T) {
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "account", kimAcct)
	for _, s := range []string{fmt.Sprint(kimAcct), fmt.Sprintf("%+v", kimAcct), fmt.Sprintf("%#v", kimAcct),
		fmt.Sprintf("%v", []bankxfer.Account{kimAcct}), logged.String()} {
		if strings.Contains(s, "12345678") || !strings.Contains(s, "004 110-*****-***901") {
			t.Errorf("printed %q", s)
		}
	}
	if s := fmt.Sprint(bankxfer.Account{Bank: "9001011234567", Number: "9001011234567"}); strings.Contains(s, "1234567") {
		t.Errorf("malformed account printed %q", s)
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("004", "110-1234-5678-901")
	f.Add(" 088", "1234567890")
	f.Add("0４", "1234 5678 9012 3456 7")
	f.Add("", "\x00")
	f.Add("000", "000000000000")
	f.Fuzz(func(t *testing.T, bank, number string) {
		a := bankxfer.Account{Bank: bank, Number: number}
		n, err := a.Normalize()
		if err != nil {
			if !errors.Is(err, bankxfer.ErrInvalidAccount) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(n.Bank) != 3 || len(n.Number) < 10 || len(n.Number) > 16 || strings.Trim(n.Bank+n.Number, "0123456789") != "" {
			t.Fatalf("normalized to %q %q", n.Bank, n.Number)
		}
		for _, s := range []string{a.String(), n.String()} {
			if strings.Contains(s, n.Number[3:len(n.Number)-3]) {
				t.Fatalf("String shows the middle digits: %q", s)
			}
		}
		if again, err := n.Normalize(); err != nil || again != n {
			t.Fatalf("normalizing twice changed it: %v", err)
		}
	})
}
