package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeProblem: any answer gives an *APIError with the status, a
// non-empty code and a sane Retry-After.
func FuzzDecodeProblem(f *testing.F) {
	f.Add(503, "application/problem+json", "1", `{"code":"card_network_unavailable"}`)
	f.Add(409, "application/json; charset=utf-8", "", `{"code":"transaction_abnormal","field":"x"}`)
	f.Add(409, "application/problem+json", "", `{"code":"confirm_mismatch","title":"t"}`)
	f.Add(503, "application/problem+json; charset=utf-8", "2", `{"code":"unavailable"}`)
	f.Add(502, "text/html", "soon", `<html>`)
	f.Add(400, "application/problem+json", "99999999999", `{"code":`)
	f.Add(400, "application/json", "-1", `{"code":`)
	f.Fuzz(func(t *testing.T, status int, ctype, retry, body string) {
		h := http.Header{"Content-Type": {ctype}, "Retry-After": {retry}}
		e := decodeProblem("checkout", status, h, []byte(body))
		if e.Status != status || e.Code == "" || e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
			t.Fatalf("%+v", e)
		}
	})
}

func TestDecodeProblem(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, retry, body string
		want                     APIError
	}{
		{"ok/problem", "application/problem+json", "3", `{"code":"invalid_card","title":"Bad card","field":"card","detail":"x"}`,
			APIError{Status: 400, Code: "invalid_card", Title: "Bad card", Field: "card", RetryAfter: 3 * time.Second}},
		{"html page", "text/html", "", `<html>`, APIError{Status: 400, Code: "http_400"}},
		{"broken json", "application/json", "", `{"code":`, APIError{Status: 400, Code: "http_400"}},
		{"no code", "application/problem+json", "", `{"title":"t"}`, APIError{Status: 400, Code: "http_400", Title: "t"}},
		{"date retry-after", "application/json", "Wed, 21 Oct 2015 07:28:00 GMT", `{}`, APIError{Status: 400, Code: "http_400"}},
		{"negative retry-after", "application/json", "-1", `{}`, APIError{Status: 400, Code: "http_400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {tc.ctype}, "Retry-After": {tc.retry}}
			got := *decodeProblem("merchant", 400, h, []byte(tc.body))
			tc.want.sdk = "merchant"
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestAPIErrorNamesTheSDK: each SDK's errors keep its own prefix.
func TestAPIErrorNamesTheSDK(t *testing.T) {
	h := http.Header{"Content-Type": {"application/problem+json"}}
	for sdk, want := range map[string]string{
		"checkout": "checkout: gateway answered 409 transaction_abnormal",
		"merchant": "merchant: gateway answered 409 transaction_abnormal",
		"":         "gateway: gateway answered 409 transaction_abnormal",
	} {
		if got := decodeProblem(sdk, 409, h, []byte(`{"code":"transaction_abnormal"}`)).Error(); got != want {
			t.Errorf("%q: %s, want %s", sdk, got, want)
		}
	}
}

func FuzzValidIdempotencyKey(f *testing.F) {
	for _, s := range []string{NewIdempotencyKey(), "short", "has space 0123456789", strings.Repeat("a", 129), "ok_key-0123456789"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidIdempotencyKey(s) {
			return
		}
		if len(s) < 16 || len(s) > 128 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			t.Fatalf("accepted %q", s)
		}
	})
}

func TestValidTransactionID(t *testing.T) {
	for s, want := range map[string]bool{
		"ptx_01HZ-x": true, strings.Repeat("a", 128): true,
		"": false, strings.Repeat("a", 129): false, "ptx/../x": false, "ptx 1": false, "ptx%2F": false, "ptx?x": false,
	} {
		if ValidTransactionID(s) != want {
			t.Errorf("ValidTransactionID(%q) = %v", s, !want)
		}
	}
}
