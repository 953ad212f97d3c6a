package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/sdk/deviceapp"
	"github.com/haechi/haechi/sdk/checkout"
	"github.com/haechi/haechi/sdk/merchant"
)

// The payment-tamper demo reproduces Heo & Lee's experiment (table 1 of
// "Research on Secure Card-Payment System of Social Commerce", 2012): an
// intercepting proxy between the buyer's checkout client and the gateway
// rewrites one field of the payment information C on its way to the
// gateway — the amount 6,900 → 1,000 KRW, the quantity 2 → 1, the order
// number, the merchant id — once for a merchant in legacy mode (no
// server-to-server check: the paper's vulnerable baseline) and once for a
// protected merchant (the gateway looks the order up at the merchant and
// compares S with C).
//
// This process plays everyone but the gateway: the merchants' servers
// (sdk/merchant, on 127.0.0.1), the buyer's checkout client (sdk/checkout)
// and the attacker's proxy (net/http/httputil). Each run registers its
// merchants anew through the operator API, so it runs again on the same
// data.

// The order of the experiment: the paper's 6,900 KRW, here for two items.
const (
	tamperItem     = "social commerce coupon"
	tamperAmount   = 6_900
	tamperQuantity = 2
	tamperCheap    = 1_000 // what the attacker pays instead
	tamperCurrency = "KRW"
)

// tamperCard is the simulator's card that is always approved.
const tamperCard = cardnet.CardApproved

// Checkout routes as the proxy sees them.
const (
	checkoutPath  = "/v1/checkout/transactions"
	authorizeTail = "/authorize"
)

// tamperCase is one rewrite of C. to gives the forged value for an order
// of shop (its rival is the same mode's other merchant); want is the
// reason a protected gateway must give.
type tamperCase struct {
	field string
	to    func(s payinfo.Tagged, shop *demoShop) any
	want  payinfo.Reason
}

var tamperCases = []tamperCase{
	{"amount", func(payinfo.Tagged, *demoShop) any { return tamperCheap }, payinfo.ReasonAmount},
	{"quantity", func(payinfo.Tagged, *demoShop) any { return 1 }, payinfo.ReasonQuantity},
	{"order_no", func(s payinfo.Tagged, _ *demoShop) any { return s.OrderNo + "-X" }, payinfo.ReasonUnknownOrder},
	{"merchant_id", func(_ payinfo.Tagged, shop *demoShop) any { return shop.rival.ID }, payinfo.ReasonUnknownOrder},
}

// tamperRow is one line of the table: what happened to one checkout.
type tamperRow struct {
	Mode  payment.Mode
	Field string // the rewritten member of C; "" for the untampered payment
	Sent  string // "6,900 → 1,000" as it reached the gateway
	// TransactionID, Code and Reason are the gateway's answer to the checkout.
	TransactionID string
	Code          payment.Code
	Reason        payinfo.Reason
	// CardAsked: the checkout client sent card data (an authorize request
	// went through the proxy for this transaction).
	CardAsked bool
	Status    payment.Status // after the authorization, if any
	Charged   int64          // the amount the card network approved; 0 for none
	// Confirm is the merchant's server-to-server check.
	Confirm      string
	Confirmed    bool
	NetCancelled bool
}

// demoShop is one registered merchant and its server side.
type demoShop struct {
	*merchant.Merchant
	name  string
	mode  payment.Mode
	rival *demoShop // the same mode's other merchant
}

// tamperDemo holds the run's cast.
type tamperDemo struct {
	t       *demoTarget
	l       *demoLog
	run     string // tells this run's order numbers from earlier runs'
	admin   *adminSession
	shops   *shopServer
	proxy   *tamperProxy
	buyer   *checkout.Client
	modes   map[payment.Mode]*demoShop
	expiry  string
	results []tamperRow
}

func demoPaymentTamper(ctx context.Context, t *demoTarget, l *demoLog) error {
	_, err := paymentTamper(ctx, t, l)
	return err
}

// paymentTamper runs the experiment and returns its table.
func paymentTamper(ctx context.Context, t *demoTarget, l *demoLog) ([]tamperRow, error) {
	shops, err := startShopServer()
	if err != nil {
		return nil, err
	}
	defer shops.close()
	proxy, err := startTamperProxy(t.Server)
	if err != nil {
		return nil, err
	}
	defer proxy.close()
	d := &tamperDemo{t: t, l: l, run: crypto.RandomBase32(6), shops: shops, proxy: proxy,
		modes: map[payment.Mode]*demoShop{}, expiry: futureExpiry(time.Now())}
	d.buyer = &checkout.Client{Gateway: proxy.url}
	for _, step := range []func(context.Context) error{d.register, d.untampered, d.legacy, d.protected, d.table, d.webhooks} {
		if err := step(ctx); err != nil {
			return d.results, err
		}
	}
	return d.results, nil
}

// futureExpiry is a card expiry ("MM/YY") three years ahead.
func futureExpiry(now time.Time) string {
	return fmt.Sprintf("12/%02d", (now.Year()+3)%100)
}

// ---- step 1: merchants ----

// register has the admin register a shop and its rival in each mode.
func (d *tamperDemo) register(ctx context.Context) error {
	d.l.title("Merchants: a protected shop and a legacy shop, each with a rival of its own mode")
	d.l.note("this process plays the merchants' servers at %s (order lookup and webhooks, sdk/merchant)", d.shops.base)
	admin, err := d.t.adminSession(ctx)
	if err != nil {
		return d.l.fail("%s login: %v", demoAdmin, err)
	}
	d.admin = admin
	for _, mode := range []payment.Mode{payment.Protected, payment.Legacy} {
		shop, err := d.registerShop(ctx, string(mode)+"-shop", mode)
		if err != nil {
			return err
		}
		rival, err := d.registerShop(ctx, string(mode)+"-rival", mode)
		if err != nil {
			return err
		}
		shop.rival, rival.rival = rival, shop
		d.modes[mode] = shop
	}
	d.l.note("a rival is the target of the merchant-id rewrite: a merchant of the same mode, so each mode is judged on its own")
	return nil
}

// merchantCreated is the answer of POST /v1/operator/merchants.
type merchantCreated struct {
	Merchant      payment.Merchant `json:"merchant"`
	APIKey        string           `json:"api_key"`
	TIDKey        string           `json:"tid_key"`
	WebhookSecret string           `json:"webhook_secret"`
}

func (d *tamperDemo) registerShop(ctx context.Context, name string, mode payment.Mode) (*demoShop, error) {
	in := map[string]string{"name": "demo " + name + " " + d.run, "lookup_url": d.shops.url(name, "lookup"),
		"webhook_url": d.shops.url(name, "webhooks"), "mode": string(mode)}
	var out merchantCreated
	err := d.admin.call(ctx, http.MethodPost, "/v1/operator/merchants", in, &out)
	if err != nil {
		return nil, d.l.fail("POST /v1/operator/merchants %s (%s): %v", name, mode, err)
	}
	m, err := merchant.New(out.Merchant.ID, out.TIDKey, d.t.Server, out.APIKey, out.WebhookSecret)
	if err != nil {
		return nil, d.l.fail("merchant %s: %v", name, err)
	}
	m.HTTP = &http.Client{Timeout: 15 * time.Second}
	shop := &demoShop{Merchant: m, name: name, mode: mode}
	d.shops.serve(name, m)
	d.l.ok("POST /v1/operator/merchants (%s) → %s %s, mode %s; its API key, TID key and webhook secret are shown once and kept in memory",
		demoAdmin, name, m.ID, out.Merchant.Mode)
	return shop, nil
}

// ---- step 2–4: the checkouts ----

// untampered is the control: a protected payment nobody touches.
func (d *tamperDemo) untampered(ctx context.Context) error {
	d.l.title("Control: a protected payment of %s KRW that nobody rewrites", thousands(tamperAmount))
	row, err := d.pay(ctx, d.modes[payment.Protected], nil)
	if err != nil {
		return err
	}
	if row.Code != payment.Normal || row.Status != payment.StatusApproved || row.Charged != tamperAmount || !row.Confirmed {
		return d.l.fail("untampered: %s %s, charged %d, confirm %s; want NORMAL, approved %d and confirmed", row.Code, row.Status, row.Charged, row.Confirm, tamperAmount)
	}
	d.l.ok("NORMAL → card data sent → approved %s KRW → the merchant's Confirm checks code and amount server to server: confirmed", thousands(row.Charged))
	return nil
}

// legacy is the paper's vulnerable gateway.
func (d *tamperDemo) legacy(ctx context.Context) error {
	d.l.title("Legacy mode (the paper's vulnerable gateway: no server-to-server check)")
	for _, c := range tamperCases {
		row, err := d.pay(ctx, d.modes[payment.Legacy], &c)
		if err != nil {
			return err
		}
		if err := d.expectLegacy(row, c); err != nil {
			return err
		}
	}
	d.l.note("the gateway charged what the proxy wrote, as in the paper's table 1; only the merchant SDK's Confirm,")
	d.l.note("a second line of defence the paper's merchants lacked, refused each and had the gateway net-cancel it")
	return nil
}

// expectLegacy: NORMAL and approved for whatever C said; then the
// merchant's Confirm refuses and the payment is net-cancelled.
func (d *tamperDemo) expectLegacy(row tamperRow, c tamperCase) error {
	want := int64(tamperAmount)
	if c.field == "amount" {
		want = tamperCheap
	}
	if row.Code != payment.Normal || !row.CardAsked || row.Charged != want {
		return d.l.fail("legacy, %s rewritten: %s, card asked %v, charged %d; want NORMAL and approved %d", c.field, row.Code, row.CardAsked, row.Charged, want)
	}
	if c.field == "amount" {
		d.l.ok("VULNERABLE (the paper's result): the rewritten amount passed as NORMAL and %s KRW was approved for a %s KRW order", thousands(row.Charged), thousands(tamperAmount))
	} else {
		d.l.ok("VULNERABLE: %s rewritten (%s), still NORMAL and approved %s KRW", c.field, row.Sent, thousands(row.Charged))
	}
	if row.Confirmed || !row.NetCancelled {
		return d.l.fail("legacy, %s rewritten: the merchant's Confirm %s; want it refused and the payment net-cancelled", c.field, row.Confirm)
	}
	d.l.ok("the merchant's Confirm: %s", row.Confirm)
	return nil
}

// protected is the paper's protocol, with the keyed TID.
func (d *tamperDemo) protected(ctx context.Context) error {
	d.l.title("Protected mode (the gateway looks the order up at the merchant and compares S with C)")
	for _, c := range tamperCases {
		row, err := d.pay(ctx, d.modes[payment.Protected], &c)
		if err != nil {
			return err
		}
		if row.Code != payment.Abnormal || row.Reason != c.want || row.CardAsked || row.Charged != 0 {
			return d.l.fail("protected, %s rewritten: %s %s, card asked %v, charged %d; want ABNORMAL (%s) and no card data",
				c.field, row.Code, row.Reason, row.CardAsked, row.Charged, c.want)
		}
		d.l.ok("%s rewritten (%s) → ABNORMAL (%s); the proxy saw no authorize request: no card data was asked for", c.field, row.Sent, row.Reason)
	}
	return nil
}

// pay runs one checkout of a fresh order of shop through the proxy, with
// c's rewrite (nil: none), and what follows it: card data on NORMAL, the
// merchant's Confirm on approval.
func (d *tamperDemo) pay(ctx context.Context, shop *demoShop, c *tamperCase) (tamperRow, error) {
	row := tamperRow{Mode: shop.mode}
	orderNo := fmt.Sprintf("ORD-%s-%02d", d.run, len(d.results)+1)
	s, err := shop.CreateOrderContext(ctx, orderNo, tamperItem, tamperAmount, tamperQuantity, tamperCurrency)
	if err != nil {
		return row, d.l.fail("%s CreateOrder %s: %v", shop.name, orderNo, err)
	}
	rw := rewrite{}
	if c != nil {
		row.Field = c.field
		rw = rewrite{field: c.field, value: c.to(s, shop)}
	}
	mark := d.proxy.arm(rw)
	tx, err := d.buyer.Start(ctx, s)
	if err != nil {
		return row, d.l.fail("checkout of %s through the proxy: %v", orderNo, err)
	}
	row.Sent = strings.NewReplacer(shop.ID, shop.name, shop.rival.ID, shop.rival.name).Replace(d.proxy.rewritten(mark))
	row.TransactionID, row.Code, row.Reason, row.Status = tx.ID, payment.Code(tx.Code), payinfo.Reason(tx.Reason), payment.Status(tx.Status)
	if row.Code == payment.Normal {
		if err := d.authorize(ctx, &row, tx); err != nil {
			return row, err
		}
	}
	row.CardAsked = d.proxy.authorized(mark, row.TransactionID)
	if row.Status == payment.StatusApproved {
		d.confirm(ctx, shop, &row, orderNo)
	}
	d.results = append(d.results, row)
	return row, nil
}

// authorize sends the card for a NORMAL transaction, as the checkout
// client does only then.
func (d *tamperDemo) authorize(ctx context.Context, row *tamperRow, tx *checkout.Transaction) error {
	v, err := d.buyer.Pay(ctx, tx, checkout.Card{PAN: tamperCard, Expiry: d.expiry, CVV: "123"})
	if err != nil {
		return d.l.fail("card data for %s: %v", row.TransactionID, err)
	}
	row.Status = payment.Status(v.Status)
	if row.Status == payment.StatusApproved {
		row.Charged = v.Amount
	}
	return nil
}

// confirm is the merchant's server-to-server check. A payment made out to
// the rival is not the shop's to see; the rival, which never issued the
// order, net-cancels it.
func (d *tamperDemo) confirm(ctx context.Context, shop *demoShop, row *tamperRow, orderNo string) {
	p, err := shop.Confirm(ctx, row.TransactionID, orderNo)
	var mm *merchant.MismatchError
	switch {
	case err == nil:
		row.Confirmed = p.Status == merchant.StatusConfirmed
		row.Confirm = "confirmed"
	case errors.As(err, &mm):
		row.NetCancelled = mm.CancelErr == nil && (mm.Payment == nil || mm.Payment.Status == merchant.StatusNetCancelled)
		row.Confirm = "refused (" + mm.Field + " differs) → net-cancelled"
		if mm.CancelErr != nil {
			row.Confirm = "refused (" + mm.Field + " differs); net-cancel failed: " + mm.CancelErr.Error()
		}
	case merchant.CodeOf(err) == payment.ErrTransactionNotFound.Code:
		row.Confirm = "refused (not this shop's payment: paid to " + shop.rival.name + ")"
		v, cerr := shop.rival.NetCancel(ctx, row.TransactionID, "payment for an order this merchant never issued")
		if cerr == nil && v.Status == merchant.StatusNetCancelled {
			row.NetCancelled = true
			row.Confirm += " → the rival net-cancelled it"
		}
	default:
		row.Confirm = "error: " + err.Error()
	}
}

// ---- step 5: the table ----

// table prints the experiment as the paper's table 1.
func (d *tamperDemo) table(context.Context) error {
	d.l.title("The experiment (cf. Heo & Lee, table 1)")
	tw := tabwriter.NewWriter(d.l.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   mode\ttampered field\tsent → gateway\ttransaction code (reason)\tcard data requested?\tcharged\tmerchant Confirm")
	for _, r := range d.results {
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Mode, orDash(r.Field), orDash(r.Sent), codeReason(r),
			yesNo(r.CardAsked), charged(r.Charged), orDash(r.Confirm))
	}
	tw.Flush()
	auths := d.proxy.count(authorizeTail)
	d.l.note("the proxy forwarded %d requests: %d checkouts and %d authorizations (card data), none for an ABNORMAL transaction",
		d.proxy.count(""), d.proxy.count(checkoutPath)-auths, auths)
	return nil
}

func codeReason(r tamperRow) string {
	if r.Reason == "" {
		return string(r.Code)
	}
	return fmt.Sprintf("%s (%s)", r.Code, r.Reason)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func charged(n int64) string {
	if n == 0 {
		return "—"
	}
	return thousands(n) + " KRW"
}

// webhooks waits for the merchants' signed webhooks about the run's
// transactions: each merchant hears of its own, ABNORMAL ones included.
func (d *tamperDemo) webhooks(ctx context.Context) error {
	d.l.title("The merchants' webhooks")
	want := map[string][]string{}
	n := 0
	for _, r := range d.results {
		want[r.TransactionID] = expectedEvents(r)
		n += len(want[r.TransactionID])
	}
	d.l.note("waiting up to %s for the %d webhooks about the %d transactions (the dispatcher polls its outbox every %s)…", webhookWait, n, len(want), webhookEvery)
	deadline := time.Now().Add(webhookWait)
	for {
		missing, types := d.shops.missing(want)
		if missing == 0 {
			d.l.ok("all %d arrived at their merchant, each signature verified by sdk/merchant's WebhookHandler: %s", n, types)
			return nil
		}
		if time.Now().After(deadline) {
			return d.l.fail("%d of %d webhooks missing after %s", missing, n, webhookWait)
		}
		if err := sleepCtx(ctx, webhookPoll); err != nil {
			return err
		}
	}
}

// expectedEvents are the webhooks a row's transaction gives its merchant.
func expectedEvents(r tamperRow) []string {
	switch {
	case r.Code == payment.Abnormal:
		return []string{payment.EventAbnormal}
	case r.Confirmed:
		return []string{payment.EventApproved, payment.EventConfirmed}
	case r.NetCancelled:
		return []string{payment.EventApproved, payment.EventNetCancelled}
	}
	return nil
}

// ---- the merchants' server ----

// shopServer is the merchants' side on 127.0.0.1: /{name}/lookup and
// /{name}/webhooks of each merchant, mounted once it is registered (a
// request before answers 404, which the gateway retries for webhooks).
type shopServer struct {
	base string
	mux  *http.ServeMux
	srv  *http.Server

	mu     sync.Mutex
	events []merchant.Event // verified, first of each id
}

func startShopServer() (*shopServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("merchant server: %w", err)
	}
	s := &shopServer{base: "http://" + ln.Addr().String(), mux: http.NewServeMux()}
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *shopServer) url(name, what string) string { return s.base + "/" + name + "/" + what }

// serve mounts m's lookup and webhook endpoints under name.
func (s *shopServer) serve(name string, m *merchant.Merchant) {
	s.mux.Handle("POST /"+name+"/lookup", m.LookupHandler())
	s.mux.Handle("POST /"+name+"/webhooks", m.WebhookHandler(func(ev merchant.Event) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.events = append(s.events, ev)
	}))
}

// missing counts the webhooks of want (types by transaction id) not yet
// received, and names the types received ("payment.abnormal ×4, …").
func (s *shopServer) missing(want map[string][]string) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	got, count := map[string]bool{}, map[string]int{}
	var order []string
	for _, ev := range s.events {
		if _, ok := want[ev.Transaction.ID]; !ok || got[ev.Transaction.ID+" "+ev.Type] {
			continue
		}
		got[ev.Transaction.ID+" "+ev.Type] = true
		if count[ev.Type] == 0 {
			order = append(order, ev.Type)
		}
		count[ev.Type]++
	}
	missing := 0
	for id, types := range want {
		for _, t := range types {
			if !got[id+" "+t] {
				missing++
			}
		}
	}
	slices.Sort(order)
	parts := make([]string, len(order))
	for i, t := range order {
		parts[i] = fmt.Sprintf("%s ×%d", t, count[t])
	}
	return missing, strings.Join(parts, ", ")
}

func (s *shopServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// ---- the attacker's proxy ----

// rewrite is one forged member of C; the zero value changes nothing.
type rewrite struct {
	field string
	value any
}

// proxied is one request the proxy forwarded: its route and, for a
// checkout, the member it rewrote. Bodies are not kept: an authorize body
// holds card data.
type proxied struct {
	method, path string
	change       string // "amount 6,900 → 1,000"
}

// tamperProxy is the attacker between the checkout client and the
// gateway: it forwards everything and rewrites the armed member of each
// checkout body on the way, as the paper's web proxy did.
type tamperProxy struct {
	url string
	srv *http.Server
	rp  *httputil.ReverseProxy

	mu    sync.Mutex
	armed rewrite
	log   []proxied
}

func startTamperProxy(gateway string) (*tamperProxy, error) {
	target, err := url.Parse(gateway)
	if err != nil {
		return nil, fmt.Errorf("proxy: gateway URL: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &tamperProxy{url: "http://" + ln.Addr().String()}
	p.rp = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *tamperProxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.srv.Shutdown(ctx)
}

// arm sets the rewrite of the checkouts to come and returns the log
// position they start at.
func (p *tamperProxy) arm(rw rewrite) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = rw
	return len(p.log)
}

func (p *tamperProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	entry := proxied{method: r.Method, path: r.URL.Path}
	if r.Method == http.MethodPost && r.URL.Path == checkoutPath {
		body, change, err := p.tamper(r.Body)
		if err != nil {
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
			return
		}
		r.Body, r.ContentLength, entry.change = io.NopCloser(bytes.NewReader(body)), int64(len(body)), change
	}
	p.mu.Lock()
	p.log = append(p.log, entry)
	p.mu.Unlock()
	p.rp.ServeHTTP(w, r)
}

// tamper rewrites the armed member of a checkout body, keeping the rest
// (and the TID the client copied from S) as sent.
func (p *tamperProxy) tamper(body io.ReadCloser) ([]byte, string, error) {
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 64<<10))
	if err != nil {
		return nil, "", err
	}
	p.mu.Lock()
	rw := p.armed
	p.mu.Unlock()
	if rw.field == "" {
		return b, "", nil
	}
	var c map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, "", fmt.Errorf("checkout body is not a JSON object: %w", err)
	}
	change := fmt.Sprintf("%s %s → %s", rw.field, shown(c[rw.field]), shown(rw.value))
	c[rw.field] = rw.value
	out, err := json.Marshal(c)
	return out, change, err
}

// shown writes a member's value as the table shows it.
func shown(v any) string {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return thousands(n)
		}
		return x.String()
	case int:
		return thousands(int64(x))
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// rewritten is the change made to the checkout forwarded since mark.
func (p *tamperProxy) rewritten(mark int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.log[mark:] {
		if e.path == checkoutPath && e.change != "" {
			return e.change
		}
	}
	return ""
}

// authorized reports whether card data for id passed since mark.
func (p *tamperProxy) authorized(mark int, id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.log[mark:] {
		if e.path == checkoutPath+"/"+id+authorizeTail {
			return true
		}
	}
	return false
}

// count is how many forwarded requests had a path containing sub.
func (p *tamperProxy) count(sub string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.log {
		if strings.Contains(e.path, sub) {
			n++
		}
	}
	return n
}

// ---- the admin on the operator API ----

// adminSession is the demo admin on the operator API: the session cookie
// in a jar and the session's CSRF token on every write.
type adminSession struct {
	server string
	http   *http.Client
	csrf   string
}

// adminSession logs the demo admin in. A TOTP code already used (a demo
// run moments before) is refused as totp_reused; like a person, it waits
// for the next code once.
func (t *demoTarget) adminSession(ctx context.Context) (*adminSession, error) {
	u, ok := t.Operators[demoAdmin]
	if !ok {
		return nil, fmt.Errorf("demo.json has no operator %q", demoAdmin)
	}
	jar, _ := cookiejar.New(nil) // never fails with nil options
	s := &adminSession{server: t.Server, http: &http.Client{Jar: jar, Timeout: 15 * time.Second}}
	err := s.login(ctx, u)
	if deviceapp.CodeOf(err) == "totp_reused" {
		const step = 30 * time.Second
		if err := sleepCtx(ctx, step-time.Duration(time.Now().UnixNano())%step+100*time.Millisecond); err != nil {
			return nil, err
		}
		err = s.login(ctx, u)
	}
	return s, err
}

func (s *adminSession) login(ctx context.Context, u demoUser) error {
	code, err := totp.GenerateCode(u.TOTPSecret, time.Now())
	if err != nil {
		return errors.New("the TOTP secret in demo.json is not base32")
	}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if err := s.call(ctx, http.MethodPost, "/v1/operator/sessions", map[string]string{"username": u.Username, "password": u.Password, "code": code}, &out); err != nil {
		return err
	}
	s.csrf = out.CSRF
	return nil
}

// call sends in as JSON and decodes a 2xx answer into out; any other
// answer is a *deviceapp.Problem.
func (s *adminSession) call(ctx context.Context, method, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, s.server+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if s.csrf != "" {
		req.Header.Set("X-CSRF-Token", s.csrf)
	}
	res, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDelivery))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return deviceapp.DecodeProblem(res.StatusCode, res.Header, body)
	}
	return json.Unmarshal(body, out)
}
