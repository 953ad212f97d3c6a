package carrier_test

import (
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

	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
)

var kim = carrier.Identity{Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345678"}

func TestSimulatorMatch(t *testing.T) {
	sim := carrier.NewSimulator(carrier.DefaultSubscribers()...)
	tests := []struct {
		name string
		id   carrier.Identity
		want bool
	}{
		{"ok", kim, true},
		{"ok/another subscriber", carrier.Identity{Name: "이영희", BirthDate: "1985-05-05", Phone: "01098765432"}, true},
		{"mismatch/name", carrier.Identity{Name: "김민준", BirthDate: kim.BirthDate, Phone: kim.Phone}, false},
		{"mismatch/birth date", carrier.Identity{Name: kim.Name, BirthDate: "1990-01-02", Phone: kim.Phone}, false},
		{"mismatch/other subscriber's phone", carrier.Identity{Name: kim.Name, BirthDate: kim.BirthDate, Phone: "01098765432"}, false},
		{"mismatch/unknown phone", carrier.Identity{Name: kim.Name, BirthDate: kim.BirthDate, Phone: "01000000000"}, false},
		{"mismatch/empty", carrier.Identity{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sim.Match(t.Context(), tc.id)
			if err != nil || got != tc.want {
				t.Fatalf("Match = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	t.Run("error/cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := sim.Match(ctx, kim); !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v", err)
		}
	})
}

func TestSimulatorCodes(t *testing.T) {
	sim := carrier.NewSimulator(carrier.DefaultSubscribers()...)
	if _, ok := sim.LastCode(kim.Phone); ok {
		t.Fatal("a code before any was sent")
	}
	for _, code := range []string{"111111", "222222"} {
		if err := sim.SendCode(t.Context(), kim.Phone, code); err != nil {
			t.Fatal(err)
		}
	}
	if code, ok := sim.LastCode(kim.Phone); !ok || code != "222222" {
		t.Fatalf("LastCode = %q, %v; want the last one sent", code, ok)
	}
	if _, ok := sim.LastCode("01098765432"); ok {
		t.Fatal("code leaked to another phone")
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			sim.SendCode(t.Context(), "01077778888", "333333")
			sim.LastCode("01077778888")
		})
	}
	wg.Wait()
}

// carrierServer answers like a carrier holding kim only and records the
// last SMS.
type carrierServer struct {
	mu      sync.Mutex
	lastSMS map[string]string
}

func (c *carrierServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var in map[string]string
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case "/v1/subscriber-match":
		match := in["name"] == kim.Name && in["birth_date"] == kim.BirthDate && in["phone"] == kim.Phone
		json.NewEncoder(w).Encode(map[string]bool{"match": match})
	case "/v1/sms":
		c.mu.Lock()
		c.lastSMS = in
		c.mu.Unlock()
		io.WriteString(w, "{}")
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func newHTTP(t *testing.T, h http.Handler, token string) *carrier.HTTP {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	p, err := carrier.NewHTTP(jsonapi.Config{BaseURL: srv.URL, Token: token, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHTTP(t *testing.T) {
	cs := &carrierServer{}
	p := newHTTP(t, cs, "tok")
	t.Run("ok/match", func(t *testing.T) {
		if ok, err := p.Match(t.Context(), kim); err != nil || !ok {
			t.Fatalf("Match = %v, %v", ok, err)
		}
	})
	t.Run("ok/mismatch", func(t *testing.T) {
		other := kim
		other.BirthDate = "1990-01-02"
		if ok, err := p.Match(t.Context(), other); err != nil || ok {
			t.Fatalf("Match = %v, %v", ok, err)
		}
	})
	t.Run("ok/sms carries the code", func(t *testing.T) {
		if err := p.SendCode(t.Context(), kim.Phone, "482910"); err != nil {
			t.Fatal(err)
		}
		cs.mu.Lock()
		defer cs.mu.Unlock()
		if cs.lastSMS["phone"] != kim.Phone || !strings.Contains(cs.lastSMS["text"], "482910") {
			t.Fatalf("sms %v", cs.lastSMS)
		}
	})
}

func TestHTTPErrors(t *testing.T) {
	tests := []struct {
		name  string
		h     http.HandlerFunc
		token string
	}{
		{"error/500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, "tok"},
		{"error/wrong token", (&carrierServer{}).ServeHTTP, "other"},
		{"error/timeout", func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, "tok"},
		{"error/malformed JSON", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"match":tru`) }, "tok"},
		{"error/missing answer", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) }, "tok"},
		{"error/wrong type", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"match":"yes"}`) }, "tok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newHTTP(t, tc.h, tc.token)
			ok, err := p.Match(t.Context(), kim)
			checkErr(t, err)
			if ok {
				t.Fatal("matched despite the error")
			}
			if tc.name != "error/missing answer" && tc.name != "error/wrong type" {
				checkErr(t, p.SendCode(t.Context(), kim.Phone, "482910"))
			}
		})
	}
}

// checkErr wants an unavailable error that names the phone masked only.
func checkErr(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("error = %v, want unavailable", err)
	}
	if msg := err.Error(); strings.Contains(msg, kim.Phone) || strings.Contains(msg, "12345678") ||
		!strings.Contains(msg, "010-****-5678") {
		t.Fatalf("error %q shows the phone or does not name it masked", msg)
	}
}

func TestNewHTTPRefusesBadConfig(t *testing.T) {
	if _, err := carrier.NewHTTP(jsonapi.Config{BaseURL: "carrier.example", Token: "tok"}); err == nil {
		t.Fatal("relative base URL accepted")
	}
}
