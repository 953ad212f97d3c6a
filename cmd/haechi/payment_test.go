package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/config"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/webhook"
	"github.com/haechi/haechi/sdk/checkout"
	"github.com/haechi/haechi/sdk/merchant"
)

// gatewayEnv is `haechi serve` wired as in production (no --demo): the
// merchants registered with `haechi merchants add`, order lookups and
// webhooks over loopback HTTP, and the card network reached through the
// real HTTP adapter (HAECHI_CARD_URL) at a simulated acquirer this test
// holds, so it can count what was charged.
type gatewayEnv struct {
	base  string
	card  *cardnet.Simulator
	buyer *checkout.Client
	// calls records the status of every authorize answer the buyer got.
	calls *statusLog
}

// testShop is one merchant: sdk/merchant behind its own HTTP server,
// recording the webhooks whose signature verified.
type testShop struct {
	*merchant.Merchant
	name string
	srv  *httptest.Server
	mux  *http.ServeMux

	mu       sync.Mutex
	events   []merchant.Event
	verified int   // deliveries whose Haechi-Signature verified
	forged   error // the first one that did not
}

func startGateway(t *testing.T, names ...string) (*gatewayEnv, map[string]*testShop) {
	t.Helper()
	cheapHashes(t)
	card := cardnet.NewSimulator(nil)
	acquirer := httptest.NewServer(cardnet.Handler(card))
	t.Cleanup(acquirer.Close)
	t.Setenv("HAECHI_CARD_URL", acquirer.URL)
	t.Setenv("HAECHI_CARD_TOKEN", "test-acquirer-token")
	t.Setenv("HAECHI_WEBHOOK_ALLOW_HTTP", "true") // the shops listen on loopback
	dir := t.TempDir()
	if out, err := runCLI(t, dir, "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	shops := map[string]*testShop{}
	for _, name := range names {
		shops[name] = addShop(t, dir, name)
	}
	base := startServe(t, dir)
	calls := &statusLog{}
	env := &gatewayEnv{base: base, card: card, calls: calls,
		buyer: &checkout.Client{Gateway: base, Sleep: noSleep, HTTP: &http.Client{Timeout: 15 * time.Second, Transport: calls}}}
	for _, s := range shops {
		s.Gateway = base
	}
	return env, shops
}

// addShop starts a merchant server and registers it with the CLI.
func addShop(t *testing.T, dir, name string) *testShop {
	t.Helper()
	s := &testShop{name: name, mux: http.NewServeMux()}
	s.srv = httptest.NewServer(s.mux)
	t.Cleanup(s.srv.Close)
	out, err := runCLI(t, dir, "merchants", "add", "--name", name, "--lookup-url", s.srv.URL+"/lookup", "--webhook-url", s.srv.URL+"/webhooks")
	if err != nil {
		t.Fatalf("merchants add %s: %v %s", name, err, out)
	}
	f := fields(out)
	m, err := merchant.New(f["merchant_id"], f["tid_key"], "http://gateway.invalid", f["api_key"], f["webhook_secret"])
	if err != nil {
		t.Fatalf("merchant %s from the CLI's output: %v\n%s", name, err, out)
	}
	m.Sleep = noSleep
	m.HTTP = &http.Client{Timeout: 15 * time.Second}
	s.Merchant = m
	// Mounted only now: ServeMux's lock orders the registration before
	// any request reads the merchant.
	s.mux.Handle("POST /lookup", m.LookupHandler())
	s.mux.Handle("POST /webhooks", s.checkSignature(m.WebhookHandler(s.receive)))
	return s
}

// fields reads the "name: value" lines the CLI prints.
func fields(out string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if m := fieldRe.FindStringSubmatch(line); m != nil {
			f[m[1]] = m[2]
		}
	}
	return f
}

// checkSignature verifies each delivery itself before the SDK's handler
// does, so the test does not rest on the SDK's check alone.
func (s *testShop) checkSignature(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxDelivery))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		err = webhook.Verify(r.Header.Get(webhook.HeaderSignature), body, s.WebhookSecrets, time.Now(), webhook.Tolerance)
		s.mu.Lock()
		if err == nil {
			s.verified++
		} else if s.forged == nil {
			s.forged = err
		}
		s.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func (s *testShop) receive(ev merchant.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

// eventsOf are the types of the events received about transaction id.
func (s *testShop) eventsOf(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var types []string
	for _, ev := range s.events {
		if ev.Transaction.ID == id {
			types = append(types, ev.Type)
		}
	}
	return types
}

// order creates a fresh order of 6,900 KRW.
func (s *testShop) order(t *testing.T) payinfo.Tagged {
	t.Helper()
	o, err := s.CreateOrder("T-"+crypto.RandomBase32(10), "test coupon", 6900, 1, "KRW")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func noSleep(context.Context, time.Duration) error { return nil }

// statusLog is the buyer's transport: it records the status of each
// authorize answer.
type statusLog struct {
	mu       sync.Mutex
	statuses []int
}

func (l *statusLog) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, "/authorize") {
		l.mu.Lock()
		l.statuses = append(l.statuses, res.StatusCode)
		l.mu.Unlock()
	}
	return res, err
}

// since are the statuses recorded after the first n.
func (l *statusLog) since(n int) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.statuses[n:])
}

func (l *statusLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.statuses)
}

// testCard is an approved test card with a future expiry.
func testCard(pan string) checkout.Card {
	return checkout.Card{PAN: pan, Expiry: futureExpiry(time.Now()), CVV: "123"}
}

// TestPaymentGatewayEndToEnd drives the gateway over real HTTP with
// serve's own wiring: a payment confirmed with signed webhooks, two
// payments of one order at once, a card network that loses its answer, a
// replay, a merchant reading another's payment, and a merchant whose
// lookup endpoint is down.
func TestPaymentGatewayEndToEnd(t *testing.T) {
	env, shops := startGateway(t, "shop-a", "shop-b")
	a, b := shops["shop-a"], shops["shop-b"]
	ctx := context.Background()

	// One payment, confirmed; its webhooks are checked at the end.
	paid := env.payAndConfirm(t, a)

	t.Run("two payments of one order at once: exactly one approved", func(t *testing.T) {
		env.concurrentPayments(t, a)
	})
	t.Run("card network loses its answer: the retry is approved, charged once", func(t *testing.T) {
		s := a.order(t)
		tx, err := env.buyer.Start(ctx, s)
		if err != nil || tx.Code != checkout.CodeNormal {
			t.Fatalf("checkout: %v %v", tx, err)
		}
		calls, charges, seen := env.card.Calls(), env.card.Authorizations(), env.calls.len()
		p, err := env.buyer.Pay(ctx, tx, testCard(cardnet.CardLostAnswer))
		if err != nil || !p.Approved() || p.Amount != 6900 {
			t.Fatalf("pay: %+v %v, want approved 6900", p, err)
		}
		if got := env.calls.since(seen); !slices.Equal(got, []int{http.StatusServiceUnavailable, http.StatusOK}) {
			t.Errorf("authorize answers %v, want 503 card_network_unavailable then 200 on the client's retry", got)
		}
		if n := env.card.Calls() - calls; n != 2 {
			t.Errorf("%d calls at the network, want the lost one and the retry", n)
		}
		if n := env.card.Authorizations() - charges; n != 1 || env.card.Charged(tx.ID) != 6900 {
			t.Errorf("%d new charges, %d charged for %s; want one of 6900", n, env.card.Charged(tx.ID), tx.ID)
		}
	})
	t.Run("replay of a completed transaction is refused and runs nothing", func(t *testing.T) {
		calls := env.card.Calls()
		_, err := env.buyer.Pay(ctx, paid.tx, testCard(cardnet.CardApproved))
		if code := checkout.CodeOf(err); code != payment.ErrTransactionCompleted.Code || status(err) != http.StatusConflict {
			t.Fatalf("paying %s again: %v, want 409 %s", paid.tx.ID, err, payment.ErrTransactionCompleted.Code)
		}
		// The first call's key gets the first answer back, not a new run.
		p, err := env.buyer.PayWithKey(ctx, paid.key, paid.tx, testCard(cardnet.CardApproved))
		if err != nil || p.ID != paid.tx.ID || p.Status != checkout.StatusApproved {
			t.Fatalf("the same key again: %+v %v, want the kept approval", p, err)
		}
		if n := env.card.Calls() - calls; n != 0 {
			t.Fatalf("%d calls at the network for replays", n)
		}
	})
	t.Run("a merchant cannot read or cancel another merchant's payment", func(t *testing.T) {
		_, err := b.Payment(ctx, paid.tx.ID)
		if merchant.CodeOf(err) != payment.ErrTransactionNotFound.Code || merchantStatus(err) != http.StatusNotFound {
			t.Fatalf("shop-b reading shop-a's payment: %v, want 404 transaction_not_found", err)
		}
		_, err = b.NetCancel(ctx, paid.tx.ID, "not ours")
		if merchantStatus(err) != http.StatusNotFound {
			t.Fatalf("shop-b net-cancelling shop-a's payment: %v, want 404", err)
		}
		p, err := a.Payment(ctx, paid.tx.ID)
		if err != nil || p.Status != merchant.StatusConfirmed || env.card.Charged(paid.tx.ID) != 6900 {
			t.Fatalf("shop-a's payment after shop-b's attempts: %+v %v", p, err)
		}
	})
	t.Run("merchant lookup down: ABNORMAL merchant_unreachable, no card asked", func(t *testing.T) {
		s := b.order(t)
		b.srv.Close()
		calls := env.card.Calls()
		tx, err := env.buyer.Start(ctx, s)
		if err != nil || tx.Code != checkout.CodeAbnormal || tx.Reason != string(payinfo.ReasonMerchantUnreachable) {
			t.Fatalf("checkout with the merchant down: %v %v, want ABNORMAL merchant_unreachable", tx, err)
		}
		if _, err := env.buyer.Pay(ctx, tx, testCard(cardnet.CardApproved)); !errors.Is(err, checkout.ErrAbnormal) {
			t.Fatalf("pay on ABNORMAL: %v", err)
		}
		if n := env.card.Calls() - calls; n != 0 {
			t.Fatalf("%d calls at the network", n)
		}
	})
	t.Run("webhooks of the payment arrive signed", func(t *testing.T) {
		want := []string{payment.EventApproved, payment.EventConfirmed}
		got := waitEvents(t, a, paid.tx.ID, want)
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.forged != nil || a.verified < len(want) {
			t.Fatalf("%d deliveries verified, first refused: %v", a.verified, a.forged)
		}
		t.Logf("shop-a received %v for %s", got, paid.tx.ID)
	})
}

// paid is a payment made and confirmed, with the key of its authorize.
type paid struct {
	tx  *checkout.Transaction
	key string
}

func (env *gatewayEnv) payAndConfirm(t *testing.T, shop *testShop) paid {
	t.Helper()
	ctx := context.Background()
	s := shop.order(t)
	tx, err := env.buyer.Start(ctx, s)
	if err != nil || tx.Code != checkout.CodeNormal {
		t.Fatalf("checkout: %v %v", tx, err)
	}
	key := checkout.NewIdempotencyKey()
	p, err := env.buyer.PayWithKey(ctx, key, tx, testCard(cardnet.CardApproved))
	if err != nil || !p.Approved() || p.Amount != 6900 || env.card.Charged(tx.ID) != 6900 {
		t.Fatalf("pay: %+v %v, charged %d", p, err, env.card.Charged(tx.ID))
	}
	c, err := shop.Confirm(ctx, tx.ID, s.OrderNo)
	if err != nil || c.Status != merchant.StatusConfirmed {
		t.Fatalf("confirm: %+v %v", c, err)
	}
	return paid{tx: tx, key: key}
}

// concurrentPayments pays one order from two buyers at once.
func (env *gatewayEnv) concurrentPayments(t *testing.T, shop *testShop) {
	ctx := context.Background()
	s := shop.order(t)
	charges := env.card.Authorizations()
	type result struct {
		p   *checkout.Payment
		err error
	}
	var (
		wg      sync.WaitGroup
		results [2]result
		start   = make(chan struct{})
	)
	for i := range results {
		wg.Go(func() {
			<-start
			tx, err := env.buyer.Start(ctx, s)
			if err == nil {
				results[i].p, err = env.buyer.Pay(ctx, tx, testCard(cardnet.CardApproved))
			}
			results[i].err = err
		})
	}
	close(start)
	wg.Wait()
	approved := 0
	for _, r := range results {
		switch {
		case r.err == nil && r.p.Approved():
			approved++
		case r.err == nil:
			t.Errorf("a payment ended %s", r.p.Status)
		default:
			refused := []string{payment.ErrOrderTaken.Code, payment.ErrOrderPaid.Code}
			if !slices.Contains(refused, checkout.CodeOf(r.err)) || status(r.err) != http.StatusConflict {
				t.Errorf("the other payment: %v, want 409 %v", r.err, refused)
			}
		}
	}
	if approved != 1 {
		t.Fatalf("%d payments approved, want exactly 1", approved)
	}
	if n := env.card.Authorizations() - charges; n != 1 {
		t.Fatalf("%d charges at the network, want 1", n)
	}
}

// waitEvents waits (the dispatcher polls every 2 s) until shop has
// received every type in want about id.
func waitEvents(t *testing.T, shop *testShop, id string, want []string) []string {
	t.Helper()
	deadline := time.Now().Add(webhookWait)
	for {
		got := shop.eventsOf(id)
		if !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(got, w) }) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s shop %s has %v for %s, want %v", webhookWait, shop.name, got, id, want)
		}
		time.Sleep(webhookPoll)
	}
}

func status(err error) int {
	var e *checkout.APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func merchantStatus(err error) int {
	var e *merchant.APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// TestMerchantsCLI: `haechi merchants add` shows the credentials once and
// `list` never again; legacy mode needs HAECHI_PAYMENT_ALLOW_LEGACY and
// plain http needs HAECHI_WEBHOOK_ALLOW_HTTP.
func TestMerchantsCLI(t *testing.T) {
	cheapHashes(t)
	dir := t.TempDir()
	if _, err := runCLI(t, dir, "migrate"); err != nil {
		t.Fatal(err)
	}
	add := func(extra ...string) (string, error) {
		args := append([]string{"merchants", "add", "--name", "Hana Mart", "--lookup-url", "https://shop.example/haechi/lookup",
			"--webhook-url", "https://shop.example/haechi/webhooks"}, extra...)
		return runCLI(t, dir, args...)
	}
	out, err := add()
	if err != nil {
		t.Fatalf("merchants add: %v %q", err, out)
	}
	f := fields(out)
	for name, re := range map[string]string{"merchant_id": `^mch_\w+$`, "client_id": `.`, "api_key": `^hk_`,
		"tid_key": `^[0-9a-f]{64}$`, "webhook_secret": `^whsec_`, "mode": `^protected$`} {
		if !regexp.MustCompile(re).MatchString(f[name]) {
			t.Errorf("%s: %q, want %s", name, f[name], re)
		}
	}

	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		wantE string
	}{
		{"error/legacy not allowed", nil, []string{"--mode", "legacy"}, payment.ErrLegacyNotAllowed.Code},
		{"error/unknown mode", nil, []string{"--mode", "trusting"}, "--mode"},
		{"error/plain http lookup", nil, []string{"--lookup-url", "http://127.0.0.1:9/lookup"}, payment.ErrBadLookupURL.Code},
		{"error/no name", nil, []string{"--name", ""}, "usage: haechi merchants"},
		{"ok/legacy allowed", map[string]string{"HAECHI_PAYMENT_ALLOW_LEGACY": "true"}, []string{"--name", "Old Mart", "--mode", "legacy"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out, err := add(tt.args...)
			switch {
			case tt.wantE == "" && (err != nil || !strings.Contains(out, "WARNING: legacy mode")):
				t.Fatalf("%v %q, want a legacy merchant and the warning", err, out)
			case tt.wantE != "" && (err == nil || !strings.Contains(err.Error(), tt.wantE)):
				t.Fatalf("%v %q, want an error naming %s", err, out, tt.wantE)
			}
		})
	}

	list, err := runCLI(t, dir, "merchants", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(list, "mch_") != 2 || !strings.Contains(list, f["merchant_id"]) || !regexp.MustCompile(`Hana Mart +\S+ +protected`).MatchString(list) ||
		!regexp.MustCompile(`Old Mart +\S+ +legacy`).MatchString(list) {
		t.Errorf("merchants list, want the two registered (and none of the refused):\n%s", list)
	}
	for _, secret := range []string{f["api_key"], f["tid_key"], f["webhook_secret"]} {
		if strings.Contains(list, secret) {
			t.Errorf("merchants list shows a secret")
		}
	}
	if _, err := runCLI(t, dir, "merchants"); exitCode(err) != 2 {
		t.Errorf("merchants without a subcommand: %v", err)
	}
	if out, err := runCLI(t, dir, "audit", "verify"); err != nil {
		t.Fatalf("audit verify: %v %s", err, out)
	}
}

// TestPaymentWiring: serve builds the gateway only with a card network,
// and says loudly when legacy (unverified) merchants are allowed.
func TestPaymentWiring(t *testing.T) {
	const warning = "legacy payment mode allowed: amounts of legacy merchants are NOT verified"
	tests := []struct {
		name        string
		env         map[string]string
		wantWarning bool
		wantOff     bool
	}{
		{"ok/simulators, legacy allowed", map[string]string{"HAECHI_SIMULATORS": "true", "HAECHI_PAYMENT_ALLOW_LEGACY": "true"}, true, false},
		{"ok/simulators, protected only", map[string]string{"HAECHI_SIMULATORS": "true"}, false, false},
		{"off/no card network", nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cheapHashes(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			base, logs := serveLogged(t, t.TempDir())
			req, _ := http.NewRequest(http.MethodPost, base+"/v1/checkout/transactions", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", checkout.NewIdempotencyKey())
			code, body := do(t, req)
			off := code == http.StatusServiceUnavailable && body["code"] == "payments_not_configured"
			if off != tt.wantOff {
				t.Errorf("POST /v1/checkout/transactions = %d %v, want gateway off %v", code, body["code"], tt.wantOff)
			}
			if got := strings.Contains(logs.String(), warning); got != tt.wantWarning {
				t.Errorf("legacy warning logged %v, want %v:\n%s", got, tt.wantWarning, logs.String())
			}
			if tt.wantWarning && !strings.Contains(logs.String(), `"level":"WARN"`) {
				t.Errorf("the legacy warning is not at WARN")
			}
		})
	}
}

// serveLogged runs `haechi serve --migrate` on :0 with its log kept.
func serveLogged(t *testing.T, dir string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--migrate", "--addr", "127.0.0.1:0", "--data-dir", dir}, pw, logs)
		pw.Close()
	}()
	d := &demoServer{dataDir: dir}
	d.readBanner(t, bufio.NewScanner(pr))
	go io.Copy(io.Discard, pr)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return d.base, logs
}

// TestPaymentSweeperAndRisk: serve's gateway asks the fraud engine before
// the card network, and its background work sweeps at once and then on
// its tick: an approval nobody confirmed within the window is
// net-cancelled at the card network, and the loop ends with its context.
func TestPaymentSweeperAndRisk(t *testing.T) {
	cheapHashes(t)
	t.Setenv("HAECHI_SIMULATORS", "true")
	t.Setenv("HAECHI_PAYMENT_ALLOW_LEGACY", "true")
	ctx := context.Background()
	cfg, _, err := config.Load("serve", []string{"--data-dir", t.TempDir()}, true, config.OSEnv())
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(ctx, cfg, config.OSEnv(), schemaMigrate)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	clock := &testClock{at: time.Now()}
	a.now = clock.Now
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := a.server(ctx, log); err != nil {
		t.Fatal(err)
	}
	gw, card := a.payments.service, a.payments.card
	id := approvedLegacyPayment(t, gw, clock)
	if card.Charged(id) != 6900 {
		t.Fatalf("charged %d before the sweep", card.Charged(id))
	}
	decs, err := a.db.FDS().Decisions(ctx, clock.Now().Add(-time.Hour), clock.Now().Add(time.Hour), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(decs, func(d fds.Decision) bool { return d.Kind == fds.KindPayment }) {
		t.Fatalf("no payment decision among %d: the fraud engine was not asked before the card network", len(decs))
	}

	clock.Add(payment.DefaultConfirmWindow + time.Minute)
	sctx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	a.runPayments(sctx, &bg, a.payments, log)
	// The net-cancel is recorded pending, then done at the network.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := gw.PaymentAny(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status == payment.StatusNetCancelled && card.Charged(id) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s with %d KRW charged after the confirm window: the sweeper did not net-cancel it", id, v.Status, card.Charged(id))
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	bg.Wait() // the loops end with their context
}

// approvedLegacyPayment pays 6,900 KRW at a fresh legacy merchant (no
// lookup to serve) through the service.
func approvedLegacyPayment(t *testing.T, gw *payment.Service, clock *testClock) string {
	t.Helper()
	ctx := context.Background()
	mc, err := gw.RegisterMerchant(ctx, "test", payment.NewMerchant{Name: "Sweep Mart", LookupURL: "https://shop.example/lookup",
		WebhookURL: "https://shop.example/webhooks", Mode: payment.Legacy})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, payinfo.TIDKeyLen)
	c := payinfo.Tag(key, payinfo.Info{MerchantID: mc.Merchant.ID, OrderNo: "SWEEP-1", ItemName: "coupon", Amount: 6900, Quantity: 1, Currency: "KRW"})
	co, err := gw.Checkout(ctx, payment.CheckoutRequest{C: c, IP: "192.0.2.1"})
	if err != nil || co.Transaction.Code != payment.Normal {
		t.Fatalf("legacy checkout: %+v %v", co, err)
	}
	v, err := gw.Authorize(ctx, payment.AuthorizeRequest{TransactionID: co.Transaction.ID, ClientSecret: co.ClientSecret, IP: "192.0.2.1",
		Card: cardnet.Card{PAN: cardnet.CardApproved, Expiry: futureExpiry(clock.Now()), CVV: "123"}})
	if err != nil || v.Status != payment.StatusApproved {
		t.Fatalf("authorize: %+v %v", v, err)
	}
	return v.ID
}

// testClock is a clock the test moves; safe for the server's goroutines.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}
