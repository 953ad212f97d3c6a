// Package login is a customer's login on a registered device: the
// device-signed request is possession, the PIN or pattern is knowledge (or
// the biometric flag, reported in that signed request, is inherence), and
// the lockout ladder decides how many guesses there ever are. A success
// issues a session bound to the very device key that signed the request.
package login

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/session"
)

// Errors of this package.
var (
	// ErrFailed is every wrong secret and every failed biometric: one code,
	// so the answer says no more than "no".
	ErrFailed = errs.New(errs.Unauthenticated, "login_failed",
		"The PIN, pattern or biometric check did not match.",
		"비밀번호, 패턴 또는 생체인증이 일치하지 않습니다.")
	// ErrKeyMismatch: the DPoP proof was not made with the device's key, so
	// the session could not be bound to it. Checked before any attempt.
	ErrKeyMismatch = errs.New(errs.Unauthenticated, "dpop_key_mismatch",
		"The DPoP proof must be signed with the registered device key.",
		"DPoP 증명은 등록된 기기 키로 서명해야 합니다.")
	ErrNotSet = errs.New(errs.Conflict, "credential_not_set",
		"No PIN or pattern is set for this method.",
		"이 방식의 비밀번호나 패턴이 설정되어 있지 않습니다.")
	ErrAlreadySet = errs.New(errs.Conflict, "credential_already_set",
		"A PIN or pattern is already set; change it while logged in.",
		"비밀번호나 패턴이 이미 설정되어 있습니다. 로그인한 상태에서 변경하세요.")
)

// Input is what the app sends to log in.
type Input struct {
	Method    string
	Secret    string
	Biometric bool // the phone's own biometric check unlocked the device key
}

// Service runs logins.
type Service struct {
	Credentials *credential.Service
	Lockout     *lockout.Service
	Sessions    *session.Service
	// Customers gives the birth date a new PIN must not hold; StepUp and
	// Audit serve recovery from protection mode (nil StepUp: refused).
	Customers Customers
	StepUp    device.StepUp
	Audit     Auditor
	// Risk hears every checked attempt (nil: nobody listens).
	Risk RiskHook
	Now  func() time.Time
}

// Customers finds a customer within an institution.
type Customers interface {
	Get(ctx context.Context, institutionID, id string) (*customer.Customer, error)
}

// Auditor records a refused step-up, which changes nothing else.
type Auditor interface {
	AppendAudit(ctx context.Context, e audit.Entry) error
}

// Validate reports a missing collaborator, for the wiring to call at start.
func (s *Service) Validate() error {
	if s.Credentials == nil || s.Lockout == nil || s.Sessions == nil || s.Customers == nil || s.Audit == nil || s.Now == nil {
		return errors.New("login service: Credentials, Lockout, Sessions, Customers, Audit and Now are required")
	}
	return nil
}

// Login checks one attempt and issues tokens on success. dev is the
// active device that signed the request (its signature and nonce already
// verified); dpopJKT is the thumbprint of the request's verified DPoP proof.
// The order is the ladder's: source throttle, reservation, verification,
// then exactly one of Fail and Succeed. Nothing before the reservation
// touches the secret, so a refused attempt is no guess.
func (s *Service) Login(ctx context.Context, dev *device.Device, in Input, dpopJKT string, meta lockout.Meta) (*session.Tokens, error) {
	method, err := parseMethod(in.Method)
	if err != nil {
		return nil, err
	}
	if err := s.checkInput(dev, method, in); err != nil {
		return nil, err
	}
	jkt, err := s.bind(dev, dpopJKT)
	if err != nil {
		return nil, err
	}
	if method.HasSecret() && s.Credentials.Hasher.Full() {
		// Refused before the ladder is touched: under a flood the answer
		// comes at once instead of after queueing for the database.
		return nil, crypto.ErrBusy
	}
	now := s.Now().UTC()
	if err := s.Lockout.CheckSource(ctx, meta.Fingerprint, meta.IP, now); err != nil {
		return nil, err
	}
	a, err := s.Lockout.Begin(ctx, dev.CustomerID, lockout.Method(method), now)
	if err != nil {
		return nil, err
	}
	ok, verr := s.verify(ctx, dev.CustomerID, method, in)
	if errors.Is(verr, crypto.ErrBusy) {
		// The pool refused before comparing anything: no guess was made.
		if err := a.Release(ctx, s.Now().UTC(), meta); err != nil {
			return nil, err
		}
		return nil, verr
	}
	st, err := s.finish(ctx, a, ok, meta)
	s.observe(ctx, event(dev, method, ok && err == nil, meta, s.Now().UTC()), st)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, failure(verr)
	}
	return s.Sessions.Issue(ctx, dev.CustomerID, dev.ID, jkt, entry(meta))
}

// checkInput refuses malformed input before the ladder sees it: a PIN of
// the wrong form costs the customer nothing, as it could not be a guess.
func (s *Service) checkInput(dev *device.Device, method credential.Method, in Input) error {
	if dev == nil || dev.CustomerID == "" {
		return fmt.Errorf("login without a device: %w", errs.ErrUnauth)
	}
	if method.HasSecret() {
		return checkForm(method, in.Secret)
	}
	if in.Secret != "" {
		return errs.ErrInvalid.WithField("secret")
	}
	return nil
}

// bind requires the DPoP key to be the device key, so the tokens are bound
// to the key that proved possession and not to one an attacker brought.
func (s *Service) bind(dev *device.Device, dpopJKT string) (string, error) {
	jkt, err := s.Sessions.Bind(dev.PublicKey)
	if err != nil {
		return "", ErrKeyMismatch.WithCause(err)
	}
	if len(dpopJKT) != len(jkt) || dpopJKT != jkt {
		return "", ErrKeyMismatch
	}
	return jkt, nil
}

// verify checks the knowledge or inherence factor. An error other than a
// client error still counts as a failure: the attempt was spent.
func (s *Service) verify(ctx context.Context, customerID string, method credential.Method, in Input) (bool, error) {
	if method == credential.MethodBiometric {
		return in.Biometric, nil
	}
	return s.Credentials.Verify(ctx, customerID, method, in.Secret)
}

// finish records the outcome on the ladder. A success whose reservation
// lapsed meanwhile is refused (ErrAttemptLost): it was counted a failure.
func (s *Service) finish(ctx context.Context, a *lockout.Attempt, ok bool, meta lockout.Meta) (lockout.State, error) {
	now := s.Now().UTC()
	if ok {
		return a.Succeed(ctx, now, meta)
	}
	st, err := a.Fail(ctx, now, meta)
	if err != nil {
		return st, err
	}
	return st, ladderRefusal(st, now)
}

// event describes an attempt for the risk hook.
func event(dev *device.Device, method credential.Method, ok bool, meta lockout.Meta, now time.Time) Event {
	ev := Event{InstitutionID: meta.Actor, CustomerID: dev.CustomerID, DeviceID: dev.ID, Method: string(method),
		Fingerprint: meta.Fingerprint, IP: meta.IP, Result: audit.ResultFailure, Time: now}
	if ok {
		ev.Result = audit.ResultSuccess
	}
	return ev
}

// ladderRefusal is the stage a failure imposed, so that the failing
// attempt itself tells the app to wait (with Retry-After) or that login is
// now locked or protected.
func ladderRefusal(st lockout.State, now time.Time) error {
	switch {
	case st.Protected:
		return lockout.ErrProtection
	case st.LockedUntil.After(now):
		return lockout.ErrLocked.WithRetryAfter(ceil(st.LockedUntil.Sub(now)))
	case st.NextAllowed.After(now):
		return lockout.ErrDelayed.WithRetryAfter(ceil(st.NextAllowed.Sub(now)))
	}
	return nil
}

func ceil(d time.Duration) time.Duration { return (d + time.Second - 1).Truncate(time.Second) }

// failure is the answer to a failed verification: ErrFailed for a wrong
// secret, or what stopped the verification (ErrMustChange: the customer
// must set a new secret; an internal or busy error, which still counted).
func failure(verr error) error {
	if verr != nil {
		return verr
	}
	return ErrFailed
}

func parseMethod(m string) (credential.Method, error) {
	method := credential.Method(m)
	if !method.Valid() {
		return "", credential.ErrMethod
	}
	return method, nil
}

func entry(m lockout.Meta) audit.Entry {
	return audit.Entry{Actor: m.Actor, RequestID: m.RequestID, ClientIP: m.IP}
}

// checkForm is the form a secret must have at login: six digits, or a
// pattern a finger can draw. Weak-PIN rules are not applied here: a PIN
// set before a rule was added must still log in.
func checkForm(method credential.Method, secret string) error {
	if method == credential.MethodPattern {
		p, err := credential.ParsePattern(secret)
		clear(p)
		return err
	}
	if len(secret) != credential.PINLength {
		return credential.ErrPINFormat
	}
	for i := 0; i < len(secret); i++ {
		if secret[i] < '0' || secret[i] > '9' {
			return credential.ErrPINFormat
		}
	}
	return nil
}
