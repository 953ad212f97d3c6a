package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/ratelimit"
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// bare is a Server with no services: enough for middleware and pure routes.
func bare(t *testing.T) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	return &Server{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Registry: prometheus.NewRegistry()}, logs
}

// counterValue reads one counter series.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func serve(s *Server, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

func readProblem(t *testing.T, w *httptest.ResponseRecorder) problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json (body %s)", ct, w.Body)
	}
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != w.Code || p.Type != problemBase+p.Code {
		t.Errorf("problem %+v does not match status %d", p, w.Code)
	}
	return p
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"ok/echoed", "abc-123_X.y", true},
		{"ok/64 chars", strings.Repeat("a", 64), true},
		{"error/65 chars", strings.Repeat("a", 65), false},
		{"error/space", "abc 123", false},
		{"error/newline injection", "abc\r\nSet-Cookie: x=1", false},
		{"error/unicode", "요청", false},
		{"error/absent", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := bare(t)
			r := httptest.NewRequest("GET", "/nope", nil)
			if tt.sent != "" {
				r.Header["X-Request-Id"] = []string{tt.sent}
			}
			w := serve(s, r)
			got := w.Header().Get("X-Request-Id")
			if tt.echoed && got != tt.sent {
				t.Errorf("X-Request-Id = %q, want the client's %q", got, tt.sent)
			}
			if !tt.echoed && (got == tt.sent || !strings.HasPrefix(got, "req_") || !validRequestID(got)) {
				t.Errorf("X-Request-Id = %q, want a fresh req_ id", got)
			}
			if p := readProblem(t, w); p.Instance != got {
				t.Errorf("instance = %q, want the request id %q", p.Instance, got)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	for _, tls := range []bool{false, true} {
		for _, path := range []string{"/healthz", "/v1/nope"} {
			s, _ := bare(t)
			s.TLS = tls
			w := serve(s, httptest.NewRequest("GET", path, nil))
			h := w.Header()
			want := map[string]string{
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
			}
			if strings.HasPrefix(path, "/v1/") {
				want["Cache-Control"] = "no-store"
			}
			for k, v := range want {
				if h.Get(k) != v {
					t.Errorf("tls=%v %s: %s = %q, want %q", tls, path, k, h.Get(k), v)
				}
			}
			if hsts := h.Get("Strict-Transport-Security"); (hsts != "") != tls {
				t.Errorf("tls=%v %s: HSTS = %q", tls, path, hsts)
			}
		}
	}
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, xff, want string
	}{
		{"ok/direct", "203.0.113.5:1234", "", "203.0.113.5"},
		{"ok/untrusted peer ignores XFF", "203.0.113.5:1234", "198.51.100.1", "203.0.113.5"},
		{"ok/trusted proxy", "10.1.2.3:1234", "198.51.100.1", "198.51.100.1"},
		{"ok/spoofed left entries ignored", "10.1.2.3:1234", "1.1.1.1, 198.51.100.1", "198.51.100.1"},
		{"ok/chain of proxies", "10.1.2.3:1234", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"ok/garbage entry stops the walk", "10.1.2.3:1234", "198.51.100.1, junk", "10.1.2.3"},
		{"ok/mapped IPv4", "[::ffff:203.0.113.5]:1", "", "203.0.113.5"},
		{"ok/IPv6", "[2001:db8::1]:1", "", "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{TrustedProxies: proxies}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := s.clientIP(r).String(); got != tt.want {
				t.Errorf("clientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestIPv6LimitedByPrefix(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	if ipKey(a) != ipKey(b) {
		t.Errorf("%s and %s in one /64 got keys %s and %s", a, b, ipKey(a), ipKey(b))
	}
	if ipKey(netip.MustParseAddr("192.0.2.1")) != "192.0.2.1" {
		t.Error("IPv4 key is not the address")
	}
}

func TestPanicRecovered(t *testing.T) {
	s, logs := bare(t)
	AddTestRoute(s, "GET", "/boom", func(http.ResponseWriter, *http.Request) { panic("secret internals") })
	w := serve(s, httptest.NewRequest("GET", "/boom", nil))
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", w.Code)
	}
	p := readProblem(t, w)
	if p.Code != "internal" || strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("client saw %s", w.Body)
	}
	if !strings.Contains(logs.String(), "secret internals") {
		t.Error("the panic was not logged")
	}
	// The server goes on serving.
	if w := serve(s, httptest.NewRequest("GET", "/healthz", nil)); w.Code != http.StatusOK {
		t.Errorf("after a panic, /healthz gave %d", w.Code)
	}
}

func TestErrorWriter(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		lang       string
		status     int
		code       string
		title      string
		retryAfter string
	}{
		{"ok/english", errs.ErrNotFound, "", 404, "not_found", errs.ErrNotFound.EN, ""},
		{"ok/korean", errs.ErrNotFound, "ko-KR,ko;q=0.9,en;q=0.5", 404, "not_found", errs.ErrNotFound.KO, ""},
		{"ok/korean preferred by weight", errs.ErrNotFound, "en;q=0.2, ko;q=0.8", 404, "not_found", errs.ErrNotFound.KO, ""},
		{"ok/unsupported language falls back", errs.ErrNotFound, "fr-FR", 404, "not_found", errs.ErrNotFound.EN, ""},
		{"ok/garbage header falls back", errs.ErrNotFound, "!!;;q=abc", 404, "not_found", errs.ErrNotFound.EN, ""},
		{"ok/internal hidden", errors.New("db password=hunter2 refused"), "", 500, "internal", errs.ErrInternal.EN, ""},
		{"ok/internal kind hidden", errs.ErrInternal.WithCause(errors.New("hunter2")), "", 500, "internal", errs.ErrInternal.EN, ""},
		{"ok/wrapped public error", errors.Join(errors.New("ctx"), errRateLimited), "", 429, "rate_limited", errRateLimited.EN, "1"},
		{"ok/retry rounded up", errRateLimited.WithRetryAfter(1100 * time.Millisecond), "", 429, "rate_limited", errRateLimited.EN, "2"},
		{"ok/503 retry", errs.ErrUnavailable, "", 503, "unavailable", errs.ErrUnavailable.EN, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := bare(t)
			s.defaults()
			r := httptest.NewRequest("GET", "/", nil)
			if tt.lang != "" {
				r.Header.Set("Accept-Language", tt.lang)
			}
			w := httptest.NewRecorder()
			s.error(w, r, tt.err)
			p := readProblem(t, w)
			if w.Code != tt.status || p.Code != tt.code || p.Title != tt.title {
				t.Errorf("got %d %+v, want %d %s %q", w.Code, p, tt.status, tt.code, tt.title)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if strings.Contains(w.Body.String(), "hunter2") {
				t.Error("an internal cause reached the client")
			}
			if tt.code == "internal" && !strings.Contains(logs.String(), "hunter2") {
				t.Error("the internal cause was not logged")
			}
			if n := counterValue(t, s.metrics.errors.WithLabelValues(tt.code)); n != 1 {
				t.Errorf("haechi_http_errors_total{code=%s} = %v, want 1", tt.code, n)
			}
		})
	}
}

func TestUnmatchedRoutes(t *testing.T) {
	s, _ := bare(t)
	w := serve(s, httptest.NewRequest("GET", "/no/such/route", nil))
	if p := readProblem(t, w); w.Code != 404 || p.Code != "not_found" {
		t.Errorf("unknown path: %d %+v", w.Code, p)
	}
	w = serve(s, httptest.NewRequest("DELETE", "/healthz", nil))
	if p := readProblem(t, w); w.Code != 405 || p.Code != "method_not_allowed" {
		t.Errorf("wrong method: %d %+v", w.Code, p)
	}
	if allow := w.Header().Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("Allow = %q", allow)
	}
}

// failingLimiter stands in for a Redis that is down.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, ratelimit.Quota) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, errors.New("connection refused")
}

func TestRateLimitPerIP(t *testing.T) {
	s, _ := bare(t)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := ratelimit.NewMemorySized(10, func() time.Time { return clock })
	s.Limiter, s.IPLimit = l, ratelimit.Quota{Rate: 0.5, Burst: 2}
	h := s.Handler()
	get := func(ip string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/healthz", nil)
		r.RemoteAddr = ip + ":1000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 2 {
		if w := get("192.0.2.1"); w.Code != 200 {
			t.Fatalf("request %d: %d", i+1, w.Code)
		}
	}
	w := get("192.0.2.1")
	if p := readProblem(t, w); w.Code != 429 || p.Code != "rate_limited" {
		t.Fatalf("3rd request: %d %+v", w.Code, p)
	}
	if ra := w.Header().Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After = %q, want 2 (one request per 2 s)", ra)
	}
	if w := get("192.0.2.2"); w.Code != 200 {
		t.Errorf("another IP was limited: %d", w.Code)
	}
}

func TestRateLimiterFailureFailsOpen(t *testing.T) {
	s, logs := bare(t)
	s.Limiter, s.IPLimit = failingLimiter{}, ratelimit.Quota{Rate: 1, Burst: 1}
	w := serve(s, httptest.NewRequest("GET", "/healthz", nil))
	if w.Code != 200 {
		t.Fatalf("status %d, want 200 with the limiter down", w.Code)
	}
	if n := counterValue(t, s.metrics.limitErrors); n != 1 {
		t.Errorf("haechi_ratelimit_errors_total = %v, want 1", n)
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Error("the limiter failure was not logged")
	}
}

func TestAccessLogAndMetrics(t *testing.T) {
	s, logs := bare(t)
	h := s.Handler()
	r := httptest.NewRequest("GET", "/healthz?api_key=hk_secret", nil)
	r.Header.Set("Authorization", "Bearer secret-token")
	h.ServeHTTP(httptest.NewRecorder(), r)
	line := logs.String()
	for _, want := range []string{`"route":"/healthz"`, `"status":200`, `"method":"GET"`, `"request_id":"req_`, `"client_ip":"192.0.2.1"`} {
		if !strings.Contains(line, want) {
			t.Errorf("access log lacks %s: %s", want, line)
		}
	}
	for _, secret := range []string{"hk_secret", "secret-token", "api_key"} {
		if strings.Contains(line, secret) {
			t.Errorf("access log contains %q", secret)
		}
	}
	if n := counterValue(t, s.metrics.requests.WithLabelValues("/healthz", "GET", "200")); n != 1 {
		t.Errorf("haechi_http_requests_total = %v, want 1", n)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	for _, name := range []string{"haechi_http_requests_total", "haechi_http_request_duration_seconds"} {
		if !bytes.Contains(body, []byte(name)) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// Unknown paths share one label so they cannot grow the series.
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x/"+strings.Repeat("y", 10), nil))
	if n := counterValue(t, s.metrics.requests.WithLabelValues("unmatched", "GET", "404")); n != 1 {
		t.Errorf("unmatched requests counted %v, want 1", n)
	}
}

func TestReadyz(t *testing.T) {
	s, _ := bare(t)
	s.Ready = func(context.Context) error { return errors.New("db down") }
	w := serve(s, httptest.NewRequest("GET", "/readyz", nil))
	if p := readProblem(t, w); w.Code != 503 || p.Code != "not_ready" || w.Header().Get("Retry-After") == "" {
		t.Errorf("readyz with db down: %d %+v", w.Code, p)
	}
	s2, _ := bare(t)
	s2.Ready = func(context.Context) error { return nil }
	if w := serve(s2, httptest.NewRequest("GET", "/readyz", nil)); w.Code != 200 {
		t.Errorf("readyz: %d", w.Code)
	}
}
