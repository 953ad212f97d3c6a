package deviceapp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/session"
)

func testApp(t *testing.T, server string) *App {
	t.Helper()
	a, err := NewApp(server, "inst_test", DemoReport(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDPoPProofPassesTheServer checks that the proofs this client makes are
// what the server's verifier accepts, and only for the request they name.
func TestDPoPProofPassesTheServer(t *testing.T) {
	const token = "an-access-token"
	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name              string
		method, url, tok  string
		vMethod, vURL, va string
		wantOK            bool
	}{
		{"ok/token endpoint", "POST", "https://api.haechi.test/v1/logins", "", "POST", "https://api.haechi.test/v1/logins", "", true},
		{"ok/query left out", "GET", "https://api.haechi.test/v1/x?a=1#f", "", "GET", "https://api.haechi.test/v1/x?b=2", "", true},
		{"ok/with access token", "GET", "http://127.0.0.1:8080/v1/sessions/current", token, "GET", "http://127.0.0.1:8080/v1/sessions/current", session.ATH(token), true},
		{"error/other method", "POST", "https://api.haechi.test/v1/logins", "", "GET", "https://api.haechi.test/v1/logins", "", false},
		{"error/other URL", "POST", "https://api.haechi.test/v1/logins", "", "POST", "https://api.haechi.test/v1/sessions/refresh", "", false},
		{"error/other token", "GET", "https://api.haechi.test/v1/x", token, "GET", "https://api.haechi.test/v1/x", session.ATH("another"), false},
		{"error/ath at the token endpoint", "POST", "https://api.haechi.test/v1/x", token, "POST", "https://api.haechi.test/v1/x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testApp(t, "")
			a.Now = func() time.Time { return now.Add(900 * time.Millisecond) }
			proof, err := a.DPoPProof(tt.method, tt.url, tt.tok)
			if err != nil {
				t.Fatal(err)
			}
			p, err := session.VerifyProof(proof, tt.vMethod, tt.vURL, tt.va, now, 0)
			if (err == nil) != tt.wantOK {
				t.Fatalf("VerifyProof: %v, want ok=%v", err, tt.wantOK)
			}
			if err == nil && (p.JKT == "" || !p.IAT.Equal(now)) {
				t.Fatalf("proof %+v: want a thumbprint and iat %s in whole seconds", p, now)
			}
		})
	}
}

func TestDPoPProofIsFreshAndNamesTheAppKey(t *testing.T) {
	now := time.Now()
	a, b := testApp(t, ""), testApp(t, "")
	seen := map[string]bool{}
	jkt := ""
	for i := 0; i < 20; i++ {
		proof, err := a.DPoPProof("GET", "https://h.test/v1/x", "")
		if err != nil {
			t.Fatal(err)
		}
		p, err := session.VerifyProof(proof, "GET", "https://h.test/v1/x", "", now, 0)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p.JTI] {
			t.Fatalf("jti %q repeated", p.JTI)
		}
		seen[p.JTI] = true
		if jkt != "" && p.JKT != jkt {
			t.Fatal("one app key gave two thumbprints")
		}
		jkt = p.JKT
	}
	proof, _ := b.DPoPProof("GET", "https://h.test/v1/x", "")
	if p, err := session.VerifyProof(proof, "GET", "https://h.test/v1/x", "", now, 0); err != nil || p.JKT == jkt {
		t.Fatalf("another app's proof: %v, same thumbprint %v", err, err == nil && p.JKT == jkt)
	}
}

func TestDPoPProofRefusesRelativeURL(t *testing.T) {
	if _, err := testApp(t, "").DPoPProof("GET", "/v1/x", ""); err == nil {
		t.Fatal("proof for a relative URL made")
	}
}

// TestCurrentSendsBoundToken checks the resource call: the DPoP-bound
// Authorization header and a proof carrying the token's hash.
func TestCurrentSendsBoundToken(t *testing.T) {
	const token = "tok-123"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "DPoP "+token {
			http.Error(w, "no DPoP token", http.StatusUnauthorized)
			return
		}
		url := "http://" + r.Host + r.URL.Path
		if _, err := session.VerifyProof(r.Header.Get(HeaderDPoP), r.Method, url, session.ATH(token), time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(Session{CustomerID: "cus_1", DeviceID: "dev_1"})
	}))
	defer srv.Close()
	s, err := testApp(t, srv.URL).Current(context.Background(), token)
	if err != nil || s.CustomerID != "cus_1" || s.DeviceID != "dev_1" {
		t.Fatalf("Current = %+v, %v", s, err)
	}
}

// TestLoginSignsAndProves checks a login carries both the device signature
// headers and a DPoP proof for POST /v1/logins without ath.
func TestLoginSignsAndProves(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/device-nonces" {
			json.NewEncoder(w).Encode(map[string]string{"nonce": "n-1"})
			return
		}
		url := "http://" + r.Host + r.URL.Path
		_, perr := session.VerifyProof(r.Header.Get(HeaderDPoP), "POST", url, "", time.Now(), 0)
		var in loginRequest
		json.NewDecoder(r.Body).Decode(&in)
		if perr != nil || r.Header.Get(HeaderNonce) != "n-1" || r.Header.Get(HeaderSignature) == "" || in.Method != "pin" || in.Secret != "482915" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"code": "bad_login"})
			return
		}
		json.NewEncoder(w).Encode(Tokens{AccessToken: "a", TokenType: "DPoP", ExpiresIn: 300, RefreshToken: "r"})
	}))
	defer srv.Close()
	a := testApp(t, srv.URL)
	a.DeviceID = "dev_1"
	tok, err := a.Login(context.Background(), MethodPIN, "482915")
	if err != nil || tok.TokenType != "DPoP" || tok.RefreshToken != "r" {
		t.Fatalf("Login = %+v, %v", tok, err)
	}
	_, err = a.Login(context.Background(), MethodPIN, "000000")
	if CodeOf(err) != "bad_login" || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong PIN: %v", err)
	}
}

// FuzzDPoPProofURL checks that whatever URL a proof is made for, the
// server's verifier accepts it for that URL whenever the URL is one it can
// compare at all: the client never makes a proof the server misreads.
func FuzzDPoPProofURL(f *testing.F) {
	for _, s := range []string{"https://h.test/v1/logins", "http://127.0.0.1:8080/v1/x?q=1", "https://H.test:443/a/../b/%7e", "https://h.test", "/relative", "https://h.test/a%2Fb"} {
		f.Add(s)
	}
	a, err := NewApp("", "inst_test", DemoReport(time.Now()))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, rawURL string) {
		proof, err := a.DPoPProof("POST", rawURL, "")
		if err != nil {
			return
		}
		if _, err := session.VerifyProof(proof, "POST", rawURL, "", now, 0); err != nil && strings.Contains(err.Error(), "htu") {
			t.Fatalf("proof for %q refused: %v", rawURL, err)
		}
	})
}
