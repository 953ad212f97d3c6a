package ekyc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/webhook"
)

// maxTries bounds how often a change is decided again after another
// writer changed the session first.
const maxTries = 16

// Webhook event types: "verification." and the final status.
const eventPrefix = "verification."

// actSession prefixes the audit action of a session's end.
const actSession = "ekyc.session."

// change is what a step writes besides the session's new state.
type change struct {
	evidence []EvidenceRecord
	events   []webhook.Event
	audit    []audit.Entry
}

// step applies an outcome already decided to the session as read. It must
// not ask outside parties: it runs again, on the session read afresh,
// whenever another writer changed the session first.
type step func(r *Record, now time.Time) (*change, error)

// update applies fn to a pending session and saves the result as a
// compare-and-set on the version read, deciding again on conflict.
func (s *Service) update(ctx context.Context, id string, fn step) (*Record, error) {
	for range maxTries {
		r, err := s.load(ctx, id)
		if err != nil {
			return nil, err
		}
		err = s.apply(ctx, r, s.now(), fn)
		if isConflict(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		return r, nil
	}
	return nil, ErrBusy
}

func (s *Service) apply(ctx context.Context, r *Record, now time.Time, fn step) error {
	if err := s.refuseEnded(ctx, r, now); err != nil {
		return err
	}
	ch, err := fn(r, now)
	if err != nil {
		return err
	}
	if err := s.settle(r, now, ch); err != nil {
		return err
	}
	return s.save(ctx, r, ch)
}

// begin reads a session for a method call before any outside party is
// asked: an ended session or a method already decided is refused.
func (s *Service) begin(ctx context.Context, id string, m Method) (*Record, error) {
	for range maxTries {
		r, err := s.load(ctx, id)
		if err != nil {
			return nil, err
		}
		err = s.refuseEnded(ctx, r, s.now())
		if isConflict(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		if st := r.find(m); st != nil && st.Status != MethodStarted {
			return nil, ErrMethodClosed
		}
		return r, nil
	}
	return nil, ErrBusy
}

// refuseEnded answers ErrSessionClosed for a decided session, expiring on
// the way one whose time is up.
func (s *Service) refuseEnded(ctx context.Context, r *Record, now time.Time) error {
	if r.Status != StatusPending {
		return ErrSessionClosed
	}
	if now.Before(r.ExpiresAt) {
		return nil
	}
	if err := s.expireIfDue(ctx, r, now); err != nil {
		return err
	}
	return ErrSessionClosed
}

// expireIfDue expires a pending session whose time is up.
func (s *Service) expireIfDue(ctx context.Context, r *Record, now time.Time) error {
	if r.Status != StatusPending || now.Before(r.ExpiresAt) {
		return nil
	}
	ch := &change{}
	if err := s.end(r, now, StatusExpired, ReasonExpired, ch); err != nil {
		return err
	}
	return s.save(ctx, r, ch)
}

// settle ends the session when its policy is met or can no longer be.
func (s *Service) settle(r *Record, now time.Time, ch *change) error {
	st, reason := r.Policy.decide(r.Methods)
	if st == StatusPending {
		return nil
	}
	return s.end(r, now, st, reason, ch)
}

// end decides the session and adds the institution's webhook event and the
// audit entry to the change.
func (s *Service) end(r *Record, now time.Time, st Status, reason string, ch *change) error {
	r.Status, r.Reason, r.DecidedAt = st, reason, &now
	ev, err := announce(r, now)
	if err != nil {
		return err
	}
	v := r.view()
	result := audit.ResultFailure
	if st == StatusPassed {
		result = audit.ResultSuccess
	}
	ch.events = append(ch.events, ev)
	ch.audit = append(ch.audit, audit.Entry{Time: now, Actor: "ekyc", Action: actSession + string(st), Target: r.ID,
		Result: result, Details: map[string]string{"institution": r.InstitutionID, "passed": joinMethods(v.Passed),
			"failed": joinMethods(v.Failed), "reason": reason, "event": ev.ID}})
	return nil
}

// announce is the webhook event of a session's end; its body carries the
// masked view only.
func announce(r *Record, now time.Time) (webhook.Event, error) {
	typ := eventPrefix + string(r.Status)
	ev := webhook.NewEvent(r.InstitutionID, typ, nil, now)
	body, err := json.Marshal(struct {
		ID        string    `json:"id"`
		Type      string    `json:"type"`
		CreatedAt time.Time `json:"created_at"`
		Data      *View     `json:"data"`
	}{ev.ID, typ, now, r.view()})
	if err != nil {
		return ev, fmt.Errorf("webhook payload of %s: %w", r.ID, err)
	}
	ev.Payload = body
	return ev, nil
}

func (s *Service) save(ctx context.Context, r *Record, ch *change) error {
	r.Version++
	return s.Store.SaveEKYCSession(ctx, Change{Session: r, Evidence: ch.evidence, Events: ch.events, Audit: ch.audit})
}

func isConflict(err error) bool { return errors.Is(err, errs.ErrConflict) }
func isNotFound(err error) bool { return errors.Is(err, errs.ErrNotFound) }
