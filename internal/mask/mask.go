// Package mask turns personal data into the forms a response, a log line or
// an audit entry may show (김*수, 900101-1******, 010-****-5678). Each function
// accepts any string: input that does not have the expected shape is masked
// whole, so a malformed value can never slip through unmasked.
package mask

import (
	"strings"
	"unicode/utf8"
)

// star is the mask character.
const star = "*"

// Name keeps the first and last character and masks the rest: 김민수 →
// 김*수, Smith → S***h; a two-character name keeps only its first (김*).
func Name(s string) string {
	n := utf8.RuneCountInString(s)
	if n < 2 {
		return stars(n)
	}
	first, size := utf8.DecodeRuneInString(s)
	if n == 2 {
		return string(first) + star
	}
	last, _ := utf8.DecodeLastRuneInString(s[size:])
	return string(first) + stars(n-2) + string(last)
}

// RRN (resident registration number) keeps the birth date and the 7th digit,
// which the regulator's own masked form shows: 900101-1******.
// Only the two written forms are accepted: 13 digits, or a dash after six.
func RRN(s string) string {
	if len(s) == 14 && s[6] == '-' {
		s = s[:6] + s[7:]
	}
	if _, ok := digitsOf(s, 13, 13); !ok || len(s) != 13 {
		return All(s)
	}
	return s[:6] + "-" + s[6:7] + stars(6)
}

// Phone keeps the carrier prefix and the last four digits: 010-****-5678,
// or 011-***-4567 for ten-digit numbers.
func Phone(s string) string {
	d, ok := digitsOf(s, 10, 11)
	if !ok {
		return All(s)
	}
	return d[:3] + "-" + stars(len(d)-7) + "-" + d[len(d)-4:]
}

// Account keeps the first and last three digits of a bank account number:
// 110123456456 → 110-***-***456. The middle group grows with the length.
func Account(s string) string {
	d, ok := digitsOf(s, 10, 16)
	if !ok {
		return All(s)
	}
	return d[:3] + "-" + stars(len(d)-9) + "-" + stars(3) + d[len(d)-3:]
}

// PAN (card number) keeps the issuer's BIN and the last four digits, the
// most a card number may show: 123456******3456. The middle is always six
// stars, so the masked form does not tell the length either.
func PAN(s string) string {
	d, ok := digitsOf(s, 13, 19)
	if !ok {
		return All(s)
	}
	return d[:6] + stars(6) + d[len(d)-4:]
}

// BirthDate keeps the year: 1990-01-01 → 1990-**-**.
func BirthDate(s string) string {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return All(s)
	}
	if _, ok := digitsOf(s[:4]+s[5:7]+s[8:], 8, 8); !ok {
		return All(s)
	}
	return s[:4] + "-**-**"
}

// All masks every character of s.
func All(s string) string { return stars(utf8.RuneCountInString(s)) }

func stars(n int) string { return strings.Repeat(star, n) }

// digitsOf returns the ASCII digits of s when s holds only digits, spaces
// and hyphens and the digit count lies within [lo, hi].
func digitsOf(s string, lo, hi int) (string, bool) {
	if len(s) > 2*hi {
		return "", false // no number we mask is padded that much
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c != '-' && c != ' ':
			return "", false
		}
	}
	n := b.Len()
	return b.String(), n >= lo && n <= hi
}
