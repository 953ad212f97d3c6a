package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/config"
	"github.com/haechi/haechi/internal/console"
	"github.com/haechi/haechi/internal/logging"
	"github.com/haechi/haechi/internal/oauth"
	"github.com/haechi/haechi/internal/ratelimit"
	"github.com/haechi/haechi/internal/redis"
	"github.com/haechi/haechi/internal/risk"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	env := config.OSEnv()
	cfg, _, err := config.Load("serve", args, true, env)
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogLevel)
	mode := schemaCheck
	if cfg.Migrate || cfg.Demo {
		mode = schemaMigrate
	}
	a, err := openApp(ctx, cfg, env, mode)
	if err != nil {
		return err
	}
	defer a.Close()
	if cfg.Demo {
		if err := seedDemo(ctx, a, stdout); err != nil {
			return fmt.Errorf("seeding demo data: %w", err)
		}
	}
	srv, err := a.server(ctx, log)
	if err != nil {
		return err
	}
	// Background work ends, and its last transaction commits, before the
	// deferred Close: a write still running when the database closes would
	// hold the SQLite lock past the server's exit.
	var bg sync.WaitGroup
	dctx, stopDispatch := context.WithCancel(ctx)
	defer func() { stopDispatch(); bg.Wait() }()
	bg.Go(func() { a.dispatch(dctx, a.devices.channel, log) })
	bg.Go(func() { a.purgeSessions(dctx, log) })
	a.runEKYC(dctx, &bg, a.ekyc, log)
	a.runPayments(dctx, &bg, a.payments, log)
	return a.listen(ctx, a.withWebShop(srv.Handler(), log), log, stdout)
}

// server builds the HTTP API over the app's services.
func (a *app) server(ctx context.Context, log *slog.Logger) (*api.Server, error) {
	c := a.cfg
	issuer, err := oauth.NewIssuer(ctx, oauth.Config{Issuer: c.TokenIssuer, Audience: c.TokenAudience, TTL: c.TokenTTL}, a.db, a.ring, a.now)
	if err != nil {
		return nil, fmt.Errorf("loading token signing keys: %w", err)
	}
	limiter, err := a.limiter(ctx)
	if err != nil {
		return nil, err
	}
	if a.devices, err = a.buildDevices(log); err != nil {
		return nil, err
	}
	a.devices.describe(log)
	if a.ekyc, err = a.buildEKYC(a.devices); err != nil {
		return nil, err
	}
	a.devices.service.StepUp = a.ekyc.stepUp(a.devices.service.StepUp)
	if a.devices.sims != nil {
		a.devices.sims.Bank = a.ekyc.bank
	}
	a.login.StepUp = a.devices.service.StepUp
	if a.payments, err = a.buildPayments(a.ekyc.webhooks, log); err != nil {
		return nil, err
	}
	eng, err := a.buildFDS(ctx, log)
	if err != nil {
		return nil, err
	}
	a.wireRisk(eng, log)
	if err := a.login.Validate(); err != nil {
		return nil, err
	}
	if err := a.login.Sessions.Validate(); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &api.Server{
		Institutions:   a.institutions,
		Tokens:         issuer,
		Operators:      a.operators,
		Customers:      a.customers,
		Devices:        a.devices.service,
		WebAuthn:       a.devices.webauthn,
		DeviceRequests: a.devices.requests,
		Directory:      a.db,
		Login:          a.login,
		Verifications:  a.ekyc.service,
		SecurityMedia:  a.ekyc.media,
		Webhooks:       a.ekyc.webhooks,
		Payments:       a.payments.gateway(),
		Idempotency:    a.payments.idempotency(),
		Simulators:     a.devices.sims,
		FDS:            eng,
		Risk:           risk.Operator{Engine: eng, Log: log},
		Audit:          a.db,
		AuditKey:       a.auditKey().Public().(ed25519.PublicKey),
		Ready:          a.db.Ping,
		Limiter:        limiter,
		Logger:         log,
		Registry:       reg,
		Now:            a.now,
		TLS:            c.TLS(),
		PublicURL:      c.PublicURL,
		IPLimit:        ratelimit.Quota{Rate: c.RateIPPerSec, Burst: c.RateIPBurst},
		ClientLimit:    ratelimit.Quota{Rate: c.RateClientPerSec, Burst: c.RateClientBurst},
		TrustedProxies: trustedProxies(c.TrustedProxies, c.Demo),
		Console:        console.Handler("/console/"),
	}, nil
}

// limiter keeps rate-limit state in Redis when configured, so every node
// shares one budget; otherwise in memory.
func (a *app) limiter(ctx context.Context) (ratelimit.Limiter, error) {
	client, err := a.redis(ctx)
	if err != nil || client == nil {
		return ratelimit.NewMemory(), err
	}
	return redis.NewLimiter(client), nil
}

// listen serves until ctx ends (SIGTERM/SIGINT), then drains requests.
func (a *app) listen(ctx context.Context, h http.Handler, log *slog.Logger, stdout io.Writer) error {
	c := a.cfg
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("setting HAECHI_ADDR (--addr): %w", err)
	}
	if c.TLS() {
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS13}
	}
	errc := make(chan error, 1)
	go func() { errc <- a.serveOn(hs, ln) }()
	scheme := map[bool]string{false: "http", true: "https"}[c.TLS()]
	fmt.Fprintf(stdout, "haechi %s listening on %s://%s (database: %s)\n", version, scheme, ln.Addr(), a.dbKind())
	log.Info("listening", "addr", ln.Addr().String(), "tls", c.TLS(), "database", a.dbKind())
	a.printWebShop(stdout, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", c.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	return hs.Shutdown(sctx)
}

func (a *app) serveOn(hs *http.Server, ln net.Listener) error {
	var err error
	if a.cfg.TLS() {
		err = hs.ServeTLS(ln, a.cfg.TLSCert, a.cfg.TLSKey)
	} else {
		err = hs.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (a *app) dbKind() string {
	if a.cfg.Postgres() {
		return "postgresql"
	}
	return "sqlite " + a.cfg.SQLitePath()
}
