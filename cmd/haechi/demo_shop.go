package main

// The demo shop is a DEMO-ONLY merchant played by the server itself, so
// that a newcomer who runs `serve --demo` can click through a payment in
// the browser: /demo-shop/ lists two items, "Buy" creates an order with
// the merchant SDK (sdk/merchant) and sends the buyer to the gateway's
// checkout page, whose "back to the shop" link leads to /demo-shop/return,
// where the shop confirms the payment server to server. The shop answers
// the gateway's order lookups and webhooks under /demo-shop/ too. A real
// merchant runs all of this on its own server; nothing of it exists
// without --demo, and it sits outside the API's route table (and so
// outside the OpenAPI document).

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/haechi/haechi/internal/checkout"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/webhook"
	"github.com/haechi/haechi/sdk/merchant"
)

//go:embed demoshop
var webShopFiles embed.FS

// Where the shop lives, and what it keeps in memory.
const (
	webShopPrefix  = "/demo-shop/"
	webShopName    = "Demo Shop"
	webShopEvents  = 20      // webhooks shown on the page
	webShopMaxBody = 1 << 10 // an order request is {"item":"cake"}
	// webShopMaxOrders bounds the in-memory orders: a demo shop nobody
	// restarts must not grow without end.
	webShopMaxOrders = 10_000
)

// webShopItem is one thing the shop sells; amount is the order's total.
type webShopItem struct {
	name     string
	amount   int64
	quantity int64
}

var webShopCatalogue = map[string]webShopItem{
	"cake":    {"케이크 Cake", 6_900, 1},
	"cookies": {"쿠키 Cookies", 3_000, 2},
}

// webShopCreds is demo.json's "shop": what registration showed once, and
// the server address its lookup and webhook URLs name.
type webShopCreds struct {
	Server        string `json:"server"`
	MerchantID    string `json:"merchant_id"`
	APIKey        string `json:"api_key"`
	TIDKey        string `json:"tid_key"`
	WebhookSecret string `json:"webhook_secret"`
}

// registerWebShop registers the demo shop as a protected merchant whose
// lookup and webhook URLs are this server's /demo-shop/ at base. An
// unknown base (port 0, chosen at listen time) registers nothing yet: the
// shop does so at its first request.
func registerWebShop(ctx context.Context, a *app, base string) (*webShopCreds, error) {
	if base == "" {
		return nil, nil
	}
	hooks := &webhook.Service{Store: a.db, Ring: a.ring, Now: a.now, AllowHTTP: a.webhookLocal()}
	cr, err := a.gateway(hooks, slog.Default()).RegisterMerchant(ctx, "demo", payment.NewMerchant{
		Name: webShopName, LookupURL: base + webShopPrefix + "lookup", WebhookURL: base + webShopPrefix + "webhooks",
		Mode: payment.Protected})
	if err != nil {
		return nil, fmt.Errorf("registering the demo shop: %w", err)
	}
	return &webShopCreds{Server: base, MerchantID: cr.Merchant.ID, APIKey: cr.APIKey, TIDKey: cr.TIDKey,
		WebhookSecret: cr.WebhookSecret}, nil
}

// ensureWebShop returns the shop of demo.json, registering one first when
// the file has none (a data dir from before the shop) or one whose URLs
// name another address (the gateway could not reach it there).
func ensureWebShop(ctx context.Context, a *app, base string) error {
	_, err := webShopAt(ctx, a, base)
	return err
}

func webShopAt(ctx context.Context, a *app, base string) (*webShopCreds, error) {
	if base == "" {
		return nil, nil
	}
	path := filepath.Join(a.cfg.DataDir, "demo.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read demo data: %w", err)
	}
	var d demoData
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s is not valid demo data: %w", path, err)
	}
	if d.Shop != nil && d.Shop.Server == base {
		return d.Shop, nil
	}
	if d.Shop, err = registerWebShop(ctx, a, base); err != nil {
		return nil, err
	}
	if _, err := writeDemoData(a.cfg.DataDir, &d); err != nil {
		return nil, err
	}
	return d.Shop, nil
}

// serverBase is the URL of a listening address, 127.0.0.1 for an
// unspecified host (as demoServerURL).
func serverBase(addr string, tls bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return map[bool]string{false: "http", true: "https"}[tls] + "://" + net.JoinHostPort(host, port)
}

// printWebShop names the shop in serve's banner (demo only).
func (a *app) printWebShop(out io.Writer, addr net.Addr) {
	if !a.cfg.Demo || a.payments == nil {
		return
	}
	fmt.Fprintf(out, "demo shop (a demo-only merchant played by this server): %s%s\n",
		serverBase(addr.String(), a.cfg.TLS()), webShopPrefix)
}

// withWebShop serves the demo shop under /demo-shop/ in front of api;
// without --demo, or without the gateway, it is api alone.
func (a *app) withWebShop(api http.Handler, log *slog.Logger) http.Handler {
	if !a.cfg.Demo || a.payments == nil {
		return api
	}
	s := &webShop{a: a, log: log, orders: merchant.NewMemoryOrders()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /demo-shop/{$}", s.asset("index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /demo-shop/shop.js", s.asset("shop.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /demo-shop/shop.css", s.asset("shop.css", "text/css; charset=utf-8"))
	mux.HandleFunc("POST /demo-shop/orders", s.order)
	mux.HandleFunc("GET /demo-shop/return", s.confirm)
	mux.HandleFunc("GET /demo-shop/events", s.events)
	mux.HandleFunc("POST /demo-shop/lookup", s.lookup)
	mux.HandleFunc("POST /demo-shop/webhooks", s.webhook)
	mux.Handle("GET /demo-shop", http.RedirectHandler(webShopPrefix, http.StatusFound))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/demo-shop" || strings.HasPrefix(r.URL.Path, webShopPrefix) {
			mux.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// webShop is the shop's server side. Its merchant is loaded (or
// registered) at the first request, when the server's address is known.
type webShop struct {
	a      *app
	log    *slog.Logger
	orders *merchant.MemoryOrders // lost on restart: a demo

	mu       sync.Mutex
	m        *merchant.Merchant
	hooks    http.Handler
	count    int            // orders created
	received []webShopEvent // newest last, at most webShopEvents
}

// webShopEvent is one webhook as the page shows it: no card, no secret.
type webShopEvent struct {
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	TransactionID string    `json:"transaction_id"`
	OrderNo       string    `json:"order_no"`
	Status        string    `json:"status"`
	Amount        int64     `json:"amount"`
	ReceivedAt    time.Time `json:"received_at"`
}

// merchant is the shop's merchant, set up at the first call. The address
// is the configured one, or for port 0 the one this request reached.
func (s *webShop) merchant(r *http.Request) (*merchant.Merchant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m != nil {
		return s.m, nil
	}
	base := demoServerURL(s.a.cfg)
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && base == "" {
		base = serverBase(addr.String(), s.a.cfg.TLS())
	}
	creds, err := webShopAt(r.Context(), s.a, base)
	if err != nil || creds == nil {
		return nil, errors.Join(errors.New("demo shop unavailable"), err)
	}
	m, err := merchant.New(creds.MerchantID, creds.TIDKey, base, creds.APIKey, creds.WebhookSecret)
	if err != nil {
		return nil, err
	}
	m.Orders = s.orders
	s.m, s.hooks = m, m.WebhookHandler(s.record)
	return m, nil
}

// unavailable answers when the shop could not be set up.
func (s *webShop) unavailable(w http.ResponseWriter, err error) {
	s.log.Error("demo shop", "err", err)
	shopJSON(w, http.StatusServiceUnavailable, map[string]string{"code": "demo_shop_unavailable"})
}

func (s *webShop) asset(name, typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := webShopFiles.ReadFile("demoshop/" + name)
		if err != nil { // cannot happen: embedded
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		shopHeaders(w, typ)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	}
}

// order is POST /demo-shop/orders {"item":"cake"}: a fresh order (steps
// 1–3) and the checkout address to send the buyer to, with the way back.
func (s *webShop) order(w http.ResponseWriter, r *http.Request) {
	// A JSON content type keeps other sites' plain forms out: a
	// cross-origin fetch with it needs a preflight this shop never grants.
	if r.Header.Get("Content-Type") != "application/json" {
		shopJSON(w, http.StatusUnsupportedMediaType, map[string]string{"code": "want_json"})
		return
	}
	var req struct {
		Item string `json:"item"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, webShopMaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		shopJSON(w, http.StatusBadRequest, map[string]string{"code": "invalid_request"})
		return
	}
	item, ok := webShopCatalogue[req.Item]
	if !ok {
		shopJSON(w, http.StatusBadRequest, map[string]string{"code": "unknown_item"})
		return
	}
	m, err := s.merchant(r)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	if !s.take() {
		shopJSON(w, http.StatusServiceUnavailable, map[string]string{"code": "demo_shop_full"})
		return
	}
	orderNo := "demo-" + crypto.RandomBase32(10)
	tagged, err := m.CreateOrderContext(r.Context(), orderNo, item.name, item.amount, item.quantity, "KRW")
	if err != nil {
		s.unavailable(w, err)
		return
	}
	back := webShopPrefix + "return?" + url.Values{"order_no": {orderNo}}.Encode()
	shopJSON(w, http.StatusCreated, map[string]any{
		"order_no":     orderNo,
		"item_name":    item.name,
		"amount":       item.amount,
		"quantity":     item.quantity,
		"checkout_url": merchant.CheckoutURL("", tagged) + "&return_url=" + url.QueryEscape(back),
	})
}

// take counts one more order, false past the limit.
func (s *webShop) take() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count >= webShopMaxOrders {
		return false
	}
	s.count++
	return true
}

// returnPage is the page /demo-shop/return shows; html/template escapes
// every value, and the page has no script.
var returnPage = template.Must(template.New("return").Parse(`<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo Shop · 주문 결과</title>
<link rel="stylesheet" href="/demo-shop/shop.css">
</head>
<body>
<header><h1>Demo Shop <small>demo-only merchant · 데모 가맹점</small></h1></header>
<main>
  <section>
    <h2>Your order · 주문 결과</h2>
    <p id="outcome" data-outcome="{{.Outcome}}" class="{{if eq .Outcome "confirmed"}}ok{{else}}bad{{end}}">{{.Headline}}</p>
    <p id="detail">{{.Detail}}</p>
    <dl>
      <dt>Order no. · 주문번호</dt><dd id="order-no">{{.OrderNo}}</dd>
      <dt>Transaction · 거래번호</dt><dd id="transaction-id">{{.TransactionID}}</dd>
      {{if .Amount}}<dt>Paid · 결제금액</dt><dd id="amount">{{.Amount}} KRW</dd>{{end}}
    </dl>
    <p><a href="/demo-shop/">Back to the shop · 상점으로</a></p>
  </section>
</main>
</body>
</html>
`))

type returnView struct {
	Outcome, Headline, Detail string
	OrderNo, TransactionID    string
	Amount                    string
}

// confirm is GET /demo-shop/return?order_no=…&transaction_id=…: the shop
// confirms the payment with the gateway (steps 16–19) — never trusting the
// address, which anybody can edit — and shows what came of it.
func (s *webShop) confirm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := returnView{OrderNo: q.Get("order_no"), TransactionID: q.Get("transaction_id"), Outcome: "refused"}
	m, err := s.merchant(r)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	p, err := m.Confirm(r.Context(), v.TransactionID, v.OrderNo)
	if err == nil {
		v.Outcome, v.Headline = "confirmed", "confirmed · 결제 확정"
		v.Detail = "The shop checked the payment with the gateway and confirmed it. · 상점이 결제를 확인하고 확정했습니다."
		v.Amount = strconv.FormatInt(p.Amount, 10)
	} else {
		v.Headline = "refused · 결제 확정 거절"
		v.Detail = refusal(err)
	}
	var buf bytes.Buffer
	if err := returnPage.Execute(&buf, v); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	shopHeaders(w, "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// refusal says why Confirm refused, in the buyer's words.
func refusal(err error) string {
	var mm *merchant.MismatchError
	switch {
	case errors.As(err, &mm):
		return "The payment does not match the order (" + mm.Field + "); it was not accepted. · 결제가 주문과 달라 받지 않았습니다."
	case errors.Is(err, merchant.ErrOrderNotFound):
		return "The shop does not know this order; its orders live in memory and are lost when the server restarts. · 상점에 없는 주문입니다(서버를 다시 시작하면 주문이 사라집니다)."
	case errors.Is(err, merchant.ErrNotApproved):
		return "The payment is not approved. · 승인되지 않은 결제입니다."
	case errors.Is(err, merchant.ErrOrderPaid):
		return "The order was already paid by another payment. · 이미 다른 결제로 결제된 주문입니다."
	case errors.Is(err, merchant.ErrInvalid):
		return "The address names no valid payment. · 주소에 올바른 결제가 없습니다."
	}
	if code := merchant.CodeOf(err); code != "" {
		return "The gateway refused: " + code + " · 게이트웨이가 거절했습니다."
	}
	return "The gateway could not be reached; try again. · 게이트웨이에 연결하지 못했습니다."
}

// lookup is the gateway's order lookup (steps 7–8), the SDK's handler.
func (s *webShop) lookup(w http.ResponseWriter, r *http.Request) {
	m, err := s.merchant(r)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	m.LookupHandler().ServeHTTP(w, r)
}

// webhook receives the gateway's webhooks through the SDK's handler.
func (s *webShop) webhook(w http.ResponseWriter, r *http.Request) {
	if _, err := s.merchant(r); err != nil {
		s.unavailable(w, err)
		return
	}
	s.mu.Lock()
	h := s.hooks
	s.mu.Unlock()
	h.ServeHTTP(w, r)
}

// record keeps the last webShopEvents webhooks for the page.
func (s *webShop) record(e merchant.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, webShopEvent{ID: e.ID, Type: e.Type, TransactionID: e.Transaction.ID,
		OrderNo: e.Transaction.OrderNo, Status: string(e.Transaction.Status), Amount: e.Transaction.Amount,
		ReceivedAt: s.a.now().UTC()})
	if n := len(s.received); n > webShopEvents {
		s.received = append([]webShopEvent(nil), s.received[n-webShopEvents:]...)
	}
}

// events is GET /demo-shop/events: the webhooks received, newest first.
func (s *webShop) events(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := make([]webShopEvent, 0, len(s.received))
	for i := len(s.received) - 1; i >= 0; i-- {
		out = append(out, s.received[i])
	}
	s.mu.Unlock()
	shopJSON(w, http.StatusOK, map[string]any{"events": out})
}

// shopHeaders are the checkout page's: the same strict policy.
func shopHeaders(w http.ResponseWriter, typ string) {
	h := w.Header()
	h.Set("Content-Security-Policy", checkout.CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", typ)
}

func shopJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	shopHeaders(w, "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
