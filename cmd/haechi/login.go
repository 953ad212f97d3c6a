package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/login"
	"github.com/haechi/haechi/internal/session"
)

// purgeEvery is how often expired sessions and DPoP jtis are deleted;
// nothing else shrinks those tables.
const purgeEvery = 10 * time.Minute

// buildLogin wires credentials, the ladder (the default table of the
// design) and sessions into the login service. StepUp is set by server,
// which builds the verifiers.
func (a *app) buildLogin() {
	creds := &credential.Service{Store: a.db, Hasher: a.hasher, Now: a.now}
	ladder := &lockout.Service{Store: a.db, Ladders: lockout.DefaultLadders(), Now: a.now}
	sessions := &session.Service{Store: a.db, Pepper: a.keys.Pepper, Now: a.now}
	a.login = &login.Service{Credentials: creds, Lockout: ladder, Sessions: sessions,
		Customers: a.customers, Audit: a.db, Now: a.now}
}

// purgeSessions runs session.Purge until ctx ends. A failed purge is logged
// and tried again next time: it only delays the cleanup.
func (a *app) purgeSessions(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := a.login.Sessions.Purge(ctx); err != nil {
			log.Error("session purge failed", "err", err)
		} else if n > 0 {
			log.Info("sessions purged", "rows", n)
		}
	}
}
