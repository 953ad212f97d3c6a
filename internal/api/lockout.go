package api

import (
	"net/http"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/operator"
)

// lockStateView is one method's ladder state for operators; the pending
// reservation's id stays inside.
type lockStateView struct {
	Method         string     `json:"method"`
	Failures       int        `json:"failures"`
	LastFailure    *time.Time `json:"last_failure,omitempty"`
	DelayedUntil   *time.Time `json:"delayed_until,omitempty"`
	LockedUntil    *time.Time `json:"locked_until,omitempty"`
	Protected      bool       `json:"protected"`
	ProtectedSince *time.Time `json:"protected_since,omitempty"`
}

// viewLockState shows only stages still in force at now.
func viewLockState(st lockout.State, now time.Time) lockStateView {
	v := lockStateView{Method: string(st.Method), Failures: st.Failures, Protected: st.Protected,
		LastFailure: timeOrNil(st.LastFailure), ProtectedSince: timeOrNil(st.ProtectedSince)}
	if st.NextAllowed.After(now) {
		v.DelayedUntil = timeOrNil(st.NextAllowed)
	}
	if st.LockedUntil.After(now) {
		v.LockedUntil = timeOrNil(st.LockedUntil)
	}
	return v
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (s *Server) loginState(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.loginService()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := s.operatorCustomer(r.Context(), id); err != nil {
		return err
	}
	sts, err := ls.Lockout.States(r.Context(), id)
	if err != nil {
		return err
	}
	views := make([]lockStateView, len(sts))
	for i, st := range sts {
		views[i] = viewLockState(st, s.Now())
	}
	respond(w, http.StatusOK, map[string]any{"customer_id": id, "methods": views})
	return nil
}

type clearLockRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) clearLoginLock(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.loginService()
	if err != nil {
		return err
	}
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	var req clearLockRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := s.operatorCustomer(r.Context(), id); err != nil {
		return err
	}
	st, err := ls.Lockout.ClearLock(r.Context(), a.op, id, lockout.Method(r.PathValue("method")), req.Reason)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, viewLockState(st, s.Now()))
	return nil
}

func (s *Server) liftLoginProtection(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.loginService()
	if err != nil {
		return err
	}
	a, ok := operatorFrom(r.Context())
	if !ok {
		return operator.ErrNoSession
	}
	id := r.PathValue("id")
	if _, err := s.operatorCustomer(r.Context(), id); err != nil {
		return err
	}
	if err := ls.BranchLift(r.Context(), a.op, id, r.PathValue("method")); err != nil {
		return err
	}
	respond(w, http.StatusOK, map[string]any{"customer_id": id, "method": r.PathValue("method"), "lifted": true, "must_change": true})
	return nil
}

// loginStepUp lifts login protection mode when the customer re-verifies
// with two methods, as the registration step-up does; a new PIN or pattern
// is then required.
func (s *Server) loginStepUp(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.loginService()
	if err != nil {
		return err
	}
	p, ok := principalFrom(r.Context())
	if !ok {
		return errs.ErrUnauth
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req stepUpRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	passed, lifted, err := ls.Recover(r.Context(), p.ClientID, id, req.evidence())
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, map[string]any{"passed": passed, "lifted": lifted, "must_change": true})
	return nil
}
