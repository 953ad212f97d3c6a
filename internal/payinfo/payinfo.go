// Package payinfo is the payment information both sides of a payment hold
// and the tag that binds it to the merchant (the TID): what the merchant
// server gives the buyer (S), what the checkout client sends the gateway
// (C), and how the gateway compares the two. It is the shared vocabulary of
// the gateway (internal/payment), the merchant SDK (sdk/merchant) and the
// checkout client (sdk/checkout), and imports nothing of haechi so that a
// merchant's build pulls in nothing else.
//
// The protocol follows Heo & Lee, "Research on Secure Card-Payment System
// of Social Commerce" (2012), with one change: the paper's TID is an
// unkeyed SHA-1 of the order, which whoever rewrites the order can simply
// recompute. Here TID = HMAC-SHA256 under a key only the merchant and the
// gateway hold, so the checkout client carries the merchant's TID (it
// cannot make one) and the gateway checks it against the merchant's own
// answer.
package payinfo

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Limits of the fields.
const (
	MaxAmount   = 1_000_000_000 // KRW per payment
	MaxQuantity = 100_000
	MaxIDLen    = 64  // merchant id and order number
	MaxItemLen  = 100 // item name, in bytes of UTF-8
	TIDKeyLen   = 32  // bytes of a merchant's TID key
	TIDLen      = 64  // hex characters of a TID
)

// Currencies the gateway settles. KRW has no minor unit, so every amount is
// a whole number of won.
var Currencies = []string{"KRW"}

// Info is one order's payment information. Amount is the total to charge
// in whole won (not per item); Quantity the number of items.
type Info struct {
	MerchantID string `json:"merchant_id"`
	OrderNo    string `json:"order_no"`
	ItemName   string `json:"item_name"`
	Amount     int64  `json:"amount"`
	Quantity   int64  `json:"quantity"`
	Currency   string `json:"currency"`
}

// Tagged is payment information with its TID: S with TID_S as the merchant
// gives it out, or C with TID_C as the checkout client sends it.
type Tagged struct {
	Info
	TID string `json:"tid"`
}

// Reason says why a comparison failed; "" when it did not.
type Reason string

// Reasons of an ABNORMAL transaction code.
const (
	ReasonNone                Reason = ""
	ReasonMerchant            Reason = "merchant"             // merchant id differs or is unknown
	ReasonOrder               Reason = "order"                // order number differs
	ReasonItem                Reason = "item"                 // item name differs
	ReasonAmount              Reason = "amount"               // amount differs
	ReasonQuantity            Reason = "quantity"             // quantity differs
	ReasonCurrency            Reason = "currency"             // currency differs
	ReasonTID                 Reason = "tid"                  // a TID does not match or does not verify
	ReasonUnknownOrder        Reason = "unknown_order"        // the merchant does not know the order
	ReasonMerchantUnreachable Reason = "merchant_unreachable" // the merchant's lookup did not answer properly
)

// Errors of Validate; Field says which field is wrong.
var (
	ErrInvalid = errors.New("payinfo: invalid payment information")
)

// FieldError is a validation failure naming the field.
type FieldError struct{ Field string }

func (e *FieldError) Error() string { return "payinfo: invalid " + e.Field }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Validate checks every field: ids of 1–MaxIDLen characters from
// [A-Za-z0-9_.:-], an item name of 1–MaxItemLen bytes of printable UTF-8
// without control characters, 1 ≤ Amount ≤ MaxAmount, 1 ≤ Quantity ≤
// MaxQuantity, and a supported currency.
func (i Info) Validate() error {
	switch {
	case !validID(i.MerchantID):
		return &FieldError{"merchant_id"}
	case !validID(i.OrderNo):
		return &FieldError{"order_no"}
	case !validItem(i.ItemName):
		return &FieldError{"item_name"}
	case i.Amount < 1 || i.Amount > MaxAmount:
		return &FieldError{"amount"}
	case i.Quantity < 1 || i.Quantity > MaxQuantity:
		return &FieldError{"quantity"}
	case !supported(i.Currency):
		return &FieldError{"currency"}
	}
	return nil
}

// Canonical is the byte string a TID is computed over: a version label and
// each field length-prefixed, so that no two different orders share it
// (plain concatenation would let "A1"+"23" equal "A"+"123").
func (i Info) Canonical() []byte {
	var b strings.Builder
	b.WriteString("haechi-tid-v1")
	for _, f := range []string{i.MerchantID, i.OrderNo, i.ItemName,
		strconv.FormatInt(i.Amount, 10), strconv.FormatInt(i.Quantity, 10), i.Currency} {
		b.WriteByte('\n')
		b.WriteString(strconv.Itoa(len(f)))
		b.WriteByte(':')
		b.WriteString(f)
	}
	return []byte(b.String())
}

// TID is HMAC-SHA256(key, Canonical()) in lower-case hex.
func TID(key []byte, i Info) string {
	m := hmac.New(sha256.New, key)
	m.Write(i.Canonical())
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyTID reports whether tid is the TID of i under key, in constant time.
func VerifyTID(key []byte, i Info, tid string) bool {
	got, err := hex.DecodeString(tid)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	want, _ := hex.DecodeString(TID(key, i))
	return hmac.Equal(got, want)
}

// Tag returns i with its TID under key.
func Tag(key []byte, i Info) Tagged { return Tagged{Info: i, TID: TID(key, i)} }

// Compare is the gateway's check (the paper's steps 7–9) of what the
// checkout client sent (c) against what the merchant answered (s), with
// the merchant's key: s must carry a TID that verifies under the key (a
// lookup answer with a forged TID is refused), every field of c must equal
// s's, and c's TID must equal s's. It returns the first failing reason in
// a fixed order, so the reason names the field an attacker changed rather
// than only the TID it could not fix.
func Compare(key []byte, s, c Tagged) Reason {
	if !VerifyTID(key, s.Info, s.TID) {
		return ReasonTID
	}
	switch {
	case c.MerchantID != s.MerchantID:
		return ReasonMerchant
	case c.OrderNo != s.OrderNo:
		return ReasonOrder
	case c.Amount != s.Amount:
		return ReasonAmount
	case c.Quantity != s.Quantity:
		return ReasonQuantity
	case c.Currency != s.Currency:
		return ReasonCurrency
	case c.ItemName != s.ItemName:
		return ReasonItem
	}
	// Equal fields and a verified TID_S: TID_C must be the same tag.
	if !hmac.Equal([]byte(c.TID), []byte(s.TID)) {
		return ReasonTID
	}
	return ReasonNone
}

// ParseAmount reads a JSON number as a whole, positive amount no larger
// than MaxAmount; fractions ("6900.5", "6.9e3"), signs, leading zeros and
// anything that would overflow are refused, never rounded.
func ParseAmount(n json.Number) (int64, error) {
	return parseCount(n, MaxAmount, "amount")
}

// ParseQuantity reads a JSON number as a quantity like ParseAmount.
func ParseQuantity(n json.Number) (int64, error) {
	return parseCount(n, MaxQuantity, "quantity")
}

func parseCount(n json.Number, max int64, field string) (int64, error) {
	s := string(n)
	if s == "" || len(s) > 19 || s[0] == '0' || !digits(s) {
		return 0, &FieldError{field}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 1 || v > max {
		return 0, &FieldError{field}
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func validItem(s string) bool {
	if s == "" || len(s) > MaxItemLen || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r == '\uFFFD' || r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

func supported(c string) bool {
	for _, s := range Currencies {
		if c == s {
			return true
		}
	}
	return false
}
