package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/idempotency"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
	"github.com/haechi/haechi/internal/webhook"
)

// The fuzzed order: every order of the fuzz merchant is this item at
// this price, except the ones whose number starts "unknown".
const (
	fuzzAmount = 6900
	fuzzItem   = "coffee"
)

// fuzzLookup is the merchant's record of its orders, without HTTP.
type fuzzLookup struct {
	key        []byte
	merchantID string
}

func (l *fuzzLookup) info(orderNo string) payinfo.Info {
	return payinfo.Info{MerchantID: l.merchantID, OrderNo: orderNo, ItemName: fuzzItem, Amount: fuzzAmount, Quantity: 1, Currency: "KRW"}
}

func (l *fuzzLookup) Order(_ context.Context, _ *payment.MerchantRecord, orderNo string) (payinfo.Tagged, error) {
	if strings.HasPrefix(orderNo, "unknown") {
		return payinfo.Tagged{}, payment.ErrUnknownOrder
	}
	return payinfo.Tag(l.key, l.info(orderNo)), nil
}

// payFuzz is the gateway behind the whole handler, over a fresh SQLite
// database, with one protected merchant and the card simulator.
type payFuzz struct {
	h      http.Handler
	pay    *payment.Service
	lookup *fuzzLookup
	keys   atomic.Int64
}

func newPayFuzz(tb testing.TB) *payFuzz {
	tb.Helper()
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }
	km := crypto.NewKeyMaterial()
	db := storetest.MustOpenSQLite(tb, sqlstore.Options{Signer: &audit.Signer{Key: km.AuditKey(), Every: 100}, Now: now})
	ring, err := crypto.LoadKeyring(ctx, km, db, now)
	if err != nil {
		tb.Fatal(err)
	}
	lookup := &fuzzLookup{}
	pay := &payment.Service{Store: db, Ring: ring, Pepper: km.Pepper, Lookup: lookup, Network: cardnet.NewSimulator(now),
		Institutions: &institution.Service{Store: db, Pepper: km.Pepper, Now: now},
		Webhooks:     &webhook.Service{Store: db, Ring: ring, Now: now},
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)), Now: now}
	creds, err := pay.RegisterMerchant(ctx, "test", payment.NewMerchant{Name: "fuzz shop",
		LookupURL: "https://shop.example/orders", WebhookURL: "https://shop.example/hooks"})
	if err != nil {
		tb.Fatal(err)
	}
	lookup.merchantID = creds.Merchant.ID
	if lookup.key, err = hex.DecodeString(creds.TIDKey); err != nil {
		tb.Fatal(err)
	}
	s := &Server{Payments: pay, Idempotency: &idempotency.Service{Store: db, Ring: ring, Pepper: km.Pepper, Now: now},
		Audit: db, Now: now, Registry: prometheus.NewRegistry()}
	return &payFuzz{h: s.Handler(), pay: pay, lookup: lookup}
}

// post sends body with a fresh Idempotency-Key, so every accepted body
// runs rather than replays.
func (pf *payFuzz) post(path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(idempotency.Header, fmt.Sprintf("fuzz-key-%012d", pf.keys.Add(1)))
	w := httptest.NewRecorder()
	pf.h.ServeHTTP(w, r)
	return w
}

// wantAnswer fails on a server error or a refusal that is not a problem
// document.
func wantAnswer(t *testing.T, w *httptest.ResponseRecorder, body string) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("%q: %d %s", body, w.Code, w.Body)
	}
	if w.Code >= 400 && w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%q: %d without a problem document", body, w.Code)
	}
}

// FuzzCheckoutBody sends checkout bodies through the whole handler:
// never a 5xx, and a NORMAL transaction always carries the merchant's
// amount whatever the client claimed. $M and $T stand for the fuzz
// merchant's id and the TID of its order ord-1.
func FuzzCheckoutBody(f *testing.F) {
	for _, s := range []string{
		`{"merchant_id":"$M","order_no":"ord-1","item_name":"coffee","amount":6900,"quantity":1,"currency":"KRW","tid":"$T"}`,
		`{"merchant_id":"$M","order_no":"ord-1","item_name":"coffee","amount":69,"quantity":1,"currency":"KRW","tid":"$T"}`,
		`{"merchant_id":"$M","order_no":"unknown-1","item_name":"coffee","amount":6900,"quantity":1,"currency":"KRW","tid":"$T"}`,
		`{"merchant_id":"mch_nobody","order_no":"ord-1","item_name":"coffee","amount":6900,"quantity":1,"currency":"KRW","tid":"$T"}`,
		`{"merchant_id":"$M","order_no":"ord-1","item_name":"coffee","amount":6900.5,"quantity":1,"currency":"KRW","tid":"$T"}`,
		`{"merchant_id":"$M","order_no":"ord-1","item_name":"coffee","amount":6.9e3,"quantity":1,"currency":"KRW","tid":"$T"}`,
		`{"merchant_id":"$M","order_no":"ord-1","item_name":"coffee","amount":"6900","quantity":1,"currency":"KRW","tid":"$T"}`,
		`{"merchant_id":"$M","order_no":"ord-1","item_name":"coffee","amount":9223372036854775808,"quantity":1,"currency":"KRW","tid":"$T"}`,
		`{"merchant_id":"$M","order_no":"ord-1","item_name":"coffee","amount":-1,"quantity":1e30,"currency":"KRW","tid":"$T"}`,
		`{"merchant_id":"$M","order_no":"ord-1","item_name":" coffee","amount":6900,"quantity":1,"currency":"KRW","tid":"$T","x":1}`,
		`{"merchant_id":"$M","order_no":"ord-1","item_name":"coffee","amount":6900,"quantity":1,"currency":"krw","tid":"$T"}`,
		`{"amount":{"a":[1,2,{"b":null}]}}`,
		`[]`, `null`, `{"merchant_id":"$M"}{}`, ``,
	} {
		f.Add(s)
	}
	pf := newPayFuzz(f)
	tid := payinfo.TID(pf.lookup.key, pf.lookup.info("ord-1"))
	f.Fuzz(func(t *testing.T, body string) {
		body = strings.NewReplacer("$M", pf.lookup.merchantID, "$T", tid).Replace(body)
		w := pf.post("/v1/checkout/transactions", body)
		wantAnswer(t, w, body)
		if w.Code != http.StatusCreated {
			return
		}
		var co checkoutView
		if err := json.Unmarshal(w.Body.Bytes(), &co); err != nil || co.Transaction == nil {
			t.Fatalf("%q: answer %s", body, w.Body)
		}
		var q checkoutRequest
		if err := decodeJSON([]byte(body), &q); err != nil || q.Validate() != nil {
			t.Fatalf("%q accepted, but the decoder refuses it", body)
		}
		v := co.Transaction
		switch {
		case v.Code == payment.Normal && (v.Amount != fuzzAmount || q.c.Amount != fuzzAmount || co.ClientSecret == ""):
			t.Fatalf("%q: NORMAL at %d (claimed %d)", body, v.Amount, q.c.Amount)
		case v.Code == payment.Abnormal && (v.Reason == payinfo.ReasonNone || co.ClientSecret != ""):
			t.Fatalf("%q: ABNORMAL %+v", body, co)
		}
	})
}

// FuzzAuthorizeBody sends card bodies for a fresh NORMAL transaction
// through the whole handler: never a 5xx but the card network's own
// (503 card_network_unavailable), and never the PAN in the answer. $S
// stands for the transaction's client secret.
func FuzzAuthorizeBody(f *testing.F) {
	for _, s := range []string{
		`{"client_secret":"$S","card":{"pan":"4111111111111111","expiry":"12/30","cvv":"123"}}`,
		`{"client_secret":"$S","card":{"pan":"4000000000000002","expiry":"12/30","cvv":"123"}}`,
		`{"client_secret":"$S","card":{"pan":"4000000000000119","expiry":"12/30","cvv":"123"}}`,
		`{"client_secret":"$S","card":{"pan":"5555555555554444","expiry":"02/26","cvv":"1234"}}`,
		`{"client_secret":"$S","card":{"pan":"4111111111111112","expiry":"12/30","cvv":"123"}}`,
		`{"client_secret":"$S","card":{"pan":"4111 1111 1111 1111","expiry":"12/30","cvv":"123"}}`,
		`{"client_secret":"$S","card":{"pan":"4111111111111111","expiry":"00/30","cvv":"12"}}`,
		`{"client_secret":"wrong","card":{"pan":"4111111111111111","expiry":"12/30","cvv":"123"}}`,
		`{"client_secret":"$S","card":null}`,
		`{"client_secret":"$S","card":{"pan":4111111111111111}}`,
		`{"client_secret":"$S","card":{"pan":"4111111111111111","expiry":"12/30","cvv":"123","name":"x"}}`,
		`{"client_secret":"$S"}`, `{}`, `[`, ``,
	} {
		f.Add(s)
	}
	pf := newPayFuzz(f)
	var orders atomic.Int64
	f.Fuzz(func(t *testing.T, body string) {
		info := pf.lookup.info(fmt.Sprintf("ord-%d", orders.Add(1)))
		co, err := pf.pay.Checkout(context.Background(), payment.CheckoutRequest{C: payinfo.Tag(pf.lookup.key, info)})
		if err != nil || co.ClientSecret == "" {
			t.Fatalf("checkout: %v", err)
		}
		body = strings.ReplaceAll(body, "$S", co.ClientSecret)
		w := pf.post("/v1/checkout/transactions/"+co.Transaction.ID+"/authorize", body)
		if w.Code == http.StatusServiceUnavailable && strings.Contains(w.Body.String(), `"card_network_unavailable"`) {
			return
		}
		wantAnswer(t, w, body)
		var q authorizeRequest
		if json.Unmarshal([]byte(body), &q) == nil && q.Card != nil && len(q.Card.PAN) >= 12 && strings.Contains(w.Body.String(), q.Card.PAN) {
			t.Fatalf("%q: the answer shows the PAN: %s", body, w.Body)
		}
		if w.Code != http.StatusOK {
			return
		}
		var v payment.View
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || (v.Status != payment.StatusApproved && v.Status != payment.StatusDeclined) {
			t.Fatalf("%q: answer %s", body, w.Body)
		}
		if v.Amount != fuzzAmount {
			t.Fatalf("%q: authorized %d", body, v.Amount)
		}
	})
}
