package bankxfer_test

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

	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
)

// gateway answers from a simulator, so the adapter and the simulator must
// agree, and remembers the last request body.
type gateway struct {
	sim  *bankxfer.Simulator
	mu   sync.Mutex
	seen map[string]any
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Bank   string `json:"bank_code"`
		Number string `json:"account_number"`
		Amount int64  `json:"amount_krw"`
		Memo   string `json:"memo"`
	}
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer tok" || json.Unmarshal(body, &in) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	json.Unmarshal(body, &g.seen)
	g.mu.Unlock()
	a := bankxfer.Account{Bank: in.Bank, Number: in.Number}
	var out map[string]string
	var err error
	switch r.URL.Path {
	case "/v1/holder":
		var name string
		name, err = g.sim.Holder(r.Context(), a)
		out = map[string]string{"result": "ok", "holder": name}
	case "/v1/deposits":
		var ref string
		ref, err = g.sim.Deposit(r.Context(), a, in.Amount, in.Memo)
		out = map[string]string{"result": "ok", "ref": ref}
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	switch {
	case errors.Is(err, bankxfer.ErrNoAccount):
		out = map[string]string{"result": "no_account"}
	case err != nil:
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	json.NewEncoder(w).Encode(out)
}

func newHTTP(t *testing.T, h http.Handler) *bankxfer.HTTP {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	n, err := bankxfer.NewHTTP(jsonapi.Config{BaseURL: srv.URL, Token: "tok", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHTTPHolder(t *testing.T) {
	n := newHTTP(t, &gateway{sim: newSim(t)})
	tests := []struct {
		name string
		acct bankxfer.Account
		want string
		err  error
	}{
		{"ok", kimAcct, "김민수", nil},
		{"ok/a different person's account", minjunAcct, "김민준", nil},
		{"ok/typed with hyphens", bankxfer.Account{Bank: "004", Number: "110-1234-5678-901"}, "김민수", nil},
		{"no account/closed", closedAcct, "", bankxfer.ErrNoAccount},
		{"no account/unknown", bankxfer.Account{Bank: "004", Number: "11012345678902"}, "", bankxfer.ErrNoAccount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := n.Holder(t.Context(), tc.acct)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Holder = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestHTTPDeposit(t *testing.T) {
	g := &gateway{sim: newSim(t)}
	n := newHTTP(t, g)
	ref, err := n.Deposit(t.Context(), bankxfer.Account{Bank: "004", Number: "110-1234-5678-901"}, 1, "해치 A1B2")
	if err != nil {
		t.Fatal(err)
	}
	st := g.sim.Statement(kimAcct)
	if len(st) != 1 || st[0].Ref != ref || st[0].Memo != "해치 A1B2" || st[0].AmountKRW != 1 {
		t.Fatalf("ref %q, statement %v", ref, st)
	}
	g.mu.Lock()
	seen := g.seen
	g.mu.Unlock()
	if seen["bank_code"] != "004" || seen["account_number"] != "11012345678901" || seen["amount_krw"] != 1.0 || seen["memo"] != "해치 A1B2" {
		t.Fatalf("sent %v", seen)
	}
	if _, err := n.Deposit(t.Context(), closedAcct, 1, "A1B2"); !errors.Is(err, bankxfer.ErrNoAccount) {
		t.Fatalf("deposit to a closed account: %v", err)
	}
}

func TestHTTPRefusesBeforeSending(t *testing.T) {
	n := newHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the gateway was called") }))
	tests := []struct {
		name  string
		call  func() error
		err   *errs.Error
		field string
	}{
		{"error/holder of a malformed account", func() error {
			_, err := n.Holder(t.Context(), bankxfer.Account{Bank: "04", Number: kimAcct.Number})
			return err
		}, bankxfer.ErrInvalidAccount, "bank_code"},
		{"error/deposit to a malformed account", func() error {
			_, err := n.Deposit(t.Context(), bankxfer.Account{Bank: "004", Number: "123"}, 1, "A1B2")
			return err
		}, bankxfer.ErrInvalidAccount, "account_number"},
		{"error/zero amount", func() error { _, err := n.Deposit(t.Context(), kimAcct, 0, "A1B2"); return err }, bankxfer.ErrInvalidDeposit, "amount"},
		{"error/amount too large", func() error { _, err := n.Deposit(t.Context(), kimAcct, 1_000_001, "A1B2"); return err }, bankxfer.ErrInvalidDeposit, "amount"},
		{"error/memo too long", func() error { _, err := n.Deposit(t.Context(), kimAcct, 1, "12345678901"); return err }, bankxfer.ErrInvalidDeposit, "memo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantField(t, tc.call(), tc.err, tc.field) })
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
		{"error/timeout", func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}},
		{"error/malformed JSON", write(`{"result":"ok","holder":"김민수","ref":`)},
		{"error/unknown result", write(`{"result":"maybe"}`)},
		{"error/missing result", write(`{"holder":"김민수","ref":"T1"}`)},
		{"error/ok without value", write(`{"result":"ok"}`)},
		{"error/unknown field", write(`{"result":"ok","holder":"김민수","ref":"T1","status":"closed"}`)},
		{"error/no_account with value", write(`{"result":"no_account","holder":"김민수","ref":"T1"}`)},
		{"error/wrong type", write(`{"result":"ok","holder":12345678901,"ref":12345678901}`)},
		{"error/array", write(`[]`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newHTTP(t, tc.h)
			name, err := n.Holder(t.Context(), kimAcct)
			checkUnavailable(t, name, err)
			ref, err := n.Deposit(t.Context(), kimAcct, 1, "A1B2")
			checkUnavailable(t, ref, err)
		})
	}
}

// checkUnavailable wants an unavailable error that names the account
// masked only and carries nothing of the answer.
func checkUnavailable(t *testing.T, got string, err error) {
	t.Helper()
	if got != "" || !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("got %q, %v; want unavailable", got, err)
	}
	if msg := err.Error(); strings.Contains(msg, "12345678") || strings.Contains(msg, "김민수") ||
		!strings.Contains(msg, "004 110-*****-***901") {
		t.Fatalf("error %q shows the account or the answer, or does not name the account masked", msg)
	}
}

func TestNewHTTPRefusesBadConfig(t *testing.T) {
	if _, err := bankxfer.NewHTTP(jsonapi.Config{BaseURL: "bank.example", Token: "tok"}); err == nil {
		t.Fatal("relative base URL accepted")
	}
}
