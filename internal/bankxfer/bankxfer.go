// Package bankxfer is the bank-transfer network used by the 1-won check
// (1원 인증): it names an account's holder and deposits 1 KRW with a short
// memo the account holder then reads from their statement. Network has two
// implementations: Simulator, a deterministic built-in registry of accounts
// for the demo and tests (NOT a real bank network), and HTTP, an adapter
// for a real firm-banking or open-banking gateway.
package bankxfer

import (
	"context"
	"log/slog"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/mask"
)

// Account names a bank account: the three-digit bank code (e.g. "004",
// "088") and the account number, digits only (10–16 digits). Normalize
// turns what a customer types into that form. Its String, GoString and
// LogValue are masked, so an account printed or logged by mistake shows
// only the first and last three digits.
type Account struct {
	Bank   string
	Number string
}

// Network is a bank-transfer network.
type Network interface {
	// Holder returns the account holder's name (예금주 조회). An account
	// the network does not know, or a closed one, is ErrNoAccount.
	Holder(ctx context.Context, a Account) (string, error)
	// Deposit sends amountKRW to the account with memo as the depositor
	// name shown on the holder's statement, and returns the network's
	// transfer reference. ErrNoAccount as for Holder.
	Deposit(ctx context.Context, a Account, amountKRW int64, memo string) (ref string, err error)
}

// Errors of this package. A network that cannot answer gives an error
// wrapping errs.ErrUnavailable.
var (
	ErrNoAccount = errs.New(errs.Invalid, "account_not_found",
		"The bank does not know this account or it is closed.",
		"은행에서 이 계좌를 찾을 수 없거나 해지된 계좌입니다.")
	ErrInvalidAccount = errs.New(errs.Invalid, "invalid_account",
		"The bank code must be 3 digits and the account number 10 to 16 digits.",
		"은행 코드는 3자리, 계좌번호는 10~16자리 숫자여야 합니다.")
)

// String shows the account masked: "004 110-*****-***901".
func (a Account) String() string {
	bank := a.Bank
	if !isDigits(bank, bankCodeLen, bankCodeLen) {
		bank = mask.All(bank)
	}
	return bank + " " + mask.Account(a.Number)
}

// GoString keeps %#v from printing the number raw.
func (a Account) GoString() string { return "bankxfer.Account{" + a.String() + "}" }

// LogValue keeps slog from printing the number raw.
func (a Account) LogValue() slog.Value { return slog.StringValue(a.String()) }
