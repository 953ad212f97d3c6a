package device

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/attest"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
	"github.com/haechi/haechi/internal/onetime"
)

// Service runs device registration and its recovery paths.
type Service struct {
	Store     Store
	Customers *customer.Service
	Carrier   carrier.Provider
	Attest    attest.Verifier
	Codes     *onetime.Service
	Ring      *crypto.Keyring
	Policy    Policy
	Risk      RiskHook // nil: no risk assessment
	StepUp    StepUp   // nil: LiftRestriction refuses
	Now       func() time.Time
	Limits    Limits
}

// Validate reports a missing collaborator or a bad policy, for the wiring
// to call at start.
func (s *Service) Validate() error {
	deps := []struct {
		name string
		ok   bool
	}{{"Store", s.Store != nil}, {"Customers", s.Customers != nil}, {"Carrier", s.Carrier != nil},
		{"Attest", s.Attest != nil}, {"Codes", s.Codes != nil}, {"Ring", s.Ring != nil}, {"Now", s.Now != nil}}
	for _, d := range deps {
		if !d.ok {
			return fmt.Errorf("device service: %s is required", d.name)
		}
	}
	return s.Policy.Validate()
}

// Fixed parameters of the flow (issue #3).
const (
	RegistrationTTL = 5 * time.Minute
	CodeTTL         = 3 * time.Minute
	CodeDigits      = 6
	CodeTries       = 5
	ChallengeSize   = 32
	codePurpose     = "device_registration.carrier"
	maxTokenLen     = 16 << 10
	maxCodeLen      = 16
)

// Audit actions, also the risk events' kinds.
const (
	ActionStart      = "device.registration.start"
	ActionVerifyCode = "device.registration.verify_code"
	ActionBindKey    = "device.registration.bind_key"
)

// StartInput is what the app sends to start a registration.
type StartInput struct {
	Identity       carrier.Identity
	Report         Report
	IntegrityToken string
}

// Started is the answer to Start. The challenge is shown once; the app
// signs it with its new key in BindKey.
type Started struct {
	RegistrationID string
	Challenge      []byte
	ExpiresAt      time.Time
}

// try is one attempt in progress: who is trying, from which device.
type try struct {
	action        string
	institutionID string
	customerID    string
	customerKey   string
	fingerprint   string
	target        string
	report        *Report
	now           time.Time
}

// Start checks the device and the customer's identity, then creates a
// registration and sends the carrier code. A phone that is no customer's
// gets the same answer and fails at the code step, so Start does not tell
// who is a customer.
func (s *Service) Start(ctx context.Context, institutionID string, in StartInput) (*Started, error) {
	id, err := normalizeIdentity(in.Identity)
	if err != nil {
		return nil, err
	}
	if err := in.Report.Validate(); err != nil {
		return nil, err
	}
	if len(in.IntegrityToken) > maxTokenLen {
		return nil, ErrReportInvalid.WithField("integrity_token")
	}
	t, cust, err := s.startTry(ctx, institutionID, id, &in.Report)
	if err != nil {
		return nil, err
	}
	if err := s.guard(ctx, t); err != nil {
		return nil, err
	}
	tokenID, failure, err := s.checkStart(ctx, t, cust, id, in)
	if err != nil {
		return nil, err
	}
	if failure != nil {
		_, err := s.record(ctx, t, &Attempt{TokenID: tokenID}, failure)
		return nil, err
	}
	return s.open(ctx, t, id.Phone, tokenID)
}

// startTry identifies the customer (or the unknown phone) and the device.
func (s *Service) startTry(ctx context.Context, institutionID string, id carrier.Identity, r *Report) (*try, *customer.Customer, error) {
	t := &try{action: ActionStart, institutionID: institutionID, report: r, now: s.Now().UTC(), fingerprint: s.Fingerprint(*r)}
	cust, err := s.Customers.FindByPhone(ctx, institutionID, id.Phone)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		t.customerKey = s.unknownPhoneKey(institutionID, id.Phone)
		return t, nil, nil
	case err != nil:
		return nil, nil, err
	}
	t.customerID, t.customerKey = cust.ID, cust.ID
	return t, cust, nil
}

// checkStart runs the integrity and identity checks. It returns the token's
// id (to be marked used whatever the outcome) and the refusal, if any.
func (s *Service) checkStart(ctx context.Context, t *try, cust *customer.Customer, id carrier.Identity, in StartInput) (string, *errs.Error, error) {
	verdict, failure, err := s.verifyToken(ctx, in.IntegrityToken)
	if err != nil {
		return "", nil, err
	}
	tokenID := ""
	if verdict != nil {
		tokenID = verdict.TokenID
	}
	if failure == nil {
		failure = errs.As(s.Policy.Check(in.Report, verdict, t.now))
	}
	// The carrier is asked even after a refusal, so the answer takes as
	// long whichever check failed and whether the phone is a customer's.
	match, err := s.Carrier.Match(ctx, id)
	if err != nil {
		return "", nil, fmt.Errorf("carrier match: %w", err)
	}
	if failure == nil && (!match || !sameIdentity(cust, id)) {
		failure = ErrIdentityMismatch
	}
	return tokenID, failure, nil
}

// verifyToken asks the attestation service. A token it refuses is a
// counted failure; any other error (a service that is down, a cancelled
// request) is not the customer's doing and counts nothing.
func (s *Service) verifyToken(ctx context.Context, token string) (*attest.Verdict, *errs.Error, error) {
	if token == "" {
		return nil, nil, nil
	}
	v, err := s.Attest.Verify(ctx, token)
	switch {
	case errors.Is(err, attest.ErrInvalidToken):
		return nil, ErrIntegrityToken.WithCause(err), nil
	case err != nil:
		return nil, nil, fmt.Errorf("verify integrity token: %w", err)
	}
	return v, nil, nil
}

// sameIdentity compares the claim with the institution's record. Unknown
// customers have none: they fail later, at the code.
func sameIdentity(c *customer.Customer, id carrier.Identity) bool {
	if c == nil {
		return true
	}
	return crypto.Equal([]byte(c.Name), []byte(id.Name)) && crypto.Equal([]byte(c.BirthDate), []byte(id.BirthDate))
}

// open creates the registration with its code and challenge, then sends
// the code. The row is committed before the SMS leaves, so a code is never
// sent for a registration that a restriction refused.
func (s *Service) open(ctx context.Context, t *try, phone, tokenID string) (*Started, error) {
	reg := s.newRegistration(t, tokenID)
	code, c, err := s.Codes.Issue(ctx, codePurpose, reg.ID, CodeDigits, CodeTTL, CodeTries)
	if err != nil {
		return nil, err
	}
	reg.CodeID = c.ID
	challenge := make([]byte, ChallengeSize)
	rand.Read(challenge) // never fails since Go 1.24
	sum := sha256.Sum256(challenge)
	reg.ChallengeHash = sum[:]
	t.target = reg.ID
	if _, err := s.record(ctx, t, &Attempt{TokenID: tokenID, Registration: reg}, nil); err != nil {
		return nil, err
	}
	if err := s.Carrier.SendCode(ctx, phone, code); err != nil {
		return nil, errs.ErrUnavailable.WithCause(fmt.Errorf("send registration code: %w", err))
	}
	return &Started{RegistrationID: reg.ID, Challenge: challenge, ExpiresAt: reg.ExpiresAt}, nil
}

func (s *Service) newRegistration(t *try, tokenID string) *Registration {
	r := t.report
	return &Registration{
		ID: crypto.NewID("reg_"), InstitutionID: t.institutionID, CustomerID: t.customerID,
		CustomerKey: t.customerKey, Fingerprint: t.fingerprint, TokenID: tokenID,
		Model: r.Model, OS: r.OS, OSVersion: r.OSVersion, AppVersion: r.AppVersion,
		State: StateStarted, ExpiresAt: t.now.Add(RegistrationTTL), CreatedAt: t.now, UpdatedAt: t.now,
	}
}

// VerifyCode checks the carrier code of a started registration.
func (s *Service) VerifyCode(ctx context.Context, institutionID, regID, code string) error {
	reg, t, err := s.loadTry(ctx, institutionID, regID, ActionVerifyCode)
	if err != nil {
		return err
	}
	if reg.State != StateStarted {
		return ErrRegistrationState // a repeat of a finished step changes and reveals nothing
	}
	if err := s.guard(ctx, t); err != nil {
		return err
	}
	if !t.now.Before(reg.ExpiresAt) {
		return s.fail(ctx, t, reg, ErrRegistrationExpired)
	}
	res, err := s.checkCode(ctx, reg, code)
	if err != nil {
		return err
	}
	return s.afterCode(ctx, t, reg, res)
}

func (s *Service) checkCode(ctx context.Context, reg *Registration, code string) (onetime.Result, error) {
	if len(code) > maxCodeLen {
		return onetime.Wrong, nil
	}
	return s.Codes.Check(ctx, reg.CodeID, codePurpose, reg.ID, code)
}

// afterCode records the code's result. Only a wrong code leaves the
// registration open for another try.
func (s *Service) afterCode(ctx context.Context, t *try, reg *Registration, res onetime.Result) error {
	switch {
	case res == onetime.Wrong:
		_, err := s.record(ctx, t, &Attempt{}, ErrCodeWrong)
		return err
	case res == onetime.Exhausted:
		return s.fail(ctx, t, reg, ErrCodeExhausted)
	case res != onetime.Accepted: // expired, or accepted once by an attempt that was then refused
		return s.fail(ctx, t, reg, ErrCodeExpired)
	case reg.CustomerID == "":
		return s.fail(ctx, t, reg, ErrCustomerUnknown)
	}
	_, err := s.record(ctx, t, &Attempt{Transition: &Transition{reg.ID, StateStarted, StateCodeVerified}}, nil)
	if errors.Is(err, ErrStale) {
		return ErrRegistrationState
	}
	return err
}

// BindKey completes a code-verified registration: it checks the challenge
// (single use: any attempt ends the registration) and the proof of
// possession, then creates the device.
func (s *Service) BindKey(ctx context.Context, institutionID, regID string, challenge []byte, proof Proof) (*Device, error) {
	reg, t, err := s.loadTry(ctx, institutionID, regID, ActionBindKey)
	if err != nil {
		return nil, err
	}
	if err := s.guard(ctx, t); err != nil {
		return nil, err
	}
	if failure := bindable(reg, challenge, t.now); failure != nil {
		return nil, s.fail(ctx, t, reg, failure)
	}
	key, err := proof.Verify(ctx, reg.ID, challenge)
	if err != nil {
		return nil, s.fail(ctx, t, reg, proofFailure(err))
	}
	return s.complete(ctx, t, reg, key)
}

// bindable refuses a registration that is not waiting for its key, has
// expired, or is shown the wrong challenge.
func bindable(reg *Registration, challenge []byte, now time.Time) *errs.Error {
	sum := sha256.Sum256(challenge)
	switch {
	case reg.State != StateCodeVerified || reg.CustomerID == "":
		return ErrChallengeInvalid
	case !now.Before(reg.ExpiresAt):
		return ErrRegistrationExpired
	case !crypto.Equal(sum[:], reg.ChallengeHash):
		return ErrChallengeInvalid
	}
	return nil
}

// proofFailure keeps a Proof's own refusal and turns anything else into
// ErrProofInvalid: an implementation must not make a failure uncounted.
func proofFailure(err error) *errs.Error {
	if e := errs.As(err); e != nil && (errors.Is(e, ErrKeyInvalid) || errors.Is(e, ErrProofInvalid)) {
		return e
	}
	return ErrProofInvalid.WithCause(err)
}

func (s *Service) complete(ctx context.Context, t *try, reg *Registration, key Key) (*Device, error) {
	dev := newDevice(reg, key, t.now)
	a := &Attempt{
		Device: dev, RevokeOthers: !s.Policy.KeepPreviousDevices, ResetCounters: true,
		Transition:    &Transition{reg.ID, StateCodeVerified, StateCompleted},
		Notifications: []notify.Notification{registeredNote(dev, t.now)},
	}
	out, err := s.record(ctx, t, a, nil)
	switch {
	case errors.Is(err, ErrStale):
		return nil, s.fail(ctx, t, reg, ErrChallengeInvalid)
	case errors.Is(err, ErrKeyInUse):
		return nil, s.fail(ctx, t, reg, ErrKeyInvalid)
	case err != nil:
		return nil, err
	}
	dev.Replaced = out.Revoked
	return dev, nil
}

// Device returns a device of the institution (errs.ErrNotFound otherwise).
func (s *Service) Device(ctx context.Context, institutionID, id string) (*Device, error) {
	return s.Store.Device(ctx, institutionID, id)
}

// Devices returns the devices of a customer of the institution, newest
// first.
func (s *Service) Devices(ctx context.Context, institutionID, customerID string) ([]*Device, error) {
	return s.Store.CustomerDevices(ctx, institutionID, customerID)
}

// Status is a customer's registration state, for the app and the console.
type Status struct {
	Restricted      bool      `json:"restricted"`
	RestrictedUntil time.Time `json:"restricted_until,omitzero"`
	Blocked         bool      `json:"blocked"`
	Remaining       int       `json:"remaining"` // failures left before restriction
}

// Status reports whether the customer of the institution may register.
func (s *Service) Status(ctx context.Context, institutionID, customerID string) (*Status, error) {
	c, err := s.Customers.Get(ctx, institutionID, customerID)
	if err != nil {
		return nil, err
	}
	cs, err := s.Store.Counters(ctx, Subject{SubjectCustomer, c.ID})
	if err != nil {
		return nil, err
	}
	now, limit := s.Now(), s.Limits.WithDefaults().Failures
	st := &Status{Blocked: cs[0].Blocked(), Restricted: cs[0].Restricted(now), Remaining: max(0, limit-cs[0].Failures)}
	switch {
	case st.Restricted:
		st.RestrictedUntil, st.Remaining = cs[0].RestrictedUntil, 0
	case !cs[0].RestrictedUntil.IsZero(): // a lapsed restriction: the next failure counts from one
		st.Remaining = limit
	}
	return st, nil
}
