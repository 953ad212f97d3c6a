package credential

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/errs"
)

// Audited actions.
const (
	ActionSet           = "credential.set"
	ActionRequireChange = "credential.require_change"
)

// Service sets and checks customers' PINs and patterns.
type Service struct {
	Store  Store
	Hasher *crypto.Hasher
	Now    func() time.Time
}

// Set stores a new secret for the customer, refusing a weak one and one of
// the last HistorySize. It also ends a forced change. cust supplies the
// birth date that the PIN must not hold.
func (s *Service) Set(ctx context.Context, actor string, cust *customer.Customer, method Method, secret string) error {
	if cust == nil || cust.ID == "" {
		return fmt.Errorf("credential set without customer: %w", errs.ErrInvalid)
	}
	prev, err := s.current(ctx, cust.ID, method)
	if err != nil {
		return err
	}
	return s.Replace(ctx, actor, cust, method, secret, prev)
}

// Replace is Set over exactly prev (nil: no credential), the credential a
// caller read to decide the set is allowed: if it changed since, the set is
// ErrChanged and writes nothing.
func (s *Service) Replace(ctx context.Context, actor string, cust *customer.Customer, method Method, secret string, prev *Credential) error {
	if cust == nil || cust.ID == "" {
		return fmt.Errorf("credential set without customer: %w", errs.ErrInvalid)
	}
	b, err := newSecret(method, secret, cust.BirthDate)
	if err != nil {
		return err
	}
	defer clear(b)
	if err := s.checkReuse(ctx, prev, b); err != nil {
		return err
	}
	hash, err := s.Hasher.Hash(ctx, b)
	if err != nil {
		return fmt.Errorf("hash credential: %w", err)
	}
	now := s.now()
	c := &Credential{CustomerID: cust.ID, Method: method, Hash: hash, History: history(prev), UpdatedAt: now}
	return s.Store.SetCredential(ctx, c, prevHash(prev), setEntry(actor, prev, c))
}

// Verify reports whether secret is the customer's current one. A secret
// that is malformed for the method is an *errs.Error, decided before any
// lookup so it tells nothing about the customer. A customer without a
// credential costs one dummy hash, like a wrong secret, so timing does not
// tell them apart. A credential awaiting a forced change never verifies:
// it returns ErrMustChange (after the same hash work), right secret or not.
func (s *Service) Verify(ctx context.Context, customerID string, method Method, secret string) (bool, error) {
	b, err := loginSecret(method, secret)
	if err != nil {
		return false, err
	}
	defer clear(b)
	c, err := s.Store.Credential(ctx, customerID, method)
	if errors.Is(err, errs.ErrNotFound) {
		return false, s.Hasher.DummyVerify(ctx, b)
	} else if err != nil {
		return false, err
	}
	ok, err := s.Hasher.Verify(ctx, c.Hash, b)
	if err != nil {
		return false, fmt.Errorf("verify credential: %w", err)
	}
	if c.MustChange {
		return false, ErrMustChange
	}
	return ok, nil
}

// RequireChange marks the customer's secret for a forced change, as
// protection mode does when it ends; errs.ErrNotFound when none is set.
func (s *Service) RequireChange(ctx context.Context, actor, customerID string, method Method) error {
	if !method.HasSecret() {
		return methodError(method)
	}
	e := audit.Entry{Time: s.now(), Actor: actor, Action: ActionRequireChange, Target: customerID,
		Result: audit.ResultSuccess, Details: map[string]string{"method": string(method)}}
	return s.Store.MarkMustChange(ctx, customerID, method, e)
}

// current returns the stored credential, or nil when there is none.
func (s *Service) current(ctx context.Context, customerID string, method Method) (*Credential, error) {
	c, err := s.Store.Credential(ctx, customerID, method)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil
	}
	return c, err
}

// checkReuse refuses b when it matches the current secret or one in the
// history. Only the customer themselves reaches this, so the extra hashes
// (at most HistorySize) tell nobody anything new.
func (s *Service) checkReuse(ctx context.Context, prev *Credential, b []byte) error {
	if prev == nil {
		return nil
	}
	for _, h := range recent(prev) {
		ok, err := s.Hasher.Verify(ctx, h, b)
		if err != nil {
			return fmt.Errorf("check credential history: %w", err)
		}
		if ok {
			return ErrReused.WithField(string(prev.Method))
		}
	}
	return nil
}

// recent is the last HistorySize hashes of prev, newest first.
func recent(prev *Credential) []string {
	hs := append([]string{prev.Hash}, prev.History...)
	return hs[:min(len(hs), HistorySize)]
}

// history is what a credential replacing prev keeps: prev's recent hashes
// less the oldest.
func history(prev *Credential) []string {
	if prev == nil {
		return nil
	}
	hs := recent(prev)
	return hs[:min(len(hs), MaxHistory)]
}

// prevHash is the hash a set expects to replace.
func prevHash(prev *Credential) string {
	if prev == nil {
		return ""
	}
	return prev.Hash
}

// setEntry audits a set without any trace of the secret.
func setEntry(actor string, prev, c *Credential) audit.Entry {
	d := map[string]string{"method": string(c.Method), "change": "first"}
	if prev != nil {
		d["change"] = "replace"
		if prev.MustChange {
			d["change"] = "forced"
		}
	}
	return audit.Entry{Time: c.UpdatedAt, Actor: actor, Action: ActionSet, Target: c.CustomerID,
		Result: audit.ResultSuccess, Details: d}
}

// newSecret checks a secret being set, weak-PIN rules included, and returns
// its canonical form.
func newSecret(method Method, secret, birthDate string) ([]byte, error) {
	switch method {
	case MethodPIN:
		if err := ValidatePIN(secret, birthDate); err != nil {
			return nil, err
		}
		return canonical(method, secret), nil
	case MethodPattern:
		return patternSecret(secret)
	}
	return nil, methodError(method)
}

// loginSecret checks only the form of a secret offered at login: a PIN set
// before a weak-PIN rule was added must still log in.
func loginSecret(method Method, secret string) ([]byte, error) {
	switch method {
	case MethodPIN:
		if !isPINFormat(secret) {
			return nil, ErrPINFormat
		}
		return canonical(method, secret), nil
	case MethodPattern:
		return patternSecret(secret)
	}
	return nil, methodError(method)
}

// patternSecret is the canonical form of a pattern, its parsed nodes wiped.
func patternSecret(secret string) ([]byte, error) {
	p, err := ParsePattern(secret)
	if err != nil {
		return nil, err
	}
	defer clear(p)
	return canonical(MethodPattern, p.canonical()), nil
}

// canonical prefixes the method, so that no PIN and pattern hash alike
// (today their forms could not meet, but nothing should rest on that).
func canonical(method Method, form string) []byte {
	b := make([]byte, 0, len(method)+1+len(form))
	b = append(b, method...)
	b = append(b, ':')
	return append(b, form...)
}

func methodError(m Method) error {
	if m == MethodBiometric {
		return ErrNoSecret
	}
	return ErrMethod
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}
