// Package secmedia is the registry of security media (보안매체): the OTP
// generators an institution issues to people, TOTP (RFC 6238) or HOTP (RFC
// 4226). It answers the eKYC otp method: does this code, from the medium
// with this serial, belong to this person, and has it not been used yet.
//
// A medium's seed is sealed at rest and its holder is found by a blind
// index, so the database alone tells neither the codes nor the person.
// Replay protection (the last used TOTP step, the HOTP counter) and the
// wrong-code count move in single guarded UPDATEs: parallel submissions of
// one code accept it once, and parallel guesses all count.
package secmedia

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/ekyc"
)

// Kind is how a medium moves its counter: by time or by button press.
type Kind string

const (
	TOTP Kind = "totp"
	HOTP Kind = "hotp"
)

// Algorithm is the HMAC hash of a medium.
type Algorithm string

const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

// Defaults applied to a Registration's zero fields, and the verification
// windows.
const (
	DefaultDigits    = 6
	DefaultPeriod    = 30 // seconds, TOTP only
	DefaultAlgorithm = SHA1
	// TOTPSkew is how many steps either side of now a TOTP code may be
	// from: one covers a device clock off by up to a period.
	TOTPSkew = 1
	// HOTPLookAhead is how many presses past the expected counter an HOTP
	// code may be from (RFC 4226 §7.4 resynchronisation); the expected
	// counter and the next HOTPLookAhead are tried.
	HOTPLookAhead = 10
	// DefaultMaxFailures wrong codes in a row lock a medium until an
	// operator unlocks it, as the shared OTP centre of Korean banks does:
	// a 6-digit code tried across many sessions would otherwise fall to
	// guessing.
	DefaultMaxFailures = 10
)

// Record is the stored form of a medium. The seed and the holder's fields
// are sealed (AAD security_media/<column>/<id>); HolderIndex is the blind
// index of the holder's normalised name, birth date and phone.
type Record struct {
	ID            string
	InstitutionID string
	Serial        string
	Kind          Kind
	SeedSealed    []byte
	Digits        int
	Period        int // seconds; 0 for HOTP
	Algorithm     Algorithm
	HolderIndex   []byte
	NameSealed    []byte
	BirthSealed   []byte
	PhoneSealed   []byte
	Counter       uint64 // HOTP: the next expected counter
	LastStep      int64  // TOTP: the last accepted time step (0: none yet)
	Failures      int    // wrong codes since the last accepted one
	RegisteredAt  time.Time
}

// Store keeps media. Every read is scoped by institution; the writes after
// a read name the medium by id.
type Store interface {
	// CreateMedium stores r with its audit entry; a serial already
	// registered at the institution is errs.ErrConflict.
	CreateMedium(ctx context.Context, r *Record, e audit.Entry) error
	// Medium returns the institution's medium with serial, or
	// errs.ErrNotFound.
	Medium(ctx context.Context, institutionID, serial string) (*Record, error)
	// AdvanceTOTP sets last_step to step and clears the failures when the
	// medium is a TOTP one, its last step is below step and it has fewer
	// than maxFailures failures; false when not.
	AdvanceTOTP(ctx context.Context, id string, step int64, maxFailures int) (bool, error)
	// AdvanceHOTP moves the counter from from to to and clears the
	// failures when the medium is an HOTP one still at from with fewer
	// than maxFailures failures; false when not.
	AdvanceHOTP(ctx context.Context, id string, from, to uint64, maxFailures int) (bool, error)
	// CountMediumFailure adds one failure while there are fewer than
	// maxFailures and returns the new count; counted is false when the
	// medium was already at the cap. The failure that reaches the cap
	// appends locked to the audit log in the same transaction.
	CountMediumFailure(ctx context.Context, id string, maxFailures int, locked audit.Entry) (failures int, counted bool, err error)
	// ResetMediumFailures clears the failures with its audit entry;
	// errs.ErrNotFound for an unknown id.
	ResetMediumFailures(ctx context.Context, id string, e audit.Entry) error
}

// View is a medium as an institution sees it: no seed, holder masked.
type View struct {
	ID           string             `json:"id"`
	Serial       string             `json:"serial"`
	Kind         Kind               `json:"kind"`
	Digits       int                `json:"digits"`
	Period       int                `json:"period,omitempty"`
	Algorithm    Algorithm          `json:"algorithm"`
	Holder       ekyc.ApplicantView `json:"holder"`
	Locked       bool               `json:"locked"`
	RegisteredAt time.Time          `json:"registered_at"`
}
