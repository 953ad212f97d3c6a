package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/login"
	"github.com/haechi/haechi/internal/operator"
	sess "github.com/haechi/haechi/internal/session"
	"github.com/haechi/haechi/internal/sqlstore"
)

const firstPIN = "482915"

// withLogin wires the login service over the env's database, as serve does.
func withLogin(s *api.Server) {
	db := s.Audit.(*sqlstore.DB)
	km := crypto.NewKeyMaterial()
	hasher := crypto.NewHasher(km.Pepper, crypto.TestHashParams, 2, 16)
	s.Login = &login.Service{
		Credentials: &credential.Service{Store: db, Hasher: hasher, Now: s.Now},
		Lockout:     &lockout.Service{Store: db, Ladders: lockout.DefaultLadders(), Now: s.Now},
		Sessions:    &sess.Service{Store: db, Pepper: km.Pepper, Now: s.Now},
		Customers:   s.Customers, StepUp: s.Devices.StepUp, Audit: db, Now: s.Now,
	}
}

// app is a registered phone of a bank with scopes device and login.
type app struct {
	e        *env
	p        *phone
	dev      string
	customer string
	key      string // the bank's API key
}

func newApp(t *testing.T) *app {
	t.Helper()
	return newAppWith(t, []string{"device", "login"})
}

// newAppWith is newApp with the bank holding scopes and more wiring.
func newAppWith(t *testing.T, scopes []string, configure ...func(*api.Server)) *app {
	t.Helper()
	e := newEnv(t, append([]func(*api.Server){withLogin}, configure...)...)
	c, _ := e.newClient(scopes...)
	key, _ := e.newKey(c.ID, scopes...)
	cu, err := e.customers.Create(context.Background(), "test", c.ID, customer.New{Name: kim.Name, BirthDate: kim.BirthDate, Phone: kim.Phone})
	if err != nil {
		t.Fatal(err)
	}
	b := &bank{id: c.ID, key: key, customers: map[string]string{kim.Phone: cu.ID}}
	p := e.newPhone(b, "android-hw-0001")
	return &app{e: e, p: p, dev: p.register(kim).DeviceID, customer: cu.ID, key: key}
}

// dpop signs a DPoP proof with the device key.
func (a *app) dpop(method, url, token string) string {
	a.e.t.Helper()
	pub, err := jwk.Import(a.p.key.Public())
	if err != nil {
		a.e.t.Fatal(err)
	}
	c := map[string]any{"jti": crypto.Token(16), "htm": method, "htu": url, "iat": a.e.clock.Now().Unix()}
	if token != "" {
		c["ath"] = sess.ATH(token)
	}
	payload, _ := json.Marshal(c)
	hdr := jws.NewHeaders()
	hdr.Set(jws.TypeKey, "dpop+jwt")
	hdr.Set(jws.JWKKey, pub)
	out, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), a.p.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		a.e.t.Fatal(err)
	}
	return string(out)
}

// signed is a device-signed request with a fresh nonce.
func (a *app) signed(method, path, body string) *http.Request {
	return a.p.signed(a.p.key, a.dev, method, path, body, a.p.nonce(a.dev), a.e.clock.Now())
}

func (a *app) setSecret(method, body string) response {
	return a.e.send(a.signed("PUT", "/v1/credentials/"+method, body))
}

func (a *app) login(body string) response {
	r := a.signed("POST", "/v1/logins", body)
	r.Header.Set("DPoP", a.dpop("POST", a.e.url+"/v1/logins", ""))
	return a.e.send(r)
}

func pinBody(pin string) string { return `{"method":"pin","secret":"` + pin + `"}` }

type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

func (a *app) mustLogin(pin string) tokens {
	a.e.t.Helper()
	res := a.login(pinBody(pin))
	if res.StatusCode != http.StatusOK {
		a.e.t.Fatalf("login: %d %s", res.StatusCode, res.body)
	}
	tk := decodeJSON[tokens](a.e.t, res)
	if tk.TokenType != "DPoP" || tk.ExpiresIn != 600 || tk.AccessToken == "" || tk.RefreshToken == "" {
		a.e.t.Fatalf("tokens %s", res.body)
	}
	return tk
}

func (a *app) current(token, proof string) response {
	r := a.e.request("GET", "/v1/sessions/current", "")
	r.Header.Set("Authorization", "DPoP "+token)
	r.Header.Set("DPoP", proof)
	return a.e.send(r)
}

func (a *app) refresh(token string) response {
	r := a.e.request("POST", "/v1/sessions/refresh", `{"refresh_token":"`+token+`"}`)
	r.Header.Set("DPoP", a.dpop("POST", a.e.url+"/v1/sessions/refresh", ""))
	return a.e.send(r)
}

// failures reads the PIN ladder's count as an analyst sees it.
func (a *app) failures(o session) (int, bool) {
	a.e.t.Helper()
	res := a.e.as(o, a.e.request("GET", "/v1/operator/customers/"+a.customer+"/login-state", ""))
	if res.StatusCode != http.StatusOK {
		a.e.t.Fatalf("login-state: %d %s", res.StatusCode, res.body)
	}
	st := decodeJSON[struct {
		Methods []struct {
			Method    string
			Failures  int
			Protected bool
		}
	}](a.e.t, res)
	return st.Methods[0].Failures, st.Methods[0].Protected
}

func TestCredentialRules(t *testing.T) {
	a := newApp(t)
	cases := []struct {
		name, method, body string
		status             int
		code               string
	}{
		{"error/sequence", "pin", `{"secret":"123456"}`, 400, "pin_sequence"},
		{"error/one digit repeated", "pin", `{"secret":"777777"}`, 400, "pin_repeated"},
		{"error/birth date", "pin", `{"secret":"900101"}`, 400, "pin_birth_date"},
		{"error/too short", "pin", `{"secret":"48291"}`, 400, "pin_format"},
		{"error/pattern skipping a node", "pattern", `{"secret":[1,3,6,9]}`, 400, "pattern_invalid"},
		{"error/pattern too short", "pattern", `{"secret":[1,2,3]}`, 400, "pattern_too_short"},
		{"error/biometric has no secret", "biometric", `{"secret":"482915"}`, 400, "credential_no_secret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { a.e.wantProblem(a.setSecret(c.method, c.body), c.status, c.code) })
	}
	t.Run("ok/pin and pattern", func(t *testing.T) {
		for m, body := range map[string]string{"pin": `{"secret":"` + firstPIN + `"}`, "pattern": `{"secret":[1,2,3,6,5]}`} {
			if res := a.setSecret(m, body); res.StatusCode != http.StatusNoContent {
				t.Fatalf("%s: %d %s", m, res.StatusCode, res.body)
			}
		}
	})
	t.Run("error/replacing needs a session", func(t *testing.T) {
		a.e.wantProblem(a.setSecret("pin", `{"secret":"604817"}`), 409, "credential_already_set")
	})
	t.Run("ok/pattern logs in", func(t *testing.T) {
		if res := a.login(`{"method":"pattern","secret":[1,2,3,6,5]}`); res.StatusCode != http.StatusOK {
			t.Fatalf("pattern login: %d %s", res.StatusCode, res.body)
		}
	})
}

func TestLoginSessionAndDPoP(t *testing.T) {
	a := newApp(t)
	a.setSecret("pin", `{"secret":"`+firstPIN+`"}`)
	tk := a.mustLogin(firstPIN)
	curURL := a.e.url + "/v1/sessions/current"

	t.Run("ok/current session", func(t *testing.T) {
		res := a.current(tk.AccessToken, a.dpop("GET", curURL, tk.AccessToken))
		got := decodeJSON[struct{ CustomerID, DeviceID string }](t, res)
		if res.StatusCode != 200 || !strings.Contains(string(res.body), a.customer) || !strings.Contains(string(res.body), a.dev) {
			t.Fatalf("current: %d %s %+v", res.StatusCode, res.body, got)
		}
	})
	t.Run("error/proof for another URL", func(t *testing.T) {
		res := a.current(tk.AccessToken, a.dpop("GET", a.e.url+"/v1/accounts", tk.AccessToken))
		a.e.wantProblem(res, 401, "invalid_dpop_proof")
	})
	t.Run("error/replayed proof", func(t *testing.T) {
		proof := a.dpop("GET", curURL, tk.AccessToken)
		if res := a.current(tk.AccessToken, proof); res.StatusCode != 200 {
			t.Fatalf("first: %d %s", res.StatusCode, res.body)
		}
		a.e.wantProblem(a.current(tk.AccessToken, proof), 401, "dpop_proof_replayed")
	})
	t.Run("error/bearer instead of DPoP", func(t *testing.T) {
		r := a.e.request("GET", "/v1/sessions/current", "")
		r.Header.Set("Authorization", "Bearer "+tk.AccessToken)
		r.Header.Set("DPoP", a.dpop("GET", curURL, tk.AccessToken))
		a.e.wantProblem(a.e.send(r), 401, "dpop_required")
	})
	t.Run("error/login proof for another URL counts nothing", func(t *testing.T) {
		r := a.signed("POST", "/v1/logins", pinBody("111111"))
		r.Header.Set("DPoP", a.dpop("POST", a.e.url+"/v1/elsewhere", ""))
		a.e.wantProblem(a.e.send(r), 401, "invalid_dpop_proof")
	})
	t.Run("ok/replacing the PIN in a session", func(t *testing.T) {
		r := a.signed("PUT", "/v1/credentials/pin", `{"secret":"604817"}`)
		r.Header.Set("Authorization", "DPoP "+tk.AccessToken)
		r.Header.Set("DPoP", a.dpop("PUT", a.e.url+"/v1/credentials/pin", tk.AccessToken))
		if res := a.e.send(r); res.StatusCode != http.StatusNoContent {
			t.Fatalf("replace: %d %s", res.StatusCode, res.body)
		}
		a.e.clock.Add(2 * time.Second)
		a.e.wantProblem(a.login(pinBody(firstPIN)), 401, "login_failed")
		a.e.clock.Add(3 * time.Second)
		a.mustLogin("604817")
	})
	t.Run("ok/refresh rotates; reuse ends the family", func(t *testing.T) {
		res := a.refresh(tk.RefreshToken)
		if res.StatusCode != 200 {
			t.Fatalf("refresh: %d %s", res.StatusCode, res.body)
		}
		next := decodeJSON[tokens](t, res)
		a.e.wantProblem(a.refresh(tk.RefreshToken), 401, "refresh_reused")
		// The family is gone: its newest refresh token is no longer known.
		a.e.wantProblem(a.refresh(next.RefreshToken), 401, "invalid_refresh_token")
		a.e.wantProblem(a.current(next.AccessToken, a.dpop("GET", curURL, next.AccessToken)), 401, "invalid_token")
	})
}

// climb sends wrong PINs with the given waits before each and checks the
// answers.
func (a *app) climb(t *testing.T, steps []ladderStep) {
	t.Helper()
	for i, s := range steps {
		a.e.clock.Add(s.wait)
		res := a.login(pinBody("111111"))
		a.e.wantProblem(res, s.status, s.code)
		if got := res.Header.Get("Retry-After"); got != s.retry {
			t.Fatalf("failure %d: Retry-After %q, want %q", i+1, got, s.retry)
		}
	}
}

type ladderStep struct {
	wait   time.Duration
	status int
	code   string
	retry  string
}

// protectionSteps are ten wrong PINs at an uneven, human pace, up to
// protection mode.
func protectionSteps() []ladderStep {
	waits := []time.Duration{0, 7 * time.Second, 13 * time.Second, 9 * time.Second, 47 * time.Second,
		31 * time.Minute, 44 * time.Minute, 35 * time.Minute, 58 * time.Minute, 32 * time.Minute}
	var steps []ladderStep
	for i, w := range waits {
		s := ladderStep{wait: w, status: 423, code: "login_locked", retry: "1800"}
		switch {
		case i < 2:
			s.status, s.code, s.retry = 401, "login_failed", ""
		case i < 4:
			s.status, s.code, s.retry = 429, "login_delayed", []string{"5", "30"}[i-2]
		case i == 9:
			s.code, s.retry = "login_protection", ""
		}
		steps = append(steps, s)
	}
	return steps
}

func TestLoginLadderOverHTTP(t *testing.T) {
	a := newApp(t)
	a.setSecret("pin", `{"secret":"`+firstPIN+`"}`)
	analyst := a.e.login(a.e.newOperator("ana", operator.RoleAnalyst))
	agent := a.e.login(a.e.newOperator("agnes", operator.RoleAgent))
	a.climb(t, []ladderStep{
		{0, 401, "login_failed", ""},
		{7 * time.Second, 401, "login_failed", ""},
		{13 * time.Second, 429, "login_delayed", "5"},
		{9 * time.Second, 429, "login_delayed", "30"},
		{47 * time.Second, 423, "login_locked", "1800"},
	})
	t.Run("error/the right PIN is refused while locked", func(t *testing.T) {
		a.e.wantProblem(a.login(pinBody(firstPIN)), 423, "login_locked")
	})
	t.Run("error/no device signature gets no guess", func(t *testing.T) {
		r := a.e.request("POST", "/v1/logins", pinBody("111111"))
		r.Header.Set("DPoP", a.dpop("POST", a.e.url+"/v1/logins", ""))
		a.e.wantProblem(a.e.send(r), 401, "device_signature_invalid")
		forged := a.p.signed(newP256(t), a.dev, "POST", "/v1/logins", pinBody("111111"), a.p.nonce(a.dev), a.e.clock.Now())
		a.e.wantProblem(a.e.send(forged), 401, "device_signature_invalid")
		if n, _ := a.failures(analyst); n != 5 {
			t.Fatalf("failures = %d, want 5", n)
		}
	})
	clear := func(o session, method string) response {
		return a.e.as(o, a.e.request("POST", "/v1/operator/customers/"+a.customer+"/login-state/"+method+"/clear", `{"reason":"identity_verified_by_call"}`))
	}
	t.Run("error/analyst may not clear", func(t *testing.T) { a.e.wantProblem(clear(analyst, "pin"), 403, "role_required") })
	t.Run("ok/agent clears the lock, the count stays", func(t *testing.T) {
		if res := clear(agent, "pin"); res.StatusCode != 200 {
			t.Fatalf("clear: %d %s", res.StatusCode, res.body)
		}
		if n, _ := a.failures(analyst); n != 5 {
			t.Fatalf("failures = %d", n)
		}
		a.climb(t, []ladderStep{{3 * time.Second, 423, "login_locked", "1800"}})
	})
	t.Run("ok/the lock ends by itself", func(t *testing.T) {
		a.e.clock.Add(31 * time.Minute)
		a.mustLogin(firstPIN)
		if n, _ := a.failures(analyst); n != 0 {
			t.Fatalf("failures after success = %d", n)
		}
	})
}

func TestLoginProtectionRecovery(t *testing.T) {
	a := newApp(t)
	a.setSecret("pin", `{"secret":"`+firstPIN+`"}`)
	a.climb(t, protectionSteps())
	a.e.clock.Add(48 * time.Hour)
	analyst := a.e.login(a.e.newOperator("ana", operator.RoleAnalyst))
	agent := a.e.login(a.e.newOperator("agnes", operator.RoleAgent))
	t.Run("error/time does not end protection", func(t *testing.T) {
		a.e.wantProblem(a.login(pinBody(firstPIN)), 423, "login_protection")
		if n, p := a.failures(analyst); n != 10 || !p {
			t.Fatalf("failures %d protected %v", n, p)
		}
	})
	t.Run("error/agent may not clear protection", func(t *testing.T) {
		res := a.e.as(agent, a.e.request("POST", "/v1/operator/customers/"+a.customer+"/login-state/pin/clear", `{"reason":"identity_verified_by_call"}`))
		a.e.wantProblem(res, 409, "protection_needs_reverification")
	})
	t.Run("error/no new PIN while protected", func(t *testing.T) {
		a.e.wantProblem(a.setSecret("pin", `{"secret":"604817"}`), 423, "login_protection")
	})
	stepUp := func(body string) response {
		return a.e.send(withKey(a.e.request("POST", "/v1/customers/"+a.customer+"/login-step-up", body), a.key))
	}
	carrierJSON := `{"name":"김민수","birth_date":"1990-01-01","phone":"010-1234-5678"}`
	card := `{"kind":"resident","name":"김민수","rrn":"900101-1234567","issue_date":"2015-03-02"}`
	t.Run("error/one method is not enough", func(t *testing.T) {
		a.e.wantProblem(stepUp(`{"carrier":`+carrierJSON+`}`), 403, "stepup_insufficient")
	})
	t.Run("ok/two methods lift protection", func(t *testing.T) {
		res := stepUp(`{"carrier":` + carrierJSON + `,"id_card":` + card + `}`)
		if res.StatusCode != 200 || !strings.Contains(string(res.body), `"lifted":["pin"]`) {
			t.Fatalf("step-up: %d %s", res.StatusCode, res.body)
		}
	})
	t.Run("error/the old PIN no longer logs in", func(t *testing.T) {
		a.e.wantProblem(a.login(pinBody(firstPIN)), 403, "credential_must_change")
	})
	t.Run("error/the new PIN must differ from the last three", func(t *testing.T) {
		a.e.wantProblem(a.setSecret("pin", `{"secret":"`+firstPIN+`"}`), 400, "credential_reused")
	})
	t.Run("ok/a new PIN logs in", func(t *testing.T) {
		if res := a.setSecret("pin", `{"secret":"604817"}`); res.StatusCode != 204 {
			t.Fatalf("set: %d %s", res.StatusCode, res.body)
		}
		a.e.clock.Add(time.Minute)
		a.mustLogin("604817")
	})
}

func TestLoginBranchLift(t *testing.T) {
	a := newApp(t)
	a.setSecret("pin", `{"secret":"`+firstPIN+`"}`)
	teller := a.e.login(a.e.newOperator("tim", operator.RoleTeller))
	agent := a.e.login(a.e.newOperator("agnes", operator.RoleAgent))
	lift := func(o session) response {
		return a.e.as(o, a.e.request("POST", "/v1/operator/customers/"+a.customer+"/login-protection/pin/lift", ""))
	}
	a.e.wantProblem(lift(agent), 403, "role_required")
	a.e.wantProblem(lift(teller), 409, "lockout_not_protected")
	a.mustLogin(firstPIN) // nothing was forced
	a.climb(t, protectionSteps())
	teller = a.e.login(a.e.newOperator("tina", operator.RoleTeller))
	res := lift(teller)
	if res.StatusCode != 200 {
		t.Fatalf("lift: %d %s", res.StatusCode, res.body)
	}
	a.e.wantProblem(a.login(pinBody(firstPIN)), 403, "credential_must_change")
	a.e.wantProblem(a.setSecret("pin", `{"secret":"`+firstPIN+`"}`), 400, "credential_reused")
}

// TestDPoPBehindProxy: with a public URL configured, a proof must name it
// (the URL the client addressed through the proxy), and a proof naming the
// address the server itself sees is refused.
func TestDPoPBehindProxy(t *testing.T) {
	a := newApp(t)
	a.setSecret("pin", `{"secret":"`+firstPIN+`"}`)
	a.e.server.PublicURL = &url.URL{Scheme: "https", Host: "bank.example", Path: "/haechi"}
	send := func(htu string) response {
		r := a.signed("POST", "/v1/logins", pinBody(firstPIN))
		r.Header.Set("DPoP", a.dpop("POST", htu, ""))
		return a.e.send(r)
	}
	a.e.wantProblem(send(a.e.url+"/v1/logins"), 401, "invalid_dpop_proof")
	if res := send("https://bank.example/haechi/v1/logins"); res.StatusCode != http.StatusOK {
		t.Fatalf("login through the public URL: %d %s", res.StatusCode, res.body)
	}
}

// TestLoginShedWhilePoolFull: with every hash slot and queue place taken a
// login is refused 503 before its signature is checked, so nothing is
// spent: the very same signed request logs in once the pool frees.
func TestLoginShedWhilePoolFull(t *testing.T) {
	a := newApp(t)
	a.setSecret("pin", `{"secret":"`+firstPIN+`"}`)
	km := crypto.NewKeyMaterial()
	pool := crypto.NewHasher(km.Pepper, crypto.TestHashParams, 1, 0)
	normal := a.e.server.Login.Credentials.Hasher
	slow, err := crypto.NewHasher(km.Pepper, crypto.HashParams{Time: 4, MemKiB: 64 << 10, Threads: 1}, 1, 0).Hash(t.Context(), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	a.e.server.Login.Credentials.Hasher = pool
	held := make(chan struct{})
	go func() {
		defer close(held)
		for { // retried while the probe below holds the slot
			if _, err := pool.Verify(context.Background(), slow, []byte("x")); !errors.Is(err, crypto.ErrBusy) {
				return
			}
		}
	}()
	waitFull(t, pool)
	r := a.signed("POST", "/v1/logins", pinBody(firstPIN))
	r.Header.Set("DPoP", a.dpop("POST", a.e.url+"/v1/logins", ""))
	body := pinBody(firstPIN)
	before := len(a.e.events())
	p := a.e.wantProblem(a.e.send(r), 503, "unavailable")
	if p.Status != 503 || len(a.e.events()) != before {
		t.Fatalf("shed login wrote %d audit events", len(a.e.events())-before)
	}
	<-held
	a.e.server.Login.Credentials.Hasher = normal
	again, _ := http.NewRequest(r.Method, r.URL.String(), strings.NewReader(body))
	again.Header = r.Header.Clone()
	if res := a.e.send(again); res.StatusCode != http.StatusOK {
		t.Fatalf("the same request after the flood: %d %s", res.StatusCode, res.body)
	}
}

// waitFull polls until the pool's slot is held by someone else.
func waitFull(t *testing.T, h *crypto.Hasher) {
	t.Helper()
	for range 5000 {
		if h.Full() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the pool never filled")
}
