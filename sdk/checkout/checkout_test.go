package checkout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/sdk/internal/gateway"
)

var (
	testKey = bytes.Repeat([]byte{0xab}, payinfo.TIDKeyLen)
	testS   = payinfo.Tag(testKey, payinfo.Info{MerchantID: "mch_1", OrderNo: "ord-1", ItemName: "케이크",
		Amount: 6900, Quantity: 1, Currency: "KRW"})
	testCard = Card{PAN: "4111111111111111", Expiry: "12/30", CVV: "123"}
)

// fakeGateway speaks the two public checkout routes of the contract. It
// answers checkout NORMAL when C equals the S it knows (ABNORMAL amount
// otherwise), and authorize with the queued statuses, then 200 approved.
type fakeGateway struct {
	mu        sync.Mutex
	requests  []seen
	authorize []int // statuses to answer authorize with before 200
	checkout  []int // the same for checkout
}

type seen struct {
	Path string
	Key  string
	Body []byte
}

func newFakeGateway(t *testing.T) (*fakeGateway, *Client, *[]time.Duration) {
	t.Helper()
	g := &fakeGateway{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/checkout/transactions", g.checkoutRoute)
	mux.HandleFunc("POST /v1/checkout/transactions/{id}/authorize", g.authorizeRoute)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	var sleeps []time.Duration
	c := &Client{Gateway: srv.URL + "/", Sleep: func(_ context.Context, d time.Duration) error {
		sleeps = append(sleeps, d)
		return nil
	}}
	return g, c, &sleeps
}

func (g *fakeGateway) record(r *http.Request) (seen, int) {
	b, _ := io.ReadAll(r.Body)
	s := seen{Path: r.URL.Path, Key: r.Header.Get("Idempotency-Key"), Body: b}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, s)
	queue := &g.checkout
	if strings.HasSuffix(r.URL.Path, "/authorize") {
		queue = &g.authorize
	}
	status := 200
	if len(*queue) > 0 {
		status, *queue = (*queue)[0], (*queue)[1:]
	}
	return s, status
}

func (g *fakeGateway) all() []seen {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]seen(nil), g.requests...)
}

func (g *fakeGateway) checkoutRoute(w http.ResponseWriter, r *http.Request) {
	s, status := g.record(r)
	if status != 200 {
		problem(w, status, "unavailable")
		return
	}
	var c payinfo.Tagged
	dec := json.NewDecoder(bytes.NewReader(s.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		problem(w, 400, "invalid_payment_info")
		return
	}
	tx := Payment{ID: "ptx_1", MerchantID: c.MerchantID, OrderNo: c.OrderNo, ItemName: c.ItemName,
		Amount: c.Amount, Quantity: c.Quantity, Currency: c.Currency, Mode: "protected"}
	out := map[string]any{}
	if r := payinfo.Compare(testKey, testS, c); r != payinfo.ReasonNone {
		tx.Code, tx.Reason, tx.Status = CodeAbnormal, string(r), StatusAbnormal
	} else {
		tx.Code, tx.Status = CodeNormal, StatusVerified
		out["client_secret"] = "cs_secret_value"
	}
	out["transaction"] = tx
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	json.NewEncoder(w).Encode(out)
}

func (g *fakeGateway) authorizeRoute(w http.ResponseWriter, r *http.Request) {
	s, status := g.record(r)
	if status == 503 {
		w.Header().Set("Retry-After", "1")
		problem(w, 503, "card_network_unavailable")
		return
	}
	if status != 200 {
		problem(w, status, "transaction_not_found")
		return
	}
	var body struct {
		ClientSecret string `json:"client_secret"`
		Card         struct{ PAN, Expiry, CVV string }
	}
	if json.Unmarshal(s.Body, &body) != nil || body.ClientSecret != "cs_secret_value" {
		problem(w, 404, "transaction_not_found")
		return
	}
	p := Payment{ID: r.PathValue("id"), Code: CodeNormal, Status: StatusApproved, Amount: 6900, Card: "411111******1111"}
	if body.Card.PAN == "4000000000000002" {
		p.Status, p.DeclineReason = StatusDeclined, "do_not_honor"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}

func problem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"status": status, "code": code})
}

func TestStartSendsSAsC(t *testing.T) {
	g, c, _ := newFakeGateway(t)
	tx, err := c.Start(context.Background(), testS)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if tx.Code != CodeNormal || tx.ClientSecret != "cs_secret_value" || tx.ID != "ptx_1" || tx.Amount != 6900 {
		t.Fatalf("tx = %+v", tx.Payment)
	}
	reqs := g.all()
	if len(reqs) != 1 || reqs[0].Path != "/v1/checkout/transactions" || !ValidIdempotencyKey(reqs[0].Key) {
		t.Fatalf("requests = %+v", reqs)
	}
	var members map[string]any
	json.Unmarshal(reqs[0].Body, &members)
	want := map[string]any{"merchant_id": "mch_1", "order_no": "ord-1", "item_name": "케이크",
		"amount": float64(6900), "quantity": float64(1), "currency": "KRW", "tid": testS.TID}
	if len(members) != len(want) {
		t.Fatalf("body = %s", reqs[0].Body)
	}
	for k, v := range want {
		if members[k] != v {
			t.Fatalf("%s = %v, want %v", k, members[k], v)
		}
	}
}

func TestStartRetriesWithTheSameKey(t *testing.T) {
	g, c, sleeps := newFakeGateway(t)
	g.checkout = []int{503, 500}
	if _, err := c.StartWithKey(context.Background(), "start-key-0123456789", testS); err != nil {
		t.Fatal(err)
	}
	reqs := g.all()
	if len(reqs) != 3 || len(*sleeps) != 2 {
		t.Fatalf("%d requests, %d sleeps", len(reqs), len(*sleeps))
	}
	for _, r := range reqs {
		if r.Key != "start-key-0123456789" {
			t.Fatalf("key %q", r.Key)
		}
	}
	if _, err := c.StartWithKey(context.Background(), "short", testS); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short key: %v", err)
	}
}

func TestPayAbnormalSendsNothing(t *testing.T) {
	g, c, _ := newFakeGateway(t)
	tampered := testS
	tampered.Amount = 1000 // an intercepting proxy would do this; here the client itself was fed it
	tx, err := c.Start(context.Background(), tampered)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Code != CodeAbnormal || tx.Reason != "amount" || tx.ClientSecret != "" {
		t.Fatalf("tx = %+v", tx.Payment)
	}
	before := len(g.all())
	_, err = c.Pay(context.Background(), tx, testCard)
	if !errors.Is(err, ErrAbnormal) {
		t.Fatalf("err = %v", err)
	}
	if n := len(g.all()); n != before {
		t.Fatalf("%d requests sent for an ABNORMAL transaction", n-before)
	}
	// Even a NORMAL-looking transaction forged locally without a secret
	// sends nothing.
	forged := &Transaction{Payment: Payment{ID: "ptx_1", Code: CodeNormal}}
	if _, err := c.Pay(context.Background(), forged, testCard); !errors.Is(err, ErrInvalid) || len(g.all()) != before {
		t.Fatalf("forged: %v", err)
	}
}

func TestPayApprovedAndDeclined(t *testing.T) {
	g, c, _ := newFakeGateway(t)
	tx, err := c.Start(context.Background(), testS)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Pay(context.Background(), tx, testCard)
	if err != nil || !p.Approved() || p.ID != "ptx_1" {
		t.Fatalf("Pay = %+v, %v", p, err)
	}
	last := g.all()[len(g.all())-1]
	var body map[string]any
	json.Unmarshal(last.Body, &body)
	card, _ := body["card"].(map[string]any)
	if last.Path != "/v1/checkout/transactions/ptx_1/authorize" || body["client_secret"] != "cs_secret_value" ||
		card["pan"] != testCard.PAN || card["expiry"] != "12/30" || card["cvv"] != "123" || len(body) != 2 || len(card) != 3 {
		t.Fatalf("authorize body = %s", last.Body)
	}

	declined := Card{PAN: "4000000000000002", Expiry: "12/30", CVV: "123"}
	p, err = c.Pay(context.Background(), tx, declined)
	if err != nil || p.Status != StatusDeclined || p.DeclineReason != "do_not_honor" {
		t.Fatalf("declined: %+v, %v", p, err)
	}
}

func TestPayRetriesCardNetworkTimeoutWithTheSameKey(t *testing.T) {
	g, c, sleeps := newFakeGateway(t)
	tx, err := c.Start(context.Background(), testS)
	if err != nil {
		t.Fatal(err)
	}
	g.authorize = []int{503}
	p, err := c.Pay(context.Background(), tx, testCard)
	if err != nil || !p.Approved() {
		t.Fatalf("Pay = %+v, %v", p, err)
	}
	var auth []seen
	for _, r := range g.all() {
		if strings.HasSuffix(r.Path, "/authorize") {
			auth = append(auth, r)
		}
	}
	if len(auth) != 2 || auth[0].Key != auth[1].Key || !ValidIdempotencyKey(auth[0].Key) || !bytes.Equal(auth[0].Body, auth[1].Body) {
		t.Fatalf("authorize requests = %+v", auth)
	}
	if len(*sleeps) != 1 || (*sleeps)[0] != time.Second {
		t.Fatalf("sleeps = %v", *sleeps)
	}
}

func TestPayGivesUp(t *testing.T) {
	g, c, sleeps := newFakeGateway(t)
	tx, _ := c.Start(context.Background(), testS)
	g.authorize = []int{503, 503, 503, 503, 503}
	_, err := c.Pay(context.Background(), tx, testCard)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.Code != "card_network_unavailable" || ae.RetryAfter != time.Second {
		t.Fatalf("err = %v", err)
	}
	if len(g.all()) != 1+1+gateway.MaxRetries || len(*sleeps) != gateway.MaxRetries {
		t.Fatalf("%d requests, %d sleeps", len(g.all()), len(*sleeps))
	}
	if strings.Contains(err.Error(), testCard.PAN) || strings.Contains(err.Error(), "cs_secret") {
		t.Fatalf("error leaks: %v", err)
	}
}

func TestPayDoesNotRetryRefusals(t *testing.T) {
	g, c, sleeps := newFakeGateway(t)
	tx, _ := c.Start(context.Background(), testS)
	g.authorize = []int{404}
	if _, err := c.Pay(context.Background(), tx, testCard); CodeOf(err) != "transaction_not_found" {
		t.Fatalf("err = %v", err)
	}
	if len(g.all()) != 2 || len(*sleeps) != 0 {
		t.Fatalf("%d requests, %d sleeps", len(g.all()), len(*sleeps))
	}
}

func TestPayTransportErrorDoesNotLeakCard(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens: every attempt is a transport error
	c := &Client{Gateway: srv.URL, Sleep: func(context.Context, time.Duration) error { return nil }}
	tx := &Transaction{Payment: Payment{ID: "ptx_1", Code: CodeNormal}, ClientSecret: "cs_secret_value"}
	_, err := c.Pay(context.Background(), tx, testCard)
	if err == nil {
		t.Fatal("no error")
	}
	for _, leak := range []string{testCard.PAN, "cs_secret_value", `"cvv"`} {
		if strings.Contains(err.Error(), leak) {
			t.Fatalf("error leaks %q: %v", leak, err)
		}
	}
}

func TestPayStopsWhenTheCallerGivesUp(t *testing.T) {
	g, c, _ := newFakeGateway(t)
	tx, _ := c.Start(context.Background(), testS)
	g.authorize = []int{503, 503}
	ctx, cancel := context.WithCancel(context.Background())
	c.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	if _, err := c.Pay(ctx, tx, testCard); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(g.all()) != 2 {
		t.Fatalf("%d requests", len(g.all()))
	}
}
