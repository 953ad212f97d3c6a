// Package device is device registration (기기등록): binding a phone's
// hardware key to a customer after integrity and identity checks, with a
// durable, race-free failure limit and the recovery paths a bank offers.
//
// A registration goes started → code_verified → completed (or failed):
// Start checks the device's integrity and the customer's identity at the
// carrier and sends an SMS code; VerifyCode checks it; BindKey verifies
// possession of the new key over a single-use challenge and creates the
// device, revoking the customer's previous one by default.
//
// Every failed attempt counts against the customer AND the device
// fingerprint (a blind index of the reported device id and model, so a new
// app install, a new key or a new phone number does not reset it). Three
// consecutive failures restrict registration for 24 h; three restrictions in
// 30 days, one fingerprint trying three customers in 24 h, or a high risk
// verdict hard-block it. Counting happens in the same transaction as the
// attempt's audit entry, with guarded single statements, so parallel attempts
// cannot slip past the limit; once a subject is restricted, attempts are
// refused without being counted. Only a completed registration resets the
// consecutive count: a successful Start alone would otherwise let an
// attacker alternate fresh starts with wrong codes forever.
package device

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/notify"
)

// States of a registration.
const (
	StateStarted      = "started"
	StateCodeVerified = "code_verified"
	StateCompleted    = "completed"
	StateFailed       = "failed"
)

// States of a device.
const (
	DeviceActive  = "active"
	DeviceRevoked = "revoked"
)

// Registration is one attempt to register a device, kept durably so that
// every node of a cluster continues it alike.
type Registration struct {
	ID            string
	InstitutionID string
	CustomerID    string // "" when the phone is not a customer's (the flow fails at the code)
	CustomerKey   string // the customer's counter subject
	Fingerprint   string
	ChallengeHash []byte // SHA-256 of the challenge; the challenge itself is never stored
	CodeID        string // the carrier SMS code (internal/onetime)
	TokenID       string // the integrity token's id, "" when none was given
	Model         string
	OS            string
	OSVersion     string
	AppVersion    string
	State         string
	ExpiresAt     time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Device is a registered phone (or passkey) of a customer.
type Device struct {
	ID             string     `json:"id"`
	InstitutionID  string     `json:"-"`
	CustomerID     string     `json:"customer_id"`
	RegistrationID string     `json:"registration_id"`
	Fingerprint    string     `json:"-"`
	KeyKind        string     `json:"key_kind"`
	PublicKey      []byte     `json:"-"` // PKIX DER
	KeyHash        []byte     `json:"-"` // SHA-256 of PublicKey; a key binds once
	CredentialID   []byte     `json:"-"`
	Model          string     `json:"model"`
	OS             string     `json:"os"`
	OSVersion      string     `json:"os_version"`
	AppVersion     string     `json:"app_version"`
	State          string     `json:"state"`
	CreatedAt      time.Time  `json:"created_at"`
	RevokedAt      *time.Time `json:"revoked_at,omitempty"`
	RevokeReason   string     `json:"revoke_reason,omitempty"`
	// Replaced lists the devices this one's registration revoked. BindKey
	// sets it on the device it returns; it is not stored.
	Replaced []string `json:"-"`
}

// Kinds of counter subject.
const (
	SubjectCustomer    = "customer"
	SubjectFingerprint = "fingerprint"
)

// Subject is what failures count against.
type Subject struct {
	Kind string
	Key  string
}

// Counter is a subject's failure state.
type Counter struct {
	Subject
	Failures        int       // consecutive failures
	RestrictedUntil time.Time // zero or past: not restricted
	BlockedAt       time.Time // zero: not hard-blocked
	BlockReason     string
	ReleasedAt      time.Time // last release or reset; older restrictions no longer count
}

// Restricted reports whether the counter restricts registration at now.
func (c Counter) Restricted(now time.Time) bool { return c.RestrictedUntil.After(now) }

// Blocked reports whether the counter hard-blocks registration.
func (c Counter) Blocked() bool { return !c.BlockedAt.IsZero() }

// Reasons of a hard block.
const (
	BlockRestrictions = "repeated_restrictions"
	BlockManyCustomer = "many_customers"
	BlockHighRisk     = "high_risk"
)

// Limits are the failure limits. Zero fields take the defaults shown.
type Limits struct {
	Failures              int           // consecutive failures before restriction: 3
	Restriction           time.Duration // restriction length: 24 h
	HardBlockRestrictions int           // restrictions within HardBlockWindow that hard-block: 3
	HardBlockWindow       time.Duration // 30 days
	FingerprintCustomers  int           // customers one fingerprint may try within FingerprintWindow: 3
	FingerprintWindow     time.Duration // 24 h
}

// WithDefaults fills zero fields.
func (l Limits) WithDefaults() Limits {
	fill := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	fillD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	fill(&l.Failures, 3)
	fillD(&l.Restriction, 24*time.Hour)
	fill(&l.HardBlockRestrictions, 3)
	fillD(&l.HardBlockWindow, 30*24*time.Hour)
	fill(&l.FingerprintCustomers, 3)
	fillD(&l.FingerprintWindow, 24*time.Hour)
	return l
}

// Transition is a guarded change of a registration's state: it applies only
// while the registration is in From.
type Transition struct {
	RegistrationID string
	From           string
	To             string
}

// Attempt is one registration step's outcome, recorded in one transaction:
// the store re-checks the subjects' restriction and block under lock, marks
// the integrity token used, counts a failure or applies the success, and
// writes the audit entry. See Store.RecordAttempt.
type Attempt struct {
	Now         time.Time
	CustomerKey string
	CustomerID  string // known customer to notify of restriction or block; may be ""
	Fingerprint string
	TokenID     string // integrity token to mark used; a reuse turns the attempt into a failure
	Failure     string // refusal code; "" for a success
	HighRisk    bool
	Limits      Limits
	// Applied on success only.
	Registration  *Registration // Start: the new registration
	Device        *Device       // BindKey: the new device
	RevokeOthers  bool          // BindKey: revoke the customer's other active devices
	ResetCounters bool          // BindKey: a completed registration ends the consecutive count
	Notifications []notify.Notification
	// Transition applies on success (a mismatch rolls everything back with
	// ErrStale) and, for a failure with To = failed, ends the registration.
	Transition *Transition
	// Audit is the step's entry; the store sets Result and adds the
	// "outcome" detail.
	Audit audit.Entry
}

// Subjects of the attempt, customer first: every writer locks counters in
// this order, so two transactions never wait on each other in a circle.
func (a *Attempt) Subjects() []Subject {
	return []Subject{{SubjectCustomer, a.CustomerKey}, {SubjectFingerprint, a.Fingerprint}}
}

// Refusal says why an attempt was refused without being counted.
type Refusal string

const (
	NotRefused        Refusal = ""
	RefusedRestricted Refusal = "restricted"
	RefusedBlocked    Refusal = "blocked"
)

// Outcome is what RecordAttempt did.
type Outcome struct {
	Refused         Refusal   // refused, nothing counted
	Failure         string    // the failure recorded ("" for a success), possibly integrity_token_reused
	Remaining       int       // failures left before restriction, the lower of both subjects
	RestrictedUntil time.Time // set when this attempt restricted (or, refused, found restricted) a subject
	Blocked         bool      // a subject is hard-blocked after this attempt
	Revoked         []string  // devices revoked by a successful BindKey
}

// Lift is how a recovery lifts a customer's restriction. Fingerprints whose
// attempts within Window were all for this customer are lifted with it (the
// customer's own phone); a fingerprint that also tried others stays as it
// is.
type Lift struct {
	Now    time.Time
	Window time.Duration
	// Blocks also lifts hard blocks and starts the restriction history
	// afresh (operator release, branch reset); a step-up lift (false)
	// refuses a hard-blocked customer with ErrBlocked.
	Blocks bool
}

// Store keeps registrations, devices, counters and releases. Every method
// that changes state writes its audit entry (and notifications) in the same
// transaction.
type Store interface {
	Registration(ctx context.Context, institutionID, id string) (*Registration, error)
	Device(ctx context.Context, institutionID, id string) (*Device, error)
	CustomerDevices(ctx context.Context, institutionID, customerID string) ([]*Device, error)
	// Counters returns the counters of subjects, in order; a subject never
	// counted comes back zero.
	Counters(ctx context.Context, subjects ...Subject) ([]Counter, error)
	AttemptLog
	// RecordAttempt records one attempt atomically. A transition mismatch
	// or a key bound before rolls everything back and returns ErrStale or
	// ErrKeyInUse; the caller then records the attempt as a failure.
	RecordAttempt(ctx context.Context, a *Attempt) (*Outcome, error)
	// LiftCustomer lifts a restriction after stronger verification.
	LiftCustomer(ctx context.Context, customerKey string, l Lift, e audit.Entry, ns []notify.Notification) error
	CreateRelease(ctx context.Context, r *Release, e audit.Entry) error
	Release(ctx context.Context, id string) (*Release, error)
	// ApproveRelease approves a pending, unexpired release requested by
	// someone other than supervisorID and lifts its customer; any refusal
	// writes nothing.
	ApproveRelease(ctx context.Context, id, supervisorID string, l Lift, e audit.Entry, ns []notify.Notification) (*Release, error)
	// ResetCustomer revokes every device of the customer, fails its open
	// registrations and lifts everything. It returns the revoked device ids.
	ResetCustomer(ctx context.Context, customerID string, l Lift, e audit.Entry, ns []notify.Notification) ([]string, error)
	AppendAudit(ctx context.Context, e audit.Entry) error
}
