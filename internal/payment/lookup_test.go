package payment_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/webhook"
)

// secrets is a Resolver with one merchant's endpoint.
type secrets map[string][][]byte

func (s secrets) Endpoint(_ context.Context, owner string) (*webhook.Endpoint, error) {
	sec, ok := s[owner]
	if !ok {
		return nil, errs.ErrNotFound
	}
	return &webhook.Endpoint{Owner: owner, Secrets: sec}, nil
}

// shopServer is a merchant's lookup endpoint that checks the gateway's
// signature and answers what reply says.
type shopServer struct {
	t      *testing.T
	secret []byte
	now    time.Time
	reply  func(w http.ResponseWriter, r *http.Request, req map[string]string)

	mu       sync.Mutex
	verified int
	calls    int
}

func (s *shopServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify(r.Header.Get(webhook.HeaderSignature), body, [][]byte{s.secret}, s.now, 0); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req map[string]string
	if err := dec.Decode(&req); err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.verified++
	s.mu.Unlock()
	s.reply(w, r, req)
}

var lookupNow = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func newLookup(t *testing.T, reply func(w http.ResponseWriter, r *http.Request, req map[string]string)) (*payment.HTTPLookup, *payment.MerchantRecord, *shopServer, *httptest.Server) {
	t.Helper()
	sh := &shopServer{t: t, secret: []byte("whsec_test-secret"), now: lookupNow, reply: reply}
	srv := httptest.NewServer(sh)
	t.Cleanup(srv.Close)
	m := &payment.MerchantRecord{ID: "mch_shop", LookupURL: srv.URL + "/orders"}
	l := &payment.HTTPLookup{Client: webhook.NewClient(true), Secrets: secrets{m.ID: {sh.secret}},
		Now: func() time.Time { return lookupNow }, Timeout: 200 * time.Millisecond}
	return l, m, sh, srv
}

var shopKey = []byte(strings.Repeat("t", payinfo.TIDKeyLen))

func shopOrder(orderNo string) payinfo.Tagged {
	return payinfo.Tag(shopKey, payinfo.Info{MerchantID: "mch_shop", OrderNo: orderNo, ItemName: "유기농 사과 1kg",
		Amount: 6900, Quantity: 1, Currency: "KRW"})
}

func answerJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, body)
}

// A signed lookup gets the merchant's S and TID_S back as sent.
func TestHTTPLookupAnswers(t *testing.T) {
	l, m, sh, _ := newLookup(t, func(w http.ResponseWriter, _ *http.Request, req map[string]string) {
		if req["merchant_id"] != "mch_shop" || req["order_no"] != "ORD-1" {
			http.NotFound(w, nil)
			return
		}
		b, _ := json.Marshal(shopOrder("ORD-1"))
		answerJSON(w, string(b))
	})
	s, err := l.Order(context.Background(), m, "ORD-1")
	must(t, err)
	if s != shopOrder("ORD-1") {
		t.Fatalf("answer = %+v", s)
	}
	if sh.verified != 1 {
		t.Fatalf("signature verified %d times, want 1", sh.verified)
	}
	_, err = l.Order(context.Background(), m, "ORD-2")
	wantErr(t, err, payment.ErrUnknownOrder)
}

// Everything but a well-formed 200 or a 404 is unavailable.
func TestHTTPLookupRefusesBadAnswers(t *testing.T) {
	good, _ := json.Marshal(shopOrder("ORD-1"))
	edit := func(from, to string) string { return strings.Replace(string(good), from, to, 1) }
	cases := []struct {
		name  string
		reply func(w http.ResponseWriter, r *http.Request)
	}{
		{"status/500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "oops", 500) }},
		{"status/201", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(201); w.Write(good) }},
		{"slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{"oversized", func(w http.ResponseWriter, _ *http.Request) {
			answerJSON(w, string(good)+strings.Repeat(" ", payment.MaxLookupAnswer))
		}},
		{"malformed/not json", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, "<html>") }},
		{"malformed/empty", func(w http.ResponseWriter, _ *http.Request) {}},
		{"malformed/unknown field", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, edit(`{`, `{"discount":1,`)) }},
		{"malformed/trailing data", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, string(good)+"{}") }},
		{"amount/string", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, edit(`"amount":6900`, `"amount":"6900"`)) }},
		{"amount/fraction", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, edit(`"amount":6900`, `"amount":6900.5`)) }},
		{"amount/exponent", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, edit(`"amount":6900`, `"amount":6.9e3`)) }},
		{"amount/negative", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, edit(`"amount":6900`, `"amount":-6900`)) }},
		{"amount/zero", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, edit(`"amount":6900`, `"amount":0`)) }},
		{"amount/overflow", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, edit(`"amount":6900`, `"amount":1e30`)) }},
		{"amount/null", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, edit(`"amount":6900`, `"amount":null`)) }},
		{"quantity/fraction", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, edit(`"quantity":1`, `"quantity":1.5`)) }},
		{"currency/USD", func(w http.ResponseWriter, _ *http.Request) { answerJSON(w, edit(`"KRW"`, `"USD"`)) }},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, m, sh, _ := newLookup(t, func(w http.ResponseWriter, r *http.Request, _ map[string]string) { tc.reply(w, r) })
			if tc.name == "slow" {
				l.Timeout = 20 * time.Millisecond
			}
			_, err := l.Order(context.Background(), m, "ORD-1")
			wantErr(t, err, errs.ErrUnavailable)
			if tc.name == "redirect" && sh.calls != 1 {
				t.Fatalf("redirect followed: %d calls", sh.calls)
			}
		})
	}
}

// Without the merchant's secret nothing is sent: a lookup is never unsigned.
func TestHTTPLookupNeedsSecret(t *testing.T) {
	l, m, sh, _ := newLookup(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {})
	l.Secrets = secrets{}
	_, err := l.Order(context.Background(), m, "ORD-1")
	wantErr(t, err, errs.ErrUnavailable)
	if sh.calls != 0 {
		t.Fatal("an unsigned lookup was sent")
	}
}

// The default client refuses loopback and private addresses (SSRF).
func TestHTTPLookupRefusesPrivateAddresses(t *testing.T) {
	l, m, sh, _ := newLookup(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]string) {})
	l.Client = nil
	_, err := l.Order(context.Background(), m, "ORD-1")
	wantErr(t, err, errs.ErrUnavailable)
	if sh.calls != 0 {
		t.Fatal("the lookup reached a loopback address")
	}
}

// The protocol over real HTTP: the gateway signs with the secret it gave
// the merchant, and the merchant answers S; a tampered C is ABNORMAL.
func TestHTTPLookupThroughService(t *testing.T) {
	f := newFixture(t)
	f.hooks.AllowHTTP = true
	var key []byte
	var secret []byte
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := f.svc.RegisterMerchant(context.Background(), "op_admin", payment.NewMerchant{Name: "shop",
		LookupURL: srv.URL + "/orders", WebhookURL: srv.URL + "/hooks"})
	must(t, err)
	key, secret = mustHex(t, c.TIDKey), []byte(c.WebhookSecret)
	s := payinfo.Tag(key, payinfo.Info{MerchantID: c.Merchant.ID, OrderNo: "ORD-1", ItemName: "사과",
		Amount: 6900, Quantity: 1, Currency: "KRW"})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if webhook.Verify(r.Header.Get(webhook.HeaderSignature), body, [][]byte{secret}, f.clk.Now(), 0) != nil {
			http.Error(w, "unsigned", http.StatusUnauthorized)
			return
		}
		b, _ := json.Marshal(s)
		answerJSON(w, string(b))
	})
	f.svc.Lookup = &payment.HTTPLookup{Client: webhook.NewClient(true), Secrets: f.hooks, Now: f.clk.Now}
	f.normal(s)
	tampered := s
	tampered.Amount = 1000
	co := f.checkout(tampered)
	if co.Transaction.Code != payment.Abnormal || co.Transaction.Reason != payinfo.ReasonAmount {
		t.Fatalf("tampered checkout = %s %s", co.Transaction.Code, co.Transaction.Reason)
	}
}
