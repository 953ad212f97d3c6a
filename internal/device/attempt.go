package device

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
)

// Internal outcomes of RecordAttempt that the service turns into counted
// failures; they never reach a client.
var (
	ErrStale    = errors.New("device: the registration changed state meanwhile")
	ErrKeyInUse = errors.New("device: the public key is already bound to a device")
)

// record stores one attempt and turns its outcome into the step's error:
// nil for a recorded success, the refusal otherwise.
func (s *Service) record(ctx context.Context, t *try, a *Attempt, failure *errs.Error) (*Outcome, error) {
	a.Now, a.Limits = t.now, s.Limits.WithDefaults()
	a.CustomerKey, a.CustomerID, a.Fingerprint = t.customerKey, t.customerID, t.fingerprint
	details := t.details()
	if failure != nil {
		a.Failure = failure.Code
		details["reason"] = failure.Code
	}
	a.HighRisk = s.assess(ctx, t, failure, details)
	a.Audit = s.entry(t, details)
	out, err := s.Store.RecordAttempt(ctx, a)
	if err != nil {
		return nil, err
	}
	return out, verdict(t, out, failure)
}

// verdict maps an outcome to the caller's error. A restriction or block
// the attempt caused (or met) wins over its own reason: it is what the
// customer must act on.
func verdict(t *try, out *Outcome, failure *errs.Error) error {
	switch {
	case out.Refused == RefusedBlocked || out.Blocked:
		return ErrBlocked
	case out.Refused == RefusedRestricted || !out.RestrictedUntil.IsZero():
		return ErrRestricted.WithRetryAfter(out.RestrictedUntil.Sub(t.now))
	case out.Failure == "":
		return nil
	case out.Failure == ErrTokenReused.Code:
		failure = ErrTokenReused
	}
	return &attemptError{err: failure, remaining: out.Remaining}
}

// fail records a counted failure that also ends the registration.
func (s *Service) fail(ctx context.Context, t *try, reg *Registration, failure *errs.Error) error {
	a := &Attempt{}
	if reg.State == StateStarted || reg.State == StateCodeVerified {
		a.Transition = &Transition{reg.ID, reg.State, StateFailed}
	}
	_, err := s.record(ctx, t, a, failure)
	return err
}

// guard refuses, before any outside service is asked, an attempt whose
// customer or fingerprint is restricted or blocked. It counts nothing; the
// store checks again under lock when the attempt is recorded.
func (s *Service) guard(ctx context.Context, t *try) error {
	cs, err := s.Store.Counters(ctx, t.subjects()...)
	if err != nil {
		return err
	}
	refusal, until := CheckCounters(cs, t.now)
	if refusal == NotRefused {
		return nil
	}
	e := s.entry(t, t.details())
	e.Result = audit.ResultDenied
	e.Details["outcome"] = "refused_" + string(refusal)
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		return err
	}
	if refusal == RefusedBlocked {
		return ErrBlocked
	}
	return ErrRestricted.WithRetryAfter(until.Sub(t.now))
}

// CheckCounters says whether counters refuse an attempt at now, and until
// when the latest restriction lasts. A block outranks a restriction.
func CheckCounters(cs []Counter, now time.Time) (Refusal, time.Time) {
	refusal, until := NotRefused, time.Time{}
	for _, c := range cs {
		if c.Blocked() {
			return RefusedBlocked, time.Time{}
		}
		if c.Restricted(now) {
			refusal, until = RefusedRestricted, later(until, c.RestrictedUntil)
		}
	}
	return refusal, until
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// assess asks the risk hook; its failure is noted, never fatal.
func (s *Service) assess(ctx context.Context, t *try, failure *errs.Error, details map[string]string) bool {
	if s.Risk == nil {
		return false
	}
	ev := Event{Kind: t.action, InstitutionID: t.institutionID, CustomerID: t.customerID, CustomerKey: t.customerKey,
		Fingerprint: t.fingerprint, IP: audit.MetaFrom(ctx).ClientIP, Result: audit.ResultSuccess, Report: t.report, Time: t.now}
	if failure != nil {
		ev.Result, ev.Reason = audit.ResultFailure, failure.Code
	}
	r, err := s.Risk.Assess(ctx, ev)
	if err != nil {
		details["risk"] = "error"
		return false
	}
	details["risk"] = string(r)
	return r == RiskHigh
}

// loadTry reads a registration of the institution and the attempt on it.
func (s *Service) loadTry(ctx context.Context, institutionID, regID, action string) (*Registration, *try, error) {
	if regID == "" || len(regID) > 64 {
		return nil, nil, ErrRegistrationNotFound
	}
	reg, err := s.Store.Registration(ctx, institutionID, regID)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil, ErrRegistrationNotFound
	} else if err != nil {
		return nil, nil, err
	}
	t := &try{action: action, institutionID: institutionID, customerID: reg.CustomerID, customerKey: reg.CustomerKey,
		fingerprint: reg.Fingerprint, target: reg.ID, now: s.Now().UTC()}
	return reg, t, nil
}

func (t *try) subjects() []Subject {
	return []Subject{{SubjectCustomer, t.customerKey}, {SubjectFingerprint, t.fingerprint}}
}

// details are the audit details every attempt carries: ids and a prefix
// of the fingerprint, nothing personal.
func (t *try) details() map[string]string {
	c := t.customerID
	if c == "" {
		c = "unknown"
	}
	return map[string]string{"customer": c, "fingerprint": t.fingerprint[:min(16, len(t.fingerprint))]}
}

func (s *Service) entry(t *try, details map[string]string) audit.Entry {
	return audit.Entry{Time: t.now, Actor: t.institutionID, Action: t.action, Target: t.target, Details: details}
}

// Fingerprint identifies a phone across app installs, keys and numbers: a
// blind index of the reported device id and model, so the database never
// holds the hardware identifier itself.
func (s *Service) Fingerprint(r Report) string {
	return hex.EncodeToString(s.Ring.BlindIndex("device.fingerprint", []byte(r.DeviceID+"\x00"+r.Model)))
}

// unknownPhoneKey is the counter subject of a phone that is no customer's.
// Counting it like a customer keeps restriction from revealing which
// phones belong to customers.
func (s *Service) unknownPhoneKey(institutionID, phone string) string {
	return "phone_" + hex.EncodeToString(s.Ring.BlindIndex("device.unknown_phone", []byte(institutionID+"\x00"+phone)))
}

// normalizeIdentity checks the claimed identity and puts it in the form
// the customer record uses: the name NFC-composed (decomposed Hangul equals
// precomposed) and free of control and format characters, the phone as
// digits.
func normalizeIdentity(id carrier.Identity) (carrier.Identity, error) {
	if len(id.Name) > 200 || !utf8.ValidString(id.Name) {
		return id, ErrIdentityInvalid.WithField("name")
	}
	id.Name = strings.TrimSpace(norm.NFC.String(id.Name))
	if n := utf8.RuneCountInString(id.Name); n < 1 || n > 50 || strings.IndexFunc(id.Name, invisible) >= 0 {
		return id, ErrIdentityInvalid.WithField("name")
	}
	if !isDate(id.BirthDate) {
		return id, ErrIdentityInvalid.WithField("birth_date")
	}
	phone, err := customer.NormalizePhone(id.Phone)
	if err != nil {
		return id, ErrIdentityInvalid.WithField("phone")
	}
	id.Phone = phone
	return id, nil
}

// invisible is a control, format, private-use or surrogate character, which
// would make two different names look alike.
func invisible(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) }

func newDevice(reg *Registration, key Key, now time.Time) *Device {
	sum := sha256.Sum256(key.SPKI)
	return &Device{
		ID: crypto.NewID("dev_"), InstitutionID: reg.InstitutionID, CustomerID: reg.CustomerID, RegistrationID: reg.ID,
		Fingerprint: reg.Fingerprint, KeyKind: key.Kind, PublicKey: key.SPKI, KeyHash: sum[:], CredentialID: key.CredentialID,
		Model: reg.Model, OS: reg.OS, OSVersion: reg.OSVersion, AppVersion: reg.AppVersion, State: DeviceActive, CreatedAt: now,
	}
}

func registeredNote(d *Device, now time.Time) notify.Notification {
	return notify.New(d.CustomerID, notify.KindDeviceRegistered, map[string]string{"device_id": d.ID, "model": d.Model, "os": d.OS}, now)
}
