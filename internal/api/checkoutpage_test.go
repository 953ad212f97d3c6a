package api

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/checkout"
)

// TestCheckoutPageRoutes: through the whole middleware stack the page
// keeps its own CSP (not the API's default-src 'none', under which its
// script could not run), and anything else under /checkout is the API's
// 404 problem.
func TestCheckoutPageRoutes(t *testing.T) {
	s, _ := bare(t)
	for _, p := range []string{"/checkout?merchant_id=mch_1&amount=6900", "/checkout/checkout.js", "/checkout/checkout.css"} {
		w := serve(s, httptest.NewRequest("GET", p, nil))
		if w.Code != 200 || w.Header().Get("Content-Security-Policy") != checkout.CSP {
			t.Errorf("GET %s = %d, CSP %q", p, w.Code, w.Header().Get("Content-Security-Policy"))
		}
		if w.Header().Get("Referrer-Policy") != "no-referrer" || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Referrer-Policy %q, Cache-Control %q", p, w.Header().Get("Referrer-Policy"), w.Header().Get("Cache-Control"))
		}
	}
	for _, p := range []string{"/checkout/index.html", "/checkout/", "/checkout/static", "/checkout/x.js"} {
		w := serve(s, httptest.NewRequest("GET", p, nil))
		if w.Code != 404 {
			t.Fatalf("GET %s = %d, want 404", p, w.Code)
		}
		if pr := readProblem(t, w); pr.Code != "not_found" || strings.Contains(w.Body.String(), "checkout.js") {
			t.Fatalf("GET %s: %+v", p, pr)
		}
	}
	if w := serve(s, httptest.NewRequest("POST", "/checkout", nil)); w.Code != 405 {
		t.Fatalf("POST /checkout = %d, want 405", w.Code)
	}
}
