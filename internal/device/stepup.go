package device

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/notify"
)

// Verification methods of a step-up, named as eKYC names them.
const (
	MethodCarrier         = "carrier"
	MethodIDCard          = "id_card"
	MethodExistingAccount = "existing_account"
)

// MinStepUpMethods is how many distinct methods must pass to lift a
// restriction.
const MinStepUpMethods = 2

// Evidence is what a customer offers for stronger verification.
type Evidence struct {
	Carrier *carrier.Identity // checked with the carrier against the customer
	IDCard  *idcheck.Card     // checked with the issuing authority
	// EKYCSession names a passed eKYC verification session; the eKYC
	// capability's StepUp reads its methods (existing_account and others).
	EKYCSession string
}

// StepUp verifies a customer more strongly than registration does. It
// returns the methods that passed; an error is for a malformed piece of
// evidence or a service that cannot answer, not for a failed method.
type StepUp interface {
	Verify(ctx context.Context, c *customer.Customer, ev Evidence) (passed []string, err error)
}

// SimulatorStepUp is the step-up until eKYC lands: carrier identity
// (Match of the customer's own name, birth date and phone) and ID card
// authenticity. The demo and tests give it the carrier and idcheck
// simulators; with the HTTP adapters it asks the real services.
type SimulatorStepUp struct {
	Carrier carrier.Provider
	IDCheck idcheck.Checker
}

// Verify checks each piece of evidence given.
func (s SimulatorStepUp) Verify(ctx context.Context, c *customer.Customer, ev Evidence) ([]string, error) {
	var passed []string
	if ev.Carrier != nil {
		ok, err := s.carrierPasses(ctx, c, *ev.Carrier)
		if err != nil {
			return nil, err
		}
		if ok {
			passed = append(passed, MethodCarrier)
		}
	}
	if ev.IDCard != nil {
		ok, err := s.cardPasses(ctx, c, *ev.IDCard)
		if err != nil {
			return nil, err
		}
		if ok {
			passed = append(passed, MethodIDCard)
		}
	}
	return passed, nil
}

// carrierPasses requires the claim to be the customer's and the carrier to
// confirm it.
func (s SimulatorStepUp) carrierPasses(ctx context.Context, c *customer.Customer, claim carrier.Identity) (bool, error) {
	id, err := normalizeIdentity(claim)
	if err != nil {
		return false, err
	}
	if !sameIdentity(c, id) || !crypto.Equal([]byte(c.Phone), []byte(id.Phone)) {
		return false, nil
	}
	ok, err := s.Carrier.Match(ctx, id)
	if err != nil {
		return false, fmt.Errorf("carrier match: %w", err)
	}
	return ok, nil
}

// cardPasses requires a genuine card that names the customer: the name, the
// birth date in the RRN and, when the customer gave one, the RRN itself.
func (s SimulatorStepUp) cardPasses(ctx context.Context, c *customer.Customer, card idcheck.Card) (bool, error) {
	card, err := card.Normalize()
	if err != nil {
		return false, err
	}
	_, birth, err := customer.NormalizeRRN(card.RRN)
	if err != nil {
		return false, idcheck.ErrInvalidCard.WithField("rrn")
	}
	if card.Name != c.Name || birth != c.BirthDate || (c.RRN != "" && !crypto.Equal([]byte(c.RRN), []byte(card.RRN))) {
		return false, nil
	}
	res, err := s.IDCheck.Check(ctx, card)
	if err != nil {
		return false, err
	}
	return res == idcheck.ResultValid, nil
}

// ActionLift is the audit action of a step-up lift.
const ActionLift = "device.restriction.lift"

// LiftRestriction lifts the customer's registration restriction at once
// when at least two distinct methods of stronger verification pass. A hard
// block is not lifted this way: it needs an operator. It returns the methods
// that passed.
func (s *Service) LiftRestriction(ctx context.Context, institutionID, customerID string, ev Evidence) ([]string, error) {
	c, err := s.Customers.Get(ctx, institutionID, customerID)
	if err != nil {
		return nil, err
	}
	if err := s.refuseBlocked(ctx, c.ID); err != nil {
		return nil, err
	}
	if s.StepUp == nil {
		return nil, ErrStepUpInsufficient
	}
	passed, err := s.StepUp.Verify(ctx, c, ev)
	if err != nil {
		return nil, err
	}
	passed = distinct(passed)
	now := s.Now().UTC()
	e := audit.Entry{Time: now, Actor: institutionID, Action: ActionLift, Target: c.ID,
		Details: map[string]string{"methods": strings.Join(passed, ",")}}
	if len(passed) < MinStepUpMethods {
		e.Result = audit.ResultFailure
		if err := s.Store.AppendAudit(ctx, e); err != nil {
			return nil, err
		}
		return passed, ErrStepUpInsufficient
	}
	e.Result = audit.ResultSuccess
	note := notify.New(c.ID, notify.KindRegistrationReleased, map[string]string{"by": "step_up"}, now)
	err = s.Store.LiftCustomer(ctx, c.ID, s.lift(now, false), e, []notify.Notification{note})
	return passed, err
}

// refuseBlocked answers ErrBlocked for a hard-blocked customer before any
// outside service is asked.
func (s *Service) refuseBlocked(ctx context.Context, customerID string) error {
	cs, err := s.Store.Counters(ctx, Subject{SubjectCustomer, customerID})
	if err != nil {
		return err
	}
	if cs[0].Blocked() {
		return ErrBlocked
	}
	return nil
}

func (s *Service) lift(now time.Time, blocks bool) Lift {
	return Lift{Now: now, Window: s.Limits.WithDefaults().HardBlockWindow, Blocks: blocks}
}

func distinct(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}
