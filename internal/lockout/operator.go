package lockout

import (
	"context"
	"slices"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/operator"
)

// ClearReasons are the reasons an agent may give for clearing a lock. They
// are codes, not free text, so the audit log holds no personal details.
var ClearReasons = []string{"identity_verified_by_call", "customer_locked_out_by_mistake", "false_positive_bot"}

// Ways protection mode is lifted.
const (
	ViaReverification = "reverification" // identity re-verified and a new credential set
	ViaBranchReset    = "branch_reset"   // a teller checked the customer in person
)

// ClearLock lets a call-center agent end a temporary lock or delay. The
// count of consecutive failures stays (only a success resets it), so the
// next failure locks again and protection mode comes no later; protection
// mode itself is refused with ErrNeedsReverification. Refusals write
// nothing.
func (s *Service) ClearLock(ctx context.Context, agent *operator.Operator, customerID string, method Method, reason string) (State, error) {
	if agent == nil || agent.Disabled || !agent.Has(operator.RoleAgent) {
		return State{}, operator.ErrRole
	}
	if !slices.Contains(ClearReasons, reason) {
		return State{}, ErrInvalidClearReason
	}
	l, err := s.key(customerID, method)
	if err != nil {
		return State{}, err
	}
	now := s.Now()
	var refused error
	st, err := s.Store.UpdateLockout(ctx, Key{customerID, method}, func(st *State) (*Change, error) {
		ch := s.settleChange(st, l, now)
		if refused = clearable(st, now); refused != nil {
			return ch, nil
		}
		st.LockedUntil, st.NextAllowed = time.Time{}, time.Time{}
		st.Transitions = append(st.Transitions, Unlocked)
		e := operatorEntry(agent.ID, ActionClear, st, now, map[string]string{"reason": reason})
		return merge(ch, &Change{Audit: []audit.Entry{e}, Notes: noteOf(st, Unlocked, now)}), nil
	})
	if err == nil {
		err = refused
	}
	return st, err
}

func clearable(st *State, now time.Time) error {
	switch {
	case st.Protected:
		return ErrNeedsReverify
	case !st.LockedUntil.After(now) && !st.NextAllowed.After(now):
		return ErrNothingToClear
	}
	return nil
}

// LiftProtection ends protection mode and the run of failures. The caller
// has re-verified the customer's identity and set a new credential
// (ViaReverification), or is a teller's branch reset (ViaBranchReset);
// actor names who did it. A key not in protection mode gets
// ErrNotProtected and nothing is written.
func (s *Service) LiftProtection(ctx context.Context, customerID string, method Method, via, actor string) (State, error) {
	if via != ViaReverification && via != ViaBranchReset {
		return State{}, errs.ErrInvalid.WithField("via")
	}
	if _, err := s.key(customerID, method); err != nil {
		return State{}, err
	}
	now := s.Now()
	var refused error
	st, err := s.Store.UpdateLockout(ctx, Key{customerID, method}, func(st *State) (*Change, error) {
		if !st.Protected {
			refused = ErrNotProtected
			return nil, nil
		}
		st.Protected, st.ProtectedSince = false, time.Time{}
		succeed(st)
		st.Transitions = []Transition{ProtectionLifted}
		e := operatorEntry(actor, ActionLift, st, now, map[string]string{"via": via})
		return &Change{Audit: []audit.Entry{e}, Notes: noteOf(st, ProtectionLifted, now)}, nil
	})
	if err == nil {
		err = refused
	}
	return st, err
}

// merge joins two changes; either may be nil.
func merge(a, b *Change) *Change {
	if a == nil {
		return b
	}
	a.Audit, a.Notes = append(a.Audit, b.Audit...), append(a.Notes, b.Notes...)
	return a
}

// States is the operator view of a customer: one state per method, zero
// for a method never failed.
func (s *Service) States(ctx context.Context, customerID string) ([]State, error) {
	stored, err := s.Store.LockoutStates(ctx, customerID)
	if err != nil {
		return nil, err
	}
	out := make([]State, len(Methods))
	for i, m := range Methods {
		out[i] = State{Key: Key{customerID, m}}
		for _, st := range stored {
			if st.Method == m {
				out[i] = st
			}
		}
	}
	return out, nil
}

func operatorEntry(actor, action string, st *State, now time.Time, d map[string]string) audit.Entry {
	d["method"] = string(st.Method)
	return audit.Entry{Time: now, Actor: actor, Action: action, Target: st.CustomerID, Result: audit.ResultSuccess, Details: d}
}
