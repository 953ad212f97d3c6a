package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/testbrowser"
	"github.com/haechi/haechi/sdk/merchant"
)

// payShop is a merchant registered on a running demo server through the
// operator API, as an operator would; payShops serves its endpoints.
type payShop struct {
	*merchant.Merchant
	mode payment.Mode
}

// payShops is the merchants' side on loopback: order lookups
// (sdk/merchant LookupHandler) at /{mode}/lookup on one server and
// webhooks at /{mode}/webhooks on another, so that the gateway's lookups
// can be counted apart from its webhook deliveries. admin is the operator
// session that registered them.
type payShops struct {
	lookups, hooks *httptest.Server
	lookupMux      *http.ServeMux
	hookMux        *http.ServeMux
	delivered      atomic.Int64 // webhook events received, every merchant
	admin          *adminSession
}

// startPayShops starts the merchants' servers. count, when set, counts
// the lookup server's bytes, connections and requests (the benchmark's).
func startPayShops(tb testing.TB, count *wire) *payShops {
	tb.Helper()
	s := &payShops{lookupMux: http.NewServeMux(), hookMux: http.NewServeMux()}
	var lookups http.Handler = s.lookupMux
	if count != nil {
		lookups = countRequests(lookups, count)
	}
	s.lookups = httptest.NewUnstartedServer(lookups)
	if count != nil {
		s.lookups.Listener = countedListener{s.lookups.Listener, count}
	}
	s.lookups.Start()
	s.hooks = httptest.NewServer(s.hookMux)
	tb.Cleanup(s.hooks.Close)
	tb.Cleanup(s.lookups.Close)
	return s
}

// register has the demo admin register one merchant per mode, in one
// operator session, and mounts each one's endpoints.
func (s *payShops) register(tb testing.TB, d *demoServer, modes ...payment.Mode) []*payShop {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target, err := loadDemoTarget(d.dataDir, d.base)
	if err != nil {
		tb.Fatal(err)
	}
	admin, err := target.adminSession(ctx)
	if err != nil {
		tb.Fatalf("admin login: %v", err)
	}
	s.admin = admin
	var shops []*payShop
	for _, mode := range modes {
		in := map[string]string{"name": "test shop " + string(mode), "mode": string(mode),
			"lookup_url": s.lookups.URL + "/" + string(mode) + "/lookup", "webhook_url": s.hooks.URL + "/" + string(mode) + "/webhooks"}
		var out merchantCreated
		if err := admin.call(ctx, http.MethodPost, "/v1/operator/merchants", in, &out); err != nil {
			tb.Fatalf("register a %s merchant: %v", mode, err)
		}
		m, err := merchant.New(out.Merchant.ID, out.TIDKey, d.base, out.APIKey, out.WebhookSecret)
		if err != nil {
			tb.Fatal(err)
		}
		s.lookupMux.Handle("POST /"+string(mode)+"/lookup", m.LookupHandler())
		s.hookMux.Handle("POST /"+string(mode)+"/webhooks", m.WebhookHandler(func(merchant.Event) { s.delivered.Add(1) }))
		shops = append(shops, &payShop{Merchant: m, mode: mode})
	}
	return shops
}

// view is the gateway's record of a transaction, as an operator sees it.
func (s *payShops) view(t *testing.T, id string) payment.View {
	t.Helper()
	var v payment.View
	if err := s.admin.call(context.Background(), http.MethodGet, "/v1/operator/payments/"+id, nil, &v); err != nil {
		t.Fatalf("GET /v1/operator/payments/%s: %v", id, err)
	}
	return v
}

// requestLog records the page's requests as Chromium sends them.
type requestLog struct {
	mu   sync.Mutex
	reqs []*network.Request
}

func (l *requestLog) listen(ev any) {
	if e, ok := ev.(*network.EventRequestWillBeSent); ok {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.reqs = append(l.reqs, e.Request)
	}
}

// mark is the log's length, to look only at what came after.
func (l *requestLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// since returns the requests after mark whose URL contains sub.
func (l *requestLog) since(mark int, sub string) []*network.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*network.Request
	for _, r := range l.reqs[mark:] {
		if strings.Contains(r.URL, sub) {
			out = append(out, r)
		}
	}
	return out
}

// checkoutAddress is the page's address for S, with S's query values
// replaced by the ones given (a buyer editing the address bar).
func checkoutAddress(t *testing.T, base string, s merchant.Tagged, replace map[string]string) string {
	t.Helper()
	u, err := url.Parse(merchant.CheckoutURL(base, s))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, v := range replace {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// openCheckout navigates to the page and waits until Pay can be pressed.
// A MutationObserver then notes whether the card form is ever shown, so
// "never appeared" is checked over the whole visit, not at one instant.
func (b *browser) openCheckout(t *testing.T, address string) {
	t.Helper()
	b.do(t, "open the checkout page", chromedp.Navigate(address), chromedp.WaitEnabled(chromedp.CSS("#pay-button")))
	eval[bool](t, b, `(() => {
		window.cardShown = false;
		const seen = () => { const v = document.querySelector("#card-view"); if (v && !v.hidden) window.cardShown = true; };
		new MutationObserver(seen).observe(document.body, { attributes: true, childList: true, subtree: true });
		seen();
		return true;
	})()`)
}

func TestCheckoutPageInChromium(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	shops := startPayShops(t, nil)
	shop := shops.register(t, d, payment.Protected)[0]
	b := &browser{d: d, page: &pageLog{}}
	reqs := &requestLog{}
	b.ctx = testbrowser.Start(t, consoleTotal, []chromedp.ExecAllocatorOption{chromedp.WindowSize(900, 1100)},
		chromedp.WithListener(func(ev any) { b.page.listen(ev); reqs.listen(ev) }))
	s, err := shop.CreateOrder("ORD-PAGE-1", "haechi 머그컵 (mug)", 6900, 1, "KRW")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"ok/page shows the order as text", func(t *testing.T) {
			b.openCheckout(t, checkoutAddress(t, d.base, s, nil))
			for sel, want := range map[string]string{"#merchant-id": shop.ID, "#order-no": "ORD-PAGE-1",
				"#item-name": "haechi 머그컵 (mug)", "#quantity": "1", "#amount": "6,900 KRW"} {
				if got := b.text(t, sel); got != want {
					t.Errorf("%s = %q, want %q", sel, got, want)
				}
			}
			if !b.hidden(t, "#card-view") || !b.hidden(t, "#result-view") {
				t.Fatal("card form or result shown before the gateway answered")
			}
		}},
		{"ok/NORMAL, card, approved", func(t *testing.T) {
			mark := reqs.mark()
			b.do(t, "press Pay", chromedp.Click(chromedp.CSS("#pay-button")))
			b.waitText(t, "#code", "NORMAL")
			b.do(t, "wait for the card form", chromedp.WaitVisible(chromedp.CSS("#card-form")))
			for sel, ac := range map[string]string{"#pan": "cc-number", "#expiry": "cc-exp", "#cvv": "cc-csc"} {
				if got := eval[string](t, b, fmt.Sprintf(`document.querySelector(%s).autocomplete`, jsString(sel))); got != ac {
					t.Errorf("%s autocomplete = %q, want %q", sel, got, ac)
				}
			}
			b.do(t, "fill the card form",
				chromedp.SendKeys(chromedp.CSS("#pan"), "4111111111111111"),
				chromedp.SendKeys(chromedp.CSS("#expiry"), "12/30"),
				chromedp.SendKeys(chromedp.CSS("#cvv"), "123"),
				chromedp.Click(chromedp.CSS("#card-button")),
			)
			b.waitText(t, "#result-status", "approved")
			if got := b.text(t, "#card-masked"); got != "411111******1111" {
				t.Errorf("card shown as %q", got)
			}
			if got := b.text(t, "#paid-amount"); !strings.Contains(got, "6,900") {
				t.Errorf("charged amount shown as %q", got)
			}
			if eval[string](t, b, `["#pan", "#expiry", "#cvv"].map(s => document.querySelector(s).value).join("")`) != "" ||
				eval[bool](t, b, `document.documentElement.outerHTML.includes("4111111111111111")`) {
				t.Fatal("card data left in the page after it was sent")
			}
			if !b.hidden(t, "#card-view") {
				t.Fatal("card form still shown after the result")
			}
			// The gateway agrees with the page: approved for the
			// merchant's amount.
			p := shops.view(t, b.text(t, "#transaction-id"))
			if p.Status != payment.StatusApproved || p.Amount != 6900 || p.Card != "411111******1111" {
				t.Fatalf("gateway has %s %d %s", p.Status, p.Amount, p.Card)
			}
			checkPageRequests(t, reqs.since(mark, "/v1/checkout/transactions"), 2)
		}},
		{"ok/screenshot of the result", func(t *testing.T) {
			path := os.Getenv("HAECHI_TEST_CHECKOUT_SCREENSHOT")
			if path == "" {
				t.Skip("set HAECHI_TEST_CHECKOUT_SCREENSHOT=/tmp/checkout.png to save one")
			}
			ctx, cancel := context.WithTimeout(b.ctx, consoleStep)
			defer cancel()
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, png, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"ok/paid order: the problem is shown", func(t *testing.T) {
			b.openCheckout(t, checkoutAddress(t, d.base, s, nil))
			b.do(t, "press Pay", chromedp.Click(chromedp.CSS("#pay-button")))
			b.do(t, "wait for the error", chromedp.WaitVisible(chromedp.CSS("#error")))
			b.waitText(t, "#error", "order_already_paid")
			if eval[bool](t, b, `window.cardShown`) {
				t.Fatal("card form shown for a paid order")
			}
		}},
		{"ok/tampered amount is ABNORMAL and no card is asked for", func(t *testing.T) {
			s2, err := shop.CreateOrder("ORD-PAGE-2", "haechi mug", 6900, 1, "KRW")
			if err != nil {
				t.Fatal(err)
			}
			mark := reqs.mark()
			b.openCheckout(t, checkoutAddress(t, d.base, s2, map[string]string{"amount": "1000"}))
			if got := b.text(t, "#amount"); got != "1,000 KRW" {
				t.Fatalf("page shows %q; the tampered address should show 1,000", got)
			}
			b.do(t, "press Pay", chromedp.Click(chromedp.CSS("#pay-button")))
			b.waitText(t, "#code", "ABNORMAL")
			b.waitText(t, "#reason", "[amount]")
			if eval[bool](t, b, `window.cardShown || document.querySelector("#card-view") !== null`) {
				t.Fatal("the card form appeared (or stays in the page) for an ABNORMAL transaction")
			}
			if got := reqs.since(mark, "/authorize"); len(got) != 0 {
				t.Fatalf("the page sent %d authorize requests for an ABNORMAL transaction", len(got))
			}
			p := shops.view(t, b.text(t, "#transaction-id"))
			if p.Code != payment.Abnormal || p.Reason != payinfo.ReasonAmount || p.Status != payment.StatusAbnormal || p.Card != "" {
				t.Fatalf("gateway has %s (%s), card %q", p.Code, p.Reason, p.Card)
			}
			checkPageRequests(t, reqs.since(mark, "/v1/checkout/transactions"), 1)
		}},
		{"ok/no CSP violations or exceptions", func(t *testing.T) {
			for _, sub := range []string{"Content Security Policy", "exception:"} {
				if bad := b.page.matching(sub); len(bad) > 0 {
					t.Fatalf("page logged %q:\n%s", sub, strings.Join(bad, "\n"))
				}
			}
		}},
		{"ok/CSP watcher sees a violation", func(t *testing.T) {
			// An inline script is what the policy exists to stop; if the
			// listener missed its refusal, the check above proves nothing.
			eval[bool](t, b, `(() => { const s = document.createElement("script"); s.textContent = "window.injected = 1"; document.body.appendChild(s); return true; })()`)
			deadline := time.Now().Add(5 * time.Second)
			for len(b.page.matching("Content Security Policy")) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("a deliberate CSP violation was not seen in the page log")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if eval[bool](t, b, `window.injected === 1`) {
				t.Fatal("an inline script ran under the page's policy")
			}
		}},
	}
	for _, st := range steps {
		if !t.Run(st.name, st.run) {
			t.FailNow()
		}
	}
}

// checkPageRequests: the page sent want API calls, each a POST with its
// own Idempotency-Key and no Referer (the address carries the order).
func checkPageRequests(t *testing.T, reqs []*network.Request, want int) {
	t.Helper()
	if len(reqs) != want {
		t.Fatalf("page sent %d API requests, want %d", len(reqs), want)
	}
	keys := map[string]bool{}
	for _, r := range reqs {
		key, _ := r.Headers["Idempotency-Key"].(string)
		if r.Method != "POST" || len(key) < 16 || keys[key] {
			t.Errorf("%s %s with Idempotency-Key %q", r.Method, r.URL, key)
		}
		keys[key] = true
		// DevTools lists an empty Referer for a request that sends none.
		if r.ReferrerPolicy != network.RequestReferrerPolicyNoReferrer {
			t.Errorf("%s under referrer policy %q", r.URL, r.ReferrerPolicy)
		}
		for h, v := range r.Headers {
			if strings.EqualFold(h, "Referer") && v != "" {
				t.Errorf("%s sent Referer %v", r.URL, v)
			}
		}
	}
}
