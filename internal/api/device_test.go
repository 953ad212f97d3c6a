package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
)

const passkeyOrigin = "http://localhost:8080"

var b64 = base64.RawURLEncoding

// kim is the carrier simulator's first subscriber.
var (
	kim = carrier.DefaultSubscribers()[0]
	lee = carrier.DefaultSubscribers()[1]
)

// bank is an institution offering device registration, with a customer
// per given subscriber.
type bank struct {
	id        string
	key       string
	customers map[string]string // phone → customer id
}

func (e *env) newBank(subs ...carrier.Subscriber) *bank {
	e.t.Helper()
	c, _ := e.newClient("device")
	key, _ := e.newKey(c.ID, "device")
	b := &bank{id: c.ID, key: key, customers: map[string]string{}}
	for _, s := range subs {
		cu, err := e.customers.Create(context.Background(), "test", c.ID, customer.New{Name: s.Name, BirthDate: s.BirthDate, Phone: s.Phone})
		if err != nil {
			e.t.Fatal(err)
		}
		b.customers[s.Phone] = cu.ID
	}
	return b
}

// phone is the test's stand-in for a phone running the bank's app: its
// report, its hardware key, and the HTTP calls the app makes.
type phone struct {
	e      *env
	bank   *bank
	report device.Report
	key    *ecdsa.PrivateKey
}

func (e *env) newPhone(b *bank, hardwareID string) *phone {
	e.t.Helper()
	return &phone{e: e, bank: b, key: newP256(e.t), report: device.Report{
		DeviceID: hardwareID, Model: "SM-S918N", OS: "android", OSVersion: "15", SecurityPatch: "2026-01-01",
		AppVersion: device.DemoAppVersion, AppDigest: device.DemoAppDigest, NetworkType: "wifi"}}
}

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// token obtains an integrity token for the report from the simulator route,
// as the demo app does.
func (p *phone) token() string {
	p.e.t.Helper()
	body := jsonBody(p.e.t, map[string]any{"app_digest": p.report.AppDigest, "app_version": p.report.AppVersion,
		"device_integrity": true, "nonce": device.IntegrityNonce(p.report)})
	res := p.e.send(p.e.request("POST", "/v1/simulator/integrity-tokens", body))
	if res.StatusCode != http.StatusCreated {
		p.e.t.Fatalf("mint token: %d %s", res.StatusCode, res.body)
	}
	return decodeJSON[struct{ Token string }](p.e.t, res).Token
}

func (p *phone) start(s carrier.Subscriber) response {
	p.e.t.Helper()
	body := jsonBody(p.e.t, map[string]any{"institution_id": p.bank.id,
		"customer": map[string]string{"name": s.Name, "birth_date": s.BirthDate, "phone": s.Phone},
		"device":   p.report, "integrity_token": p.token()})
	return p.e.send(p.e.request("POST", "/v1/device-registrations", body))
}

type started struct {
	RegistrationID string    `json:"registration_id"`
	Challenge      string    `json:"challenge"`
	ExpiresAt      time.Time `json:"expires_at"`
}

func (p *phone) mustStart(s carrier.Subscriber) started {
	p.e.t.Helper()
	res := p.start(s)
	if res.StatusCode != http.StatusCreated {
		p.e.t.Fatalf("start: %d %s", res.StatusCode, res.body)
	}
	return decodeJSON[started](p.e.t, res)
}

// sms reads the last code sent to the phone from the simulator route.
func (p *phone) sms(number string) string {
	p.e.t.Helper()
	res := p.e.send(p.e.request("GET", "/v1/simulator/sms/"+number, ""))
	if res.StatusCode != http.StatusOK {
		p.e.t.Fatalf("sms: %d %s", res.StatusCode, res.body)
	}
	return decodeJSON[struct{ Code string }](p.e.t, res).Code
}

func (p *phone) code(regID, code string) response {
	p.e.t.Helper()
	body := jsonBody(p.e.t, map[string]string{"institution_id": p.bank.id, "code": code})
	return p.e.send(p.e.request("POST", "/v1/device-registrations/"+regID+"/code", body))
}

func (p *phone) bindBody(st started, key map[string]any) response {
	p.e.t.Helper()
	body := map[string]any{"institution_id": p.bank.id, "challenge": st.Challenge}
	for k, v := range key {
		body[k] = v
	}
	return p.e.send(p.e.request("POST", "/v1/device-registrations/"+st.RegistrationID+"/key", jsonBody(p.e.t, body)))
}

// proof signs the key-proof message with the phone's key.
func (p *phone) proof(st started) string {
	p.e.t.Helper()
	ch, err := b64.DecodeString(st.Challenge)
	if err != nil {
		p.e.t.Fatal(err)
	}
	digest := sha256.Sum256(device.KeyProofMessage(st.RegistrationID, ch))
	sig, err := ecdsa.SignASN1(rand.Reader, p.key, digest[:])
	if err != nil {
		p.e.t.Fatal(err)
	}
	return b64.EncodeToString(sig)
}

func (p *phone) der() string {
	p.e.t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	if err != nil {
		p.e.t.Fatal(err)
	}
	return b64.EncodeToString(der)
}

func (p *phone) bind(st started) response {
	p.e.t.Helper()
	return p.bindBody(st, map[string]any{"public_key": p.der(), "signature": p.proof(st)})
}

type bound struct {
	DeviceID string    `json:"device_id"`
	Kind     string    `json:"kind"`
	Created  time.Time `json:"created_at"`
	Revoked  []string  `json:"revoked_device_ids"`
}

// register runs the whole app-key registration and returns the device.
func (p *phone) register(s carrier.Subscriber) bound {
	p.e.t.Helper()
	st := p.mustStart(s)
	if res := p.code(st.RegistrationID, p.sms(s.Phone)); res.StatusCode != http.StatusOK {
		p.e.t.Fatalf("code: %d %s", res.StatusCode, res.body)
	}
	res := p.bind(st)
	if res.StatusCode != http.StatusCreated {
		p.e.t.Fatalf("bind: %d %s", res.StatusCode, res.body)
	}
	return decodeJSON[bound](p.e.t, res)
}

// nonce asks for a nonce for the device.
func (p *phone) nonce(deviceID string) string {
	p.e.t.Helper()
	res := p.e.send(p.e.request("POST", "/v1/device-nonces", `{"device_id":"`+deviceID+`"}`))
	if res.StatusCode != http.StatusCreated {
		p.e.t.Fatalf("nonce: %d %s", res.StatusCode, res.body)
	}
	return decodeJSON[struct{ Nonce string }](p.e.t, res).Nonce
}

// signed builds a device-signed request with the given nonce and time.
func (p *phone) signed(key *ecdsa.PrivateKey, deviceID, method, path, body, nonce string, at time.Time) *http.Request {
	p.e.t.Helper()
	r := p.e.request(method, path, body)
	sum := sha256.Sum256([]byte(body))
	digest := sha256.Sum256(device.RequestMessage(method, path, sum[:], nonce, at.Unix()))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		p.e.t.Fatal(err)
	}
	r.Header.Set("Haechi-Device-Id", deviceID)
	r.Header.Set("Haechi-Nonce", nonce)
	r.Header.Set("Haechi-Timestamp", strconv.FormatInt(at.Unix(), 10))
	r.Header.Set("Haechi-Signature", b64.EncodeToString(sig))
	return r
}

func TestDeviceRegistrationAppKey(t *testing.T) {
	e := newEnv(t)
	b := e.newBank(kim)
	p := e.newPhone(b, "android-hw-0001")
	first := p.register(kim)
	if first.Kind != device.KeyKindAppKey || !strings.HasPrefix(first.DeviceID, "dev_") || len(first.Revoked) != 0 {
		t.Fatalf("first device %+v", first)
	}

	t.Run("ok/a new install with a new key replaces the old device", func(t *testing.T) {
		e.clock.Add(time.Minute) // the list is newest first
		again := e.newPhone(b, "android-hw-0001")
		second := again.register(kim)
		if len(second.Revoked) != 1 || second.Revoked[0] != first.DeviceID {
			t.Fatalf("second device %+v, want it to revoke %s", second, first.DeviceID)
		}
		res := e.send(withKey(e.request("GET", "/v1/customers/"+b.customers[kim.Phone]+"/devices", ""), b.key))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("devices: %d %s", res.StatusCode, res.body)
		}
		devs := decodeJSON[struct{ Devices []device.Device }](t, res).Devices
		if len(devs) != 2 || devs[0].ID != second.DeviceID || devs[0].State != device.DeviceActive || devs[1].State != device.DeviceRevoked {
			t.Fatalf("devices %s", res.body)
		}
		for _, leak := range []string{"android-hw-0001", "public_key", "fingerprint", kim.Phone} {
			if strings.Contains(string(res.body), leak) {
				t.Fatalf("device list shows %q: %s", leak, res.body)
			}
		}
	})

	t.Run("ok/JWK form of the key", func(t *testing.T) {
		other := e.newBank(kim)
		q := e.newPhone(other, "android-hw-0002")
		st := q.mustStart(kim)
		if res := q.code(st.RegistrationID, q.sms(kim.Phone)); res.StatusCode != http.StatusOK {
			t.Fatalf("code: %d %s", res.StatusCode, res.body)
		}
		pub, _ := q.key.PublicKey.Bytes()
		jwk := map[string]string{"kty": "EC", "crv": "P-256", "x": b64.EncodeToString(pub[1:33]), "y": b64.EncodeToString(pub[33:])}
		res := q.bindBody(st, map[string]any{"public_key_jwk": jwk, "signature": q.proof(st)})
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("bind jwk: %d %s", res.StatusCode, res.body)
		}
	})

	t.Run("error/unknown institution", func(t *testing.T) {
		q := e.newPhone(&bank{id: "cl_nobody"}, "android-hw-0003")
		e.wantProblem(q.start(kim), http.StatusBadRequest, "institution_unknown")
	})

	t.Run("error/challenge replay", func(t *testing.T) {
		q := e.newPhone(b, "android-hw-0004")
		st := q.mustStart(kim)
		q.code(st.RegistrationID, q.sms(kim.Phone))
		if res := q.bind(st); res.StatusCode != http.StatusCreated {
			t.Fatalf("bind: %d %s", res.StatusCode, res.body)
		}
		q.key = newP256(t)
		e.wantProblem(q.bind(st), http.StatusBadRequest, "challenge_invalid")
	})
}

// TestDeviceRegistrationMalformedKeys sends keys no parser may accept. Each
// is a counted key_invalid (400) that ends the registration.
func TestDeviceRegistrationMalformedKeys(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	tests := []struct {
		name string
		key  map[string]any
	}{
		{"error/DER that is not DER", map[string]any{"public_key": b64.EncodeToString([]byte("not a key at all"))}},
		{"error/truncated DER", map[string]any{"public_key": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"}},
		{"error/not base64url", map[string]any{"public_key": "!!!!"}},
		{"error/key not on P-256", map[string]any{"public_key": b64.EncodeToString(p384DER)}},
		{"error/JWK with a point off the curve", map[string]any{"public_key_jwk": map[string]string{"kty": "EC", "crv": "P-256",
			"x": b64.EncodeToString(make([]byte, 32)), "y": b64.EncodeToString(make([]byte, 32))}}},
		{"error/JWK of another curve", map[string]any{"public_key_jwk": map[string]string{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}}},
		{"error/JWK with a private part", map[string]any{"public_key_jwk": map[string]string{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}}},
		{"error/JWK that is a string", map[string]any{"public_key_jwk": "EC P-256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			p := e.newPhone(e.newBank(kim), "android-hw-0001")
			st := p.mustStart(kim)
			p.code(st.RegistrationID, p.sms(kim.Phone))
			tt.key["signature"] = p.proof(st)
			pr := e.wantProblem(p.bindBody(st, tt.key), http.StatusBadRequest, "key_invalid")
			if pr.RemainingAttempts == nil || *pr.RemainingAttempts != 2 {
				t.Fatalf("remaining_attempts %v, want 2 (the attempt counted)", pr.RemainingAttempts)
			}
			p.key = newP256(t) // the registration is over, even with a good key now
			e.wantProblem(p.bind(st), http.StatusBadRequest, "challenge_invalid")
		})
	}
	t.Run("error/both key forms", func(t *testing.T) {
		e := newEnv(t)
		p := e.newPhone(e.newBank(kim), "android-hw-0001")
		st := p.mustStart(kim)
		res := p.bindBody(st, map[string]any{"public_key": p.der(), "public_key_jwk": map[string]string{"kty": "EC"}, "signature": "AA"})
		if pr := e.wantProblem(res, http.StatusBadRequest, "invalid_request"); pr.Field != "public_key" {
			t.Fatalf("field %q", pr.Field)
		}
	})
}

func TestDeviceRegistrationRestrictionAndStepUp(t *testing.T) {
	e := newEnv(t)
	b := e.newBank(kim)
	p := e.newPhone(b, "android-hw-0001")
	cust := b.customers[kim.Phone]
	st := p.mustStart(kim)
	for want := 2; want >= 1; want-- {
		pr := e.wantProblem(p.code(st.RegistrationID, "000000"), http.StatusForbidden, "code_wrong")
		if pr.RemainingAttempts == nil || *pr.RemainingAttempts != want {
			t.Fatalf("remaining_attempts %v, want %d", pr.RemainingAttempts, want)
		}
	}
	res := p.code(st.RegistrationID, "000000")
	e.wantProblem(res, http.StatusLocked, "registration_restricted")
	if ra := res.Header.Get("Retry-After"); ra != "86400" {
		t.Fatalf("Retry-After %q, want 86400", ra)
	}

	t.Run("error/a new install and key are still restricted", func(t *testing.T) {
		q := e.newPhone(b, "android-hw-0001")
		e.wantProblem(q.start(kim), http.StatusLocked, "registration_restricted")
	})
	t.Run("ok/status says restricted", func(t *testing.T) {
		res := e.send(withKey(e.request("GET", "/v1/customers/"+cust+"/registration-status", ""), b.key))
		st := decodeJSON[device.Status](t, res)
		if res.StatusCode != http.StatusOK || !st.Restricted || st.Blocked || !st.RestrictedUntil.Equal(e.clock.Now().Add(24*time.Hour)) {
			t.Fatalf("status %d %s", res.StatusCode, res.body)
		}
	})

	stepUp := func(body string) response {
		return e.send(withKey(e.request("POST", "/v1/customers/"+cust+"/registration-step-up", body), b.key))
	}
	carrierJSON := `{"name":"김민수","birth_date":"1990-01-01","phone":"010-1234-5678"}`
	card := `{"kind":"resident","name":"김민수","rrn":"900101-1234567","issue_date":"2015-03-02"}`
	t.Run("error/one method is not enough", func(t *testing.T) {
		e.wantProblem(stepUp(`{"carrier":`+carrierJSON+`}`), http.StatusForbidden, "stepup_insufficient")
	})
	t.Run("error/a card that does not match the authority's does not count", func(t *testing.T) {
		lost := `{"kind":"resident","name":"김민수","rrn":"900101-1234567","issue_date":"2010-01-01"}`
		e.wantProblem(stepUp(`{"carrier":`+carrierJSON+`,"id_card":`+lost+`}`), http.StatusForbidden, "stepup_insufficient")
	})
	t.Run("ok/carrier and ID card lift the restriction", func(t *testing.T) {
		res := stepUp(`{"carrier":` + carrierJSON + `,"id_card":` + card + `}`)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("step-up: %d %s", res.StatusCode, res.body)
		}
		out := decodeJSON[struct {
			Passed []string
			Lifted bool
		}](t, res)
		if !out.Lifted || strings.Join(out.Passed, ",") != "carrier,id_card" {
			t.Fatalf("step-up %s", res.body)
		}
		e.newPhone(b, "android-hw-0001").register(kim)
	})
}

func TestDeviceRegistrationHardBlockAndRecovery(t *testing.T) {
	e := newEnv(t)
	b := e.newBank(kim)
	cust := b.customers[kim.Phone]
	agent := e.login(e.newOperator("agent", "agent"))
	boss := e.login(e.newOperator("boss", "supervisor"))
	teller := e.login(e.newOperator("teller", "teller"))
	both := e.login(e.newOperator("both", "agent", "supervisor"))

	// A report both rooted and emulated is high risk: a hard block at once.
	bad := e.newPhone(b, "android-hw-0666")
	bad.report.Rooted, bad.report.Emulator = true, true
	e.wantProblem(bad.start(kim), http.StatusLocked, "registration_blocked")
	e.wantProblem(e.newPhone(b, "android-hw-0001").start(kim), http.StatusLocked, "registration_blocked")

	status := func(s session) device.Status {
		t.Helper()
		res := e.as(s, e.request("GET", "/v1/operator/customers/"+cust+"/registration-status", ""))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status: %d %s", res.StatusCode, res.body)
		}
		return decodeJSON[device.Status](t, res)
	}
	if st := status(teller); !st.Blocked {
		t.Fatalf("status %+v, want blocked", st)
	}
	releaseBody := `{"customer_id":"` + cust + `","reason":"고객 본인 확인 후 해제 요청","checklist":{"name":true,"birth_date":true,"phone":true,"security_questions":true}}`

	t.Run("error/wrong roles write nothing", func(t *testing.T) {
		before := len(e.events())
		e.wantProblem(e.as(teller, e.request("POST", "/v1/operator/releases", releaseBody)), http.StatusForbidden, "role_required")
		e.wantProblem(e.as(boss, e.request("POST", "/v1/operator/releases", releaseBody)), http.StatusForbidden, "role_required")
		e.wantProblem(e.as(agent, e.request("POST", "/v1/operator/customers/"+cust+"/branch-reset", `{"id_check":"passport"}`)), http.StatusForbidden, "role_required")
		if after := len(e.events()); after != before {
			t.Fatalf("audit grew from %d to %d", before, after)
		}
		if st := status(agent); !st.Blocked {
			t.Fatal("block lifted by a refused request")
		}
	})
	t.Run("error/incomplete checklist", func(t *testing.T) {
		body := strings.Replace(releaseBody, `"security_questions":true`, `"security_questions":false`, 1)
		e.wantProblem(e.as(agent, e.request("POST", "/v1/operator/releases", body)), http.StatusBadRequest, "release_invalid")
	})
	t.Run("error/self-approval refused, nothing written", func(t *testing.T) {
		res := e.as(both, e.request("POST", "/v1/operator/releases", releaseBody))
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("request: %d %s", res.StatusCode, res.body)
		}
		rel := decodeJSON[struct {
			ReleaseID string `json:"release_id"`
		}](t, res)
		before := len(e.events())
		e.wantProblem(e.as(both, e.request("POST", "/v1/operator/releases/"+rel.ReleaseID+"/approve", "")), http.StatusForbidden, "release_self_approval")
		e.wantProblem(e.as(agent, e.request("POST", "/v1/operator/releases/"+rel.ReleaseID+"/approve", "")), http.StatusForbidden, "role_required")
		if after := len(e.events()); after != before {
			t.Fatalf("audit grew from %d to %d", before, after)
		}
		if st := status(agent); !st.Blocked {
			t.Fatal("block lifted by a refused approval")
		}
	})
	var devID string
	t.Run("ok/agent requests, another supervisor approves", func(t *testing.T) {
		res := e.as(agent, e.request("POST", "/v1/operator/releases", releaseBody))
		if res.StatusCode != http.StatusCreated || strings.Contains(string(res.body), "해제") {
			t.Fatalf("request: %d %s", res.StatusCode, res.body)
		}
		rel := decodeJSON[struct {
			ReleaseID string `json:"release_id"`
		}](t, res)
		res = e.as(boss, e.request("POST", "/v1/operator/releases/"+rel.ReleaseID+"/approve", ""))
		if res.StatusCode != http.StatusOK || !strings.Contains(string(res.body), `"state":"approved"`) {
			t.Fatalf("approve: %d %s", res.StatusCode, res.body)
		}
		e.wantProblem(e.as(boss, e.request("POST", "/v1/operator/releases/"+rel.ReleaseID+"/approve", "")), http.StatusConflict, "release_not_pending")
		if st := status(boss); st.Blocked || st.Restricted {
			t.Fatalf("status %+v after release", st)
		}
		devID = e.newPhone(b, "android-hw-0001").register(kim).DeviceID
	})
	t.Run("ok/branch reset by a teller revokes every device", func(t *testing.T) {
		e.wantProblem(e.as(teller, e.request("POST", "/v1/operator/customers/"+cust+"/branch-reset", `{"id_check":"selfie"}`)), http.StatusBadRequest, "id_check_invalid")
		e.wantProblem(e.as(teller, e.request("POST", "/v1/operator/customers/cus_nobody/branch-reset", `{"id_check":"passport"}`)), http.StatusNotFound, "not_found")
		res := e.as(teller, e.request("POST", "/v1/operator/customers/"+cust+"/branch-reset", `{"id_check":"resident_card"}`))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("reset: %d %s", res.StatusCode, res.body)
		}
		out := decodeJSON[struct {
			Revoked []string `json:"revoked_device_ids"`
		}](t, res)
		if len(out.Revoked) != 1 || out.Revoked[0] != devID {
			t.Fatalf("revoked %v, want [%s]", out.Revoked, devID)
		}
		last := e.events()[len(e.events())-1]
		if last.Action != device.ActionBranchReset || last.Details["id_check"] != "resident_card" {
			t.Fatalf("audit %+v", last.Entry)
		}
	})
}

func TestDeviceSignedRequests(t *testing.T) {
	e := newEnv(t)
	b := e.newBank(kim)
	p := e.newPhone(b, "android-hw-0001")
	dev := p.register(kim).DeviceID
	current := func(r *http.Request) response { return e.send(r) }

	t.Run("ok/signed request", func(t *testing.T) {
		res := current(p.signed(p.key, dev, "GET", "/v1/devices/current", "", p.nonce(dev), e.clock.Now()))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("current: %d %s", res.StatusCode, res.body)
		}
		got := decodeJSON[struct {
			DeviceID   string `json:"device_id"`
			CustomerID string `json:"customer_id"`
			Kind       string
		}](t, res)
		if got.DeviceID != dev || got.CustomerID != b.customers[kim.Phone] || got.Kind != device.KeyKindAppKey {
			t.Fatalf("current %s", res.body)
		}
	})
	t.Run("error/replayed nonce", func(t *testing.T) {
		r1 := p.signed(p.key, dev, "GET", "/v1/devices/current", "", p.nonce(dev), e.clock.Now())
		r2 := r1.Clone(context.Background())
		if res := current(r1); res.StatusCode != http.StatusOK {
			t.Fatalf("first: %d %s", res.StatusCode, res.body)
		}
		res := current(r2)
		e.wantProblem(res, http.StatusUnauthorized, "device_nonce_invalid")
		if res.Header.Get("WWW-Authenticate") != `HaechiDevice realm="haechi"` {
			t.Fatalf("challenge %q", res.Header.Get("WWW-Authenticate"))
		}
	})
	tests := []struct {
		name string
		req  func() *http.Request
		code string
	}{
		{"error/timestamp 61 s old", func() *http.Request {
			return p.signed(p.key, dev, "GET", "/v1/devices/current", "", p.nonce(dev), e.clock.Now().Add(-61*time.Second))
		}, "device_timestamp_skew"},
		{"error/timestamp 61 s ahead", func() *http.Request {
			return p.signed(p.key, dev, "GET", "/v1/devices/current", "", p.nonce(dev), e.clock.Now().Add(61*time.Second))
		}, "device_timestamp_skew"},
		{"error/another key", func() *http.Request {
			return p.signed(newP256(t), dev, "GET", "/v1/devices/current", "", p.nonce(dev), e.clock.Now())
		}, "device_signature_invalid"},
		{"error/signed for another path", func() *http.Request {
			r := p.signed(p.key, dev, "GET", "/v1/devices/other", "", p.nonce(dev), e.clock.Now())
			r.URL.Path = "/v1/devices/current"
			return r
		}, "device_signature_invalid"},
		{"error/nonce never issued", func() *http.Request {
			return p.signed(p.key, dev, "GET", "/v1/devices/current", "", "made-up-nonce", e.clock.Now())
		}, "device_nonce_invalid"},
		{"error/unknown device", func() *http.Request {
			return p.signed(p.key, "dev_unknown", "GET", "/v1/devices/current", "", p.nonce(dev), e.clock.Now())
		}, "device_signature_invalid"},
		{"error/no headers", func() *http.Request { return e.request("GET", "/v1/devices/current", "") }, "device_signature_invalid"},
		{"error/timestamp with a sign", func() *http.Request {
			r := p.signed(p.key, dev, "GET", "/v1/devices/current", "", p.nonce(dev), e.clock.Now())
			r.Header.Set("Haechi-Timestamp", "+"+r.Header.Get("Haechi-Timestamp"))
			return r
		}, "device_signature_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantProblem(current(tt.req()), http.StatusUnauthorized, tt.code)
		})
	}
	t.Run("ok/within 60 s of skew", func(t *testing.T) {
		res := current(p.signed(p.key, dev, "GET", "/v1/devices/current", "", p.nonce(dev), e.clock.Now().Add(-60*time.Second)))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("current: %d %s", res.StatusCode, res.body)
		}
	})
	t.Run("error/revoked device", func(t *testing.T) {
		pending := p.nonce(dev)
		e.newPhone(b, "android-hw-0002").register(kim) // revokes dev
		e.wantProblem(current(p.signed(p.key, dev, "GET", "/v1/devices/current", "", pending, e.clock.Now())), http.StatusUnauthorized, "device_revoked")
		e.wantProblem(e.send(e.request("POST", "/v1/device-nonces", `{"device_id":"`+dev+`"}`)), http.StatusNotFound, "device_not_found")
	})
	t.Run("error/device of a revoked institution", func(t *testing.T) {
		b2 := e.newBank(lee)
		p2 := e.newPhone(b2, "android-hw-0003")
		dev2 := p2.register(lee).DeviceID
		nonce := p2.nonce(dev2)
		if err := e.inst.RevokeClient(context.Background(), "test", b2.id); err != nil {
			t.Fatal(err)
		}
		e.wantProblem(current(p2.signed(p2.key, dev2, "GET", "/v1/devices/current", "", nonce, e.clock.Now())), http.StatusUnauthorized, "device_revoked")
	})
	t.Run("ok/refusals are audited", func(t *testing.T) {
		var n int
		for _, ev := range e.events() {
			if ev.Action == "auth.failure" && strings.HasPrefix(ev.Details["reason"], "device_") {
				n++
			}
		}
		if n < len(tests) {
			t.Fatalf("%d device auth failures audited, want at least %d", n, len(tests))
		}
	})
}

func TestSimulatorRoutes(t *testing.T) {
	t.Run("ok/mounted with simulators", func(t *testing.T) {
		e := newEnv(t)
		e.wantProblem(e.send(e.request("GET", "/v1/simulator/sms/01012345678", "")), http.StatusNotFound, "sms_not_found")
	})
	t.Run("error/absent without simulators", func(t *testing.T) {
		e := newEnv(t, func(s *api.Server) { s.Simulators = nil })
		e.wantProblem(e.send(e.request("GET", "/v1/simulator/sms/01012345678", "")), http.StatusNotFound, "not_found")
		e.wantProblem(e.send(e.request("POST", "/v1/simulator/integrity-tokens", `{"nonce":"x"}`)), http.StatusNotFound, "not_found")
	})
}
