// Package risk connects the capabilities to the fraud engine: each adapter
// turns one capability's hook (a login attempt, a registration attempt, a
// verification attempt, an operator action) into an fds.Event, asks the
// engine for a decision, and applies the part of the decision that
// capability acts on.
//
// The engine is an advisor, never a gate that can jam: an engine error is
// logged and the capability goes on as if no engine were wired. The
// decision and its event are recorded by the engine in the database, which
// stays the record; the adapters keep nothing.
package risk

import (
	"context"
	"log/slog"
	"time"

	"github.com/haechi/haechi/internal/fds"
)

// decideTimeout bounds one decision. The hooks run inside the request they
// observe, so a slow database must cost that request little; the context
// is also detached from the request's, so a client that hangs up right
// after its attempt cannot keep the attempt out of the record.
const decideTimeout = 2 * time.Second

// PlatformInstitution is the institution of operator events: operators
// work for the platform, not for one institution.
const PlatformInstitution = "platform"

// decide asks the engine, logging a failure; nil means no decision.
func decide(ctx context.Context, eng *fds.Engine, log *slog.Logger, ev fds.Event) *fds.Decision {
	if eng == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decideTimeout)
	defer cancel()
	d, err := eng.Decide(ctx, ev)
	if err != nil {
		logger(log).LogAttrs(ctx, slog.LevelWarn, "fraud engine could not decide; the attempt goes on undecided",
			slog.String("kind", string(ev.Kind)), slog.String("action", ev.Action),
			slog.String("customer_id", ev.CustomerID), slog.String("err", err.Error()))
		return nil
	}
	return d
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// result maps a capability's "success"/"failure" to the engine's; anything
// else is not known.
func result(r string) fds.Result {
	switch r {
	case string(fds.ResultSuccess):
		return fds.ResultSuccess
	case string(fds.ResultFailure):
		return fds.ResultFailure
	}
	return fds.ResultNone
}
