package ekyc

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
)

// expireBatch is how many due sessions ExpireDue reads at once.
const expireBatch = 100

const (
	actPurge   = "ekyc.purge"
	actConsume = "ekyc.step_up.consume"
)

// expireDue expires every pending session past its expiry. A session
// another writer changed meanwhile is left to the next sweep (or to its
// next access), so the sweep never blocks a live session.
func (s *Service) expireDue(ctx context.Context) (int, error) {
	total := 0
	for {
		due, err := s.Store.DueEKYCSessions(ctx, s.now(), expireBatch)
		if err != nil {
			return total, err
		}
		n, err := s.expireAll(ctx, due)
		total += n
		if err != nil || len(due) < expireBatch || n == 0 {
			return total, err
		}
	}
}

func (s *Service) expireAll(ctx context.Context, due []*Record) (int, error) {
	n := 0
	for _, r := range due {
		if err := s.openApplicant(r); err != nil {
			return n, err
		}
		err := s.expireIfDue(ctx, r, s.now())
		if isConflict(err) {
			continue
		} else if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Service) purge(ctx context.Context, actor string, before time.Time) (PurgeResult, error) {
	if actor == "" || len(actor) > maxActor || before.IsZero() {
		return PurgeResult{}, ErrInvalidPurge
	}
	now := s.now()
	entry := func(p PurgeResult) audit.Entry {
		return audit.Entry{Time: now, Actor: actor, Action: actPurge, Target: "ekyc_sessions", Result: audit.ResultSuccess,
			Details: map[string]string{"before": before.UTC().Format(time.RFC3339Nano),
				"sessions": fmt.Sprint(p.Sessions), "evidence": fmt.Sprint(p.Evidence)}}
	}
	return s.Store.PurgeEKYC(ctx, before.UTC(), now, entry)
}

// StepUp is device.StepUp with eKYC: a passed verification session opened
// for the customer (Open with CustomerID) counts its passed methods, once.
// Evidence other than the session goes to Next (nil: none).
type StepUp struct {
	Sessions *Service
	Next     device.StepUp
}

var _ device.StepUp = StepUp{}

// Verify returns the methods that passed: the session's, spent by this
// call, and Next's. A session that is not the customer's, not passed,
// already spent, or decided longer ago than the session TTL gives none.
func (u StepUp) Verify(ctx context.Context, c *customer.Customer, ev device.Evidence) ([]string, error) {
	var passed []string
	if u.Next != nil {
		rest := ev
		rest.EKYCSession = ""
		p, err := u.Next.Verify(ctx, c, rest)
		if err != nil {
			return nil, err
		}
		passed = append(passed, p...)
	}
	if ev.EKYCSession != "" {
		p, err := u.Sessions.consumeStepUp(ctx, c, ev.EKYCSession)
		if err != nil {
			return nil, err
		}
		passed = append(passed, p...)
	}
	slices.Sort(passed)
	return slices.Compact(passed), nil
}

// consumeStepUp spends a passed session of the customer. The session is
// spent after Next answered, so a failing outside party does not waste it.
func (s *Service) consumeStepUp(ctx context.Context, c *customer.Customer, id string) ([]string, error) {
	if len(id) > maxTokenLength {
		return nil, nil
	}
	now := s.now()
	e := audit.Entry{Time: now, Actor: c.InstitutionID, Action: actConsume, Target: id, Result: audit.ResultSuccess,
		Details: map[string]string{"customer": c.ID}}
	r, err := s.Store.ConsumeEKYCSession(ctx, c.InstitutionID, c.ID, id, now.Add(-s.ttl()), now, e)
	if isNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range r.Methods {
		if m.Status == MethodPassed {
			out = append(out, string(m.Method))
		}
	}
	return out, nil
}
