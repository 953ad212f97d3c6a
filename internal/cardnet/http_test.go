package cardnet_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
)

// acquirer is the simulator's Handler behind a bearer-token check, and
// remembers the last request.
type acquirer struct {
	sim  *cardnet.Simulator
	next http.Handler

	mu   sync.Mutex
	path string
	ct   string
	seen map[string]any
}

func newAcquirer() *acquirer {
	sim := newSim()
	return &acquirer{sim: sim, next: cardnet.Handler(sim)}
}

func (a *acquirer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer tok" {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.path, a.ct, a.seen = r.URL.Path, r.Header.Get("Content-Type"), nil
	json.Unmarshal(body, &a.seen)
	a.mu.Unlock()
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	a.next.ServeHTTP(w, r)
}

func (a *acquirer) last() (string, string, map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.path, a.ct, a.seen
}

func newHTTP(t *testing.T, h http.Handler, token string) *cardnet.HTTP {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	n, err := cardnet.NewHTTP(jsonapi.Config{BaseURL: srv.URL, Token: token, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHTTPAuthorizeEndToEnd(t *testing.T) {
	tests := []struct {
		name string
		card cardnet.Card
		want cardnet.Result
	}{
		{"approved", card(cardnet.CardApproved), cardnet.Result{Status: cardnet.Approved, ApprovalCode: "00000001"}},
		{"approved/mastercard", card(cardnet.CardMastercard), cardnet.Result{Status: cardnet.Approved, ApprovalCode: "00000001"}},
		{"declined", card(cardnet.CardDeclined), cardnet.Result{Status: cardnet.Declined, Reason: "do_not_honor"}},
		{"insufficient funds", card(cardnet.CardInsufficientFunds), cardnet.Result{Status: cardnet.InsufficientFunds, Reason: "insufficient_funds"}},
		// The adapter leaves expiry to the issuer, which declines.
		{"declined/expired", cardnet.Card{PAN: cardnet.CardApproved, Expiry: "01/26", CVV: "123"}, cardnet.Result{Status: cardnet.Declined, Reason: "expired_card"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acq := newAcquirer()
			n := newHTTP(t, acq, "tok")
			a := cardnet.Authorization{Key: "ptx_1", Card: tc.card, AmountKRW: 6900, MerchantID: "mch_1"}
			got, err := n.Authorize(t.Context(), a)
			if err != nil || got != tc.want {
				t.Fatalf("Authorize = %+v, %v; want %+v", got, err, tc.want)
			}
			if again, err := n.Authorize(t.Context(), a); err != nil || again != got {
				t.Fatalf("repeat = %+v, %v", again, err)
			}
			want := int64(0)
			if tc.want.Status == cardnet.Approved {
				want = 6900
			}
			if acq.sim.Charged("ptx_1") != want || acq.sim.Calls() != 2 {
				t.Fatalf("charged %d, %d calls", acq.sim.Charged("ptx_1"), acq.sim.Calls())
			}
		})
	}
}

// TestHTTPSendsTheAPI: path, bearer token, content type and every field
// of the request as documented.
func TestHTTPSendsTheAPI(t *testing.T) {
	acq := newAcquirer()
	n := newHTTP(t, acq, "tok")
	a := cardnet.Authorization{Key: "ptx_1", Card: cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/30", CVV: "8642"}, AmountKRW: 6900, MerchantID: "mch_1"}
	if _, err := n.Authorize(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	path, ct, seen := acq.last()
	want := map[string]any{"key": "ptx_1", "pan": cardnet.CardApproved, "expiry": "12/30", "cvv": "8642", "amount_krw": 6900.0, "merchant_id": "mch_1"}
	if path != "/v1/authorizations" || ct != "application/json" || !sameMap(seen, want) {
		t.Fatalf("sent %s %s %v", path, ct, seen)
	}
	if _, err := n.Cancel(t.Context(), cardnet.Cancellation{Key: "prf_1", AuthKey: "ptx_1", AmountKRW: 900}); err != nil {
		t.Fatal(err)
	}
	path, _, seen = acq.last()
	if path != "/v1/cancellations" || !sameMap(seen, map[string]any{"key": "prf_1", "auth_key": "ptx_1", "amount_krw": 900.0}) {
		t.Fatalf("sent %s %v", path, seen)
	}
	// The token is what opened the door: another is refused.
	wrong := newHTTP(t, acq, "other")
	if _, err := wrong.Authorize(t.Context(), a); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("wrong token: %v", err)
	}
}

func sameMap(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestHTTPLostAnswer: a lost answer is unavailable; the retry with the key
// gets the approval, and the card is charged once.
func TestHTTPLostAnswer(t *testing.T) {
	acq := newAcquirer()
	n := newHTTP(t, acq, "tok")
	a := cardnet.Authorization{Key: "ptx_1", Card: card(cardnet.CardLostAnswer), AmountKRW: 6900, MerchantID: "mch_1"}
	if _, err := n.Authorize(t.Context(), a); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("first: %v", err)
	}
	got, err := n.Authorize(t.Context(), a)
	if err != nil || got.Status != cardnet.Approved || acq.sim.Charged("ptx_1") != 6900 || acq.sim.Authorizations() != 1 {
		t.Fatalf("retry = %+v, %v; charged %d", got, err, acq.sim.Charged("ptx_1"))
	}
	// A key reused for another amount is the gateway's bug; the acquirer
	// refuses it and charges nothing more.
	a.AmountKRW = 1
	if _, err := n.Authorize(t.Context(), a); !errors.Is(err, errs.ErrUnavailable) || acq.sim.Charged("ptx_1") != 6900 {
		t.Fatalf("reused key: %v", err)
	}
}

func TestHTTPCancelEndToEnd(t *testing.T) {
	acq := newAcquirer()
	n := newHTTP(t, acq, "tok")
	if _, err := n.Authorize(t.Context(), cardnet.Authorization{Key: "ptx_1", Card: card(cardnet.CardApproved), AmountKRW: 6900, MerchantID: "mch_1"}); err != nil {
		t.Fatal(err)
	}
	c := cardnet.Cancellation{Key: "prf_1", AuthKey: "ptx_1", AmountKRW: 6900}
	ref, err := n.Cancel(t.Context(), c)
	if err != nil || ref == "" || acq.sim.Charged("ptx_1") != 0 {
		t.Fatalf("Cancel = %q, %v", ref, err)
	}
	if again, err := n.Cancel(t.Context(), c); err != nil || again != ref {
		t.Fatalf("repeat = %q, %v", again, err)
	}
	for _, c := range []cardnet.Cancellation{
		{Key: "prf_2", AuthKey: "ptx_1", AmountKRW: 1},
		{Key: "prf_3", AuthKey: "ptx_unknown", AmountKRW: 1},
	} {
		if ref, err := n.Cancel(t.Context(), c); ref != "" || !errors.Is(err, cardnet.ErrNotCancellable) {
			t.Fatalf("Cancel(%+v) = %q, %v", c, ref, err)
		}
	}
	acq.sim.FailCancelNext(1)
	if _, err := n.Cancel(t.Context(), cardnet.Cancellation{Key: "prf_4", AuthKey: "ptx_1", AmountKRW: 1}); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("outage: %v", err)
	}
}

func TestHTTPRefusesBeforeSending(t *testing.T) {
	n := newHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the acquirer was called") }), "tok")
	ok := cardnet.Authorization{Key: "ptx_1", Card: card(cardnet.CardApproved), AmountKRW: 1, MerchantID: "mch_1"}
	bad := func(change func(*cardnet.Authorization)) cardnet.Authorization { a := ok; change(&a); return a }
	for name, a := range map[string]cardnet.Authorization{
		"error/check digit": bad(func(a *cardnet.Authorization) { a.Card.PAN = "4111111111111112" }),
		"error/cvv":         bad(func(a *cardnet.Authorization) { a.Card.CVV = "" }),
		"error/expiry":      bad(func(a *cardnet.Authorization) { a.Card.Expiry = "13/30" }),
		"error/amount":      bad(func(a *cardnet.Authorization) { a.AmountKRW = 0 }),
		"error/key":         bad(func(a *cardnet.Authorization) { a.Key = "" }),
		"error/merchant":    bad(func(a *cardnet.Authorization) { a.MerchantID = "mch 1" }),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := n.Authorize(t.Context(), a); err == nil || errors.Is(err, errs.ErrUnavailable) {
				t.Fatalf("Authorize = %v", err)
			}
		})
	}
	for _, c := range []cardnet.Cancellation{{Key: "prf_1", AuthKey: "ptx_1"}, {Key: "prf_1", AmountKRW: 1}, {AuthKey: "ptx_1", AmountKRW: 1}} {
		if _, err := n.Cancel(t.Context(), c); err == nil || errors.Is(err, errs.ErrUnavailable) {
			t.Fatalf("Cancel(%+v) = %v", c, err)
		}
	}
}

func TestHTTPErrors(t *testing.T) {
	write := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }
	}
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"error/500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }},
		{"error/503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }},
		{"error/404 is not a verdict", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) }},
		{"error/echoes the request in an error", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			http.Error(w, string(body), http.StatusBadRequest)
		}},
		{"error/echoes the request in a 200", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) }},
		{"error/timeout", func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}},
		{"error/malformed JSON", write(`{"status":"approved","approval_code":`)},
		{"error/unknown status", write(`{"status":"maybe","result":"maybe"}`)},
		{"error/approved without code, ok without ref", write(`{"status":"approved","result":"ok"}`)},
		{"error/unknown field", write(`{"status":"approved","approval_code":"1","result":"ok","ref":"R1","warning":"x"}`)},
		{"error/wrong type", write(`{"status":"approved","approval_code":12345678,"result":"ok","ref":1}`)},
		{"error/array", write(`[]`)},
	}
	const pan, cvv = cardnet.CardApproved, "8642"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newHTTP(t, tc.h, "tok")
			a := cardnet.Authorization{Key: "ptx_1", Card: cardnet.Card{PAN: pan, Expiry: "12/30", CVV: cvv}, AmountKRW: 6900, MerchantID: "mch_1"}
			got, err := n.Authorize(t.Context(), a)
			if got != (cardnet.Result{}) || !errors.Is(err, errs.ErrUnavailable) {
				t.Fatalf("Authorize = %+v, %v; want unavailable", got, err)
			}
			if msg := err.Error(); strings.Contains(msg, pan) || strings.Contains(msg, cvv) ||
				!strings.Contains(msg, "ptx_1") || !strings.Contains(msg, "411111******1111") {
				t.Fatalf("error %q shows the card, or does not name the key and the masked card", msg)
			}
			ref, err := n.Cancel(t.Context(), cardnet.Cancellation{Key: "prf_1", AuthKey: "ptx_1", AmountKRW: 6900})
			if ref != "" || !errors.Is(err, errs.ErrUnavailable) {
				t.Fatalf("Cancel = %q, %v; want unavailable", ref, err)
			}
		})
	}
}

func TestNewHTTPRefusesBadConfig(t *testing.T) {
	if _, err := cardnet.NewHTTP(jsonapi.Config{BaseURL: "acquirer.example", Token: "tok"}); err == nil {
		t.Fatal("relative base URL accepted")
	}
	if _, err := cardnet.NewHTTP(jsonapi.Config{BaseURL: "https://acquirer.example"}); err == nil {
		t.Fatal("missing token accepted")
	}
}

func TestHandlerRefusesBadRequests(t *testing.T) {
	srv := httptest.NewServer(cardnet.Handler(newSim()))
	t.Cleanup(srv.Close)
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"error/GET", http.MethodGet, "/v1/authorizations", "", http.StatusMethodNotAllowed},
		{"error/unknown path", http.MethodPost, "/v1/refunds", "{}", http.StatusNotFound},
		{"error/unknown field", http.MethodPost, "/v1/authorizations", `{"key":"ptx_1","pan":"4111111111111111","expiry":"12/30","cvv":"123","amount_krw":1,"merchant_id":"m","x":1}`, http.StatusBadRequest},
		{"error/fractional amount", http.MethodPost, "/v1/authorizations", `{"key":"ptx_1","pan":"4111111111111111","expiry":"12/30","cvv":"123","amount_krw":1.5,"merchant_id":"m"}`, http.StatusBadRequest},
		{"error/invalid card", http.MethodPost, "/v1/authorizations", `{"key":"ptx_1","pan":"4111111111111112","expiry":"12/30","cvv":"123","amount_krw":1,"merchant_id":"m"}`, http.StatusBadRequest},
		{"error/empty", http.MethodPost, "/v1/cancellations", ``, http.StatusBadRequest},
		{"error/too large", http.MethodPost, "/v1/cancellations", `{"key":"` + strings.Repeat("a", 20<<10) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || strings.Contains(string(body), "4111111111111112") {
				t.Fatalf("status %d, body %q; want %d", resp.StatusCode, body, tc.want)
			}
		})
	}
}
