// Package onetime is haechi's one-time codes (SMS codes, 1-won memo codes):
// drawn from crypto/rand, stored only as an HMAC, valid for a while, with a
// cap on wrong entries, and usable once. The counting lives in the database
// and moves with single atomic statements, so parallel guesses all count.
package onetime

import (
	"context"
	"errors"
	"time"
)

// Code is a stored code.
type Code struct {
	ID          string
	Purpose     string // e.g. "device_registration.carrier"
	Subject     string // what the code is for, e.g. a registration id
	Hash        []byte // HMAC(pepper, purpose|subject|code)
	ExpiresAt   time.Time
	Attempts    int
	MaxAttempts int
	UsedAt      *time.Time
	CreatedAt   time.Time
}

// Result of a check.
type Result int

const (
	Accepted  Result = iota
	Wrong            // counted; tries remain
	Exhausted        // counted and that was the last try (or none remained)
	Expired
	Used // already accepted once
)

// String names a result for logs and audit details.
func (r Result) String() string {
	switch r {
	case Accepted:
		return "accepted"
	case Wrong:
		return "wrong"
	case Exhausted:
		return "exhausted"
	case Expired:
		return "expired"
	case Used:
		return "used"
	}
	return "unknown"
}

// ErrNotCounted is wrapped by Store.ConsumeAttempt when the code takes no
// attempt (used, expired at now, or at its cap); the code is returned with
// it, as it is, so the caller can tell which.
var ErrNotCounted = errors.New("onetime: code takes no more attempts")

// Store keeps codes. ConsumeAttempt adds one attempt only while the code is
// unused, unexpired and under its cap, and returns the code as it now is;
// when it adds none it returns the code with ErrNotCounted, and for an
// unknown id errs.ErrNotFound. MarkUsed succeeds for exactly one caller.
type Store interface {
	CreateCode(ctx context.Context, c *Code) error
	ConsumeAttempt(ctx context.Context, id string, now time.Time) (*Code, error)
	MarkCodeUsed(ctx context.Context, id string, now time.Time) (bool, error)
}
