package ekyc

import (
	"context"
	"time"
)

// AttemptEvent is one counted attempt of a method, as the fraud engine
// hears it: opaque ids and codes only, never the applicant's data.
type AttemptEvent struct {
	InstitutionID string
	SessionID     string
	CustomerID    string // "" for a new applicant, who is no customer yet
	Method        Method
	Result        string // "success" or "failure"
	Reason        string // the refusal code of a failure
	Time          time.Time
}

// RiskObserver hears every counted attempt, after it is recorded. It
// cannot change the attempt's outcome and must not fail it: a slow or
// broken engine must not become a way to stall or pass verifications.
type RiskObserver interface {
	ObserveAttempt(ctx context.Context, a AttemptEvent)
}

// observe tells the risk observer of an attempt that was recorded.
func (s *Service) observe(ctx context.Context, r *Record, a *attempt) {
	if s.Risk == nil {
		return
	}
	ev := AttemptEvent{InstitutionID: r.InstitutionID, SessionID: r.ID, CustomerID: r.CustomerID,
		Method: a.method, Result: "failure", Reason: a.reason, Time: s.now()}
	if a.verdict == pass {
		ev.Result, ev.Reason = "success", ""
	}
	s.Risk.ObserveAttempt(ctx, ev)
}
