package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/idempotency"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/webhook"
)

// How often the gateway's own work runs.
const (
	sweepEvery       = 30 * time.Second // expiries, net-cancels, reversals, pending refunds
	purgeIdempotency = time.Hour        // idempotency keys past their retention
)

// paymentWiring is the gateway and the idempotency keys of its calls.
type paymentWiring struct {
	service *payment.Service
	keys    *idempotency.Service
	card    *cardnet.Simulator // nil unless the simulators are on
}

// gateway is the payment service as far as the CLI needs it (merchants);
// serve adds the lookup client and the card network. Merchant endpoints
// live in hooks, the same webhook service as the institutions', so one
// dispatcher delivers every owner's events.
func (a *app) gateway(hooks *webhook.Service, log *slog.Logger) *payment.Service {
	return &payment.Service{
		Store: a.db, Ring: a.ring, Pepper: a.keys.Pepper,
		Institutions: a.institutions, Webhooks: hooks,
		AllowLegacy: a.cfg.LegacyPaymentsAllowed(), Log: log, Now: a.now,
	}
}

// buildPayments wires the gateway for serve: order lookups signed with the
// merchant's webhook secrets over the SSRF-guarded client, and the card
// network (simulator or the configured acquirer). Without a card network
// there is no gateway (nil): its routes answer 503, as eKYC methods do
// without their authority, rather than verify checkouts nobody can pay.
func (a *app) buildPayments(hooks *webhook.Service, log *slog.Logger) (*paymentWiring, error) {
	w := &paymentWiring{
		service: a.gateway(hooks, log),
		keys:    &idempotency.Service{Store: a.db, Ring: a.ring, Pepper: a.keys.Pepper, Now: a.now},
	}
	network, err := a.cardNetwork(w)
	if err != nil {
		return nil, err
	}
	if network == nil {
		log.Info("payment gateway off: no card network (HAECHI_CARD_URL, or the simulators); its routes answer 503")
		return nil, nil
	}
	w.service.Network = network
	w.service.Lookup = &payment.HTTPLookup{Client: webhook.NewClient(a.webhookLocal()), Secrets: hooks, Now: a.now}
	if w.service.AllowLegacy {
		log.Warn("legacy payment mode allowed: amounts of legacy merchants are NOT verified (HAECHI_PAYMENT_ALLOW_LEGACY or --demo)")
	}
	return w, nil
}

// cardNetwork is the card simulator, the configured network, or nil.
func (a *app) cardNetwork(w *paymentWiring) (cardnet.Network, error) {
	if a.cfg.SimulatorsOn() {
		w.card = cardnet.NewSimulator(a.now)
		return w.card, nil
	}
	p := a.cfg.Card()
	if p.URL() == "" {
		return nil, nil
	}
	h, err := cardnet.NewHTTP(jsonCfg(p))
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", p.Setting(), err)
	}
	return h, nil
}

// gateway and idempotency are the API's services; nil when payments are
// off.
func (w *paymentWiring) gateway() *payment.Service {
	if w == nil {
		return nil
	}
	return w.service
}

func (w *paymentWiring) idempotency() *idempotency.Service {
	if w == nil {
		return nil
	}
	return w.keys
}

// runPayments does the gateway's background work until ctx ends: the
// sweeper (expiries, net-cancels of unconfirmed approvals, reversals of
// unanswered authorizations, pending refunds) and the hourly purge of old
// idempotency keys. Merchant webhooks need nothing here: the dispatcher
// runEKYC starts delivers every owner's events.
func (a *app) runPayments(ctx context.Context, bg *sync.WaitGroup, w *paymentWiring, log *slog.Logger) {
	if w == nil {
		return
	}
	bg.Go(func() {
		every(ctx, sweepEvery, func() {
			if _, err := w.service.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Error("sweeping payments", "err", err)
			}
		})
	})
	bg.Go(func() {
		every(ctx, purgeIdempotency, func() {
			if _, err := a.db.PurgeIdempotencyKeys(ctx, a.now()); err != nil && ctx.Err() == nil {
				log.Error("purging idempotency keys", "err", err)
			}
		})
	})
}

// ---- haechi merchants ----

const merchantsUsage = "merchants add --name N --lookup-url U --webhook-url W [--mode protected|legacy] | list"

// merchantFlags are the flags of `haechi merchants add`.
type merchantFlags struct {
	name, lookup, webhook, mode string
}

func (f *merchantFlags) register(sub string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		if sub != "add" {
			return
		}
		fs.StringVar(&f.name, "name", "", "merchant name")
		fs.StringVar(&f.lookup, "lookup-url", "", "the merchant server's order-lookup URL")
		fs.StringVar(&f.webhook, "webhook-url", "", "the merchant server's webhook URL")
		fs.StringVar(&f.mode, "mode", string(payment.Protected), "protected, or legacy (unverified; needs HAECHI_PAYMENT_ALLOW_LEGACY)")
	}
}

// cmdMerchants is `haechi merchants add|list`.
func cmdMerchants(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "list") {
		return usageErr(merchantsUsage)
	}
	sub, f := args[0], &merchantFlags{}
	return withApp(ctx, "merchants "+sub, args[1:], f.register(sub), func(a *app, rest []string) error {
		if len(rest) > 0 {
			return usageErr(merchantsUsage)
		}
		hooks := &webhook.Service{Store: a.db, Ring: a.ring, Now: a.now, AllowHTTP: a.webhookLocal()}
		gw := a.gateway(hooks, slog.Default())
		if sub == "list" {
			return merchantsList(ctx, gw, out)
		}
		return merchantsAdd(ctx, gw, f, out)
	})
}

func merchantsAdd(ctx context.Context, gw *payment.Service, f *merchantFlags, out io.Writer) error {
	if f.name == "" || f.lookup == "" || f.webhook == "" {
		return usageErr(merchantsUsage)
	}
	mode := payment.Mode(f.mode)
	if mode != payment.Protected && mode != payment.Legacy {
		return fmt.Errorf("--mode %q: want protected or legacy", f.mode)
	}
	cr, err := gw.RegisterMerchant(ctx, cliActor, payment.NewMerchant{Name: f.name, LookupURL: f.lookup, WebhookURL: f.webhook, Mode: mode})
	if err != nil {
		return err
	}
	m := cr.Merchant
	fmt.Fprintf(out, "merchant_id:    %s\nclient_id:      %s\napi_key:        %s\ntid_key:        %s\nwebhook_secret: %s\nmode:           %s\n(the API key, TID key and webhook secret are shown only now)\n",
		m.ID, m.ClientID, cr.APIKey, cr.TIDKey, cr.WebhookSecret, m.Mode)
	if m.Mode == payment.Legacy {
		fmt.Fprintln(out, "WARNING: legacy mode charges the amount the buyer's client sends, unverified")
	}
	return nil
}

func merchantsList(ctx context.Context, gw *payment.Service, out io.Writer) error {
	ms, err := gw.Merchants(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCLIENT\tMODE\tLOOKUP URL\tCREATED")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Name, m.ClientID, m.Mode, m.LookupURL, m.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}
