package merchant

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/webhook"
)

// lookup sends body to h as the gateway would, signed with secret at t
// (no header when secret is "").
func lookup(h http.Handler, method, body, secret string, t time.Time) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/haechi/lookup", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if secret != "" {
		r.Header.Set(webhook.HeaderSignature, webhook.Sign([][]byte{[]byte(secret)}, t, []byte(body)))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestLookupHandler(t *testing.T) {
	m, _ := testMerchant(t, "http://gw.test")
	s, err := m.CreateOrder("ord-1", "케이크", 6900, 1, "KRW")
	if err != nil {
		t.Fatal(err)
	}
	h := m.LookupHandler()
	good := `{"merchant_id":"mch_1","order_no":"ord-1"}`

	t.Run("ok/answers S and TID_S", func(t *testing.T) {
		w := lookup(h, "POST", good, testSecret, testNow)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("status %d %s", w.Code, w.Body)
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &members); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"merchant_id", "order_no", "item_name", "amount", "quantity", "currency", "tid"} {
			if _, ok := members[k]; !ok {
				t.Fatalf("answer lacks %s: %s", k, w.Body)
			}
		}
		if len(members) != 7 {
			t.Fatalf("answer has extra members: %s", w.Body)
		}
		var got payinfo.Tagged
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got != s {
			t.Fatalf("answer = %+v, want %+v", got, s)
		}
		// The gateway's own check passes on it for an untampered C.
		if r := payinfo.Compare(m.TIDKey, got, s); r != payinfo.ReasonNone {
			t.Fatalf("Compare = %q", r)
		}
	})

	t.Run("ok/signed with a rotated-out secret still listed", func(t *testing.T) {
		m2 := *m
		m2.WebhookSecrets = [][]byte{[]byte("whsec_new"), []byte(testSecret)}
		if w := lookup(m2.LookupHandler(), "POST", good, testSecret, testNow); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	})

	tests := []struct {
		name   string
		method string
		body   string
		secret string
		at     time.Time
		want   int
	}{
		{"error/unsigned", "POST", good, "", testNow, 401},
		{"error/forged with another secret", "POST", good, "whsec_attacker", testNow, 401},
		{"error/stale", "POST", good, testSecret, testNow.Add(-webhook.Tolerance - time.Second), 401},
		{"error/from the future", "POST", good, testSecret, testNow.Add(webhook.Tolerance + time.Second), 401},
		{"error/unknown order", "POST", `{"merchant_id":"mch_1","order_no":"ord-404"}`, testSecret, testNow, 404},
		{"error/another merchant's id", "POST", `{"merchant_id":"mch_2","order_no":"ord-1"}`, testSecret, testNow, 404},
		{"error/GET", "GET", "", testSecret, testNow, 405},
		{"error/oversized", "POST", `{"merchant_id":"mch_1","order_no":"` + strings.Repeat("a", maxLookupBody) + `"}`, testSecret, testNow, 400},
		{"error/unknown member", "POST", `{"merchant_id":"mch_1","order_no":"ord-1","amount":1}`, testSecret, testNow, 400},
		{"error/missing order", "POST", `{"merchant_id":"mch_1"}`, testSecret, testNow, 400},
		{"error/null order", "POST", `{"merchant_id":"mch_1","order_no":null}`, testSecret, testNow, 400},
		{"error/number order", "POST", `{"merchant_id":"mch_1","order_no":1}`, testSecret, testNow, 400},
		{"error/repeated member", "POST", `{"merchant_id":"mch_1","order_no":"x","order_no":"ord-1"}`, testSecret, testNow, 400},
		{"error/upper-case member", "POST", `{"MERCHANT_ID":"mch_1","order_no":"ord-1"}`, testSecret, testNow, 400},
		{"error/trailing data", "POST", good + `{}`, testSecret, testNow, 400},
		{"error/array", "POST", `["mch_1","ord-1"]`, testSecret, testNow, 400},
		{"error/not json", "POST", `merchant_id=mch_1`, testSecret, testNow, 400},
		{"error/empty", "POST", ``, testSecret, testNow, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := lookup(h, tt.method, tt.body, tt.secret, tt.at)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if strings.Contains(w.Body.String(), s.TID) {
				t.Fatal("a refused lookup leaked TID_S")
			}
		})
	}
}

// TestLookupOverHTTP drives the endpoint over a real connection as the
// gateway does: signed POST, answer parsed as payinfo.Tagged.
func TestLookupOverHTTP(t *testing.T) {
	m, _ := testMerchant(t, "http://gw.test")
	s, _ := m.CreateOrder("ord-9", "item", 12000, 3, "KRW")
	srv := httptest.NewServer(m.LookupHandler())
	defer srv.Close()
	body := []byte(`{"merchant_id":"mch_1","order_no":"ord-9"}`)
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(string(body)))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign([][]byte{[]byte(testSecret)}, testNow, body))
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var got payinfo.Tagged
	if res.StatusCode != 200 || json.Unmarshal(b, &got) != nil || got != s {
		t.Fatalf("status %d body %s", res.StatusCode, b)
	}
}
