package merchant

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeGateway speaks just the merchant routes of the issue 7 contract,
// records every call, and can be told to fail a route with 503 first.
type fakeGateway struct {
	apiKey string

	mu       sync.Mutex
	payments map[string]*Payment
	calls    []gatewayCall
	fail503  map[string]int // route pattern → 503s still to give

	refuseConfirm bool // answer confirm_mismatch whatever the body
}

type gatewayCall struct {
	Route string // "confirm", "net-cancel", "refunds", "get"
	ID    string
	Key   string // Idempotency-Key
	Body  map[string]any
}

func newFakeGateway(t *testing.T, apiKey string) (*fakeGateway, *httptest.Server) {
	t.Helper()
	g := &fakeGateway{apiKey: apiKey, payments: map[string]*Payment{}, fail503: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/payments/{id}", g.route("get", g.get))
	mux.HandleFunc("POST /v1/payments/{id}/confirm", g.route("confirm", g.confirm))
	mux.HandleFunc("POST /v1/payments/{id}/net-cancel", g.route("net-cancel", g.netCancel))
	mux.HandleFunc("POST /v1/payments/{id}/refunds", g.route("refunds", g.refund))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *fakeGateway) put(p Payment) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.payments[p.ID] = &p
}

func (g *fakeGateway) payment(id string) Payment {
	g.mu.Lock()
	defer g.mu.Unlock()
	return *g.payments[id]
}

func (g *fakeGateway) callsTo(route string) []gatewayCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []gatewayCall
	for _, c := range g.calls {
		if c.Route == route {
			out = append(out, c)
		}
	}
	return out
}

// route authenticates, records the call and hands the payment to h.
func (g *fakeGateway) route(name string, h func(w http.ResponseWriter, p *Payment, body map[string]any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "ApiKey "+g.apiKey {
			problem(w, 401, "unauthenticated")
			return
		}
		var body map[string]any
		if r.Method == http.MethodPost {
			if key := r.Header.Get("Idempotency-Key"); len(key) < 16 || len(key) > 128 {
				problem(w, 400, "idempotency_key_invalid")
				return
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				problem(w, 400, "invalid_request")
				return
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		id := r.PathValue("id")
		g.calls = append(g.calls, gatewayCall{Route: name, ID: id, Key: r.Header.Get("Idempotency-Key"), Body: body})
		if g.fail503[name] > 0 {
			g.fail503[name]--
			w.Header().Set("Retry-After", "1")
			problem(w, 503, "unavailable")
			return
		}
		p, ok := g.payments[id]
		if !ok {
			problem(w, 404, "transaction_not_found")
			return
		}
		h(w, p, body)
	}
}

func (g *fakeGateway) get(w http.ResponseWriter, p *Payment, _ map[string]any) { answer(w, p) }

func (g *fakeGateway) confirm(w http.ResponseWriter, p *Payment, body map[string]any) {
	if p.Status != StatusApproved {
		problem(w, 409, "not_confirmable")
		return
	}
	if g.refuseConfirm || body["order_no"] != p.OrderNo || body["amount"] != float64(p.Amount) {
		p.Status = StatusNetCancelled
		problem(w, 409, "confirm_mismatch")
		return
	}
	p.Status = StatusConfirmed
	now := time.Unix(1_750_000_100, 0).UTC()
	p.ConfirmedAt = &now
	answer(w, p)
}

func (g *fakeGateway) netCancel(w http.ResponseWriter, p *Payment, _ map[string]any) {
	if p.Status != StatusApproved {
		problem(w, 409, "not_cancellable")
		return
	}
	p.Status = StatusNetCancelled
	answer(w, p)
}

func (g *fakeGateway) refund(w http.ResponseWriter, p *Payment, body map[string]any) {
	amount, _ := body["amount"].(float64)
	switch {
	case p.Status != StatusConfirmed && p.Status != StatusPartRefunded:
		problem(w, 409, "not_cancellable")
	case int64(amount) > p.Amount-p.RefundedAmount:
		problem(w, 400, "refund_exceeds_balance")
	default:
		p.RefundedAmount += int64(amount)
		p.Status = StatusPartRefunded
		if p.RefundedAmount == p.Amount {
			p.Status = StatusRefunded
		}
		answer(w, p)
	}
}

func answer(w http.ResponseWriter, p *Payment) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}

func problem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"status": status, "code": code, "title": "t"})
}
