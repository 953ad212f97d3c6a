package login

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/operator"
)

// ActionStepUp is the audit action of a login step-up, passed or not.
const ActionStepUp = "login.step_up"

// SetCredential sets the device's customer's PIN or pattern. A first
// secret needs only the device; replacing one needs a session of that
// device (loggedIn) or a forced change, which only re-verification or a
// branch reset starts. Protection mode refuses it outright: a thief holding
// the phone must not escape the ladder by choosing a new PIN.
func (s *Service) SetCredential(ctx context.Context, dev *device.Device, method, secret string, loggedIn bool) error {
	m, err := parseMethod(method)
	if err != nil {
		return err
	}
	if !m.HasSecret() {
		return credential.ErrNoSecret
	}
	cur, err := s.settable(ctx, dev.CustomerID, m, loggedIn)
	if err != nil {
		return err
	}
	c, err := s.Customers.Get(ctx, dev.InstitutionID, dev.CustomerID)
	if err != nil {
		return err
	}
	// The write replaces exactly the credential the permission was decided
	// on: if the customer set a new secret meanwhile (ending a forced
	// change), this set loses with credential_changed instead of
	// overwriting it.
	return s.Credentials.Replace(ctx, dev.CustomerID, c, m, secret, cur)
}

// settable refuses a set under protection mode or over a standing secret,
// and returns the credential it decided on (nil: none).
func (s *Service) settable(ctx context.Context, customerID string, m credential.Method, loggedIn bool) (*credential.Credential, error) {
	_, err := s.Lockout.Check(ctx, customerID, lockout.Method(m), s.Now().UTC())
	switch {
	case errors.Is(err, lockout.ErrProtection):
		return nil, lockout.ErrProtection
	case err != nil && !lockout.IsRefusal(err):
		return nil, err
	}
	cur, err := s.Credentials.Store.Credential(ctx, customerID, m)
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case cur.MustChange || loggedIn:
		return cur, nil
	}
	return nil, ErrAlreadySet
}

// Recover ends protection mode after the customer re-verified their
// identity with at least device.MinStepUpMethods methods: every protected
// method is lifted, and its secret must be replaced before it logs in
// again (the old one may have been guessed at). It returns the methods
// that passed and the login methods lifted.
func (s *Service) Recover(ctx context.Context, institutionID, customerID string, ev device.Evidence) (passed, lifted []string, err error) {
	c, err := s.Customers.Get(ctx, institutionID, customerID)
	if err != nil {
		return nil, nil, err
	}
	protected, err := s.protected(ctx, c.ID)
	if err != nil {
		return nil, nil, err
	}
	if len(protected) == 0 {
		return nil, nil, lockout.ErrNotProtected
	}
	if passed, err = s.stepUp(ctx, institutionID, c, ev); err != nil {
		return passed, nil, err
	}
	for _, m := range protected {
		if err := s.lift(ctx, c.ID, m, lockout.ViaReverification, institutionID); err != nil {
			return passed, lifted, err
		}
		lifted = append(lifted, string(m))
	}
	return passed, lifted, nil
}

// stepUp runs the verification and audits its outcome; fewer than two
// distinct methods is device.ErrStepUpInsufficient.
func (s *Service) stepUp(ctx context.Context, actor string, c *customer.Customer, ev device.Evidence) ([]string, error) {
	if s.StepUp == nil {
		return nil, device.ErrStepUpInsufficient
	}
	passed, err := s.StepUp.Verify(ctx, c, ev)
	if err != nil {
		return nil, err
	}
	slices.Sort(passed)
	passed = slices.Compact(passed)
	e := audit.Entry{Time: s.Now().UTC(), Actor: actor, Action: ActionStepUp, Target: c.ID,
		Result: audit.ResultSuccess, Details: map[string]string{"methods": strings.Join(passed, ",")}}
	if len(passed) < device.MinStepUpMethods {
		e.Result = audit.ResultFailure
	}
	if err := s.Audit.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	if e.Result == audit.ResultFailure {
		return passed, device.ErrStepUpInsufficient
	}
	return passed, nil
}

// protected lists the customer's methods in protection mode.
func (s *Service) protected(ctx context.Context, customerID string) ([]lockout.Method, error) {
	sts, err := s.Lockout.States(ctx, customerID)
	if err != nil {
		return nil, err
	}
	var ms []lockout.Method
	for _, st := range sts {
		if st.Protected {
			ms = append(ms, st.Method)
		}
	}
	return ms, nil
}

// lift forces a new secret first and then ends protection mode, so there
// is no moment where the old secret logs in again. A method without a
// stored secret (biometric, or one never set) has nothing to force.
func (s *Service) lift(ctx context.Context, customerID string, m lockout.Method, via, actor string) error {
	if cm := credential.Method(m); cm.HasSecret() {
		err := s.Credentials.RequireChange(ctx, actor, customerID, cm)
		if err != nil && !errors.Is(err, errs.ErrNotFound) {
			return err
		}
	}
	_, err := s.Lockout.LiftProtection(ctx, customerID, m, via, actor)
	return err
}

// BranchLift is a teller's branch reset of one method's protection mode,
// after checking the customer in person; the secret must then be replaced.
func (s *Service) BranchLift(ctx context.Context, teller *operator.Operator, customerID, method string) error {
	if teller == nil || teller.Disabled || !teller.Has(operator.RoleTeller) {
		return operator.ErrRole
	}
	m := lockout.Method(method)
	if !slices.Contains(lockout.Methods, m) {
		return lockout.ErrUnknownMethod
	}
	d, err := s.Lockout.Check(ctx, customerID, m, s.Now().UTC())
	if err != nil && !lockout.IsRefusal(err) {
		return err
	}
	if !d.State.Protected {
		return lockout.ErrNotProtected
	}
	return s.lift(ctx, customerID, m, lockout.ViaBranchReset, teller.ID)
}
