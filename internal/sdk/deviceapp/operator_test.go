package deviceapp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestOperatorSessionAndCSRF checks that the client logs in with the TOTP
// code of its clock, keeps the session cookie and sends the CSRF token on
// writes only.
func TestOperatorSessionAndCSRF(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXP"
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/operator/sessions", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		json.NewDecoder(r.Body).Decode(&in)
		if ok, _ := totp.ValidateCustom(in["code"], secret, now, totp.ValidateOpts{Period: 30, Digits: 6}); !ok || in["password"] != "pw" {
			t.Errorf("login with %v", in)
		}
		http.SetCookie(w, &http.Cookie{Name: "haechi_session", Value: "s1", Path: "/"})
		reply(w, 201, map[string]string{"csrf_token": "c1"})
	})
	mux.HandleFunc("GET /v1/operator/customers/{id}/registration-status", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("haechi_session"); err != nil || c.Value != "s1" || r.Header.Get("X-CSRF-Token") != "" {
			t.Errorf("status read: cookie %v, csrf %q", c, r.Header.Get("X-CSRF-Token"))
		}
		reply(w, 200, map[string]any{"blocked": true})
	})
	mux.HandleFunc("POST /v1/operator/releases/{id}/approve", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("haechi_session"); err != nil || c.Value != "s1" || r.Header.Get("X-CSRF-Token") != "c1" {
			t.Errorf("approve: cookie %v, csrf %q", c, r.Header.Get("X-CSRF-Token"))
		}
		reply(w, 200, map[string]string{"state": "approved"})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	o := NewOperatorClient(srv.URL)
	o.Now = func() time.Time { return now }
	ctx := context.Background()
	if err := o.Login(ctx, "demo-supervisor", "pw", secret); err != nil {
		t.Fatal(err)
	}
	if st, err := o.RegistrationStatus(ctx, "cus_1"); err != nil || !st.Blocked {
		t.Fatalf("status %+v %v", st, err)
	}
	if err := o.ApproveRelease(ctx, "rel_1"); err != nil {
		t.Fatal(err)
	}
	if err := o.Login(ctx, "x", "pw", "not base32!"); err == nil {
		t.Fatal("login with a malformed TOTP secret")
	}
}
