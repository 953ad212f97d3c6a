package risk

import (
	"context"
	"log/slog"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/login"
)

// Login is the login hook: every checked attempt is decided, and a
// step_up or deny on a failed attempt raises the customer's ladder for
// that method one stage at once (lockout.Service.Escalate), so a risky
// guesser gets fewer guesses; a failure the ladder already escalated for
// machine pace is not raised twice. A risky success does not move the ladder,
// which counts guesses and has just been reset by the right secret; its
// review or deny opens a case for an analyst. The attempt's own answer is
// not changed: the ladder decided it before the hook ran.
// Bot-suspected attempts are also logged, as login.LogRisk does.
type Login struct {
	Engine  *fds.Engine
	Lockout *lockout.Service // nil: decisions are recorded, nothing escalates
	Log     *slog.Logger     // nil: slog.Default()
}

var _ login.RiskHook = Login{}

// ObserveLogin decides the attempt and escalates a failed one on step_up or deny.
func (h Login) ObserveLogin(ctx context.Context, e login.Event) {
	login.LogRisk{Log: logger(h.Log)}.ObserveLogin(ctx, e)
	d := decide(ctx, h.Engine, h.Log, loginEvent(e))
	// One escalation per attempt: a bot-paced failure was already raised a
	// stage by the ladder itself, on the same signal the engine weighs.
	if d == nil || (d.Outcome != fds.StepUp && d.Outcome != fds.Deny) || h.Lockout == nil ||
		e.Result == audit.ResultSuccess || e.BotSuspected {
		return
	}
	h.escalate(ctx, e, d)
}

func loginEvent(e login.Event) fds.Event {
	r := result(e.Result)
	if r == fds.ResultNone {
		r = fds.ResultFailure // the login package's own default
	}
	return fds.Event{Kind: fds.KindLogin, Action: "login." + string(r), InstitutionID: e.InstitutionID,
		CustomerID: e.CustomerID, Fingerprint: e.Fingerprint, IP: e.IP, Result: r,
		BotSuspected: e.BotSuspected, Time: e.Time}
}

// escalate raises the ladder, logging a failure: the decision is recorded
// either way, and an analyst sees it.
func (h Login) escalate(ctx context.Context, e login.Event, d *fds.Decision) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decideTimeout)
	defer cancel()
	meta := lockout.Meta{Actor: e.InstitutionID, RequestID: audit.MetaFrom(ctx).RequestID, IP: e.IP, Fingerprint: e.Fingerprint}
	st, err := h.Lockout.Escalate(ctx, e.CustomerID, lockout.Method(e.Method), e.Time, meta, "fds_"+string(d.Outcome))
	log := logger(h.Log)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "escalating the login ladder failed",
			slog.String("customer_id", e.CustomerID), slog.String("decision_id", d.ID), slog.String("err", err.Error()))
		return
	}
	log.LogAttrs(ctx, slog.LevelWarn, "fraud engine escalated the login ladder",
		slog.String("customer_id", e.CustomerID), slog.String("method", e.Method),
		slog.String("decision_id", d.ID), slog.String("outcome", string(d.Outcome)),
		slog.Int("failures", st.Failures), slog.Bool("protected", st.Protected))
}
