package merchant

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/sdk/internal/gateway"
)

var lookupSeeds = []string{
	`{"merchant_id":"mch_1","order_no":"ord-1"}`,
	`{"order_no":"ord-1","merchant_id":"mch_1"}`,
	`{"merchant_id":"mch_1","order_no":"ord-1","x":1}`,
	`{"merchant_id":"mch_1","order_no":"ord-1","order_no":"ord-2"}`,
	`{"Merchant_ID":"mch_1","order_no":"ord-1"}`,
	`{"merchant_id":"mch_1","order_no":null}`,
	`{"merchant_id":"mch_1","order_no":{"a":1}}`,
	`{"merchant_id":"mch_1","order_no":"ord-1"} x`,
	`{"merchant_id":"mch_1","order_no":"\u006frd-1"}`,
	`{"merchant_id":"mch_1","order_no":"ord-1"`,
	`[]`, `null`, `""`, ``, `{}`, `{"merchant_id":"\xff"}`,
}

// FuzzDecodeLookup: the decoder never panics, accepts only the two
// members as non-empty strings, and what it accepts re-encodes to a body
// it reads back the same.
func FuzzDecodeLookup(f *testing.F) {
	for _, s := range lookupSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeLookup(body)
		if err != nil {
			return
		}
		if req.MerchantID == "" || req.OrderNo == "" {
			t.Fatalf("accepted empty members: %q", body)
		}
		var loose map[string]any
		if json.Unmarshal(body, &loose) != nil || len(loose) != 2 {
			t.Fatalf("accepted what encoding/json reads otherwise: %q", body)
		}
		again, _ := json.Marshal(map[string]string{"merchant_id": req.MerchantID, "order_no": req.OrderNo})
		if back, err := decodeLookup(again); err != nil || back != req {
			t.Fatalf("round trip of %q: %+v, %v", body, back, err)
		}
	})
}

// FuzzLookupHandler drives the whole endpoint with correctly signed
// bodies: only 200, 400 and 404 come out, and 200 only with the one
// stored order's S.
func FuzzLookupHandler(f *testing.F) {
	for _, s := range lookupSeeds {
		f.Add(s)
	}
	m, err := New("mch_1", testKeyHex, "http://gw.test", testAPIKey, testSecret)
	if err != nil {
		f.Fatal(err)
	}
	m.Now = func() time.Time { return testNow }
	s, err := m.CreateOrder("ord-1", "케이크", 6900, 1, "KRW")
	if err != nil {
		f.Fatal(err)
	}
	h := m.LookupHandler()
	f.Fuzz(func(t *testing.T, body string) {
		w := lookup(h, "POST", body, testSecret, testNow)
		switch w.Code {
		case http.StatusOK:
			var got payinfo.Tagged
			if json.Unmarshal(w.Body.Bytes(), &got) != nil || got != s {
				t.Fatalf("200 with %s for %q", w.Body, body)
			}
			if req, err := decodeLookup([]byte(body)); err != nil || req.OrderNo != "ord-1" || req.MerchantID != "mch_1" {
				t.Fatalf("answered S for %q", body)
			}
		case http.StatusBadRequest, http.StatusNotFound:
			if strings.Contains(w.Body.String(), s.TID) {
				t.Fatal("refusal leaked TID_S")
			}
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}

// FuzzDecodeEvent: the webhook payload decoder never panics, and what it
// accepts has a valid type and transaction id and survives a round trip.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		approvedEvent,
		`{"type":"payment.refunded","transaction":{"id":"ptx_1","refunded_amount":1000,"extra":true}}`,
		`{"type":"payment.approved","transaction":null}`,
		`{"type":"Payment.Approved","transaction":{"id":"ptx_1"}}`,
		`{"type":"payment.approved","transaction":{"id":"../x"}}`,
		`{"type":"payment.approved","transaction":{"id":"ptx_1","amount":1e3}}`,
		`{"type":"payment.approved","transaction":{"id":"ptx_1","created_at":"yesterday"}}`,
		`{"type":"payment.approved","transaction":{"id":"ptx_1"}} {}`,
		`[]`, `null`, ``, `{"type":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := decodeEvent(body)
		if err != nil {
			return
		}
		if !validEventType(ev.Type) || !gateway.ValidTransactionID(ev.Transaction.ID) {
			t.Fatalf("accepted %+v from %q", ev, body)
		}
		again, err := json.Marshal(eventBody{Type: ev.Type, Transaction: &ev.Transaction})
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeEvent(again)
		if err != nil || back.Type != ev.Type || back.Transaction.ID != ev.Transaction.ID ||
			back.Transaction.Amount != ev.Transaction.Amount || back.Transaction.Status != ev.Transaction.Status {
			t.Fatalf("round trip of %q: %+v, %v", body, back, err)
		}
	})
}
