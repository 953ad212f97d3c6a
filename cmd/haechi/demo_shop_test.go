package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/testbrowser"
	"github.com/haechi/haechi/sdk/checkout"
	"github.com/haechi/haechi/sdk/merchant"
)

// startDemoAt is startDemo on a fixed address, so that a second start on
// the same data dir is the same server to the shop's registered URLs.
func startDemoAt(t *testing.T, dataDir, addr string) *demoServer {
	t.Helper()
	cheapHashes(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--addr", addr, "--data-dir", dataDir}, pw, io.Discard)
		pw.Close()
	}()
	d := &demoServer{dataDir: dataDir}
	d.readBanner(t, bufio.NewScanner(pr))
	go io.Copy(io.Discard, pr)
	d.stop = func() error { cancel(); return <-done }
	t.Cleanup(func() { cancel() })
	return d
}

// freeAddr is a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// shopOrder is the shop's answer to "Buy".
type shopOrder struct {
	OrderNo     string `json:"order_no"`
	CheckoutURL string `json:"checkout_url"`
}

func buyAtShop(t *testing.T, base, item string) shopOrder {
	t.Helper()
	res, err := http.Post(base+"/demo-shop/orders", "application/json", strings.NewReader(`{"item":"`+item+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var o shopOrder
	if err := json.NewDecoder(res.Body).Decode(&o); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /demo-shop/orders = %d (%v)", res.StatusCode, err)
	}
	return o
}

// payAtCheckout is what the checkout page does with the shop's address:
// S from its query through the real gateway (sdk/checkout), then the
// card. It returns the transaction id and the page's return_url.
func payAtCheckout(t *testing.T, base string, o shopOrder, pan string) (string, string) {
	t.Helper()
	u, err := url.Parse(o.CheckoutURL)
	if err != nil || u.Path != "/checkout" || u.Host != "" {
		t.Fatalf("checkout URL %q is not this server's checkout page", o.CheckoutURL)
	}
	q := u.Query()
	amount, _ := strconv.ParseInt(q.Get("amount"), 10, 64)
	quantity, _ := strconv.ParseInt(q.Get("quantity"), 10, 64)
	s := merchant.Tagged{Info: merchant.Info{MerchantID: q.Get("merchant_id"), OrderNo: q.Get("order_no"),
		ItemName: q.Get("item_name"), Amount: amount, Quantity: quantity, Currency: q.Get("currency")}, TID: q.Get("tid")}
	if s.OrderNo != o.OrderNo {
		t.Fatalf("checkout URL is for order %q, not %q", s.OrderNo, o.OrderNo)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	buyer := &checkout.Client{Gateway: base}
	tx, err := buyer.Start(ctx, s)
	if err != nil || tx.Code != checkout.CodeNormal {
		t.Fatalf("checkout: %v %+v", err, tx)
	}
	p, err := buyer.Pay(ctx, tx, checkout.Card{PAN: pan, Expiry: futureExpiry(time.Now()), CVV: "123"})
	if err != nil {
		t.Fatalf("pay: %v", err)
	}
	if pan == cardnet.CardApproved && p.Status != merchant.StatusApproved {
		t.Fatalf("payment %s, want approved", p.Status)
	}
	return tx.ID, q.Get("return_url")
}

// returnTo follows the page's way back as its link would (return_url
// with transaction_id set) and returns the shop's outcome and page.
func returnTo(t *testing.T, base, returnURL, txID string) (string, string) {
	t.Helper()
	u, err := url.Parse(returnURL)
	if err != nil || u.Host != "" || u.Path != "/demo-shop/return" {
		t.Fatalf("return_url %q is not the shop's return page", returnURL)
	}
	q := u.Query()
	q.Set("transaction_id", txID)
	u.RawQuery = q.Encode()
	res, err := http.Get(base + u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET %s = %d, CSP %q", u, res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	const attr = `data-outcome="`
	i := bytes.Index(body, []byte(attr))
	if i < 0 {
		t.Fatalf("return page has no outcome:\n%s", body)
	}
	rest := body[i+len(attr):]
	return string(rest[:bytes.IndexByte(rest, '"')]), string(body)
}

func readShop(t *testing.T, dir string) *webShopCreds {
	t.Helper()
	path := filepath.Join(dir, "demo.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("demo.json mode %v", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d demoData
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d.Shop
}

// TestDemoShopPaysAndConfirms: the shop sells, the buyer pays through the
// real gateway, the shop confirms on return; what is not an approved
// payment of that order is refused.
func TestDemoShopPaysAndConfirms(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir) // port 0: the shop registers at its first request

	t.Run("ok/page and assets under the strict policy", func(t *testing.T) {
		for _, p := range []string{"/demo-shop/", "/demo-shop/shop.js", "/demo-shop/shop.css"} {
			res, err := http.Get(d.base + p)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Fatalf("GET %s = %d, CSP %q", p, res.StatusCode, res.Header.Get("Content-Security-Policy"))
			}
		}
	})
	t.Run("error/orders refuse what is not an item", func(t *testing.T) {
		for body, ctype := range map[string]string{`{"item":"car"}`: "application/json", `{"item":"cake","x":1}`: "application/json",
			`item=cake`: "application/x-www-form-urlencoded"} {
			res, err := http.Post(d.base+"/demo-shop/orders", ctype, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode < 400 || res.StatusCode >= 500 {
				t.Errorf("POST %s (%s) = %d", body, ctype, res.StatusCode)
			}
		}
	})

	var confirmedTx string
	var cake shopOrder
	t.Run("ok/buy, pay, return: confirmed", func(t *testing.T) {
		cake = buyAtShop(t, d.base, "cake")
		other := buyAtShop(t, d.base, "cake")
		if other.OrderNo == cake.OrderNo {
			t.Fatal("two orders share an order number")
		}
		tx, back := payAtCheckout(t, d.base, cake, cardnet.CardApproved)
		if outcome, page := returnTo(t, d.base, back, tx); outcome != "confirmed" || !strings.Contains(page, "6900 KRW") {
			t.Fatalf("outcome %q:\n%s", outcome, page)
		}
		// Returning again (a reload) confirms nothing new and still says so.
		if outcome, _ := returnTo(t, d.base, back, tx); outcome != "confirmed" {
			t.Fatalf("reload: %q", outcome)
		}
		confirmedTx = tx
	})
	t.Run("error/another order's payment is refused", func(t *testing.T) {
		o := buyAtShop(t, d.base, "cookies")
		_, back := payAtCheckout(t, d.base, o, cardnet.CardApproved)
		if outcome, page := returnTo(t, d.base, back, confirmedTx); outcome != "refused" || !strings.Contains(page, "order_no") {
			t.Fatalf("outcome %q:\n%s", outcome, page)
		}
	})
	t.Run("error/declined card is refused", func(t *testing.T) {
		o := buyAtShop(t, d.base, "cookies")
		tx, back := payAtCheckout(t, d.base, o, cardnet.CardDeclined)
		if outcome, page := returnTo(t, d.base, back, tx); outcome != "refused" || !strings.Contains(page, "not approved") {
			t.Fatalf("outcome %q:\n%s", outcome, page)
		}
	})
	t.Run("error/unknown order and forged id are refused", func(t *testing.T) {
		if outcome, _ := returnTo(t, d.base, "/demo-shop/return?order_no=demo-nope", confirmedTx); outcome != "refused" {
			t.Fatalf("unknown order: %q", outcome)
		}
		if outcome, _ := returnTo(t, d.base, "/demo-shop/return?order_no="+cake.OrderNo, "<script>"); outcome != "refused" {
			t.Fatalf("forged id: %q", outcome)
		}
	})
	t.Run("ok/webhooks reach the shop's list", func(t *testing.T) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var out struct {
				Events []webShopEvent `json:"events"`
			}
			res, err := http.Get(d.base + "/demo-shop/events")
			if err != nil {
				t.Fatal(err)
			}
			err = json.NewDecoder(res.Body).Decode(&out)
			res.Body.Close()
			if err != nil || len(out.Events) > webShopEvents {
				t.Fatalf("events: %v, %d", err, len(out.Events))
			}
			for _, e := range out.Events {
				if e.Type == "payment.confirmed" && e.TransactionID == confirmedTx {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no payment.confirmed webhook for %s in %+v", confirmedTx, out.Events)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if shop := readShop(t, dir); shop == nil || shop.Server != d.base || shop.MerchantID == "" {
		t.Fatalf("demo.json shop = %+v, want one registered for %s", shop, d.base)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestDemoShopSurvivesRestart: the shop's credentials live in demo.json,
// so a second start on the same data dir is the same merchant and still
// confirms; a data dir from before the shop gets one at its next start.
func TestDemoShopSurvivesRestart(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	d := startDemoAt(t, dir, addr)
	first := readShop(t, dir)
	if first == nil || first.Server != d.base || first.APIKey == "" || first.TIDKey == "" || first.WebhookSecret == "" {
		t.Fatalf("first start: shop %+v for %s", first, d.base)
	}
	tx, back := payAtCheckout(t, d.base, buyAtShop(t, d.base, "cake"), cardnet.CardApproved)
	if outcome, _ := returnTo(t, d.base, back, tx); outcome != "confirmed" {
		t.Fatalf("first start: %q", outcome)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}

	d = startDemoAt(t, dir, addr)
	if again := readShop(t, dir); *again != *first {
		t.Fatalf("restart re-registered the shop: %s → %s", first.MerchantID, again.MerchantID)
	}
	tx, back = payAtCheckout(t, d.base, buyAtShop(t, d.base, "cookies"), cardnet.CardApproved)
	if outcome, _ := returnTo(t, d.base, back, tx); outcome != "confirmed" {
		t.Fatalf("after restart: %q", outcome)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}

	// An older data dir: demo.json without "shop".
	path := filepath.Join(dir, "demo.json")
	var raw map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	delete(raw, "shop")
	b, _ = json.Marshal(raw)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDemoAt(t, dir, addr)
	added := readShop(t, dir)
	if added == nil || added.MerchantID == first.MerchantID || added.Server != d.base {
		t.Fatalf("older data dir: shop %+v", added)
	}
	tx, back = payAtCheckout(t, d.base, buyAtShop(t, d.base, "cake"), cardnet.CardApproved)
	if outcome, _ := returnTo(t, d.base, back, tx); outcome != "confirmed" {
		t.Fatalf("older data dir: %q", outcome)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestDemoShopInChromium clicks through as a newcomer would: shop → Buy →
// checkout → card → back to the shop → confirmed.
func TestDemoShopInChromium(t *testing.T) {
	d := startDemo(t, t.TempDir())
	b := &browser{d: d, page: &pageLog{}}
	b.ctx = testbrowser.Start(t, consoleTotal, []chromedp.ExecAllocatorOption{chromedp.WindowSize(900, 1100)},
		chromedp.WithListener(b.page.listen))
	b.do(t, "open the shop and buy the cake",
		chromedp.Navigate(d.base+"/demo-shop/"),
		chromedp.WaitVisible(chromedp.CSS("#buy-cake")),
		chromedp.Click(chromedp.CSS("#buy-cake")),
		chromedp.WaitEnabled(chromedp.CSS("#pay-button")),
		chromedp.Click(chromedp.CSS("#pay-button")),
		chromedp.WaitVisible(chromedp.CSS("#card-form")),
		chromedp.SendKeys(chromedp.CSS("#pan"), "4111 1111 1111 1111"),
		chromedp.SendKeys(chromedp.CSS("#expiry"), futureExpiry(time.Now())),
		chromedp.SendKeys(chromedp.CSS("#cvv"), "123"),
		chromedp.Click(chromedp.CSS("#card-button")),
		chromedp.WaitVisible(chromedp.CSS("#return-link")),
		chromedp.Click(chromedp.CSS("#return-link")),
		chromedp.WaitVisible(chromedp.CSS("#outcome")),
	)
	b.waitText(t, "#outcome", "confirmed")
	for _, sub := range []string{"Content Security Policy", "exception:"} {
		if bad := b.page.matching(sub); len(bad) > 0 {
			t.Fatalf("page logged %q:\n%s", sub, strings.Join(bad, "\n"))
		}
	}
}
