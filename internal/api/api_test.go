package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/attest"
	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/oauth"
	"github.com/haechi/haechi/internal/onetime"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/passkey"
	"github.com/haechi/haechi/internal/ratelimit"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

// clock is the injected time every service shares.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	tokenIssuer   = "https://haechi.test"
	tokenAudience = "haechi-api"
)

// env is a running server over real services and a fresh SQLite database,
// with the carrier, attestation and ID-check simulators.
type env struct {
	t         *testing.T
	clock     *clock
	db        *sqlstore.DB
	ring      *crypto.Keyring
	inst      *institution.Service
	ops       *operator.Service
	customers *customer.Service
	devices   *device.Service
	carrier   *carrier.Simulator
	attest    *attest.Simulator
	server    *api.Server
	url       string
}

func newEnv(t *testing.T, configure ...func(*api.Server)) *env {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	km := crypto.NewKeyMaterial()
	signer := &audit.Signer{Key: km.AuditKey(), Every: 5}
	db := storetest.MustOpenSQLite(t, sqlstore.Options{Signer: signer, Now: clk.Now})
	ring, err := crypto.LoadKeyring(ctx, km, db, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := oauth.NewIssuer(ctx, oauth.Config{Issuer: tokenIssuer, Audience: tokenAudience}, db, ring, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, clock: clk, db: db, ring: ring}
	e.inst = &institution.Service{Store: db, Pepper: km.Pepper, Now: clk.Now}
	e.ops = &operator.Service{Store: db, Hasher: crypto.NewHasher(km.Pepper, crypto.TestHashParams, 2, 16), Ring: ring, Pepper: km.Pepper, Now: clk.Now}
	e.customers = &customer.Service{Store: db, Ring: ring, Now: clk.Now}
	e.server = &api.Server{
		Institutions: e.inst, Tokens: issuer, Operators: e.ops, Customers: e.customers,
		Audit: db, AuditKey: km.AuditKey().Public().(ed25519.PublicKey), Ready: db.Ping,
		Registry: prometheus.NewRegistry(), Now: clk.Now,
	}
	e.addDevices(km.Pepper)
	for _, c := range configure {
		c(e.server)
	}
	ts := httptest.NewServer(e.server.Handler())
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

// addDevices wires device registration over the simulators, with the
// demo policy, as serve --demo does.
func (e *env) addDevices(pepper []byte) {
	e.t.Helper()
	idc, err := idcheck.NewSimulator(idcheck.DefaultRecords()...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.carrier = carrier.NewSimulator(carrier.DefaultSubscribers()...)
	e.attest = attest.NewSimulator()
	e.attest.Now = e.clock.Now
	e.devices = &device.Service{
		Store: e.db, Customers: e.customers, Carrier: e.carrier, Attest: e.attest,
		Codes: &onetime.Service{Store: e.db, Pepper: pepper, Now: e.clock.Now}, Ring: e.ring,
		Policy: device.DemoPolicy(), Risk: device.SimpleScorer{Log: e.db},
		StepUp: device.SimulatorStepUp{Carrier: e.carrier, IDCheck: idc}, Now: e.clock.Now,
	}
	if err := e.devices.Validate(); err != nil {
		e.t.Fatal(err)
	}
	pk, err := passkey.New(passkey.Config{RPID: "localhost", RPName: "haechi", Origins: []string{passkeyOrigin}}, e.db, e.clock.Now)
	if err != nil {
		e.t.Fatal(err)
	}
	e.server.Devices = e.devices
	e.server.WebAuthn = &device.WebAuthn{Passkeys: pk, Devices: e.devices}
	e.server.DeviceRequests = &device.Requests{Store: e.db, Now: e.clock.Now}
	e.server.Directory = e.db
	e.server.Simulators = &api.Simulators{Carrier: e.carrier, Attest: e.attest}
}

// request builds a request; a non-empty body is sent as JSON.
func (e *env) request(method, path, body string) *http.Request {
	e.t.Helper()
	r, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

type response struct {
	*http.Response
	body []byte
}

func (e *env) send(r *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{resp, b}
}

type problem struct {
	Type, Title, Code, Detail, Instance, Field string
	Status                                     int
	RemainingAttempts                          *int `json:"remaining_attempts"`
}

// wantProblem checks the status and code of a problem response.
func (e *env) wantProblem(res response, status int, code string) problem {
	e.t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		e.t.Fatalf("status %d, Content-Type %q, body %s; want a %d %s problem", res.StatusCode, ct, res.body, status, code)
	}
	var p problem
	if err := json.Unmarshal(res.body, &p); err != nil {
		e.t.Fatal(err)
	}
	if res.StatusCode != status || p.Status != status || p.Code != code {
		e.t.Fatalf("got %d %s (%s), want %d %s", res.StatusCode, p.Code, res.body, status, code)
	}
	if p.Type != "https://haechi.dev/problems/"+code || p.Instance != res.Header.Get("X-Request-Id") || p.Instance == "" {
		e.t.Errorf("problem %+v: bad type or instance", p)
	}
	return p
}

func decodeJSON[T any](t *testing.T, res response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(res.body, &v); err != nil {
		t.Fatalf("decode %s: %v", res.body, err)
	}
	return v
}

func (e *env) events() []audit.Event {
	e.t.Helper()
	evs, err := e.db.AuditEvents(context.Background(), 0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func (e *env) newClient(scopes ...string) (*institution.Client, string) {
	e.t.Helper()
	c, secret, err := e.inst.CreateClient(context.Background(), "test", "Test Bank", scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, secret
}

func (e *env) newKey(clientID string, scopes ...string) (string, *institution.APIKey) {
	e.t.Helper()
	raw, k, err := e.inst.IssueAPIKey(context.Background(), "test", clientID, scopes, 30*24*time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return raw, k
}

// operatorLogin is a created operator and how to log them in.
type operatorLogin struct {
	op       *operator.Operator
	username string
	secret   string
}

const operatorPassword = "correct horse battery staple"

func (e *env) newOperator(username string, roles ...operator.Role) operatorLogin {
	e.t.Helper()
	op, enr, err := e.ops.Create(context.Background(), "test", username, operatorPassword, roles)
	if err != nil {
		e.t.Fatal(err)
	}
	return operatorLogin{op: op, username: username, secret: enr.TOTPSecret}
}

// code moves the clock to a fresh TOTP step (a code is good once) and
// returns the code for it.
func (e *env) code(o operatorLogin) string {
	e.t.Helper()
	e.clock.Add(30 * time.Second)
	c, err := totp.GenerateCode(o.secret, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// session is a logged-in operator as a browser holds it.
type session struct {
	cookie *http.Cookie
	csrf   string
}

func (e *env) login(o operatorLogin) session {
	e.t.Helper()
	body := `{"username":"` + o.username + `","password":"` + operatorPassword + `","code":"` + e.code(o) + `"}`
	res := e.send(e.request("POST", "/v1/operator/sessions", body))
	if res.StatusCode != http.StatusCreated {
		e.t.Fatalf("login: %d %s", res.StatusCode, res.body)
	}
	out := decodeJSON[struct {
		CSRFToken string `json:"csrf_token"`
	}](e.t, res)
	for _, c := range res.Cookies() {
		if c.Name == "haechi_session" {
			return session{cookie: c, csrf: out.CSRFToken}
		}
	}
	e.t.Fatal("login set no session cookie")
	return session{}
}

// as sends r in the session, with the CSRF token.
func (e *env) as(s session, r *http.Request) response {
	e.t.Helper()
	r.AddCookie(&http.Cookie{Name: s.cookie.Name, Value: s.cookie.Value})
	r.Header.Set("X-CSRF-Token", s.csrf)
	return e.send(r)
}

func withKey(r *http.Request, key string) *http.Request {
	r.Header.Set("X-Api-Key", key)
	return r
}

func withBearer(r *http.Request, tok string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// tokenFor runs the client credentials grant over HTTP.
func (e *env) tokenFor(clientID, secret, scope string) string {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
	if scope != "" {
		form.Set("scope", scope)
	}
	res := e.send(formRequest(e, form.Encode()))
	if res.StatusCode != 200 {
		e.t.Fatalf("token: %d %s", res.StatusCode, res.body)
	}
	return decodeJSON[struct {
		AccessToken string `json:"access_token"`
	}](e.t, res).AccessToken
}

func formRequest(e *env, body string) *http.Request {
	r := e.request("POST", "/v1/oauth/token", "")
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func TestHealthAndMetadata(t *testing.T) {
	e := newEnv(t)
	res := e.send(e.request("GET", "/healthz", ""))
	if res.StatusCode != 200 || strings.TrimSpace(string(res.body)) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", res.StatusCode, res.body)
	}
	if res := e.send(e.request("GET", "/readyz", "")); res.StatusCode != 200 {
		t.Errorf("readyz: %d %s", res.StatusCode, res.body)
	}
	res = e.send(e.request("GET", "/.well-known/jwks.json", ""))
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=300" {
		t.Errorf("jwks: %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	jwks := decodeJSON[struct{ Keys []map[string]any }](t, res)
	if len(jwks.Keys) == 0 || jwks.Keys[0]["d"] != nil {
		t.Errorf("jwks: %s", res.body)
	}
	if res := e.send(e.request("GET", "/metrics", "")); res.StatusCode != 200 || !strings.Contains(string(res.body), "haechi_http_requests_total") {
		t.Errorf("metrics: %d", res.StatusCode)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, contentType, body string
		status                  int
		code, field             string
	}{
		{"error/malformed json", "application/json", `{"username":`, 400, "malformed_json", ""},
		{"error/unknown field", "application/json", `{"username":"a","password":"b","code":"123456","admin":true}`, 400, "unknown_field", "admin"},
		{"error/duplicate field", "application/json", `{"username":"a","username":"b"}`, 400, "duplicate_field", "username"},
		{"error/wrong type", "application/json", `{"username":1}`, 400, "wrong_type", "username"},
		{"error/trailing data", "application/json", `{"username":"a","password":"b","code":"123456"} {}`, 400, "trailing_data", ""},
		{"error/empty body", "application/json", ``, 400, "empty_body", ""},
		{"error/oversized body", "application/json", `{"username":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "body_too_large", ""},
		{"error/wrong content type", "text/plain", `{}`, 415, "unsupported_media_type", ""},
		{"error/form content type", "application/x-www-form-urlencoded", `username=a`, 415, "unsupported_media_type", ""},
		{"error/validation", "application/json", `{"username":"a","password":"b","code":"12ab56"}`, 400, "invalid_request", "code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.events())
			r := e.request("POST", "/v1/operator/sessions", "")
			r.Body = io.NopCloser(strings.NewReader(tt.body))
			r.ContentLength = int64(len(tt.body))
			r.Header.Set("Content-Type", tt.contentType)
			p := e.wantProblem(e.send(r), tt.status, tt.code)
			if p.Field != tt.field {
				t.Errorf("field = %q, want %q", p.Field, tt.field)
			}
			if n := len(e.events()); n != before {
				t.Errorf("bad input wrote %d audit events", n-before)
			}
		})
	}
}

func TestAPIKeyAuthentication(t *testing.T) {
	e := newEnv(t)
	c, _ := e.newClient(institution.ScopeEKYC, institution.ScopePayment)
	good, _ := e.newKey(c.ID, institution.ScopeEKYC)
	revoked, rk := e.newKey(c.ID)
	if err := e.inst.RevokeAPIKey(context.Background(), "test", rk.ID); err != nil {
		t.Fatal(err)
	}
	wrongSecret := good[:len(good)-4] + "aaaa"
	if wrongSecret == good {
		wrongSecret = good[:len(good)-4] + "bbbb"
	}

	res := e.send(withKey(e.request("GET", "/v1/ping", ""), good))
	if res.StatusCode != 200 {
		t.Fatalf("good key: %d %s", res.StatusCode, res.body)
	}
	ping := decodeJSON[struct {
		ClientID string   `json:"client_id"`
		Scopes   []string `json:"scopes"`
		Via      string   `json:"via"`
	}](t, res)
	if ping.ClientID != c.ID || ping.Via != "api_key" || len(ping.Scopes) != 1 || ping.Scopes[0] != "ekyc" {
		t.Errorf("ping = %+v", ping)
	}
	r := e.request("GET", "/v1/ping", "")
	r.Header.Set("Authorization", "ApiKey "+good)
	if res := e.send(r); res.StatusCode != 200 {
		t.Errorf("Authorization: ApiKey: %d %s", res.StatusCode, res.body)
	}

	tests := []struct {
		name, key, code string
	}{
		{"error/malformed key", "hk_nope", "invalid_api_key"},
		{"error/unknown key", "hk_" + strings.Repeat("a", 26) + "_" + strings.Repeat("b", 52), "invalid_api_key"},
		{"error/wrong secret", wrongSecret, "invalid_api_key"},
		{"error/revoked key", revoked, "api_key_revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantAuthFailure(withKey(e.request("GET", "/v1/ping", ""), tt.key), tt.code, tt.key)
		})
	}
	t.Run("error/expired key", func(t *testing.T) {
		e.clock.Add(31 * 24 * time.Hour)
		e.wantAuthFailure(withKey(e.request("GET", "/v1/ping", ""), good), "api_key_expired", good)
	})
}

// wantAuthFailure sends r, expects 401 code with a challenge, and checks the
// audit log grew by exactly one auth.failure entry that holds no secret.
func (e *env) wantAuthFailure(r *http.Request, code, secret string) {
	e.t.Helper()
	before := e.events()
	res := e.send(r)
	e.wantProblem(res, 401, code)
	if res.Header.Get("WWW-Authenticate") == "" {
		e.t.Error("401 without WWW-Authenticate")
	}
	after := e.events()
	if len(after) != len(before)+1 {
		e.t.Fatalf("audit grew by %d events, want exactly 1", len(after)-len(before))
	}
	ev := after[len(after)-1]
	if ev.Action != "auth.failure" || ev.Actor != "anonymous" || ev.Result != audit.ResultFailure ||
		len(ev.Details) != 1 || ev.Details["reason"] != code || ev.RequestID != res.Header.Get("X-Request-Id") {
		e.t.Errorf("audit entry %+v", ev.Entry)
	}
	raw, _ := json.Marshal(ev)
	if secret != "" && len(secret) > 8 && strings.Contains(string(raw), secret[len(secret)-8:]) {
		e.t.Errorf("audit entry holds the credential: %s", raw)
	}
}

func TestMissingOrAmbiguousCredentials(t *testing.T) {
	e := newEnv(t)
	c, _ := e.newClient(institution.ScopeEKYC)
	key, _ := e.newKey(c.ID)

	res := e.send(e.request("GET", "/v1/ping", ""))
	e.wantProblem(res, 401, "unauthenticated")
	if got := res.Header.Values("WWW-Authenticate"); len(got) != 2 {
		t.Errorf("WWW-Authenticate = %q, want Bearer and ApiKey challenges", got)
	}
	r := withKey(e.request("GET", "/v1/ping", ""), key)
	r.Header.Set("Authorization", "ApiKey "+key)
	e.wantProblem(e.send(r), 400, "invalid_request")
	r = e.request("GET", "/v1/ping", "")
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("a:b")))
	e.wantProblem(e.send(r), 401, "unsupported_auth_scheme")
}

func TestKoreanProblems(t *testing.T) {
	e := newEnv(t)
	r := e.request("GET", "/v1/ping", "")
	r.Header.Set("Accept-Language", "ko-KR,ko;q=0.9,en-US;q=0.8")
	res := e.send(r)
	p := e.wantProblem(res, 401, "unauthenticated")
	if p.Title != "인증이 필요합니다." || res.Header.Get("Content-Language") != "ko" {
		t.Errorf("title %q, Content-Language %q", p.Title, res.Header.Get("Content-Language"))
	}
	p = e.wantProblem(e.send(e.request("GET", "/v1/ping", "")), 401, "unauthenticated")
	if p.Title != "Authentication is required." {
		t.Errorf("English title %q", p.Title)
	}
}

func TestScopeEnforced(t *testing.T) {
	e := newEnv(t, func(s *api.Server) { api.AddScopedTestRoute(s, "GET", "/v1/test/payment", institution.ScopePayment) })
	c, secret := e.newClient(institution.ScopeEKYC, institution.ScopePayment)
	ekycOnly, _ := e.newKey(c.ID, institution.ScopeEKYC)
	payment, _ := e.newKey(c.ID, institution.ScopePayment)

	before := len(e.events())
	e.wantProblem(e.send(withKey(e.request("GET", "/v1/test/payment", ""), ekycOnly)), 403, "insufficient_scope")
	if res := e.send(withKey(e.request("GET", "/v1/test/payment", ""), payment)); res.StatusCode != 204 {
		t.Errorf("payment key: %d %s", res.StatusCode, res.body)
	}
	tok := e.tokenFor(c.ID, secret, "ekyc")
	e.wantProblem(e.send(withBearer(e.request("GET", "/v1/test/payment", ""), tok)), 403, "insufficient_scope")
	tok = e.tokenFor(c.ID, secret, "payment ekyc")
	if res := e.send(withBearer(e.request("GET", "/v1/test/payment", ""), tok)); res.StatusCode != 204 {
		t.Errorf("payment token: %d %s", res.StatusCode, res.body)
	}
	for _, ev := range e.events()[before:] {
		if ev.Action == "auth.failure" {
			t.Errorf("a scope refusal was audited as an authentication failure: %+v", ev.Entry)
		}
	}
}

func TestTokenGrant(t *testing.T) {
	e := newEnv(t)
	c, secret := e.newClient(institution.ScopeEKYC, institution.ScopeRisk)

	res := e.send(formRequest(e, url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {secret}}.Encode()))
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token: %d %s (Cache-Control %q)", res.StatusCode, res.body, res.Header.Get("Cache-Control"))
	}
	tr := decodeJSON[struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
	}](t, res)
	if tr.TokenType != "Bearer" || tr.ExpiresIn < 590 || tr.ExpiresIn > 600 || tr.Scope != "ekyc risk" {
		t.Errorf("token response %+v", tr)
	}
	res = e.send(withBearer(e.request("GET", "/v1/ping", ""), tr.AccessToken))
	if res.StatusCode != 200 || !strings.Contains(string(res.body), `"via":"jwt"`) {
		t.Errorf("ping with token: %d %s", res.StatusCode, res.body)
	}

	basic := formRequest(e, "grant_type=client_credentials&scope=risk")
	basic.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
	res = e.send(basic)
	if res.StatusCode != 200 || !strings.Contains(string(res.body), `"scope":"risk"`) {
		t.Errorf("basic auth: %d %s", res.StatusCode, res.body)
	}

	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {secret}}
	with := func(k, v string) string {
		f := url.Values{}
		for key, vals := range good {
			f[key] = vals
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f.Encode()
	}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		code   string
	}{
		{"error/unsupported grant", func() *http.Request { return formRequest(e, with("grant_type", "password")) }, 400, "unsupported_grant_type"},
		{"error/missing grant", func() *http.Request { return formRequest(e, with("grant_type", "")) }, 400, "invalid_request"},
		{"error/wrong secret", func() *http.Request { return formRequest(e, with("client_secret", "nope")) }, 401, "invalid_client"},
		{"error/unknown client", func() *http.Request { return formRequest(e, with("client_id", "cl_"+strings.Repeat("a", 26))) }, 401, "invalid_client"},
		{"error/no client auth", func() *http.Request { return formRequest(e, "grant_type=client_credentials") }, 401, "invalid_client"},
		{"error/unknown scope", func() *http.Request { return formRequest(e, with("scope", "admin")) }, 400, "invalid_scope"},
		{"error/scope not granted", func() *http.Request { return formRequest(e, with("scope", "payment")) }, 400, "invalid_scope"},
		{"error/double space in scope", func() *http.Request { return formRequest(e, with("scope", "ekyc  risk")) }, 400, "invalid_scope"},
		{"error/repeated parameter", func() *http.Request { return formRequest(e, good.Encode()+"&grant_type=client_credentials") }, 400, "invalid_request"},
		{"error/basic and form", func() *http.Request {
			r := formRequest(e, good.Encode())
			r.SetBasicAuth(c.ID, secret)
			return r
		}, 400, "invalid_request"},
		{"error/credentials in query", func() *http.Request {
			r := formRequest(e, "grant_type=client_credentials")
			r.URL.RawQuery = "client_id=" + c.ID + "&client_secret=" + secret
			return r
		}, 400, "invalid_request"},
		{"error/json body", func() *http.Request {
			return e.request("POST", "/v1/oauth/token", `{"grant_type":"client_credentials"}`)
		}, 415, "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.events())
			res := e.send(tt.req())
			e.wantProblem(res, tt.status, tt.code)
			// Failed client authentication is audited; other refusals are not.
			want := 0
			if tt.code == "invalid_client" {
				want = 1
			}
			if grew := len(e.events()) - before; grew != want {
				t.Errorf("audit grew by %d, want %d", grew, want)
			}
			if tt.code == "invalid_client" && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("invalid_client without a Basic challenge")
			}
			if strings.Contains(string(res.body), secret) {
				t.Error("the response repeats the secret")
			}
		})
	}
}

// forge builds a compact JWT with the given header and claims, signed by sign.
func forge(header, claims map[string]any, sign func(input []byte) []byte) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	return input + "." + enc.EncodeToString(sign([]byte(input)))
}

func TestBearerRejections(t *testing.T) {
	e := newEnv(t)
	c, secret := e.newClient(institution.ScopeEKYC)
	valid := e.tokenFor(c.ID, secret, "")

	jwks := decodeJSON[struct{ Keys []map[string]string }](t, e.send(e.request("GET", "/.well-known/jwks.json", "")))
	jwk := jwks.Keys[0]
	pub := ecdsaFromJWK(t, jwk)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	now := e.clock.Now().Unix()
	claims := map[string]any{
		"iss": tokenIssuer, "aud": tokenAudience, "sub": c.ID, "client_id": c.ID, "scope": "ekyc",
		"iat": now, "nbf": now, "exp": now + 600, "jti": "forged",
	}
	hmacWith := func(key []byte) func([]byte) []byte {
		return func(in []byte) []byte { m := hmac.New(sha256.New, key); m.Write(in); return m.Sum(nil) }
	}

	// Another issuer over the same keys signs real tokens for another audience.
	other, err := oauth.NewIssuer(context.Background(), oauth.Config{Issuer: tokenIssuer, Audience: "someone-else"}, e.db, e.ring, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	wrongAud, _, err := other.Issue(context.Background(), &institution.Principal{ClientID: c.ID, Scopes: []string{"ekyc"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")

	tests := []struct {
		name, token, code string
	}{
		{"error/alg none", forge(map[string]any{"alg": "none", "typ": "at+jwt", "kid": jwk["kid"]}, claims, func([]byte) []byte { return nil }), "invalid_token"},
		{"error/HS256 with PEM public key", forge(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": jwk["kid"]}, claims, hmacWith(pemKey)), "invalid_token"},
		{"error/HS256 with DER public key", forge(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": jwk["kid"]}, claims, hmacWith(der)), "invalid_token"},
		{"error/wrong audience", wrongAud, "invalid_token"},
		{"error/tampered claims", parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(claims)) + "." + parts[2], "invalid_token"},
		{"error/garbage", "not.a.jwt", "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantAuthFailure(withBearer(e.request("GET", "/v1/ping", ""), tt.token), tt.code, "")
		})
	}
	t.Run("error/expired", func(t *testing.T) {
		e.clock.Add(11 * time.Minute)
		e.wantAuthFailure(withBearer(e.request("GET", "/v1/ping", ""), valid), "token_expired", "")
	})
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func ecdsaFromJWK(t *testing.T, k map[string]string) *ecdsa.PublicKey {
	t.Helper()
	x, err1 := base64.RawURLEncoding.DecodeString(k["x"])
	y, err2 := base64.RawURLEncoding.DecodeString(k["y"])
	if err1 != nil || err2 != nil || k["crv"] != "P-256" || len(x) != 32 || len(y) != 32 {
		t.Fatalf("unexpected JWK %v", k)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatalf("JWK is not a P-256 point: %v", err)
	}
	return pub
}

func TestClientRateLimit(t *testing.T) {
	lim := ratelimit.NewMemory()
	e := newEnv(t, func(s *api.Server) {
		s.Limiter = lim
		s.IPLimit = ratelimit.Quota{Rate: 1000, Burst: 1000}
		s.ClientLimit = ratelimit.Quota{Rate: 0.1, Burst: 2}
	})
	c, _ := e.newClient(institution.ScopeEKYC)
	key, _ := e.newKey(c.ID)
	for i := range 2 {
		if res := e.send(withKey(e.request("GET", "/v1/ping", ""), key)); res.StatusCode != 200 {
			t.Fatalf("request %d: %d", i+1, res.StatusCode)
		}
	}
	res := e.send(withKey(e.request("GET", "/v1/ping", ""), key))
	e.wantProblem(res, 429, "rate_limited")
	if ra := res.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	// Another client has its own budget.
	c2, _ := e.newClient(institution.ScopeEKYC)
	key2, _ := e.newKey(c2.ID)
	if res := e.send(withKey(e.request("GET", "/v1/ping", ""), key2)); res.StatusCode != 200 {
		t.Errorf("other client: %d", res.StatusCode)
	}
}

func TestRequestIDAndHeadersEndToEnd(t *testing.T) {
	e := newEnv(t, func(s *api.Server) { s.TLS = true })
	r := e.request("GET", "/v1/ping", "")
	r.Header.Set("X-Request-Id", "client-id-1")
	res := e.send(r)
	if res.Header.Get("X-Request-Id") != "client-id-1" {
		t.Errorf("X-Request-Id = %q", res.Header.Get("X-Request-Id"))
	}
	r = e.request("GET", "/v1/ping", "")
	r.Header.Set("X-Request-Id", "bad id <script>")
	res = e.send(r)
	if id := res.Header.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") {
		t.Errorf("bad client id replaced by %q", id)
	}
	for k, v := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
	} {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}
