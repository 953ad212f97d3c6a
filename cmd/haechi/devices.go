package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/attest"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/config"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/jsonapi"
	"github.com/haechi/haechi/internal/notify"
	"github.com/haechi/haechi/internal/onetime"
	"github.com/haechi/haechi/internal/passkey"
)

// dispatchEvery is how often the notification outbox is drained.
const dispatchEvery = 2 * time.Second

// errProviderNotConfigured answers device registration when the server
// has no carrier or attestation service (or no app digests) to check it
// with. It is raised before anything is counted, so a misconfigured server
// restricts nobody.
var errProviderNotConfigured = errs.New(errs.Unavailable, "provider_not_configured",
	"Device registration is not configured on this server.", "이 서버에는 기기등록이 설정되어 있지 않습니다.")

// notConfigured stands for an authority the server has no settings for.
type notConfigured struct{}

func (notConfigured) Match(context.Context, carrier.Identity) (bool, error) {
	return false, errProviderNotConfigured
}
func (notConfigured) SendCode(context.Context, string, string) error { return errProviderNotConfigured }
func (notConfigured) Verify(context.Context, string) (*attest.Verdict, error) {
	return nil, errProviderNotConfigured
}
func (notConfigured) Check(context.Context, idcheck.Card) (idcheck.Result, error) {
	return "", errProviderNotConfigured
}

// deviceWiring is device registration and everything around it.
type deviceWiring struct {
	service  *device.Service
	webauthn *device.WebAuthn
	requests *device.Requests
	sims     *api.Simulators // nil unless the simulators are on
	channel  notify.Channel
	// carrier and idCheck are the authorities registration was wired to;
	// eKYC uses the same ones.
	carrier carrier.Provider
	idCheck idcheck.Checker
	// missing names the settings registration lacks; empty when it works.
	missing []string
}

// buildDevices wires registration to the simulators or to the configured
// authorities. It fails only on settings that are set but wrong.
func (a *app) buildDevices(log *slog.Logger) (*deviceWiring, error) {
	w := &deviceWiring{requests: &device.Requests{Store: a.db, Now: a.now}}
	car, att, idc, err := a.authorities(w)
	if err != nil {
		return nil, err
	}
	w.carrier, w.idCheck = car, idc
	policy, err := a.devicePolicy(w)
	if err != nil {
		return nil, err
	}
	w.service = &device.Service{
		Store: a.db, Customers: a.customers, Carrier: car, Attest: att, Ring: a.ring, Policy: policy,
		Codes: &onetime.Service{Store: a.db, Pepper: a.keys.Pepper, Now: a.now}, Now: a.now,
		Risk: device.SimpleScorer{Log: a.db}, StepUp: device.SimulatorStepUp{Carrier: car, IDCheck: idc},
	}
	if err := w.validate(); err != nil {
		return nil, err
	}
	pk, err := passkey.New(passkey.Config{RPID: a.cfg.WebAuthnRPID, RPName: "haechi", Origins: a.cfg.WebAuthnOrigins}, a.db, a.now)
	if err != nil {
		return nil, fmt.Errorf("settings HAECHI_WEBAUTHN_RP_ID and HAECHI_WEBAUTHN_ORIGINS: %w", err)
	}
	w.webauthn = &device.WebAuthn{Passkeys: pk, Devices: w.service}
	w.channel = a.notifyChannel(w, log)
	return w, nil
}

// authorities returns the carrier, attestation and ID-check services: the
// simulators, the HTTP adapters configured, or notConfigured for the
// missing ones (ID check is optional: only step-up uses it).
func (a *app) authorities(w *deviceWiring) (carrier.Provider, attest.Verifier, idcheck.Checker, error) {
	if a.cfg.SimulatorsOn() {
		return a.simulators(w)
	}
	car, err1 := a.carrier(w)
	att, err2 := a.attestation(w)
	idc, err3 := a.idCheck()
	return car, att, idc, errors.Join(err1, err2, err3)
}

func (a *app) carrier(w *deviceWiring) (carrier.Provider, error) {
	p := a.cfg.Carrier()
	if p.URL() == "" {
		w.missing = append(w.missing, p.Setting())
		return notConfigured{}, nil
	}
	h, err := carrier.NewHTTP(jsonCfg(p))
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", p.Setting(), err)
	}
	return h, nil
}

func (a *app) attestation(w *deviceWiring) (attest.Verifier, error) {
	p := a.cfg.Attest()
	if p.URL() == "" {
		w.missing = append(w.missing, p.Setting())
		return notConfigured{}, nil
	}
	h, err := attest.NewHTTP(jsonCfg(p))
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", p.Setting(), err)
	}
	return h, nil
}

func (a *app) idCheck() (idcheck.Checker, error) {
	p := a.cfg.IDCheck()
	if p.URL() == "" {
		return notConfigured{}, nil
	}
	h, err := idcheck.NewHTTP(jsonCfg(p))
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", p.Setting(), err)
	}
	return h, nil
}

func jsonCfg(p config.Provider) jsonapi.Config {
	return jsonapi.Config{BaseURL: p.URL(), Token: p.Token()}
}

// simulators are the built-in stand-ins, for the demo and tests only.
func (a *app) simulators(w *deviceWiring) (carrier.Provider, attest.Verifier, idcheck.Checker, error) {
	idc, err := idcheck.NewSimulator(idcheck.DefaultRecords()...)
	if err != nil {
		return nil, nil, nil, err
	}
	car := carrier.NewSimulator(carrier.DefaultSubscribers()...)
	att := attest.NewSimulator()
	att.Now = a.now
	w.sims = &api.Simulators{Carrier: car, Attest: att}
	return car, att, idc, nil
}

// devicePolicy is the integrity policy: the configured app digests and
// minimum version, or with the simulators and no digests the demo app's.
func (a *app) devicePolicy(w *deviceWiring) (device.Policy, error) {
	c := a.cfg
	if len(c.DeviceAppDigests) == 0 && c.SimulatorsOn() {
		p := device.DemoPolicy()
		p.MaxPatchAge, p.KeepPreviousDevices = c.DeviceMaxPatchAge, c.DeviceKeepPrevious
		return p, nil
	}
	p := device.DefaultPolicy()
	p.AllowedDigests, p.MinAppVersion = c.DeviceAppDigests, c.DeviceMinAppVersion
	p.MaxPatchAge, p.KeepPreviousDevices = c.DeviceMaxPatchAge, c.DeviceKeepPrevious
	if len(p.AllowedDigests) == 0 {
		w.missing = append(w.missing, "HAECHI_DEVICE_APP_DIGESTS")
		return p, nil
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("settings HAECHI_DEVICE_APP_DIGESTS and HAECHI_DEVICE_MIN_APP_VERSION: %w", err)
	}
	return p, nil
}

// validate checks the service when registration is on. When a setting is
// missing, every Start fails at the carrier or attestation step with
// provider_not_configured before anything is counted; a policy without
// digests is then never applied to a real attempt.
func (w *deviceWiring) validate() error {
	if len(w.missing) == 0 {
		return w.service.Validate()
	}
	// Even a configured carrier is set aside: Start asks the carrier after
	// a policy refusal, and must fail there rather than record it.
	w.service.Carrier, w.service.Attest = notConfigured{}, notConfigured{}
	return nil
}

// notifyChannel delivers customer notifications: to the simulator's inboxes
// with the simulators on, else to the log, since no push or SMS gateway is
// configurable yet. The log channel records that a notification would have
// been delivered, by id, kind and customer id only: the data it carries
// stays out of the log.
func (a *app) notifyChannel(w *deviceWiring, log *slog.Logger) notify.Channel {
	if w.sims != nil {
		return notify.NewSimulator()
	}
	return logChannel{log: log}
}

type logChannel struct{ log *slog.Logger }

func (l logChannel) Deliver(ctx context.Context, n notify.Notification) error {
	l.log.InfoContext(ctx, "notification would be delivered (no delivery channel is configured)",
		"notification_id", n.ID, "kind", n.Kind, "customer_id", n.CustomerID)
	return nil
}

// dispatch drains the notification outbox until ctx ends.
func (a *app) dispatch(ctx context.Context, ch notify.Channel, log *slog.Logger) {
	d := &notify.Dispatcher{Store: a.db, Channel: ch, Now: a.now, Logger: log}
	d.Run(ctx, dispatchEvery)
}

// describe says at start how registration is wired.
func (w *deviceWiring) describe(log *slog.Logger) {
	switch {
	case w.sims != nil:
		log.Warn("device registration uses the built-in SIMULATORS (carrier, attestation, ID check); never in production")
	case len(w.missing) > 0:
		log.Warn("device registration is off: it answers 503 provider_not_configured", "missing", w.missing)
	}
}
