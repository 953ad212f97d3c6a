package ekyc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/haechi/haechi/internal/audit"
)

// verdict is what one attempt of a method came to.
type verdict int

const (
	pass      verdict = iota
	wrong             // counted; the method fails when the attempts run out
	fail              // the method fails at once
	exhausted         // no tries remain (a code's cap): the method fails
	release           // no verdict (an outside party could not answer): nothing counted
)

// Outcome words in audit details.
var verdictNames = [...]string{pass: "passed", wrong: "wrong", fail: "failed", exhausted: "exhausted", release: "undecided"}

// Reason an attempt was left undecided.
const reasonUnavailable = "provider_unavailable"

// attempt is one decided try of a method, applied to the session as a step.
//
// Methods that ask an outside party (ID authority, security media, face
// engine) first reserve a try (reserve), so that parallel tries cannot ask
// the outside party more often than the method allows; the attempt then
// frees its reservation as it is applied. A reservation left by a crash
// stays counted until the session ends, the safe side.
type attempt struct {
	method    Method
	max       int  // tries allowed; 0 for a method that is decided once (video call)
	reserved  bool // a try was reserved before the outside party was asked
	verdict   verdict
	reason    string // why the try was refused
	spent     string // why the method failed when tries run out ("" = reason)
	actor     string
	details   map[string]string // masked values only
	evidence  []EvidenceRecord
	ref       string // on a pass: the evidence the method rests on
	codeID    string // for a code: the code that was checked
	sessionID string
}

func (s *Service) newAttempt(ctx context.Context, r *Record, m Method, max int) *attempt {
	return &attempt{method: m, max: max, actor: actorOf(ctx), details: map[string]string{}, sessionID: r.ID}
}

// decide sets the verdict and reason.
func (a *attempt) decide(v verdict, reason string) *attempt {
	a.verdict, a.reason = v, reason
	if v == release {
		a.evidence = nil // nothing was decided, so nothing is kept
	}
	return a
}

// step applies the attempt.
func (a *attempt) step(r *Record, now time.Time) (*change, error) {
	st := r.ensure(a.method, now)
	if st.Status != MethodStarted {
		return nil, ErrMethodClosed
	}
	if a.codeID != "" && a.verdict == pass && st.CodeID != a.codeID {
		return nil, ErrCodeExpired // a newer code replaced it meanwhile
	}
	switch {
	case a.reserved && st.Pending > 0:
		st.Pending--
	case !a.reserved && a.max > 0 && a.verdict != release && st.Attempts+st.Pending >= a.max:
		return nil, ErrAttemptInProgress
	}
	a.applyTo(st)
	st.UpdatedAt = now
	return &change{evidence: a.evidence, audit: []audit.Entry{a.entry(st, now)}}, nil
}

func (a *attempt) applyTo(st *MethodState) {
	switch a.verdict {
	case pass:
		st.Status, st.Reason, st.Evidence = MethodPassed, "", a.ref
		st.CodeID, st.CodeUntil = "", time.Time{}
	case wrong:
		st.Attempts++
		st.Reason = a.reason
		if st.Attempts >= a.max {
			st.Status, st.Reason = MethodFailed, a.spentReason()
		}
	case fail:
		if a.max > 0 {
			st.Attempts++
		}
		st.Status, st.Reason = MethodFailed, a.reason
	case exhausted:
		st.Attempts = max(st.Attempts, a.max)
		st.Status, st.Reason = MethodFailed, a.spentReason()
	}
}

func (a *attempt) spentReason() string {
	if a.spent != "" {
		return a.spent
	}
	return a.reason
}

// entry audits the attempt with masked details only.
func (a *attempt) entry(st *MethodState, now time.Time) audit.Entry {
	d := maps.Clone(a.details)
	d["outcome"] = verdictNames[a.verdict]
	d["attempts"] = fmt.Sprint(st.Attempts)
	d["method_status"] = string(st.Status)
	if a.reason != "" {
		d["reason"] = a.reason
	}
	result := audit.ResultFailure
	if a.verdict == pass {
		result = audit.ResultSuccess
	}
	return audit.Entry{Time: now, Actor: a.actor, Action: "ekyc." + string(a.method), Target: a.sessionID,
		Result: result, Details: d}
}

// reserve takes one try of m before an outside party is asked.
func reserve(m Method, max int) step {
	return func(r *Record, now time.Time) (*change, error) {
		st := r.ensure(m, now)
		switch {
		case st.Status != MethodStarted:
			return nil, ErrMethodClosed
		case st.Attempts+st.Pending >= max:
			return nil, ErrAttemptInProgress
		}
		st.Pending++
		st.UpdatedAt = now
		return &change{}, nil
	}
}

// run applies the attempt and returns the session's view.
func (s *Service) run(ctx context.Context, a *attempt) (*View, error) {
	r, err := s.update(ctx, a.sessionID, a.step)
	if err != nil {
		return nil, err
	}
	s.observe(ctx, r, a)
	return r.view(), nil
}

// undecided frees a reserved try when the outside party failed, and
// returns that party's error: the try is not counted.
func (s *Service) undecided(ctx context.Context, a *attempt, cause error) error {
	a.decide(release, reasonUnavailable)
	if _, err := s.update(ctx, a.sessionID, a.step); err != nil && !isClosed(err) {
		return fmt.Errorf("%w (and freeing the reserved try: %v)", cause, err)
	}
	return cause
}

// isClosed reports the refusals that mean the attempt no longer matters.
func isClosed(err error) bool {
	return errors.Is(err, ErrSessionClosed) || errors.Is(err, ErrMethodClosed)
}
