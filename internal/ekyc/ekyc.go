// Package ekyc is non-face-to-face real-name verification (비대면
// 실명확인) offered to institutions: a verification session for an
// applicant passes only when its policy is met, at least two distinct
// methods of the regulator's list. Each method's outside party (ID
// authority, bank-transfer network, carrier, face engine, security-media
// registry) is an interface with a simulator and a real adapter.
package ekyc

import (
	"time"
)

// Method is one of the regulator's verification methods.
type Method string

// Methods haechi offers. The guideline's access_media (ID checked when a
// card is delivered) happens outside any server and is not offered.
const (
	IDCard          Method = "id_card"
	ExistingAccount Method = "existing_account"
	Carrier         Method = "carrier"
	OTP             Method = "otp"
	VideoCall       Method = "video_call"
	Biometric       Method = "biometric"
)

// Methods lists the offered methods in a stable order.
var Methods = []Method{IDCard, ExistingAccount, Carrier, OTP, VideoCall, Biometric}

// Status of a session.
type Status string

const (
	StatusPending Status = "pending"
	StatusPassed  Status = "passed"
	StatusFailed  Status = "failed"
	StatusExpired Status = "expired"
)

// MethodStatus is where one method of a session stands.
type MethodStatus string

const (
	MethodStarted MethodStatus = "started" // e.g. a code was sent
	MethodPassed  MethodStatus = "passed"
	MethodFailed  MethodStatus = "failed" // exhausted or refused for good
)

// MinMethods is the regulator's floor: at least two distinct methods.
const MinMethods = 2

// DefaultTTL is how long a session stays open.
const DefaultTTL = 30 * time.Minute

// Policy says what a session needs to pass: every Required method, and at
// least Min distinct passed methods in all (Min ≥ MinMethods).
type Policy struct {
	Required []Method `json:"required,omitempty"`
	Min      int      `json:"min"`
}

// Applicant is who the session verifies. Phone digits only; BirthDate
// YYYY-MM-DD. Plain form, held in memory only; stored sealed.
type Applicant struct {
	Name      string
	BirthDate string
	Phone     string
}

// MethodState is one method's result in a session.
type MethodState struct {
	Method    Method       `json:"method"`
	Status    MethodStatus `json:"status"`
	Attempts  int          `json:"attempts"`         // wrong entries or refused tries counted
	Reason    string       `json:"reason,omitempty"` // stable code of why it failed, or why its last attempt was refused
	UpdatedAt time.Time    `json:"updated_at"`

	// What the service carries between calls; stored, never shown.
	Pending   int       `json:"-"` // attempts reserved and not yet decided
	Sends     int       `json:"-"` // deposits made or SMS codes sent
	CodeID    string    `json:"-"` // the one-time code now valid for the method
	CodeUntil time.Time `json:"-"` // while after now, no new code is sent
	Evidence  string    `json:"-"` // the evidence a passed method rests on (id_card: its image)
}

// Session is one verification.
type Session struct {
	ID            string
	InstitutionID string
	Reference     string // the institution's own reference, optional
	CustomerID    string // set for a customer's step-up: the expected identity is the customer's record
	Applicant     Applicant
	Policy        Policy
	Status        Status
	Reason        string // stable code of why a session failed or expired
	Methods       []MethodState
	CreatedAt     time.Time
	ExpiresAt     time.Time
	DecidedAt     *time.Time
	ConsumedAt    *time.Time // a passed step-up session spent on one lift
	PurgedAt      *time.Time // the applicant's PII and the evidence were deleted
	Version       int64
}
