package merchant

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/webhook"
)

const approvedEvent = `{"type":"payment.approved","transaction":{"id":"ptx_1","merchant_id":"mch_1","order_no":"ord-1","item_name":"케이크","amount":6900,"quantity":1,"currency":"KRW","mode":"protected","code":"NORMAL","status":"approved","card":"411111******1111","refunded_amount":0,"created_at":"2025-06-15T15:06:40Z"}}`

// deliver posts body to h as the gateway's dispatcher does.
func deliver(h http.Handler, eventID, body, secret string, at time.Time) int {
	r := httptest.NewRequest("POST", "/haechi/webhook", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if eventID != "" {
		r.Header.Set(webhook.HeaderEventID, eventID)
	}
	if secret != "" {
		r.Header.Set(webhook.HeaderSignature, webhook.Sign([][]byte{[]byte(secret)}, at, []byte(body)))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// recorder collects the events a handler passes on.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func TestWebhookHandler(t *testing.T) {
	m, _ := testMerchant(t, "http://gw.test")
	var got recorder
	h := m.WebhookHandler(got.add)

	if code := deliver(h, "evt_1", approvedEvent, testSecret, testNow); code != 204 {
		t.Fatalf("status %d", code)
	}
	if got.count() != 1 {
		t.Fatalf("%d events", got.count())
	}
	e := got.events[0]
	if e.ID != "evt_1" || e.Type != "payment.approved" || e.Transaction.ID != "ptx_1" ||
		e.Transaction.Amount != 6900 || e.Transaction.Status != StatusApproved || e.Transaction.Card != "411111******1111" {
		t.Fatalf("event = %+v", e)
	}

	t.Run("redelivery of the same event is acknowledged once", func(t *testing.T) {
		if code := deliver(h, "evt_1", approvedEvent, testSecret, testNow.Add(time.Minute)); code != 204 || got.count() != 1 {
			t.Fatalf("status %d, %d events", code, got.count())
		}
	})
	t.Run("a replay under a fresh event id is dropped", func(t *testing.T) {
		sig := webhook.Sign([][]byte{[]byte(testSecret)}, testNow, []byte(approvedEvent))
		r := httptest.NewRequest("POST", "/", strings.NewReader(approvedEvent))
		r.Header.Set(webhook.HeaderSignature, sig)
		r.Header.Set(webhook.HeaderEventID, "evt_forged")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got.count() != 1 {
			t.Fatalf("%d events", got.count())
		}
	})
	t.Run("another event passes", func(t *testing.T) {
		body := strings.Replace(approvedEvent, `"approved"`, `"confirmed"`, 1)
		if code := deliver(h, "evt_2", body, testSecret, testNow); code != 204 || got.count() != 2 {
			t.Fatalf("status %d, %d events", code, got.count())
		}
	})

	refusals := []struct {
		name, id, body, secret string
		at                     time.Time
		want                   int
	}{
		{"error/unsigned", "evt_3", approvedEvent, "", testNow, 401},
		{"error/forged", "evt_3", approvedEvent, "whsec_attacker", testNow, 401},
		{"error/stale", "evt_3", approvedEvent, testSecret, testNow.Add(-webhook.Tolerance - time.Second), 401},
		{"error/no event id", "", approvedEvent, testSecret, testNow, 400},
		{"error/event id with a space", "evt 3", approvedEvent, testSecret, testNow, 400},
		{"error/no transaction", "evt_3", `{"type":"payment.approved"}`, testSecret, testNow, 400},
		{"error/transaction without id", "evt_3", `{"type":"payment.approved","transaction":{}}`, testSecret, testNow, 400},
		{"error/no type", "evt_3", `{"transaction":{"id":"ptx_1"}}`, testSecret, testNow, 400},
		{"error/amount as a string", "evt_3", `{"type":"payment.approved","transaction":{"id":"ptx_1","amount":"6900"}}`, testSecret, testNow, 400},
		{"error/trailing data", "evt_3", approvedEvent + `[]`, testSecret, testNow, 400},
		{"error/oversized", "evt_3", `{"type":"` + strings.Repeat("a", maxWebhookBody) + `"}`, testSecret, testNow, 400},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			before := got.count()
			if code := deliver(h, tt.id, tt.body, tt.secret, tt.at); code != tt.want {
				t.Fatalf("status %d, want %d", code, tt.want)
			}
			if got.count() != before {
				t.Fatal("a refused delivery reached fn")
			}
		})
	}
	t.Run("error/GET", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != 405 {
			t.Fatalf("status %d", w.Code)
		}
	})
}

func TestWebhookConcurrentCopies(t *testing.T) {
	m, _ := testMerchant(t, "http://gw.test")
	var got recorder
	h := m.WebhookHandler(got.add)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			deliver(h, "evt_same", approvedEvent, testSecret, testNow.Add(time.Duration(i)*time.Second))
		})
	}
	wg.Wait()
	if got.count() != 1 {
		t.Fatalf("%d events for one id", got.count())
	}
}

func TestRecentForgetsOldest(t *testing.T) {
	r := newRecent(2)
	r.add("a")
	r.add("b")
	r.add("c")
	if r.has("a") || !r.has("b") || !r.has("c") {
		t.Fatal("wrong member forgotten")
	}
	r.add("d")
	if r.has("b") || !r.has("c") || !r.has("d") {
		t.Fatal("wrong member forgotten on the second wrap")
	}
}

// TestWebhookReplayWithPaddedTimestamp replays a captured delivery under a
// fresh event id with its timestamp written with a leading zero, which
// would look like a new delivery to a dedup keyed by the text: the
// signature check refuses the re-spelled time.
func TestWebhookReplayWithPaddedTimestamp(t *testing.T) {
	m, _ := testMerchant(t, "http://gw.test")
	var got recorder
	h := m.WebhookHandler(got.add)
	sig := webhook.Sign([][]byte{[]byte(testSecret)}, testNow, []byte(approvedEvent))
	send := func(id, header string) int {
		r := httptest.NewRequest("POST", "/", strings.NewReader(approvedEvent))
		r.Header.Set(webhook.HeaderSignature, header)
		r.Header.Set(webhook.HeaderEventID, id)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if code := send("evt_1", sig); code != 204 || got.count() != 1 {
		t.Fatalf("status %d, %d events", code, got.count())
	}
	// A replay re-spelling the signed time ("t=0…") is not a new
	// delivery: the signature scheme gives each time one spelling.
	padded := strings.Replace(sig, "t=", "t=0", 1)
	if code := send("evt_replayed", padded); code != 401 || got.count() != 1 {
		t.Fatalf("status %d, %d events: the padded replay reached fn", code, got.count())
	}
}
