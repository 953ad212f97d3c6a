package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

// Limits of a signature header. A rotation has two secrets, so a real
// header has three parts; the slack admits a few signatures of schemes a
// later version may add, and nothing that costs a receiver real work.
const (
	maxHeaderLen   = 1024
	maxHeaderParts = 8
	maxTimeDigits  = 19 // any more overflows int64
)

// Why Verify refused a delivery. Each is distinct, so a receiver can log
// what was wrong; none says which secret was tried.
var (
	ErrHeaderTooLarge = errs.New(errs.Unauthenticated, "webhook_signature_too_large",
		"The signature header is too long or has too many parts.", "서명 헤더가 너무 길거나 항목이 너무 많습니다.")
	ErrHeaderMalformed = errs.New(errs.Unauthenticated, "webhook_signature_malformed",
		"The signature header is not a list of key=value pairs.", "서명 헤더가 key=value 목록 형식이 아닙니다.")
	ErrNoTimestamp = errs.New(errs.Unauthenticated, "webhook_signature_no_timestamp",
		"The signature header has no timestamp (t=).", "서명 헤더에 타임스탬프(t=)가 없습니다.")
	ErrBadTimestamp = errs.New(errs.Unauthenticated, "webhook_signature_bad_timestamp",
		"The signature timestamp is not a number of seconds.", "서명 타임스탬프가 초 단위 숫자가 아닙니다.")
	ErrNoSignature = errs.New(errs.Unauthenticated, "webhook_signature_missing",
		"The signature header has no v1 signature.", "서명 헤더에 v1 서명이 없습니다.")
	ErrBadSignatureEncoding = errs.New(errs.Unauthenticated, "webhook_signature_bad_encoding",
		"A v1 signature is not 64 hexadecimal digits.", "v1 서명이 16진수 64자리가 아닙니다.")
	ErrTimestampOutOfTolerance = errs.New(errs.Unauthenticated, "webhook_signature_expired",
		"The signature timestamp is too far from the current time.", "서명 타임스탬프가 현재 시각과 너무 차이 납니다.")
	ErrSignatureMismatch = errs.New(errs.Unauthenticated, "webhook_signature_mismatch",
		"No signature matches the body with any known secret.", "어떤 비밀키로도 본문 서명이 일치하지 않습니다.")
)

// Sign returns the Haechi-Signature value for body sent at t: the Unix
// time and one v1 per secret, in the order given (newest first). With no
// secret it holds no v1, which every receiver refuses.
func Sign(secrets [][]byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.Grow(2 + len(ts) + len(secrets)*(4+2*sha256.Size))
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

// mac is HMAC-SHA256 over "<t>.<body>".
func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Haechi-Signature header against the raw body as
// received: it accepts when any v1 matches the body under any of secrets
// and the timestamp is within tolerance of now, either way (a timestamp
// ahead of the clock is as suspect as a stale one). A tolerance of zero or
// less means Tolerance.
func Verify(header string, body []byte, secrets [][]byte, now time.Time, tolerance time.Duration) error {
	sig, err := parseSignature(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = Tolerance
	}
	if !withinTolerance(sig.t, now, tolerance) {
		return ErrTimestampOutOfTolerance
	}
	ts := strconv.FormatInt(sig.t, 10)
	for _, s := range secrets {
		want := mac(s, ts, body)
		for _, got := range sig.v1 {
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrSignatureMismatch
}

// withinTolerance compares in whole seconds, the header's unit, so that no
// conversion to a Duration can overflow on a far-off timestamp.
func withinTolerance(t int64, now time.Time, tolerance time.Duration) bool {
	skew := now.Unix() - t
	limit := int64(tolerance / time.Second)
	return skew <= limit && skew >= -limit
}

// signature is a parsed header.
type signature struct {
	t  int64
	v1 [][]byte
}

// parseSignature reads "t=<digits>,v1=<64 hex>[,v1=…]". Keys other than t
// and v1 are skipped when well formed, so a scheme added later does not
// break receivers running this version; anything else is refused.
func parseSignature(header string) (signature, error) {
	var sig signature
	if len(header) > maxHeaderLen || strings.Count(header, ",") >= maxHeaderParts {
		return sig, ErrHeaderTooLarge
	}
	seenT := false
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(part, "=")
		if !ok || !validKey(key) || value == "" {
			return sig, ErrHeaderMalformed
		}
		switch key {
		case "t":
			if seenT {
				return sig, ErrHeaderMalformed
			}
			seenT = true
			t, err := parseTimestamp(value)
			if err != nil {
				return sig, err
			}
			sig.t = t
		case "v1":
			b, err := parseV1(value)
			if err != nil {
				return sig, err
			}
			sig.v1 = append(sig.v1, b)
		default:
			if !printable(value) {
				return sig, ErrHeaderMalformed
			}
		}
	}
	switch {
	case !seenT:
		return sig, ErrNoTimestamp
	case len(sig.v1) == 0:
		return sig, ErrNoSignature
	}
	return sig, nil
}

// parseTimestamp accepts decimal digits only: no sign, space, exponent or
// leading zero. One time has one spelling, so a receiver that remembers
// deliveries by (t, body) cannot be fooled by "t=0…" into taking a replay
// for a new one.
func parseTimestamp(s string) (int64, error) {
	if len(s) > maxTimeDigits || !digits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, ErrBadTimestamp
	}
	t, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, ErrBadTimestamp
	}
	return t, nil
}

func parseV1(s string) ([]byte, error) {
	if len(s) != 2*sha256.Size {
		return nil, ErrBadSignatureEncoding
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, ErrBadSignatureEncoding
	}
	return b, nil
}

// validKey is a lower-case scheme name such as t, v1 or a later v2.
func validKey(s string) bool {
	if s == "" || len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// printable is visible ASCII without the header's own separators.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ',' || c == '=' {
			return false
		}
	}
	return true
}
