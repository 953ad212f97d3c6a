package bankxfer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/errs"
)

// Limits of a deposit.
const (
	MinDepositKRW = 1
	MaxDepositKRW = 1_000_000
	MaxMemoRunes  = 10
)

const (
	bankCodeLen     = 3
	minNumberDigits = 10
	maxNumberDigits = 16
	// maxTypedNumber bounds the number as typed, hyphens and spaces
	// included, so normalizing never works on an unbounded string.
	maxTypedNumber = 64
	maxHolderRunes = 60
)

// ErrInvalidDeposit: the amount or the memo of a deposit is out of bounds.
// WithField names which ("amount" or "memo").
var ErrInvalidDeposit = errs.New(errs.Invalid, "invalid_deposit",
	"The amount must be 1 to 1,000,000 KRW and the memo 1 to 10 characters.",
	"입금액은 1원~1,000,000원, 입금자명은 1~10자여야 합니다.")

// Normalize checks the account's form and returns it with the bank code
// trimmed and the number as bare digits (hyphens and spaces removed).
// A malformed account is ErrInvalidAccount naming the field: "bank_code"
// or "account_number". Whether the account exists is the bank's to say.
func (a Account) Normalize() (Account, error) {
	a.Bank = strings.TrimSpace(a.Bank)
	if !isDigits(a.Bank, bankCodeLen, bankCodeLen) {
		return a, ErrInvalidAccount.WithField("bank_code")
	}
	if len(a.Number) > maxTypedNumber {
		return a, ErrInvalidAccount.WithField("account_number")
	}
	n := strings.NewReplacer("-", "", " ", "").Replace(a.Number)
	if !isDigits(n, minNumberDigits, maxNumberDigits) {
		return a, ErrInvalidAccount.WithField("account_number")
	}
	a.Number = n
	return a, nil
}

// ValidateDeposit checks a deposit's amount and memo before anything is
// sent. The memo is taken exactly as given: it carries a code the holder
// must read back, so it is refused rather than trimmed or altered.
func ValidateDeposit(amountKRW int64, memo string) error {
	if amountKRW < MinDepositKRW || amountKRW > MaxDepositKRW {
		return ErrInvalidDeposit.WithField("amount")
	}
	if !validMemo(memo) {
		return ErrInvalidDeposit.WithField("memo")
	}
	return nil
}

// validMemo accepts 1–MaxMemoRunes printable characters without
// surrounding spaces, which a statement would not show.
func validMemo(s string) bool {
	n := utf8.RuneCountInString(s)
	return n >= 1 && n <= MaxMemoRunes && strings.TrimSpace(s) == s && printable(s)
}

// validHolder accepts a holder name as a bank may write it, corporate
// marks such as "(주)" included, but nothing a log line or a page could
// be confused by.
func validHolder(s string) bool {
	n := utf8.RuneCountInString(s)
	return n >= 1 && n <= maxHolderRunes && strings.TrimSpace(s) == s && printable(s)
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
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
