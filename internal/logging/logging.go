// Package logging makes haechi's JSON logger. Its handler redacts attributes
// whose names mark them as secret and masks values that look like resident
// registration numbers, card numbers, phone or account numbers, wherever they
// appear, so one careless log line cannot leak them.
package logging

import (
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// New returns a JSON logger at level ("debug", "info", "warn", "error").
func New(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: Redact}))
}

// secretNames are attribute-name fragments whose values are never logged.
var secretNames = []string{
	"password", "passwd", "secret", "token", "authorization", "cookie", "api_key", "apikey",
	"pin", "pattern", "cvv", "cvc", "otp", "totp", "code", "rrn", "pan", "card_number",
	"account_number", "phone", "private", "key_material", "pepper",
}

// Redact is a slog ReplaceAttr: secret-named attributes become "[REDACTED]"
// and PII-shaped substrings of other strings are masked.
func Redact(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		return a
	}
	if isSecretName(a.Key) {
		return slog.String(a.Key, "[REDACTED]")
	}
	if a.Value.Kind() == slog.KindString || a.Value.Kind() == slog.KindAny {
		s := a.Value.String()
		if m := Mask(s); m != s {
			return slog.String(a.Key, m)
		}
	}
	return a
}

func isSecretName(key string) bool {
	k := strings.ToLower(key)
	for _, n := range secretNames {
		if strings.Contains(k, n) {
			return true
		}
	}
	return false
}

var (
	// Resident registration number: YYMMDD-SNNNNNN, with or without the dash.
	rrnRe = regexp.MustCompile(`\b(\d{6})-?([1-8])\d{6}\b`)
	// Card numbers: 13 to 19 digits, optionally grouped by spaces or dashes.
	panRe = regexp.MustCompile(`\b\d(?:[ -]?\d){12,18}\b`)
	// Korean mobile numbers.
	phoneRe = regexp.MustCompile(`\b(01[016789])-?\d{3,4}-?(\d{4})\b`)
	// Long digit runs (account numbers and the like).
	digitsRe = regexp.MustCompile(`\d{10,}`)
)

// Mask hides PII-shaped substrings: RRN to 900101-1******, card numbers to
// BIN + last 4, phones to 010-****-5678, other long digit runs entirely.
func Mask(s string) string {
	if !strings.ContainsAny(s, "0123456789") {
		return s
	}
	s = rrnRe.ReplaceAllString(s, "$1-$2******")
	s = phoneRe.ReplaceAllString(s, "$1-****-$2")
	s = panRe.ReplaceAllStringFunc(s, maskPAN)
	return digitsRe.ReplaceAllStringFunc(s, func(d string) string { return strings.Repeat("*", len(d)) })
}

// maskPAN keeps the BIN (first 6) and the last 4 digits of a card number.
func maskPAN(m string) string {
	d := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, m)
	return d[:6] + strings.Repeat("*", len(d)-10) + d[len(d)-4:]
}
