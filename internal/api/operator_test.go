package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/operator"
)

func TestOperatorLoginAndCSRF(t *testing.T) {
	e := newEnv(t)
	o := e.newOperator("agent.kim", operator.RoleAgent)

	// Wrong code: refused.
	res := e.send(e.request("POST", "/v1/operator/sessions", `{"username":"agent.kim","password":"`+operatorPassword+`","code":"000000"}`))
	e.wantProblem(res, 401, "invalid_credentials")

	s := e.login(o)
	if !s.cookie.HttpOnly || s.cookie.SameSite != http.SameSiteStrictMode || s.cookie.Path != "/" || s.cookie.Secure {
		t.Errorf("cookie attributes %+v", s.cookie)
	}
	res = e.as(s, e.request("GET", "/v1/operator/me", ""))
	if res.StatusCode != 200 || !strings.Contains(string(res.body), `"username":"agent.kim"`) || strings.Contains(string(res.body), "argon2") {
		t.Fatalf("me: %d %s", res.StatusCode, res.body)
	}

	logout := func(mutate func(*http.Request)) response {
		r := e.request("DELETE", "/v1/operator/sessions/current", "")
		r.AddCookie(&http.Cookie{Name: s.cookie.Name, Value: s.cookie.Value})
		mutate(r)
		return e.send(r)
	}
	tests := []struct {
		name   string
		mutate func(*http.Request)
	}{
		{"error/no csrf token", func(r *http.Request) {}},
		{"error/wrong csrf token", func(r *http.Request) { r.Header.Set("X-CSRF-Token", s.csrf+"x") }},
		{"error/cross origin", func(r *http.Request) {
			r.Header.Set("X-CSRF-Token", s.csrf)
			r.Header.Set("Origin", "https://evil.example")
		}},
		{"error/null origin", func(r *http.Request) {
			r.Header.Set("X-CSRF-Token", s.csrf)
			r.Header.Set("Origin", "null")
		}},
		{"error/cross site fetch", func(r *http.Request) {
			r.Header.Set("X-CSRF-Token", s.csrf)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.events())
			e.wantProblem(logout(tt.mutate), 403, "csrf_failed")
			if n := len(e.events()); n != before {
				t.Errorf("a refused logout wrote %d audit events", n-before)
			}
		})
	}
	// Still logged in after the refusals.
	if res := e.as(s, e.request("GET", "/v1/operator/me", "")); res.StatusCode != 200 {
		t.Fatalf("session ended by a refused request: %d", res.StatusCode)
	}
	res = logout(func(r *http.Request) {
		r.Header.Set("X-CSRF-Token", s.csrf)
		r.Header.Set("Origin", e.url)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
	})
	if res.StatusCode != 204 {
		t.Fatalf("logout: %d %s", res.StatusCode, res.body)
	}
	e.wantProblem(e.as(s, e.request("GET", "/v1/operator/me", "")), 401, "session_invalid")
}

func TestLoginCrossSiteRefused(t *testing.T) {
	e := newEnv(t)
	o := e.newOperator("agent.lee", operator.RoleAgent)
	r := e.request("POST", "/v1/operator/sessions", `{"username":"agent.lee","password":"`+operatorPassword+`","code":"`+e.code(o)+`"}`)
	r.Header.Set("Origin", "https://evil.example")
	e.wantProblem(e.send(r), 403, "csrf_failed")
}

func TestSecureCookieWithTLS(t *testing.T) {
	e := newEnv(t, func(s *api.Server) { s.TLS = true })
	o := e.newOperator("admin.tls", operator.RoleAdmin)
	body := `{"username":"admin.tls","password":"` + operatorPassword + `","code":"` + e.code(o) + `"}`
	res := e.send(e.request("POST", "/v1/operator/sessions", body))
	if res.StatusCode != 201 {
		t.Fatalf("login: %d %s", res.StatusCode, res.body)
	}
	var found bool
	for _, c := range res.Cookies() {
		if c.Name == "__Host-haechi_session" && c.Secure && c.HttpOnly && c.Path == "/" && c.Domain == "" {
			found = true
		}
	}
	if !found {
		t.Errorf("Set-Cookie %q, want a Secure __Host- cookie", res.Header.Values("Set-Cookie"))
	}
}

func TestAdminRoutesNeedRole(t *testing.T) {
	e := newEnv(t)
	c, _ := e.newClient(institution.ScopeEKYC)
	agent := e.newOperator("agent.park", operator.RoleAgent)
	auditor := e.newOperator("auditor.choi", operator.RoleAuditor)
	s := e.login(agent)
	tests := []struct {
		method, path, body string
	}{
		{"GET", "/v1/operator/clients", ""},
		{"POST", "/v1/operator/clients", `{"name":"Evil","scopes":["ekyc"]}`},
		{"POST", "/v1/operator/clients/" + c.ID + "/revoke", ""},
		{"POST", "/v1/operator/clients/" + c.ID + "/api-keys", `{"scopes":["ekyc"]}`},
		{"GET", "/v1/operator/operators", ""},
		{"POST", "/v1/operator/operators/" + auditor.op.ID + "/disable", ""},
		{"GET", "/v1/operator/audit/verify", ""},
		{"GET", "/v1/operator/audit/events", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			before := len(e.events())
			e.wantProblem(e.as(s, e.request(tt.method, tt.path, tt.body)), 403, "role_required")
			if n := len(e.events()); n != before {
				t.Errorf("a refused request wrote %d audit events", n-before)
			}
		})
	}
	clients, err := e.inst.Clients(context.Background())
	if err != nil || len(clients) != 1 || clients[0].RevokedAt != nil {
		t.Errorf("clients changed: %d, %v", len(clients), err)
	}
	keys, err := e.db.APIKeys(context.Background(), c.ID)
	if err != nil || len(keys) != 0 {
		t.Errorf("an API key was issued: %d, %v", len(keys), err)
	}

	// Auditors may read the audit log and nothing else.
	as := e.login(auditor)
	if res := e.as(as, e.request("GET", "/v1/operator/audit/verify", "")); res.StatusCode != 200 {
		t.Errorf("auditor verify: %d %s", res.StatusCode, res.body)
	}
	e.wantProblem(e.as(as, e.request("GET", "/v1/operator/clients", "")), 403, "role_required")
}

func TestAdminFlow(t *testing.T) {
	e := newEnv(t)
	admin := e.newOperator("admin.jung", operator.RoleAdmin)
	other := e.newOperator("agent.han", operator.RoleAgent)
	s := e.login(admin)

	res := e.as(s, e.request("POST", "/v1/operator/clients", `{"name":"Hana Bank","scopes":["ekyc","payment"]}`))
	if res.StatusCode != 201 {
		t.Fatalf("create client: %d %s", res.StatusCode, res.body)
	}
	created := decodeJSON[struct {
		Client struct {
			ID     string   `json:"id"`
			Scopes []string `json:"scopes"`
		} `json:"client"`
		ClientSecret string `json:"client_secret"`
	}](t, res)
	if created.Client.ID == "" || created.ClientSecret == "" {
		t.Fatalf("create client: %s", res.body)
	}

	res = e.as(s, e.request("GET", "/v1/operator/clients", ""))
	if res.StatusCode != 200 || !strings.Contains(string(res.body), created.Client.ID) || strings.Contains(string(res.body), created.ClientSecret) {
		t.Errorf("list clients: %d %s", res.StatusCode, res.body)
	}
	if strings.Contains(strings.ToLower(string(res.body)), "hash") {
		t.Errorf("list clients shows a hash: %s", res.body)
	}

	res = e.as(s, e.request("POST", "/v1/operator/clients/"+created.Client.ID+"/api-keys", `{"scopes":["payment"],"ttl_days":30}`))
	if res.StatusCode != 201 {
		t.Fatalf("issue key: %d %s", res.StatusCode, res.body)
	}
	issued := decodeJSON[struct {
		APIKey    string `json:"api_key"`
		ID        string `json:"id"`
		ExpiresAt string `json:"expires_at"`
	}](t, res)
	if !strings.HasPrefix(issued.APIKey, "hk_") || issued.ID == "" || issued.ExpiresAt == "" {
		t.Fatalf("issue key: %s", res.body)
	}
	if res := e.send(withKey(e.request("GET", "/v1/ping", ""), issued.APIKey)); res.StatusCode != 200 {
		t.Fatalf("ping with the new key: %d %s", res.StatusCode, res.body)
	}

	for _, bad := range []struct{ name, path, body, code string }{
		{"error/ttl too long", "/v1/operator/clients/" + created.Client.ID + "/api-keys", `{"ttl_days":9999}`, "invalid_request"},
		{"error/scope beyond client", "/v1/operator/clients/" + created.Client.ID + "/api-keys", `{"scopes":["risk"]}`, "invalid_scope"},
		{"error/unknown client", "/v1/operator/clients/cl_" + strings.Repeat("a", 26) + "/api-keys", `{}`, "not_found"},
		{"error/malformed id", "/v1/operator/clients/..%2Fetc/api-keys", `{}`, "not_found"},
		{"error/no scopes", "/v1/operator/clients", `{"name":"X","scopes":[]}`, "invalid_request"},
		{"error/unknown scope", "/v1/operator/clients", `{"name":"X","scopes":["root"]}`, "invalid_scope"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			res := e.as(s, e.request("POST", bad.path, bad.body))
			if res.StatusCode < 400 || res.StatusCode >= 500 || !strings.Contains(string(res.body), `"code":"`+bad.code+`"`) {
				t.Errorf("%d %s, want %s", res.StatusCode, res.body, bad.code)
			}
		})
	}

	if res := e.as(s, e.request("POST", "/v1/operator/clients/"+created.Client.ID+"/revoke", "")); res.StatusCode != 204 {
		t.Fatalf("revoke: %d %s", res.StatusCode, res.body)
	}
	e.wantAuthFailure(withKey(e.request("GET", "/v1/ping", ""), issued.APIKey), "api_key_revoked", issued.APIKey)

	res = e.as(s, e.request("GET", "/v1/operator/operators", ""))
	if res.StatusCode != 200 || !strings.Contains(string(res.body), "agent.han") || strings.Contains(string(res.body), "argon2") {
		t.Errorf("list operators: %d %s", res.StatusCode, res.body)
	}
	e.wantProblem(e.as(s, e.request("POST", "/v1/operator/operators/"+admin.op.ID+"/disable", "")), 409, "cannot_disable_self")
	os := e.login(other)
	if res := e.as(s, e.request("POST", "/v1/operator/operators/"+other.op.ID+"/disable", "")); res.StatusCode != 204 {
		t.Fatalf("disable: %d %s", res.StatusCode, res.body)
	}
	e.wantProblem(e.as(os, e.request("GET", "/v1/operator/me", "")), 401, "session_invalid")
}

func TestAuditRoutes(t *testing.T) {
	e := newEnv(t)
	auditor := e.newOperator("auditor.yoon", operator.RoleAuditor)
	for range 7 {
		e.newClient(institution.ScopeEKYC)
	}
	s := e.login(auditor)

	res := e.as(s, e.request("GET", "/v1/operator/audit/verify", ""))
	v := decodeJSON[struct {
		Intact  bool   `json:"intact"`
		Checked int64  `json:"checked"`
		Broken  *int64 `json:"first_broken_seq"`
	}](t, res)
	if res.StatusCode != 200 || !v.Intact || v.Checked < 8 || v.Broken != nil {
		t.Errorf("verify: %d %s", res.StatusCode, res.body)
	}

	res = e.as(s, e.request("GET", "/v1/operator/audit/events?after=2&limit=3", ""))
	page := decodeJSON[struct {
		Events []struct {
			Seq    int64  `json:"seq"`
			Action string `json:"action"`
		} `json:"events"`
		NextAfter int64 `json:"next_after"`
	}](t, res)
	if res.StatusCode != 200 || len(page.Events) != 3 || page.Events[0].Seq != 3 || page.NextAfter != 5 {
		t.Errorf("events page: %d %s", res.StatusCode, res.body)
	}
	for _, q := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=501", "limit"}, {"limit=abc", "limit"}, {"after=-1", "after"},
		{"after=1&after=2", "after"}, {"sort=desc", "sort"},
	} {
		t.Run("error/"+q.query, func(t *testing.T) {
			res := e.as(s, e.request("GET", "/v1/operator/audit/events?"+q.query, ""))
			if res.StatusCode != 400 || !strings.Contains(string(res.body), `"field":"`+q.field+`"`) {
				t.Errorf("%d %s", res.StatusCode, res.body)
			}
		})
	}
}
