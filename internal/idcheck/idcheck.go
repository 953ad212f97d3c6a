// Package idcheck asks the issuing authority whether an ID card is genuine
// (신분증 진위확인): a resident registration card or a driver's licence,
// checked field by field against the authority's record and its lost and
// stolen register. Device registration uses it as a step-up method now;
// eKYC's id_card method will use the same Checker.
//
// Checker has two implementations: Simulator, a fixed registry for the
// demo and tests (NOT the authority), and HTTP, an adapter for the real
// service.
package idcheck

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/haechi/haechi/internal/mask"
)

// CardKind is the kind of ID card.
type CardKind string

// Kinds of card.
const (
	KindResident CardKind = "resident" // 주민등록증
	KindDriver   CardKind = "driver"   // 운전면허증
)

// Card is what the customer's ID card shows. Its String, GoString and
// LogValue are masked, so a card printed or logged by mistake shows no RRN.
type Card struct {
	Kind      CardKind
	Name      string
	RRN       string // 13 digits, the hyphen after the sixth optional
	IssueDate string // YYYY-MM-DD
	// LicenceNumber and Serial (the 암호일련번호 printed on the licence)
	// are for driver's licences only.
	LicenceNumber string // 12 digits, as 11-15-123456-01 or without hyphens
	Serial        string
}

// Result is the authority's verdict.
type Result string

// Results of a check.
const (
	// ResultValid: the card exists, every field matches, not reported lost.
	ResultValid Result = "valid"
	// ResultLost: the card matches but was reported lost or stolen.
	ResultLost Result = "lost"
	// ResultMismatch: the authority knows the card but a field differs.
	ResultMismatch Result = "mismatch"
	// ResultUnknown: the authority has no such card.
	ResultUnknown Result = "unknown"
)

// Valid reports whether r is one of the four results.
func (r Result) Valid() bool {
	switch r {
	case ResultValid, ResultLost, ResultMismatch, ResultUnknown:
		return true
	}
	return false
}

// Checker checks a card with the authority. A malformed card gives
// ErrInvalidCard (with the field) before anything is sent; an authority
// that cannot answer gives an error wrapping errs.ErrUnavailable.
type Checker interface {
	Check(ctx context.Context, c Card) (Result, error)
}

// String shows the card masked.
func (c Card) String() string {
	s := fmt.Sprintf("%s card %s %s issued %s", c.Kind, mask.Name(c.Name), mask.RRN(c.RRN), c.IssueDate)
	if c.Kind == KindDriver {
		s += " licence " + maskLicence(c.LicenceNumber)
	}
	return s
}

// GoString keeps %#v from printing the fields raw.
func (c Card) GoString() string { return "idcheck.Card{" + c.String() + "}" }

// LogValue keeps slog from printing the fields raw.
func (c Card) LogValue() slog.Value { return slog.StringValue(c.String()) }

// maskLicence keeps the region and year (the first four digits).
func maskLicence(s string) string {
	d, ok := licenceDigits(s)
	if !ok {
		return mask.All(s)
	}
	return d[:2] + "-" + d[2:4] + "-******-**"
}

func licenceDigits(s string) (string, bool) {
	d := strings.ReplaceAll(s, "-", "")
	if len(d) != 12 || !allDigits(d) {
		return "", false
	}
	return d, true
}
