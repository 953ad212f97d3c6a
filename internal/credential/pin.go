package credential

import (
	"strings"

	"github.com/haechi/haechi/internal/errs"
)

// PINLength is the length of a PIN (간편비밀번호): six digits, as Korean
// banking apps use.
const PINLength = 6

// Weak-PIN refusals. Each has its own code so the app can tell the customer
// which rule the PIN broke; none echoes the PIN.
var (
	ErrPINFormat = errs.New(errs.Invalid, "pin_format",
		"The PIN must be exactly 6 digits.",
		"비밀번호는 숫자 6자리여야 합니다.").WithField("pin")
	ErrPINBlocklisted = errs.New(errs.Invalid, "pin_blocklisted",
		"This PIN is one of the most commonly chosen and easy to guess; choose another.",
		"많은 사람이 쓰는 추측하기 쉬운 비밀번호입니다. 다른 번호를 정하세요.").WithField("pin")
	ErrPINRepeated = errs.New(errs.Invalid, "pin_repeated",
		"The PIN must not be one digit repeated.",
		"같은 숫자만 반복한 비밀번호는 쓸 수 없습니다.").WithField("pin")
	ErrPINSequence = errs.New(errs.Invalid, "pin_sequence",
		"The PIN must not be a run of consecutive digits.",
		"연속된 숫자로 된 비밀번호는 쓸 수 없습니다.").WithField("pin")
	ErrPINBirthDate = errs.New(errs.Invalid, "pin_birth_date",
		"The PIN must not contain your birth date.",
		"생년월일이 들어간 비밀번호는 쓸 수 없습니다.").WithField("pin")
)

// pinBlocklist holds six-digit PINs that people choose far more often than
// chance. The idea comes from the published studies of human-chosen PINs
// (Wang et al., "Understanding Human-Chosen PINs", ASIA CCS 2017; Markert et
// al., "This PIN Can Be Easily Guessed", IEEE S&P 2020), which found that
// refusing a short list of the most popular values removes a large share of
// an attacker's best guesses at little cost to users. The values below are
// our own selection of the kinds those studies describe: repeated pairs and
// triples, mirrored halves, keypad walks (columns, diagonals, rows), and
// numbers chosen for their sound, like 520 ("I love you" in Chinese). Runs
// and single repeated digits are refused by their own rules too; they stay
// here so the list alone is a useful floor, but ValidatePIN reports them by
// those rules' codes.
var pinBlocklist = setOf(
	// all one digit
	"000000", "111111", "222222", "333333", "444444", "555555", "666666", "777777", "888888", "999999",
	// runs and near-runs
	"123456", "654321", "987654", "234567", "000001", "012345", "123450", "123654", "135790", "246810",
	// repeated pairs and triples, mirrored halves
	"121212", "101010", "131313", "252525", "696969", "202020", "010101", "123123", "112233", "001122",
	"123321", "456654", "100100", "110110", "007007", "520520", "521521", "520131", "147147", "789789",
	// keypad walks
	"147258", "258369", "369258", "741852", "852963", "963852", "159753", "357159", "789456", "456123",
	"147369", "753951", "159357", "951753", "321654", "789123",
)

// setOf makes the lookup set; the result is never written to afterwards.
func setOf(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// ValidatePIN refuses a PIN that is not 6 ASCII digits or is weak. The rules
// that explain themselves best (one digit, a run) answer before the
// blocklist; birthDate is the
// customer's (YYYY-MM-DD) and is skipped when empty or malformed.
func ValidatePIN(pin, birthDate string) error {
	switch {
	case !isPINFormat(pin):
		return ErrPINFormat
	case isRepeated(pin):
		return ErrPINRepeated
	case isSequence(pin):
		return ErrPINSequence
	case pinBlocklist[pin]:
		return ErrPINBlocklisted
	case hasBirthDate(pin, birthDate):
		return ErrPINBirthDate
	}
	return nil
}

func isPINFormat(pin string) bool {
	return len(pin) == PINLength && allDigits(pin)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isRepeated(pin string) bool {
	for i := 1; i < len(pin); i++ {
		if pin[i] != pin[0] {
			return false
		}
	}
	return true
}

// isSequence reports an ascending or descending run of digits. Runs wrap
// from 9 to 0 and back: people type 0 after 9, as on the keyboard's top row
// and the phone keypad, so 567890 and 901234 are runs as much as 345678.
func isSequence(pin string) bool {
	return hasStep(pin, 1) || hasStep(pin, 9) // 9 is -1 modulo 10
}

func hasStep(pin string, step byte) bool {
	for i := 1; i < len(pin); i++ {
		if (pin[i-1]-'0'+step)%10 != pin[i]-'0' {
			return false
		}
	}
	return true
}

// hasBirthDate reports a PIN that is the birth date as YYMMDD (the form of
// the RRN's first half, the one people know by heart) or that holds the
// birth day as MMDD anywhere, the way a year or a digit pair gets wrapped
// around it (1990-05-17: 900517, 051799, 330517 are all refused). DDMM is
// not a Korean way of writing dates and is not checked.
func hasBirthDate(pin, birthDate string) bool {
	yymmdd, mmdd, ok := birthForms(birthDate)
	if !ok {
		return false
	}
	return pin == yymmdd || strings.Contains(pin, mmdd)
}

// birthForms splits YYYY-MM-DD into its YYMMDD and MMDD forms.
func birthForms(d string) (yymmdd, mmdd string, ok bool) {
	if len(d) != 10 || d[4] != '-' || d[7] != '-' || !allDigits(d[:4]+d[5:7]+d[8:]) {
		return "", "", false
	}
	mmdd = d[5:7] + d[8:]
	return d[2:4] + mmdd, mmdd, true
}
