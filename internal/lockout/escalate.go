package lockout

import (
	"context"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/notify"
)

// ActionEscalated is the audit action of an escalation by the risk engine.
const ActionEscalated = "login.escalated"

// maxReason bounds the reason code an escalation records.
const maxReason = 64

// Escalate raises the key's ladder one stage at once, as a bot-paced
// failure does: the count jumps to the next stage's threshold and that
// stage applies from now. The fraud engine calls it when it asks for a
// step-up or denies a login, so a risky login costs the customer's
// remaining guesses rather than only being noted. It is audited
// (ActionEscalated, reason in the details) and the customer is told of the
// stage like any other. A key already in protection mode is left as it is:
// there is no stage above it, and nothing is written.
func (s *Service) Escalate(ctx context.Context, customerID string, m Method, now time.Time, meta Meta, reason string) (State, error) {
	l, err := s.key(customerID, m)
	if err != nil {
		return State{}, err
	}
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	return s.Store.UpdateLockout(ctx, Key{customerID, m}, func(st *State) (*Change, error) {
		ch := s.settleChange(st, l, now)
		if st.Protected {
			return ch, nil
		}
		settled := len(st.Transitions)
		st.Failures = l.escalate(st.Failures)
		applyStage(st, l, now)
		// Only the new stage is announced here: a lapsed reservation settled
		// just before was announced with its own change.
		raised := st.Transitions[settled:]
		e := escalationEntry(st, raised, meta, now, reason)
		var ns []notify.Notification
		for _, t := range raised {
			ns = append(ns, noteOf(st, t, now)...)
		}
		return merge(ch, &Change{Audit: []audit.Entry{e}, Notes: ns}), nil
	})
}

func escalationEntry(st *State, raised []Transition, m Meta, now time.Time, reason string) audit.Entry {
	actor := m.Actor
	if actor == "" {
		actor = "system"
	}
	d := map[string]string{"method": string(st.Method), "failures": strconv.Itoa(st.Failures), "reason": reason}
	if len(raised) > 0 {
		d["transitions"] = joinTransitions(raised)
	}
	return audit.Entry{Time: now, Actor: actor, Action: ActionEscalated, Target: st.CustomerID, Result: audit.ResultDenied,
		RequestID: m.RequestID, ClientIP: m.IP, Details: d}
}
