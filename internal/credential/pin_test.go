package credential_test

import (
	"errors"
	"testing"

	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/errs"
)

func TestValidatePIN(t *testing.T) {
	const born = "1990-05-17" // YYMMDD 900517, MMDD 0517
	tests := []struct {
		name, pin, birth string
		want             error
	}{
		{"ok", "384917", born, nil},
		{"ok/no birth date known", "900517", "", nil},
		{"ok/malformed birth date is skipped", "900517", "1990-5-17", nil},
		{"ok/day and month reversed (DDMM is not a Korean form)", "170599", born, nil},
		{"ok/a run of five is not a run of six", "123457", born, nil},
		{"ok/leading zero", "038271", born, nil},
		{"error/five digits", "12345", born, credential.ErrPINFormat},
		{"error/seven digits", "1234567", born, credential.ErrPINFormat},
		{"error/empty", "", born, credential.ErrPINFormat},
		{"error/letter", "12a456", born, credential.ErrPINFormat},
		{"error/space", "38491 ", born, credential.ErrPINFormat},
		{"error/full-width digits", "３８４９１７", born, credential.ErrPINFormat},
		{"error/Arabic-Indic digits", "٣٨٤٩١٧", born, credential.ErrPINFormat},
		{"error/sign", "+38491", born, credential.ErrPINFormat},
		{"error/all zero", "000000", born, credential.ErrPINRepeated},
		{"error/all seven", "777777", born, credential.ErrPINRepeated},
		{"error/ascending", "234567", born, credential.ErrPINSequence},
		{"error/ascending from zero", "012345", born, credential.ErrPINSequence},
		{"error/descending", "876543", born, credential.ErrPINSequence},
		{"error/ascending through 9 to 0", "567890", born, credential.ErrPINSequence},
		{"error/ascending wrapping", "890123", born, credential.ErrPINSequence},
		{"error/descending wrapping", "210987", born, credential.ErrPINSequence},
		{"error/blocklist repeated pairs", "121212", born, credential.ErrPINBlocklisted},
		{"error/blocklist mirrored", "123321", born, credential.ErrPINBlocklisted},
		{"error/blocklist keypad column walk", "147258", born, credential.ErrPINBlocklisted},
		{"error/blocklist keypad diagonals", "159753", born, credential.ErrPINBlocklisted},
		{"error/blocklist 520520", "520520", born, credential.ErrPINBlocklisted},
		{"error/blocklist 000001", "000001", born, credential.ErrPINBlocklisted},
		{"error/birth date YYMMDD", "900517", born, credential.ErrPINBirthDate},
		{"error/birth MMDD at the start", "051799", born, credential.ErrPINBirthDate},
		{"error/birth MMDD in the middle", "305179", born, credential.ErrPINBirthDate},
		{"error/birth MMDD at the end", "330517", born, credential.ErrPINBirthDate},
		{"error/birth date 2000s YYMMDD", "040229", "2004-02-29", credential.ErrPINBirthDate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := credential.ValidatePIN(tc.pin, tc.birth)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ValidatePIN = %v, want ok", err)
				}
				return
			}
			checkCode(t, err, tc.want, "pin")
		})
	}
}

// checkCode asserts err is the *errs.Error want, of kind Invalid, naming
// field.
func checkCode(t *testing.T, err, want error, field string) {
	t.Helper()
	e := errs.As(err)
	if e == nil || !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	if e.Kind != errs.Invalid || e.Field != field {
		t.Fatalf("error kind %v field %q, want Invalid %q", e.Kind, e.Field, field)
	}
}

// TestBlocklistLargeEnough: at least 20 listed values that no other rule
// catches, so the list adds something of its own.
func TestBlocklistLargeEnough(t *testing.T) {
	n := 0
	for i := range 1000000 {
		pin := []byte("000000")
		for j, v := 5, i; j >= 0; j, v = j-1, v/10 {
			pin[j] = byte('0' + v%10)
		}
		if errors.Is(credential.ValidatePIN(string(pin), ""), credential.ErrPINBlocklisted) {
			n++
		}
	}
	if n < 20 {
		t.Fatalf("%d PINs refused by the blocklist alone, want at least 20", n)
	}
}
