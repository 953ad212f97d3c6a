package customer

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/haechi/haechi/internal/errs"
)

// Validation errors; each names the field it is about.
var (
	ErrInvalidName = errs.New(errs.Invalid, "invalid_name",
		"The name must be 1 to 50 characters with no control characters.",
		"이름은 제어 문자 없이 1~50자여야 합니다.").WithField("name")
	ErrInvalidBirthDate = errs.New(errs.Invalid, "invalid_birth_date",
		"The birth date must be a real date (YYYY-MM-DD) from 1900 until today.",
		"생년월일은 1900년부터 오늘까지의 실제 날짜(YYYY-MM-DD)여야 합니다.").WithField("birth_date")
	ErrInvalidPhone = errs.New(errs.Invalid, "invalid_phone",
		"The phone must be a Korean mobile number (010, 011, 016-019).",
		"휴대폰 번호는 국내 이동전화 번호(010, 011, 016~019)여야 합니다.").WithField("phone")
	ErrInvalidRRN = errs.New(errs.Invalid, "invalid_rrn",
		"The resident registration number is not valid.",
		"주민등록번호가 올바르지 않습니다.").WithField("rrn")
	ErrRRNMismatch = errs.New(errs.Invalid, "rrn_birth_date_mismatch",
		"The resident registration number does not match the birth date.",
		"주민등록번호와 생년월일이 일치하지 않습니다.").WithField("rrn")
)

const (
	maxNameRunes = 50
	dateLayout   = "2006-01-02"
	// maxInputBytes bounds every field before it is looked at closely.
	maxInputBytes = 256
)

// kst is Korea's time zone, fixed at UTC+9 (no daylight saving since
// 1988): "today" for a birth date is the Korean today.
var kst = time.FixedZone("KST", 9*60*60)

// earliestBirth is the first accepted birth date.
var earliestBirth = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// Validate normalises the fields in place (name to NFC without surrounding
// spaces, phone and RRN to digits) and checks each one. The one rule that
// needs a clock, "birth date not in the future", is checked by Create with
// the service's clock.
func (n *New) Validate() error {
	var err error
	if n.Name, err = normalizeName(n.Name); err != nil {
		return err
	}
	birth, err := parseBirthDate(n.BirthDate)
	if err != nil {
		return err
	}
	if n.Phone, err = NormalizePhone(n.Phone); err != nil {
		return err
	}
	return n.validateRRN(birth)
}

func (n *New) validateRRN(birth time.Time) error {
	if n.RRN == "" {
		return nil
	}
	digits, rrnBirth, err := NormalizeRRN(n.RRN)
	if err != nil {
		return err
	}
	if rrnBirth != birth.Format(dateLayout) {
		return ErrRRNMismatch
	}
	n.RRN = digits
	return nil
}

// checkNotFuture refuses a birth date after today in Korea.
func checkNotFuture(birthDate string, now time.Time) error {
	birth, err := parseBirthDate(birthDate)
	if err != nil {
		return err
	}
	y, m, d := now.In(kst).Date()
	if birth.After(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) {
		return ErrInvalidBirthDate
	}
	return nil
}

// normalizeName composes the name to NFC, so that a name typed with
// decomposed Hangul jamo equals the same name typed precomposed (a carrier
// compares them), and refuses control and format characters: a bidi
// override or zero-width space would make two different names look alike.
func normalizeName(s string) (string, error) {
	if len(s) > maxInputBytes || !utf8.ValidString(s) {
		return "", ErrInvalidName
	}
	s = strings.TrimSpace(norm.NFC.String(s))
	if n := utf8.RuneCountInString(s); n < 1 || n > maxNameRunes {
		return "", ErrInvalidName
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) || r == utf8.RuneError {
			return "", ErrInvalidName
		}
	}
	return s, nil
}

// parseBirthDate accepts exactly YYYY-MM-DD naming a real day from 1900.
func parseBirthDate(s string) (time.Time, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil || t.Format(dateLayout) != s || t.Before(earliestBirth) {
		return time.Time{}, ErrInvalidBirthDate
	}
	return t, nil
}

// mobilePrefixes are the Korean mobile carrier prefixes.
var mobilePrefixes = []string{"010", "011", "016", "017", "018", "019"}

// NormalizePhone returns the digits of a Korean mobile number or an error.
// Hyphens and spaces are dropped and an international +82 prefix becomes
// the domestic 0, so 010-1234-5678, 010 1234 5678 and +82 10-1234-5678 are
// all 01012345678. The prefix is followed by 7 or 8 digits.
func NormalizePhone(phone string) (string, error) {
	if len(phone) > 32 {
		return "", ErrInvalidPhone
	}
	if rest, ok := strings.CutPrefix(phone, "+82"); ok {
		phone = "0" + strings.TrimLeft(rest, " -")
	}
	d, ok := digitsOnly(phone, "- ")
	if !ok || len(d) < 10 || len(d) > 11 || !hasMobilePrefix(d) {
		return "", ErrInvalidPhone
	}
	return d, nil
}

func hasMobilePrefix(d string) bool {
	for _, p := range mobilePrefixes {
		if strings.HasPrefix(d, p) {
			return true
		}
	}
	return false
}

// NormalizeRRN checks a resident registration number (13 digits, or six, a
// dash and seven) and returns its digits and the birth date it encodes
// (YYYY-MM-DD). The first six digits must be a real date; the 7th digit
// gives the century (1, 2, 5, 6: 1900s; 3, 4, 7, 8: 2000s; 9, 0: 1800s).
//
// The 13th digit is deliberately not checked: numbers issued since
// 2020-10-05 no longer end in a check digit (the last six digits became
// random), so the old checksum would refuse real, valid numbers.
func NormalizeRRN(rrn string) (digits, birthDate string, err error) {
	if len(rrn) == 14 && rrn[6] == '-' {
		rrn = rrn[:6] + rrn[7:]
	}
	d, ok := digitsOnly(rrn, "")
	if !ok || len(d) != 13 {
		return "", "", ErrInvalidRRN
	}
	birth, ok := rrnBirthDate(d)
	if !ok {
		return "", "", ErrInvalidRRN
	}
	return d, birth, nil
}

// rrnCentury maps the 7th digit of an RRN to the first two digits of the
// birth year (odd/even is sex; 5-8 are foreign residents).
var rrnCentury = [10]string{"18", "19", "19", "20", "20", "19", "19", "20", "20", "18"}

// rrnBirthDate reads YYMMDD with the century of the 7th digit; d is 13
// ASCII digits.
func rrnBirthDate(d string) (string, bool) {
	s := rrnCentury[d[6]-'0'] + d[0:2] + "-" + d[2:4] + "-" + d[4:6]
	t, err := time.Parse(dateLayout, s)
	if err != nil || t.Format(dateLayout) != s {
		return "", false
	}
	return s, true
}

// digitsOnly returns the ASCII digits of s; any other byte not in skip
// makes it fail.
func digitsOnly(s, skip string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case strings.IndexByte(skip, c) < 0:
			return "", false
		}
	}
	return b.String(), true
}
