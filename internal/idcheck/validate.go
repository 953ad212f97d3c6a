package idcheck

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/errs"
)

// ErrInvalidCard: a field of the card is malformed. WithField names it.
var ErrInvalidCard = errs.New(errs.Invalid, "id_card_invalid",
	"The ID card details are not valid.", "신분증 정보가 올바르지 않습니다.")

const (
	maxNameRunes = 40
	maxSerialLen = 10
)

// Normalize checks the card's format and returns it with RRN and licence
// number as bare digits and the name trimmed. It checks form only; whether
// the card exists is the authority's to say. The RRN's date part must be a
// real date (its century told by the seventh digit), but its check digit is
// not verified: numbers issued since 2020-10-05 carry none.
func (c Card) Normalize() (Card, error) {
	c.Name = strings.TrimSpace(c.Name)
	if c.Kind != KindResident && c.Kind != KindDriver {
		return c, ErrInvalidCard.WithField("kind")
	}
	if !validName(c.Name) {
		return c, ErrInvalidCard.WithField("name")
	}
	rrn, ok := normalRRN(c.RRN)
	if !ok {
		return c, ErrInvalidCard.WithField("rrn")
	}
	c.RRN = rrn
	if !validDate(c.IssueDate) {
		return c, ErrInvalidCard.WithField("issue_date")
	}
	return c.normalizeLicence()
}

// normalizeLicence requires the licence fields on a licence and nowhere else.
func (c Card) normalizeLicence() (Card, error) {
	if c.Kind == KindResident {
		if c.LicenceNumber != "" {
			return c, ErrInvalidCard.WithField("licence_number")
		}
		if c.Serial != "" {
			return c, ErrInvalidCard.WithField("serial")
		}
		return c, nil
	}
	d, ok := licenceDigits(c.LicenceNumber)
	if !ok {
		return c, ErrInvalidCard.WithField("licence_number")
	}
	c.LicenceNumber = d
	if c.Serial == "" || len(c.Serial) > maxSerialLen || !allAlnum(c.Serial) {
		return c, ErrInvalidCard.WithField("serial")
	}
	return c, nil
}

func validName(s string) bool {
	n := utf8.RuneCountInString(s)
	if n == 0 || n > maxNameRunes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !strings.ContainsRune(" .-'", r) {
			return false
		}
	}
	return true
}

// normalRRN returns the 13 digits of an RRN whose birth date is real.
func normalRRN(s string) (string, bool) {
	if len(s) == 14 && s[6] == '-' {
		s = s[:6] + s[7:]
	}
	if len(s) != 13 || !allDigits(s) {
		return "", false
	}
	century, ok := rrnCentury(s[6])
	if !ok {
		return "", false
	}
	return s, validDate(century + s[:2] + "-" + s[2:4] + "-" + s[4:6])
}

// rrnCentury reads the seventh digit: 1, 2 (and 5, 6 for foreign
// residents) are born in the 1900s, 3, 4, 7, 8 in the 2000s, 9, 0 in the
// 1800s.
func rrnCentury(d byte) (string, bool) {
	switch d {
	case '1', '2', '5', '6':
		return "19", true
	case '3', '4', '7', '8':
		return "20", true
	case '9', '0':
		return "18", true
	}
	return "", false
}

// validDate accepts a real calendar date written YYYY-MM-DD.
func validDate(s string) bool {
	t, err := time.Parse(time.DateOnly, s)
	return err == nil && t.Format(time.DateOnly) == s
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func allAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
