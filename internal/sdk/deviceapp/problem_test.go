package deviceapp

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestDecodeProblem(t *testing.T) {
	two := 2
	tests := []struct {
		name   string
		status int
		ctype  string
		retry  string
		body   string
		want   Problem
	}{
		{"ok/counted refusal", 403, "application/problem+json", "",
			`{"type":"https://haechi.dev/problems/code_wrong","title":"The verification code is wrong.","status":403,"code":"code_wrong","remaining_attempts":2}`,
			Problem{Status: 403, Code: "code_wrong", Title: "The verification code is wrong.", RemainingAttempts: &two}},
		{"ok/restricted with retry-after", 423, "application/problem+json; charset=utf-8", "86400",
			`{"code":"registration_restricted","title":"t","detail":"Retry after 86400 seconds.","field":"x"}`,
			Problem{Status: 423, Code: "registration_restricted", Title: "t", Detail: "Retry after 86400 seconds.", Field: "x", RetryAfter: 24 * time.Hour}},
		{"error/html from a proxy", 502, "text/html", "", `<html>bad gateway</html>`, Problem{Status: 502, Code: "http_502"}},
		{"error/malformed json", 400, "application/problem+json", "", `{"code":`, Problem{Status: 400, Code: "http_400"}},
		{"error/negative remaining ignored", 403, "application/problem+json", "", `{"code":"c","remaining_attempts":-1}`, Problem{Status: 403, Code: "c"}},
		{"error/http-date retry-after ignored", 503, "application/problem+json", "Wed, 21 Oct 2015 07:28:00 GMT", `{"code":"unavailable"}`, Problem{Status: 503, Code: "unavailable"}},
		{"error/absurd retry-after ignored", 429, "application/problem+json", "9999999999", `{"code":"rate_limited"}`, Problem{Status: 429, Code: "rate_limited"}},
		{"error/negative retry-after ignored", 429, "application/problem+json", "-5", `{"code":"rate_limited"}`, Problem{Status: 429, Code: "rate_limited"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {tt.ctype}}
			if tt.retry != "" {
				h.Set("Retry-After", tt.retry)
			}
			got := DecodeProblem(tt.status, h, []byte(tt.body))
			if remaining(got) != remaining(&tt.want) {
				t.Fatalf("remaining_attempts = %s, want %s", remaining(got), remaining(&tt.want))
			}
			g, w := *got, tt.want
			g.RemainingAttempts, w.RemainingAttempts = nil, nil
			if g != w {
				t.Fatalf("got %+v, want %+v", g, w)
			}
		})
	}
}

func TestCodeOf(t *testing.T) {
	p := &Problem{Status: 423, Code: "registration_blocked"}
	if got := CodeOf(fmt.Errorf("start: %w", p)); got != "registration_blocked" {
		t.Fatalf("wrapped problem: %q", got)
	}
	if got := CodeOf(errors.New("dial tcp: refused")); got != "" {
		t.Fatalf("network error: %q", got)
	}
	if got := CodeOf(nil); got != "" {
		t.Fatalf("nil: %q", got)
	}
}

func FuzzDecodeProblem(f *testing.F) {
	f.Add(403, "application/problem+json", "3", []byte(`{"code":"code_wrong","remaining_attempts":1}`))
	f.Add(423, "application/problem+json", "86400", []byte(`{"code":"registration_restricted"}`))
	f.Add(500, "text/plain", "x", []byte("oops"))
	f.Add(400, "application/json", "", []byte(`{"remaining_attempts":1e99}`))
	f.Fuzz(func(t *testing.T, status int, ctype, retry string, body []byte) {
		h := http.Header{"Content-Type": {ctype}, "Retry-After": {retry}}
		p := DecodeProblem(status, h, body)
		if p == nil || p.Status != status || p.Code == "" {
			t.Fatalf("problem %+v", p)
		}
		if p.RetryAfter < 0 || p.RetryAfter > maxRetryAfter {
			t.Fatalf("retry after %s", p.RetryAfter)
		}
		if p.RemainingAttempts != nil && *p.RemainingAttempts < 0 {
			t.Fatalf("remaining %d", *p.RemainingAttempts)
		}
		_ = p.Error()
	})
}

func remaining(p *Problem) string {
	if p.RemainingAttempts == nil {
		return "absent"
	}
	return fmt.Sprint(*p.RemainingAttempts)
}
