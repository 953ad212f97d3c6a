package api_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/idempotency"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/webhook"
)

// Test cards of the simulator, and a CVV that appears nowhere else.
const (
	visaOK    = "4111111111111111"
	visaNo    = "4000000000000002"
	testCVV   = "9183"
	goodUntil = "12/30"
)

// withPayments wires the gateway as serve does: order lookups signed with
// the merchant's webhook secret (private addresses allowed, for the
// test's merchant servers on loopback), the card simulator, and the
// idempotency keys.
func withPayments(t *testing.T, allowLegacy bool, pay **payment.Service, card **cardnet.Simulator) func(*api.Server) {
	return func(s *api.Server) {
		t.Helper()
		db := s.Audit.(*sqlstore.DB)
		ring := s.Customers.Ring
		pepper := crypto.NewKeyMaterial().Pepper
		hooks := &webhook.Service{Store: db, Ring: ring, Now: s.Now, AllowHTTP: true}
		*card = cardnet.NewSimulator(s.Now)
		*pay = &payment.Service{
			Store: db, Ring: ring, Pepper: pepper,
			Lookup:  &payment.HTTPLookup{Client: webhook.NewClient(true), Secrets: hooks, Now: s.Now},
			Network: *card, Institutions: s.Institutions, Webhooks: hooks,
			AllowLegacy: allowLegacy, Now: s.Now,
		}
		s.Payments = *pay
		s.Idempotency = &idempotency.Service{Store: db, Ring: ring, Pepper: pepper, Now: s.Now}
	}
}

// payEnv is a server with the gateway and an admin session. Every answer
// of a payment route is kept, to show no card data ever leaves.
type payEnv struct {
	*env
	pay     *payment.Service
	card    *cardnet.Simulator
	admin   session
	answers [][]byte
	keys    atomic.Int64
}

func newPayEnv(t *testing.T, allowLegacy bool) *payEnv {
	t.Helper()
	p := &payEnv{}
	p.env = newEnv(t, withPayments(t, allowLegacy, &p.pay, &p.card))
	p.admin = p.login(p.newOperator("kim.admin", operator.RoleAdmin))
	return p
}

// do sends r and keeps the answer.
func (p *payEnv) do(r *http.Request) response {
	p.t.Helper()
	res := p.send(r)
	p.answers = append(p.answers, res.body)
	return res
}

// idemKey is a fresh Idempotency-Key.
func (p *payEnv) idemKey() string {
	return fmt.Sprintf("test-key-%012d", p.keys.Add(1))
}

func withIdem(r *http.Request, key string) *http.Request {
	if key != "" {
		r.Header.Set(idempotency.Header, key)
	}
	return r
}

// shop is a merchant: its credentials and a server answering the
// gateway's order lookups from its own record of each order, as
// sdk/merchant does, refusing any lookup not signed with its secret.
type shop struct {
	id, clientID, key string
	tidKey            []byte

	mu      sync.Mutex
	secret  string
	orders  map[string]payinfo.Info
	lookups int
	badSigs int
}

type merchantJSON struct {
	ID        string `json:"id"`
	ClientID  string `json:"client_id"`
	Name      string `json:"name"`
	LookupURL string `json:"lookup_url"`
	Mode      string `json:"mode"`
}

type merchantCreatedJSON struct {
	Merchant      merchantJSON `json:"merchant"`
	APIKey        string       `json:"api_key"`
	TIDKey        string       `json:"tid_key"`
	WebhookSecret string       `json:"webhook_secret"`
}

func (p *payEnv) createMerchant(name, lookupURL, mode string) response {
	p.t.Helper()
	body := fmt.Sprintf(`{"name":%q,"lookup_url":%q,"webhook_url":%q,"mode":%q}`, name, lookupURL, lookupURL+"/hooks", mode)
	return p.as(p.admin, p.request("POST", "/v1/operator/merchants", body))
}

func (p *payEnv) newShop(name string) *shop {
	p.t.Helper()
	sh := &shop{orders: make(map[string]payinfo.Info)}
	srv := httptest.NewServer(sh.lookupHandler(p.clock.Now))
	p.t.Cleanup(srv.Close)
	res := p.createMerchant(name, srv.URL+"/orders", "protected")
	if res.StatusCode != http.StatusCreated {
		p.t.Fatalf("create merchant: %d %s", res.StatusCode, res.body)
	}
	c := decodeJSON[merchantCreatedJSON](p.t, res)
	key, err := hex.DecodeString(c.TIDKey)
	if err != nil || len(key) != payinfo.TIDKeyLen {
		p.t.Fatalf("tid_key %q", c.TIDKey)
	}
	sh.id, sh.clientID, sh.key, sh.tidKey = c.Merchant.ID, c.Merchant.ClientID, c.APIKey, key
	sh.mu.Lock()
	sh.secret = c.WebhookSecret
	sh.mu.Unlock()
	return sh
}

func (sh *shop) lookupHandler(now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<10))
		sh.mu.Lock()
		defer sh.mu.Unlock()
		sh.lookups++
		if err := webhook.Verify(r.Header.Get("Haechi-Signature"), body, [][]byte{[]byte(sh.secret)}, now(), 0); err != nil {
			sh.badSigs++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var q struct {
			MerchantID string `json:"merchant_id"`
			OrderNo    string `json:"order_no"`
		}
		if json.Unmarshal(body, &q) != nil || q.MerchantID != sh.id {
			http.Error(w, "bad lookup", http.StatusBadRequest)
			return
		}
		info, ok := sh.orders[q.OrderNo]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(payinfo.Tag(sh.tidKey, info))
	})
}

// order records an order at the merchant and returns S with TID_S, what
// the merchant hands the buyer's checkout.
func (sh *shop) order(no string, amount int64) payinfo.Tagged {
	i := payinfo.Info{MerchantID: sh.id, OrderNo: no, ItemName: "아메리카노 Tall", Amount: amount, Quantity: 1, Currency: "KRW"}
	sh.mu.Lock()
	sh.orders[no] = i
	sh.mu.Unlock()
	return payinfo.Tag(sh.tidKey, i)
}

func (sh *shop) counts() (lookups, badSigs int) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.lookups, sh.badSigs
}

// payView is a transaction as the API shows it.
type payView struct {
	ID             string `json:"id"`
	MerchantID     string `json:"merchant_id"`
	OrderNo        string `json:"order_no"`
	Amount         int64  `json:"amount"`
	Quantity       int64  `json:"quantity"`
	Mode           string `json:"mode"`
	Code           string `json:"code"`
	Reason         string `json:"reason"`
	Status         string `json:"status"`
	Card           string `json:"card"`
	ApprovalCode   string `json:"approval_code"`
	DeclineReason  string `json:"decline_reason"`
	RefundedAmount int64  `json:"refunded_amount"`
}

type checkoutJSON struct {
	Transaction  payView `json:"transaction"`
	ClientSecret string  `json:"client_secret"`
}

func bodyOf(c payinfo.Tagged) string {
	b, _ := json.Marshal(c)
	return string(b)
}

func (p *payEnv) checkoutRaw(key, body string) response {
	p.t.Helper()
	return p.do(withIdem(p.request("POST", "/v1/checkout/transactions", body), key))
}

// checkout sends C and expects a recorded transaction.
func (p *payEnv) checkout(c payinfo.Tagged) checkoutJSON {
	p.t.Helper()
	res := p.checkoutRaw(p.idemKey(), bodyOf(c))
	if res.StatusCode != http.StatusCreated {
		p.t.Fatalf("checkout: %d %s", res.StatusCode, res.body)
	}
	return decodeJSON[checkoutJSON](p.t, res)
}

func cardBody(secret, pan, expiry, cvv string) string {
	return fmt.Sprintf(`{"client_secret":%q,"card":{"pan":%q,"expiry":%q,"cvv":%q}}`, secret, pan, expiry, cvv)
}

func (p *payEnv) authorizeRaw(id, key, body string) response {
	p.t.Helper()
	return p.do(withIdem(p.request("POST", "/v1/checkout/transactions/"+id+"/authorize", body), key))
}

// approved runs a NORMAL checkout of a new order and pays it.
func (p *payEnv) approved(sh *shop, order string, amount int64) payView {
	p.t.Helper()
	co := p.checkout(sh.order(order, amount))
	res := p.authorizeRaw(co.Transaction.ID, p.idemKey(), cardBody(co.ClientSecret, visaOK, goodUntil, testCVV))
	if res.StatusCode != http.StatusOK {
		p.t.Fatalf("authorize: %d %s", res.StatusCode, res.body)
	}
	v := decodeJSON[payView](p.t, res)
	if v.Status != "approved" {
		p.t.Fatalf("authorize: %s", res.body)
	}
	return v
}

// merchant sends a merchant call with sh's API key.
func (p *payEnv) merchant(sh *shop, method, path, key, body string) response {
	p.t.Helper()
	return p.do(withIdem(withKey(p.request(method, path, body), sh.key), key))
}

func (p *payEnv) wantView(res response, status int, txStatus string) payView {
	p.t.Helper()
	if res.StatusCode != status {
		p.t.Fatalf("got %d %s, want %d", res.StatusCode, res.body, status)
	}
	v := decodeJSON[payView](p.t, res)
	if v.Status != txStatus {
		p.t.Fatalf("status %q, want %q: %s", v.Status, txStatus, res.body)
	}
	return v
}

// actions counts the audit entries of action.
func (p *payEnv) actions(action string) int {
	p.t.Helper()
	n := 0
	for _, ev := range p.events() {
		if ev.Action == action {
			n++
		}
	}
	return n
}

// noCardData holds every kept answer and the audit log to the rule: no
// PAN and no CVV, ever.
func (p *payEnv) noCardData(pans ...string) {
	p.t.Helper()
	for _, b := range p.answers {
		for _, pan := range pans {
			if bytes.Contains(b, []byte(pan)) {
				p.t.Errorf("an answer shows the PAN: %s", b)
			}
		}
		if bytes.Contains(b, []byte(testCVV)) || bytes.Contains(b, []byte(`"cvv"`)) {
			p.t.Errorf("an answer shows the CVV: %s", b)
		}
	}
	// The entries as written, without the chain's hashes (random bytes
	// that could spell anything).
	var entries []audit.Entry
	for _, ev := range p.events() {
		entries = append(entries, ev.Entry)
	}
	all, err := json.Marshal(entries)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, secret := range append(pans, testCVV) {
		if bytes.Contains(all, []byte(secret)) {
			p.t.Errorf("the audit log holds %q", secret)
		}
	}
}

func TestPaymentsNotConfigured(t *testing.T) {
	e := newEnv(t)
	c, _ := e.newClient(institution.ScopePayment)
	key, _ := e.newKey(c.ID)
	admin := e.login(e.newOperator("kim.admin", operator.RoleAdmin))
	e.wantProblem(e.send(e.request("POST", "/v1/checkout/transactions", `{}`)), 503, "payments_not_configured")
	e.wantProblem(e.send(e.request("POST", "/v1/checkout/transactions/ptx_x/authorize", `{}`)), 503, "payments_not_configured")
	e.wantProblem(e.send(withKey(e.request("GET", "/v1/payments/ptx_x", ""), key)), 503, "payments_not_configured")
	e.wantProblem(e.send(withKey(e.request("POST", "/v1/payments/ptx_x/confirm", `{}`), key)), 503, "payments_not_configured")
	e.wantProblem(e.as(admin, e.request("GET", "/v1/operator/merchants", "")), 503, "payments_not_configured")
	e.wantProblem(e.as(admin, e.request("GET", "/v1/operator/payments/ptx_x", "")), 503, "payments_not_configured")
}

// TestPaymentLifecycle is the protocol end to end: a NORMAL checkout
// (verified at the merchant by a signed lookup), an approval for the
// merchant's amount, the merchant's confirmation and refunds.
func TestPaymentLifecycle(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	co := p.checkout(sh.order("ord-1001", 6900))
	tx := co.Transaction
	if tx.Code != "NORMAL" || tx.Status != "verified" || tx.Amount != 6900 || tx.MerchantID != sh.id || tx.Mode != "protected" || co.ClientSecret == "" {
		t.Fatalf("checkout %+v", co)
	}
	if lookups, bad := sh.counts(); lookups != 1 || bad != 0 {
		t.Fatalf("lookups %d, badly signed %d; want one signed lookup", lookups, bad)
	}

	v := p.wantView(p.authorizeRaw(tx.ID, p.idemKey(), cardBody(co.ClientSecret, visaOK, goodUntil, testCVV)), 200, "approved")
	if v.Card == "" || v.ApprovalCode == "" || p.card.Charged(tx.ID) != 6900 {
		t.Fatalf("approval %+v; charged %d", v, p.card.Charged(tx.ID))
	}
	p.wantView(p.merchant(sh, "GET", "/v1/payments/"+tx.ID, "", ""), 200, "approved")

	v = p.wantView(p.merchant(sh, "POST", "/v1/payments/"+tx.ID+"/confirm", p.idemKey(), `{"order_no":"ord-1001","amount":6900}`), 200, "confirmed")

	p.wantProblem(p.merchant(sh, "POST", "/v1/payments/"+tx.ID+"/refunds", p.idemKey(), `{"amount":6901,"reason":"고객 요청"}`), 400, "refund_exceeds_balance")
	v = p.wantView(p.merchant(sh, "POST", "/v1/payments/"+tx.ID+"/refunds", p.idemKey(), `{"amount":900,"reason":"고객 요청"}`), 200, "partially_refunded")
	if v.RefundedAmount != 900 {
		t.Fatalf("refunded %d", v.RefundedAmount)
	}
	p.wantProblem(p.merchant(sh, "POST", "/v1/payments/"+tx.ID+"/refunds", p.idemKey(), `{"amount":6001,"reason":"rest"}`), 400, "refund_exceeds_balance")
	v = p.wantView(p.merchant(sh, "POST", "/v1/payments/"+tx.ID+"/refunds", p.idemKey(), `{"amount":6000,"reason":"rest"}`), 200, "refunded")
	if v.RefundedAmount != 6900 || p.card.Charged(tx.ID) != 0 {
		t.Fatalf("refunded %d, still charged %d", v.RefundedAmount, p.card.Charged(tx.ID))
	}

	analyst := p.login(p.newOperator("lee.analyst", operator.RoleAnalyst))
	p.wantView(p.as(analyst, p.request("GET", "/v1/operator/payments/"+tx.ID, "")), 200, "refunded")
	agent := p.login(p.newOperator("park.agent", operator.RoleAgent))
	p.wantProblem(p.as(agent, p.request("GET", "/v1/operator/payments/"+tx.ID, "")), 403, "role_required")
	p.noCardData(visaOK)
}

func TestPaymentDeclinedIsAnAnswer(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	co := p.checkout(sh.order("ord-1", 6900))
	v := p.wantView(p.authorizeRaw(co.Transaction.ID, p.idemKey(), cardBody(co.ClientSecret, visaNo, goodUntil, testCVV)), 200, "declined")
	if v.DeclineReason == "" || v.ApprovalCode != "" {
		t.Fatalf("decline %+v", v)
	}
	p.noCardData(visaNo)
}

// TestPaymentTamperedAmount is the attack the protocol exists for: the
// buyer's client lowers the amount. The merchant's record disagrees, the
// code is ABNORMAL and no card data can follow.
func TestPaymentTamperedAmount(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	c := sh.order("ord-7", 6900)
	c.Amount = 69 // TID_C stays the merchant's: the client cannot recompute it
	co := p.checkout(c)
	tx := co.Transaction
	if tx.Code != "ABNORMAL" || tx.Reason != "amount" || tx.Status != "abnormal" || co.ClientSecret != "" {
		t.Fatalf("tampered checkout %+v", co)
	}
	if p.actions("payment.checkout") != 1 {
		t.Fatal("the ABNORMAL checkout was not audited")
	}
	p.wantProblem(p.authorizeRaw(tx.ID, p.idemKey(), cardBody("guess", visaOK, goodUntil, testCVV)), 409, "transaction_abnormal")
	if n := p.card.Calls(); n != 0 {
		t.Fatalf("the card network was asked %d times", n)
	}
	p.noCardData(visaOK)
}

// TestCheckoutIdempotent: a retry with the same key gets the very same
// answer, client secret included, and opens nothing new.
func TestCheckoutIdempotent(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	body := bodyOf(sh.order("ord-1", 6900))
	key := p.idemKey()
	first := p.checkoutRaw(key, body)
	again := p.checkoutRaw(key, body)
	if first.StatusCode != 201 || again.StatusCode != 201 || !bytes.Equal(first.body, again.body) {
		t.Fatalf("first %d %s\nagain %d %s", first.StatusCode, first.body, again.StatusCode, again.body)
	}
	if decodeJSON[checkoutJSON](t, again).ClientSecret == "" {
		t.Fatal("the replay lost the client secret")
	}
	if n := p.actions("payment.checkout"); n != 1 {
		t.Fatalf("%d checkouts recorded, want 1", n)
	}
	if lookups, _ := sh.counts(); lookups != 1 {
		t.Fatalf("%d lookups, want 1", lookups)
	}

	p.wantProblem(p.checkoutRaw(key, bodyOf(sh.order("ord-2", 6900))), 409, "idempotency_key_reused")
	p.wantProblem(p.checkoutRaw("", body), 400, "idempotency_key_required")
	p.wantProblem(p.checkoutRaw("short", body), 400, "idempotency_key_required")
	if n := p.actions("payment.checkout"); n != 1 {
		t.Fatalf("%d checkouts recorded, want 1", n)
	}
}

// TestAuthorizeIdempotent: the same key pays once; the CVV is outside the
// fingerprint, so a retry that retypes it differently is still the retry.
func TestAuthorizeIdempotent(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	co := p.checkout(sh.order("ord-1", 6900))
	key := p.idemKey()
	first := p.authorizeRaw(co.Transaction.ID, key, cardBody(co.ClientSecret, visaOK, goodUntil, testCVV))
	again := p.authorizeRaw(co.Transaction.ID, key, cardBody(co.ClientSecret, visaOK, goodUntil, "0000"))
	if first.StatusCode != 200 || !bytes.Equal(first.body, again.body) {
		t.Fatalf("first %d %s\nagain %d %s", first.StatusCode, first.body, again.StatusCode, again.body)
	}
	if n := p.card.Calls(); n != 1 {
		t.Fatalf("the card network was asked %d times", n)
	}
	p.wantProblem(p.authorizeRaw(co.Transaction.ID, key, cardBody(co.ClientSecret, "5555555555554444", goodUntil, testCVV)), 409, "idempotency_key_reused")
	p.wantProblem(p.authorizeRaw(co.Transaction.ID, p.idemKey(), cardBody(co.ClientSecret, visaOK, goodUntil, testCVV)), 409, "transaction_completed")
	p.noCardData(visaOK, "5555555555554444")
}

// TestCheckoutRefusesBadInput: malformed C is refused before an
// idempotency key is needed, and nothing is looked up or recorded.
func TestCheckoutRefusesBadInput(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	s := sh.order("ord-1", 6900)
	good := bodyOf(s)
	// with replaces one field's value as written, invalid JSON included.
	with := func(field, raw string) string {
		re := regexp.MustCompile(`"` + field + `":("[^"]*"|[^,}]*)`)
		if !re.MatchString(good) {
			t.Fatalf("no %s in %s", field, good)
		}
		return re.ReplaceAllLiteralString(good, `"`+field+`":`+raw)
	}
	tests := []struct {
		name, body, code, field string
	}{
		{"amount/negative", with("amount", `-1`), "invalid_payment_info", "amount"},
		{"amount/zero", with("amount", `0`), "invalid_payment_info", "amount"},
		{"amount/fraction", with("amount", `6900.5`), "invalid_payment_info", "amount"},
		{"amount/exponent", with("amount", `6.9e3`), "invalid_payment_info", "amount"},
		{"amount/string", with("amount", `"6900"`), "invalid_payment_info", "amount"},
		{"amount/huge", with("amount", `1e30`), "invalid_payment_info", "amount"},
		{"amount/overflow", with("amount", `9223372036854775808`), "invalid_payment_info", "amount"},
		{"amount/over max", with("amount", `1000000001`), "invalid_payment_info", "amount"},
		{"amount/leading zero", with("amount", `06900`), "malformed_json", ""},
		{"amount/null", with("amount", `null`), "invalid_payment_info", "amount"},
		{"quantity/string", with("quantity", `"1"`), "invalid_payment_info", "quantity"},
		{"quantity/fraction", with("quantity", `1.0`), "invalid_payment_info", "quantity"},
		{"currency", with("currency", `"USD"`), "invalid_payment_info", "currency"},
		{"order_no", with("order_no", `""`), "invalid_payment_info", "order_no"},
		{"tid/upper case", with("tid", `"`+strings.ToUpper(s.TID)+`"`), "invalid_payment_info", "tid"},
		{"tid/short", with("tid", `"abc"`), "invalid_payment_info", "tid"},
		{"unknown field", strings.Replace(good, `{`, `{"card":{"pan":"4111111111111111"},`, 1), "unknown_field", "card"},
		{"case variant", strings.Replace(good, `"amount"`, `"Amount"`, 1), "unknown_field", "Amount"},
		{"duplicate", strings.Replace(good, `{`, `{"amount":1,`, 1), "duplicate_field", "amount"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := p.wantProblem(p.checkoutRaw("", tc.body), 400, tc.code)
			if pr.Field != tc.field {
				t.Errorf("field %q, want %q", pr.Field, tc.field)
			}
		})
	}
	if lookups, _ := sh.counts(); lookups != 0 || p.actions("payment.checkout") != 0 {
		t.Fatalf("a refused checkout was looked up (%d) or recorded", lookups)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	co := p.checkout(sh.order("ord-1", 6900))
	id := co.Transaction.ID
	for _, tc := range []struct {
		name, body, code, field string
	}{
		{"luhn", cardBody(co.ClientSecret, "4111111111111112", goodUntil, testCVV), "invalid_card", "card.pan"},
		{"expiry", cardBody(co.ClientSecret, visaOK, "13/30", testCVV), "invalid_card", "card.expiry"},
		{"cvv", cardBody(co.ClientSecret, visaOK, goodUntil, "12"), "invalid_card", "card.cvv"},
		{"expired", cardBody(co.ClientSecret, visaOK, "02/26", testCVV), "card_expired", "card.expiry"},
		{"no card", fmt.Sprintf(`{"client_secret":%q}`, co.ClientSecret), "invalid_card", "card"},
		{"unknown field", `{"client_secret":"x","card":{"pan":"4111111111111111","expiry":"12/30","cvv":"123","name":"KIM"}}`, "unknown_field", "card.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := p.wantProblem(p.authorizeRaw(id, "", tc.body), 400, tc.code)
			if pr.Field != tc.field {
				t.Errorf("field %q, want %q", pr.Field, tc.field)
			}
		})
	}
	p.wantProblem(p.authorizeRaw(id, p.idemKey(), cardBody("wrong-secret", visaOK, goodUntil, testCVV)), 404, "transaction_not_found")
	p.wantProblem(p.authorizeRaw("ptx_nope", p.idemKey(), cardBody(co.ClientSecret, visaOK, goodUntil, testCVV)), 404, "transaction_not_found")
	p.wantProblem(p.authorizeRaw("PTX-BAD", p.idemKey(), cardBody(co.ClientSecret, visaOK, goodUntil, testCVV)), 404, "transaction_not_found")
	if n := p.card.Calls(); n != 0 {
		t.Fatalf("the card network was asked %d times", n)
	}
	p.wantView(p.merchant(sh, "GET", "/v1/payments/"+id, "", ""), 200, "verified")
	p.noCardData(visaOK, "4111111111111112")
}

// TestPaymentsOfOtherMerchants: a merchant reaches its own payments only;
// another's is not found and stays as it was.
func TestPaymentsOfOtherMerchants(t *testing.T) {
	p := newPayEnv(t, false)
	a, b := p.newShop("해치 커피"), p.newShop("다른 가게")
	v := p.approved(a, "ord-1", 6900)
	p.wantProblem(p.merchant(b, "GET", "/v1/payments/"+v.ID, "", ""), 404, "transaction_not_found")
	p.wantProblem(p.merchant(b, "POST", "/v1/payments/"+v.ID+"/confirm", p.idemKey(), `{"order_no":"ord-1","amount":6900}`), 404, "transaction_not_found")
	p.wantProblem(p.merchant(b, "POST", "/v1/payments/"+v.ID+"/net-cancel", p.idemKey(), `{"reason":"mine now"}`), 404, "transaction_not_found")
	p.wantProblem(p.merchant(b, "POST", "/v1/payments/"+v.ID+"/refunds", p.idemKey(), `{"amount":100,"reason":"mine now"}`), 404, "transaction_not_found")
	p.wantView(p.merchant(a, "GET", "/v1/payments/"+v.ID, "", ""), 200, "approved")
	if p.card.Charged(v.ID) != 6900 {
		t.Fatal("another merchant's call moved money")
	}

	// A client with scope payment that is no merchant, and one without
	// the scope.
	c, _ := p.newClient(institution.ScopePayment)
	key, _ := p.newKey(c.ID)
	p.wantProblem(p.do(withKey(p.request("GET", "/v1/payments/"+v.ID, ""), key)), 403, "merchant_not_found")
	r := p.newRisker()
	p.wantProblem(p.do(withKey(p.request("GET", "/v1/payments/"+v.ID, ""), r.key)), 403, "insufficient_scope")
	p.wantProblem(p.do(withIdem(p.request("POST", "/v1/payments/"+v.ID+"/confirm", `{"order_no":"ord-1","amount":6900}`), p.idemKey())), 401, "unauthenticated")
}

func TestConfirmMismatchCancels(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	v := p.approved(sh, "ord-1", 6900)
	p.wantProblem(p.merchant(sh, "POST", "/v1/payments/"+v.ID+"/confirm", p.idemKey(), `{"order_no":"ord-1","amount":69}`), 409, "confirm_mismatch")
	p.wantView(p.merchant(sh, "GET", "/v1/payments/"+v.ID, "", ""), 200, "net_cancelled")
	if p.card.Charged(v.ID) != 0 {
		t.Fatal("the mismatched payment is still charged")
	}
	p.wantProblem(p.merchant(sh, "POST", "/v1/payments/"+v.ID+"/confirm", p.idemKey(), `{"order_no":"ord-1","amount":6900}`), 409, "not_confirmable")
	// Input that cannot be a confirmation is refused without cancelling.
	w := p.approved(sh, "ord-2", 5000)
	for _, body := range []string{`{"order_no":"","amount":5000}`, `{"order_no":"ord-2","amount":5000.0}`, `{"order_no":"ord-2","amount":"5000"}`, `{"order_no":"ord-2"}`} {
		pr := p.wantProblem(p.merchant(sh, "POST", "/v1/payments/"+w.ID+"/confirm", "", body), 400, "invalid_payment_info")
		if pr.Field != "order_no" && pr.Field != "amount" {
			t.Errorf("%s: field %q", body, pr.Field)
		}
	}
	p.wantView(p.merchant(sh, "GET", "/v1/payments/"+w.ID, "", ""), 200, "approved")
}

func TestNetCancel(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	v := p.approved(sh, "ord-1", 6900)
	for _, reason := range []string{`""`, `"` + strings.Repeat("가", 201) + `"`, `"a\u0007b"`, `"a\u0085b"`} {
		pr := p.wantProblem(p.merchant(sh, "POST", "/v1/payments/"+v.ID+"/net-cancel", "", `{"reason":`+reason+`}`), 400, "invalid_request")
		if pr.Field != "reason" {
			t.Errorf("%s: field %q", reason, pr.Field)
		}
	}
	key := p.idemKey()
	first := p.merchant(sh, "POST", "/v1/payments/"+v.ID+"/net-cancel", key, `{"reason":"재고 없음"}`)
	p.wantView(first, 200, "net_cancelled")
	again := p.merchant(sh, "POST", "/v1/payments/"+v.ID+"/net-cancel", key, `{"reason":"재고 없음"}`)
	if !bytes.Equal(first.body, again.body) {
		t.Fatalf("replay %s, first %s", again.body, first.body)
	}
	// The merchant's keys are one scope: a key reused on another call is refused.
	p.wantProblem(p.merchant(sh, "POST", "/v1/payments/"+v.ID+"/refunds", key, `{"amount":100,"reason":"재고 없음"}`), 409, "idempotency_key_reused")
	// Cancelling again with a new key changes nothing; refunding is refused.
	p.wantView(p.merchant(sh, "POST", "/v1/payments/"+v.ID+"/net-cancel", p.idemKey(), `{"reason":"again"}`), 200, "net_cancelled")
	p.wantProblem(p.merchant(sh, "POST", "/v1/payments/"+v.ID+"/refunds", p.idemKey(), `{"amount":100}`), 409, "not_cancellable")
	if p.card.Charged(v.ID) != 0 {
		t.Fatal("net-cancelled payment still charged")
	}
	// Only an approved payment can be net-cancelled.
	w := p.approved(sh, "ord-2", 5000)
	p.wantView(p.merchant(sh, "POST", "/v1/payments/"+w.ID+"/confirm", p.idemKey(), `{"order_no":"ord-2","amount":5000}`), 200, "confirmed")
	p.wantProblem(p.merchant(sh, "POST", "/v1/payments/"+w.ID+"/net-cancel", p.idemKey(), `{"reason":"late"}`), 409, "not_cancellable")
}

func TestOperatorMerchants(t *testing.T) {
	p := newPayEnv(t, false)
	sh := p.newShop("해치 커피")
	if n := p.actions("payment.merchant.create"); n != 1 {
		t.Fatalf("%d merchant registrations audited", n)
	}
	pr := p.wantProblem(p.createMerchant("옛날 가게", "https://legacy.example/orders", "legacy"), 400, "legacy_not_allowed")
	if pr.Field != "mode" {
		t.Errorf("field %q", pr.Field)
	}
	pr = p.wantProblem(p.createMerchant("가게", "https://shop.example/orders", "trusting"), 400, "invalid_request")
	if pr.Field != "mode" {
		t.Errorf("field %q", pr.Field)
	}
	p.wantProblem(p.createMerchant("가게", "ftp://shop.example/orders", "protected"), 400, "invalid_lookup_url")
	analyst := p.login(p.newOperator("lee.analyst", operator.RoleAnalyst))
	p.wantProblem(p.as(analyst, p.request("POST", "/v1/operator/merchants", `{"name":"x","lookup_url":"https://a.example","webhook_url":"https://a.example"}`)), 403, "role_required")
	p.wantProblem(p.as(analyst, p.request("GET", "/v1/operator/merchants", "")), 403, "role_required")

	res := p.as(p.admin, p.request("GET", "/v1/operator/merchants", ""))
	list := decodeJSON[struct {
		Merchants []merchantJSON `json:"merchants"`
	}](t, res)
	if res.StatusCode != 200 || len(list.Merchants) != 1 || list.Merchants[0].ID != sh.id || list.Merchants[0].Mode != "protected" {
		t.Fatalf("merchants: %d %s", res.StatusCode, res.body)
	}
	if bytes.Contains(res.body, []byte("tid_key")) || bytes.Contains(res.body, []byte(sh.key)) {
		t.Fatalf("the list shows key material: %s", res.body)
	}

	legacy := newPayEnv(t, true)
	res = legacy.createMerchant("옛날 가게", "https://legacy.example/orders", "legacy")
	if c := decodeJSON[merchantCreatedJSON](t, res); res.StatusCode != 201 || c.Merchant.Mode != "legacy" || c.APIKey == "" || len(c.TIDKey) != 64 || c.WebhookSecret == "" {
		t.Fatalf("legacy merchant: %d %s", res.StatusCode, res.body)
	}
}

// TestLegacyCheckoutChargesClaim shows the baseline the protocol fixes:
// a legacy merchant's checkout takes the client's amount unverified.
func TestLegacyCheckoutChargesClaim(t *testing.T) {
	p := newPayEnv(t, true)
	res := p.createMerchant("옛날 가게", "https://legacy.example/orders", "legacy")
	m := decodeJSON[merchantCreatedJSON](t, res)
	c := payinfo.Tagged{Info: payinfo.Info{MerchantID: m.Merchant.ID, OrderNo: "ord-1", ItemName: "x", Amount: 69, Quantity: 1, Currency: "KRW"},
		TID: strings.Repeat("0", 64)}
	co := p.checkout(c)
	if co.Transaction.Code != "NORMAL" || co.Transaction.Mode != "legacy" || co.Transaction.Amount != 69 {
		t.Fatalf("legacy checkout %+v", co)
	}
}

func TestPaymentProblemsInKorean(t *testing.T) {
	p := newPayEnv(t, false)
	r := p.request("POST", "/v1/checkout/transactions", `{"amount":1.5}`)
	r.Header.Set("Accept-Language", "ko-KR")
	pr := p.wantProblem(p.send(r), 400, "invalid_payment_info")
	if pr.Title != payment.ErrInvalidPaymentInfo.KO {
		t.Fatalf("title %q", pr.Title)
	}
}
