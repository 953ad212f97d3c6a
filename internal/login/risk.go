package login

import (
	"context"
	"log/slog"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/lockout"
)

// Event is one completed login attempt as the risk engine hears it: what
// the ladder concluded, including its bot suspicion.
type Event struct {
	InstitutionID string
	CustomerID    string
	DeviceID      string
	Method        string
	Fingerprint   string
	IP            string
	Result        string // audit.ResultSuccess or audit.ResultFailure
	Failures      int    // consecutive failures after this attempt
	BotSuspected  bool   // the attempt's pace looked scripted
	Transitions   []lockout.Transition
	Time          time.Time
}

// RiskHook hears every login attempt that reached the secret check. It
// cannot change this attempt's outcome (the ladder has decided, durably,
// before the hook runs) and it cannot fail it: a risk engine that is slow
// or down must not become a way around the count or a way to deny logins.
type RiskHook interface {
	ObserveLogin(ctx context.Context, e Event)
}

// LogRisk is the built-in hook until the fraud engine takes its place: it
// writes a warning for each bot-suspected attempt, so monitoring sees
// scripted guessing as it happens. Only opaque ids are logged.
type LogRisk struct {
	Log *slog.Logger
}

// ObserveLogin logs bot-suspected attempts.
func (h LogRisk) ObserveLogin(ctx context.Context, e Event) {
	if !e.BotSuspected || h.Log == nil {
		return
	}
	h.Log.LogAttrs(ctx, slog.LevelWarn, "login attempt looks scripted",
		slog.String("customer_id", e.CustomerID), slog.String("device_id", e.DeviceID),
		slog.String("method", e.Method), slog.Int("failures", e.Failures))
}

// observe tells the hook about a completed attempt.
func (s *Service) observe(ctx context.Context, ev Event, st lockout.State) {
	if s.Risk == nil {
		return
	}
	ev.Failures, ev.BotSuspected, ev.Transitions = st.Failures, st.BotSuspected, st.Transitions
	if ev.Result == "" {
		ev.Result = audit.ResultFailure
	}
	s.Risk.ObserveLogin(ctx, ev)
}
