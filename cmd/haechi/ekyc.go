package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/config"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/face"
	"github.com/haechi/haechi/internal/onetime"
	"github.com/haechi/haechi/internal/secmedia"
	"github.com/haechi/haechi/internal/webhook"
)

// How often the background work around eKYC runs.
const (
	expireEvery  = 30 * time.Second // pending sessions past their expiry
	webhookEvery = 2 * time.Second  // the webhook outbox
	purgeEKYC    = 24 * time.Hour   // evidence past the retention
)

// ekycWiring is eKYC and what it needs beside the device authorities.
type ekycWiring struct {
	service  *ekyc.Service
	media    *secmedia.Service
	webhooks *webhook.Service
	bank     *bankxfer.Simulator // nil unless the simulators are on
}

// buildEKYC wires verification sessions to the same carrier and ID-check
// service as device registration, and to the bank network and face engine
// (simulators, HTTP adapters, or none: that method answers 503).
func (a *app) buildEKYC(dw *deviceWiring) (*ekycWiring, error) {
	w := &ekycWiring{
		media:    &secmedia.Service{Store: a.db, Ring: a.ring, Now: a.now},
		webhooks: &webhook.Service{Store: a.db, Ring: a.ring, Now: a.now, AllowHTTP: a.webhookLocal()},
	}
	bank, err := a.bankNetwork(w)
	if err != nil {
		return nil, err
	}
	eng, err := a.faceEngine()
	if err != nil {
		return nil, err
	}
	w.service = &ekyc.Service{
		Store: a.db, Ring: a.ring, Pepper: a.keys.Pepper,
		Codes:   &onetime.Service{Store: a.db, Pepper: a.keys.Pepper, Now: a.now},
		IDCheck: dw.idCheck, Accounts: bank, Carrier: dw.carrier, Media: w.media, Face: eng,
		Customers: a.customers, FaceThreshold: a.cfg.EKYCFaceThreshold, Now: a.now,
	}
	return w, nil
}

// webhookLocal admits http:// and loopback receivers: the demo's, or when
// explicitly allowed for local testing.
func (a *app) webhookLocal() bool { return a.cfg.WebhookAllowHTTP || a.cfg.Demo }

// bankNetwork is the bank-transfer simulator, the configured gateway, or
// nil when neither (existing_account then answers 503).
func (a *app) bankNetwork(w *ekycWiring) (bankxfer.Network, error) {
	if a.cfg.SimulatorsOn() {
		sim, err := bankxfer.NewSimulator(bankxfer.DefaultAccounts()...)
		if err != nil {
			return nil, err
		}
		sim.Now = a.now
		w.bank = sim
		return sim, nil
	}
	p := a.cfg.Bank()
	if p.URL() == "" {
		return nil, nil
	}
	h, err := bankxfer.NewHTTP(jsonCfg(p))
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", p.Setting(), err)
	}
	return h, nil
}

// faceEngine is the face simulator, the configured engine, or nil.
func (a *app) faceEngine() (face.Engine, error) {
	if a.cfg.SimulatorsOn() {
		return face.NewSimulator(), nil
	}
	p := a.cfg.Face()
	if p.URL() == "" {
		return nil, nil
	}
	h, err := face.NewHTTP(jsonCfg(p))
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", p.Setting(), err)
	}
	return h, nil
}

// stepUp lets a passed eKYC session of the customer count for device and
// login step-up, beside the carrier and ID-card evidence checked directly.
func (w *ekycWiring) stepUp(next device.StepUp) device.StepUp {
	return ekyc.StepUp{Sessions: w.service, Next: next}
}

// runEKYC does eKYC's background work until ctx ends: webhook delivery,
// expiring sessions nobody touches (so their webhook goes out), and the
// daily purge of evidence past the retention.
func (a *app) runEKYC(ctx context.Context, bg *sync.WaitGroup, w *ekycWiring, log *slog.Logger) {
	d := &webhook.Dispatcher{Store: a.db, Endpoints: w.webhooks, Client: webhook.NewClient(a.webhookLocal()), Now: a.now, Logger: log}
	bg.Go(func() { d.Run(ctx, webhookEvery) })
	bg.Go(func() {
		every(ctx, expireEvery, func() {
			if _, err := w.service.ExpireDue(ctx); err != nil && ctx.Err() == nil {
				log.Error("expiring verification sessions", "err", err)
			}
		})
	})
	bg.Go(func() {
		every(ctx, purgeEKYC, func() {
			res, err := w.service.Purge(ctx, "system", a.now().Add(-a.cfg.EKYCRetention))
			if err != nil && ctx.Err() == nil {
				log.Error("purging verification evidence", "err", err)
				return
			}
			log.Info("verification evidence purged", "sessions", res.Sessions, "evidence", res.Evidence)
		})
	})
}

// every calls f now and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// purgeBefore is the cutoff of `haechi ekyc purge`: --before when given,
// else now less the retention.
func purgeBefore(cfg *config.Config, before string, now time.Time) (time.Time, error) {
	if before == "" {
		return now.Add(-cfg.EKYCRetention), nil
	}
	t, err := time.Parse(time.RFC3339, before)
	if err != nil {
		return time.Time{}, fmt.Errorf("--before %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", before)
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("--before %s is in the future", before)
	}
	return t, nil
}

// cmdEKYC is `haechi ekyc purge`: delete verification evidence and applicant
// PII older than the retention (or --before), keeping the audit's
// references to the sessions.
func cmdEKYC(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "purge" {
		return usageErr("ekyc purge [--before RFC3339]")
	}
	var before string
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&before, "before", "", "purge sessions created before this time (default: now less HAECHI_EKYC_RETENTION)")
	}
	return withApp(ctx, "ekyc purge", args[1:], flags, func(a *app, _ []string) error {
		cut, err := purgeBefore(a.cfg, before, a.now())
		if err != nil {
			return err
		}
		svc := &ekyc.Service{Store: a.db, Ring: a.ring, Pepper: a.keys.Pepper, Now: a.now}
		res, err := svc.Purge(ctx, "cli", cut)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "purged sessions created before %s: %d sessions scrubbed, %d evidence items deleted\n",
			cut.UTC().Format(time.RFC3339), res.Sessions, res.Evidence)
		return nil
	})
}
