package api

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/errs"
)

// wantClientError fails unless err is nil or a client-visible 4xx error.
func wantClientError(t *testing.T, err error, input string) {
	t.Helper()
	if err == nil {
		return
	}
	if e := errs.As(err); e == nil || statusOf(e) < 400 || statusOf(e) >= 500 {
		t.Fatalf("input %q gave %v", input, err)
	}
}

func FuzzTokenRequest(f *testing.F) {
	f.Add("grant_type=client_credentials&client_id=cl_x&client_secret=s", "", "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials&scope=ekyc%20risk", "Basic Y2xfeDpz", "application/x-www-form-urlencoded; charset=utf-8")
	f.Add("a=1&a=2;b", "Basic !!!", "application/x-www-form-urlencoded")
	f.Add("scope=&client_id=%zz", "Bearer x", "text/plain")
	f.Fuzz(func(t *testing.T, body, authz, ctype string) {
		r := httptest.NewRequest("POST", "/v1/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		form, err := readForm(httptest.NewRecorder(), r)
		wantClientError(t, err, body)
		if err != nil {
			return
		}
		_, _, err = clientCredentials(r, form)
		wantClientError(t, err, authz)
		scopes, err := parseScope(form)
		wantClientError(t, err, body)
		for _, s := range scopes {
			if s == "" || strings.Contains(s, " ") {
				t.Fatalf("scope %q from %q", s, body)
			}
		}
	})
}

func FuzzAuditPageQuery(f *testing.F) {
	for _, q := range []string{"after=1&limit=10", "limit=500", "limit=501", "after=-1", "after=1&after=2", "x=1", "limit=%zz", ""} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // the server reads r.URL.Query, which drops malformed pairs
		}
		after, limit, err := parsePage(q)
		wantClientError(t, err, raw)
		if err == nil && (after < 0 || limit < 1 || limit > maxAuditLimit) {
			t.Fatalf("%q gave after=%d limit=%d", raw, after, limit)
		}
	})
}

func FuzzForwardedFor(f *testing.F) {
	f.Add("198.51.100.1", "10.0.0.1:1")
	f.Add("1.1.1.1, 10.2.2.2, junk", "10.0.0.1:1")
	f.Add(",,,", "[::1]:1")
	f.Add("2001:db8::1%eth0", "10.0.0.1")
	s := &Server{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	f.Fuzz(func(t *testing.T, xff, remote string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		ip := s.clientIP(r)
		peer := peerAddr(remote)
		if !s.trusted(peer) && ip != peer {
			t.Fatalf("untrusted peer %q: XFF %q was believed (%s)", remote, xff, ip)
		}
		_ = ipKey(ip)
	})
}

func FuzzRequestID(f *testing.F) {
	for _, id := range []string{"abc", "req_x", strings.Repeat("a", 65), "a\nb", "가"} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !validRequestID(id) {
			return
		}
		for _, c := range id {
			if !(c < 128 && (c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')) {
				t.Fatalf("accepted %q", id)
			}
		}
	})
}
