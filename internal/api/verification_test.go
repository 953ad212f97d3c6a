package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/face"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/onetime"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/secmedia"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/webhook"
)

// withEKYC wires eKYC, security media and webhooks over the env's
// database and the simulators, as serve --demo does.
func withEKYC(t *testing.T) func(*api.Server) {
	return func(s *api.Server) {
		t.Helper()
		db := s.Audit.(*sqlstore.DB)
		ring := s.Customers.Ring
		pepper := crypto.NewKeyMaterial().Pepper
		idc, err := idcheck.NewSimulator(idcheck.DefaultRecords()...)
		if err != nil {
			t.Fatal(err)
		}
		bank, err := bankxfer.NewSimulator(bankxfer.DefaultAccounts()...)
		if err != nil {
			t.Fatal(err)
		}
		bank.Now = s.Now
		media := &secmedia.Service{Store: db, Ring: ring, Now: s.Now}
		s.Verifications = &ekyc.Service{
			Store: db, Ring: ring, Pepper: pepper, Codes: &onetime.Service{Store: db, Pepper: pepper, Now: s.Now},
			IDCheck: idc, Accounts: bank, Carrier: s.Simulators.Carrier, Media: media, Face: face.NewSimulator(),
			Customers: s.Customers, Now: s.Now,
		}
		s.SecurityMedia = media
		s.Webhooks = &webhook.Service{Store: db, Ring: ring, Now: s.Now}
		s.Simulators.Bank = bank
	}
}

// verifier is an institution offering eKYC.
type verifier struct {
	id, key string
}

func (e *env) newVerifier() verifier {
	e.t.Helper()
	c, _ := e.newClient(institution.ScopeEKYC)
	key, _ := e.newKey(c.ID)
	return verifier{id: c.ID, key: key}
}

// vmethod and vview are a session as the API shows it.
type vmethod struct {
	Method   string `json:"method"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	Reason   string `json:"reason"`
}

type vview struct {
	ID        string    `json:"id"`
	Reference string    `json:"reference"`
	Status    string    `json:"status"`
	Methods   []vmethod `json:"methods"`
	Passed    []string  `json:"passed"`
	Failed    []string  `json:"failed"`
	Applicant struct {
		Name      string `json:"name"`
		BirthDate string `json:"birth_date"`
		Phone     string `json:"phone"`
	} `json:"applicant"`
	DecidedAt *time.Time `json:"decided_at"`
}

func (v vview) method(m string) vmethod {
	for _, s := range v.Methods {
		if s.Method == m {
			return s
		}
	}
	return vmethod{}
}

type opened struct {
	Session        vview  `json:"session"`
	ApplicantToken string `json:"applicant_token"`
}

// kimApplicant is the simulators' 김민수: carrier subscriber, resident
// card and driver's licence holder, account holder at 004 and 088.
const kimApplicant = `{"name":"김민수","birth_date":"1990-01-01","phone":"010-1234-5678"}`

func (e *env) open(v verifier, body string) opened {
	e.t.Helper()
	res := e.send(withKey(e.request("POST", "/v1/verifications", body), v.key))
	if res.StatusCode != http.StatusCreated {
		e.t.Fatalf("open: %d %s", res.StatusCode, res.body)
	}
	o := decodeJSON[opened](e.t, res)
	if o.ApplicantToken == "" || o.Session.ID == "" || res.Header.Get("Location") != "/v1/verifications/"+o.Session.ID {
		e.t.Fatalf("open: %s (Location %q)", res.body, res.Header.Get("Location"))
	}
	return o
}

func (e *env) openKim(v verifier) opened {
	e.t.Helper()
	return e.open(v, `{"reference":"case-1","applicant":`+kimApplicant+`}`)
}

// applicantPost sends an applicant request with the token.
func (e *env) applicantPost(id, token, step, body string) response {
	e.t.Helper()
	return e.send(withBearer(e.request("POST", "/v1/verifications/"+id+"/"+step, body), token))
}

func (e *env) mustStep(id, token, step, body string) vview {
	e.t.Helper()
	res := e.applicantPost(id, token, step, body)
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("%s: %d %s", step, res.StatusCode, res.body)
	}
	return decodeJSON[vview](e.t, res)
}

func (e *env) getSession(v verifier, id string) vview {
	e.t.Helper()
	res := e.send(withKey(e.request("GET", "/v1/verifications/"+id, ""), v.key))
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("get %s: %d %s", id, res.StatusCode, res.body)
	}
	return decodeJSON[vview](e.t, res)
}

func std64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// kimCardBody is 김민수's resident card with image as its photo.
func kimCardBody(image string) string {
	return `{"kind":"resident","name":"김민수","rrn":"900101-1234567","issue_date":"2015-03-02","image":"` + image + `"}`
}

// memo reads the last 1-won memo from the simulator route, as the demo's
// applicant reads their statement.
func (e *env) memo(bank, account string) string {
	e.t.Helper()
	res := e.send(e.request("GET", "/v1/simulator/bank/"+bank+"/"+account+"/memo", ""))
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("memo: %d %s", res.StatusCode, res.body)
	}
	return decodeJSON[struct{ Memo string }](e.t, res).Memo
}

// wantNoKimPII fails when a body shows 김민수's PII unmasked.
func wantNoKimPII(t *testing.T, body []byte) {
	t.Helper()
	for _, s := range []string{"김민수", "1234567", "01012345678", "1234-5678", "1990-01-01", "11012345678901"} {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("response shows %q: %s", s, body)
		}
	}
}

func TestVerificationOpenAndGet(t *testing.T) {
	e := newEnv(t, withEKYC(t))
	v := e.newVerifier()
	other := e.newVerifier()
	c, _ := e.newClient(institution.ScopeDevice)
	deviceOnly, _ := e.newKey(c.ID)

	res := e.send(withKey(e.request("POST", "/v1/verifications", `{"reference":"case-1","applicant":`+kimApplicant+`}`), v.key))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("open: %d %s", res.StatusCode, res.body)
	}
	wantNoKimPII(t, res.body)
	o := decodeJSON[opened](t, res)
	if o.Session.Status != "pending" || o.Session.Reference != "case-1" || o.Session.Applicant.Name == "" || len(o.Session.Passed) != 0 {
		t.Errorf("opened %+v", o.Session)
	}
	got := e.getSession(v, o.Session.ID)
	if got.ID != o.Session.ID || got.Status != "pending" {
		t.Errorf("get %+v", got)
	}

	t.Run("error/another institution's session is not found", func(t *testing.T) {
		e.wantProblem(e.send(withKey(e.request("GET", "/v1/verifications/"+o.Session.ID, ""), other.key)), 404, "not_found")
	})
	t.Run("error/no ekyc scope", func(t *testing.T) {
		e.wantProblem(e.send(withKey(e.request("GET", "/v1/verifications/"+o.Session.ID, ""), deviceOnly)), 403, "insufficient_scope")
		e.wantProblem(e.send(withKey(e.request("POST", "/v1/verifications", `{"applicant":`+kimApplicant+`}`), deviceOnly)), 403, "insufficient_scope")
	})
	t.Run("error/no credential", func(t *testing.T) {
		e.wantProblem(e.send(e.request("GET", "/v1/verifications/"+o.Session.ID, "")), 401, "unauthenticated")
	})

	tests := []struct {
		name, body string
		status     int
		code       string
		field      string
	}{
		{"error/unknown field", `{"applicant":` + kimApplicant + `,"admin":true}`, 400, "unknown_field", "admin"},
		{"error/unknown nested field", `{"applicant":{"name":"김민수","birth_date":"1990-01-01","phone":"01012345678","rrn":"x"}}`, 400, "unknown_field", "applicant.rrn"},
		{"error/policy wrong type", `{"applicant":` + kimApplicant + `,"policy":{"min":"2"}}`, 400, "wrong_type", "policy.min"},
		{"error/policy of one method", `{"applicant":` + kimApplicant + `,"policy":{"min":1}}`, 400, "invalid_policy", "policy"},
		{"error/policy unknown method", `{"applicant":` + kimApplicant + `,"policy":{"required":["palm"]}}`, 400, "invalid_policy", "policy"},
		{"error/applicant and customer", `{"applicant":` + kimApplicant + `,"customer_id":"cus_x"}`, 400, "invalid_applicant", "applicant"},
		{"error/neither applicant nor customer", `{"reference":"x"}`, 400, "invalid_applicant", "applicant"},
		{"error/empty body", ` `, 400, "empty_body", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.events())
			p := e.wantProblem(e.send(withKey(e.request("POST", "/v1/verifications", tt.body), v.key)), tt.status, tt.code)
			if p.Field != tt.field {
				t.Errorf("field %q, want %q", p.Field, tt.field)
			}
			if n := len(e.events()) - before; n != 0 {
				t.Errorf("a refused open wrote %d audit events", n)
			}
		})
	}
}

func TestVerificationNotConfigured(t *testing.T) {
	e := newEnv(t)
	v := e.newVerifier()
	e.wantProblem(e.send(withKey(e.request("POST", "/v1/verifications", `{"applicant":`+kimApplicant+`}`), v.key)), 503, "ekyc_not_configured")
	e.wantProblem(e.applicantPost("ver_x", "tok", "carrier", ""), 503, "ekyc_not_configured")
	e.wantProblem(e.send(withKey(e.request("PUT", "/v1/webhook-endpoint", `{"url":"https://bank.example/hook"}`), v.key)), 503, "webhooks_not_configured")
	e.wantProblem(e.send(withKey(e.request("POST", "/v1/security-media", `{}`), v.key)), 503, "security_media_not_configured")
}

// TestApplicantTokenScope: a token opens its own session and nothing else;
// every refusal is the same 401, audited, and changes no session.
func TestApplicantTokenScope(t *testing.T) {
	e := newEnv(t, withEKYC(t))
	v := e.newVerifier()
	other := e.newVerifier()
	a := e.openKim(v)
	b := e.openKim(v)
	c := e.openKim(other)

	tests := []struct {
		name string
		req  func() *http.Request
	}{
		{"error/own token on a sibling session", func() *http.Request {
			return withBearer(e.request("POST", "/v1/verifications/"+b.Session.ID+"/carrier", ""), a.ApplicantToken)
		}},
		{"error/own token on another institution's session", func() *http.Request {
			return withBearer(e.request("POST", "/v1/verifications/"+c.Session.ID+"/carrier", ""), a.ApplicantToken)
		}},
		{"error/unknown session", func() *http.Request {
			return withBearer(e.request("POST", "/v1/verifications/ver_nosuchsession/carrier", ""), a.ApplicantToken)
		}},
		{"error/impossible session id", func() *http.Request {
			return withBearer(e.request("POST", "/v1/verifications/NOT-AN-ID/carrier", ""), a.ApplicantToken)
		}},
		{"error/altered token", func() *http.Request {
			return withBearer(e.request("POST", "/v1/verifications/"+b.Session.ID+"/carrier", ""), b.ApplicantToken+"x")
		}},
		{"error/no token", func() *http.Request {
			return e.request("POST", "/v1/verifications/"+b.Session.ID+"/carrier", "")
		}},
		{"error/institution API key", func() *http.Request {
			return withKey(e.request("POST", "/v1/verifications/"+b.Session.ID+"/carrier", ""), v.key)
		}},
		{"error/token and API key", func() *http.Request {
			return withKey(withBearer(e.request("POST", "/v1/verifications/"+b.Session.ID+"/carrier", ""), b.ApplicantToken), v.key)
		}},
		{"error/other scheme", func() *http.Request {
			r := e.request("POST", "/v1/verifications/"+b.Session.ID+"/carrier", "")
			r.Header.Set("Authorization", "ApiKey "+b.ApplicantToken)
			return r
		}},
		{"error/oversized token", func() *http.Request {
			return withBearer(e.request("POST", "/v1/verifications/"+b.Session.ID+"/carrier", ""), strings.Repeat("a", 300))
		}},
		{"error/token on a card submission", func() *http.Request {
			return withBearer(e.request("POST", "/v1/verifications/"+b.Session.ID+"/id-card", kimCardBody(std64(face.IDPhotoFixture("kim")))), a.ApplicantToken)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.events()
			res := e.send(tt.req())
			e.wantProblem(res, 401, "applicant_token_invalid")
			if res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without a challenge")
			}
			after := e.events()
			if len(after) != len(before)+1 || after[len(after)-1].Action != "auth.failure" || after[len(after)-1].Result != audit.ResultFailure {
				t.Fatalf("audit grew by %d events, want one auth.failure", len(after)-len(before))
			}
			for _, s := range []opened{b, c} {
				owner := v
				if s.Session.ID == c.Session.ID {
					owner = other
				}
				if got := e.getSession(owner, s.Session.ID); len(got.Methods) != 0 || got.Status != "pending" {
					t.Errorf("session %s changed: %+v", s.Session.ID, got)
				}
			}
		})
	}

	t.Run("ok/own token on own session", func(t *testing.T) {
		got := e.mustStep(a.Session.ID, a.ApplicantToken, "carrier", "")
		if got.ID != a.Session.ID || got.method("carrier").Status != "started" {
			t.Fatalf("carrier: %+v", got)
		}
		if e.getSession(v, b.Session.ID).method("carrier").Status != "" {
			t.Error("the sibling session changed")
		}
	})
	t.Run("error/revoked institution ends its applicants' access", func(t *testing.T) {
		if err := e.inst.RevokeClient(context.Background(), "test", other.id); err != nil {
			t.Fatal(err)
		}
		e.wantProblem(e.applicantPost(c.Session.ID, c.ApplicantToken, "carrier", ""), 401, "applicant_token_invalid")
	})
}

// TestApplicantBadInput: strict decoding on the applicant routes, each
// refusal with its code and field, and no session change.
func TestApplicantBadInput(t *testing.T) {
	e := newEnv(t, withEKYC(t))
	v := e.newVerifier()
	o := e.openKim(v)
	card := std64(face.IDPhotoFixture("kim"))
	oversized := std64(append(face.IDPhotoFixture("kim"), make([]byte, 5<<20)...))

	tests := []struct {
		name, step, contentType, body string
		status                        int
		code, field                   string
	}{
		{"error/id-card unknown field", "id-card", "application/json", strings.TrimSuffix(kimCardBody(card), "}") + `,"admin":true}`, 400, "unknown_field", "admin"},
		{"error/id-card duplicate field", "id-card", "application/json", strings.TrimSuffix(kimCardBody(card), "}") + `,"rrn":"850505-2345678"}`, 400, "duplicate_field", "rrn"},
		{"error/id-card bad base64", "id-card", "application/json", kimCardBody("not base64!"), 400, "invalid_image", "image"},
		{"error/id-card url-safe base64", "id-card", "application/json", kimCardBody(base64.RawURLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 1})), 400, "invalid_image", "image"},
		{"error/id-card no image", "id-card", "application/json", kimCardBody(""), 400, "invalid_image", "image"},
		{"error/id-card image over 5 MiB", "id-card", "application/json", kimCardBody(oversized), 413, "image_too_large", "image"},
		{"error/id-card body over 8 MiB", "id-card", "application/json", kimCardBody(strings.Repeat("A", 9<<20)), 413, "body_too_large", ""},
		{"error/id-card wrong kind", "id-card", "application/json", strings.Replace(kimCardBody(card), "resident", "passport", 1), 400, "id_card_invalid", "kind"},
		{"error/id-card wrong content type", "id-card", "text/plain", kimCardBody(card), 415, "unsupported_media_type", ""},
		{"error/account bank code", "existing-account", "application/json", `{"bank":"04","account_number":"11012345678901"}`, 400, "invalid_account", "bank"},
		{"error/account number type", "existing-account", "application/json", `{"bank":"004","account_number":11012345678901}`, 400, "wrong_type", "account_number"},
		{"error/account body over 64 KiB", "existing-account", "application/json", `{"bank":"004","account_number":"` + strings.Repeat("1", 70<<10) + `"}`, 413, "body_too_large", ""},
		{"error/carrier takes no input", "carrier", "application/json", `{"phone":"01099999999"}`, 400, "unknown_field", "phone"},
		{"error/carrier trailing data", "carrier", "application/json", `{} {}`, 400, "trailing_data", ""},
		{"error/otp unknown field", "otp", "application/json", `{"serial":"OTP-0001","code":"123456","counter":1}`, 400, "unknown_field", "counter"},
		{"error/biometric bad base64", "biometric", "application/json", `{"selfie":"***","nonce":"n"}`, 400, "invalid_image", "selfie"},
		{"error/confirm code type", "existing-account/confirm", "application/json", `{"code":1234}`, 400, "wrong_type", "code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.events())
			r := withBearer(e.request("POST", "/v1/verifications/"+o.Session.ID+"/"+tt.step, tt.body), o.ApplicantToken)
			r.Header.Set("Content-Type", tt.contentType)
			p := e.wantProblem(e.send(r), tt.status, tt.code)
			if p.Field != tt.field {
				t.Errorf("field %q, want %q", p.Field, tt.field)
			}
			if got := e.getSession(v, o.Session.ID); len(got.Methods) != 0 {
				t.Errorf("a refused request changed the session: %+v", got.Methods)
			}
			if n := len(e.events()) - before; n != 0 {
				t.Errorf("a refused request wrote %d audit events", n)
			}
		})
	}

	t.Run("ok/an image over 64 KiB reaches the service", func(t *testing.T) {
		// The ID photo is judged by the face engine only in the biometric
		// method; what matters here is the route's own body limit.
		big := std64(append(face.IDPhotoFixture("kim"), bytes.Repeat([]byte{' '}, 100<<10)...))
		got := e.mustStep(o.Session.ID, o.ApplicantToken, "id-card", kimCardBody(big))
		if got.method("id_card").Status == "" {
			t.Fatalf("id_card not attempted: %+v", got)
		}
	})
}

// TestVerificationFullPass drives a session to passed over HTTP with the
// id_card and existing_account methods, reading the 1-won memo through
// the simulator route.
func TestVerificationFullPass(t *testing.T) {
	e := newEnv(t, withEKYC(t))
	v := e.newVerifier()
	o := e.open(v, `{"reference":"loan-42","applicant":`+kimApplicant+`,"policy":{"required":["id_card","existing_account"]}}`)
	id, tok := o.Session.ID, o.ApplicantToken

	got := e.mustStep(id, tok, "id-card", kimCardBody(std64(face.IDPhotoFixture("kim"))))
	if got.method("id_card").Status != "passed" || got.Status != "pending" {
		t.Fatalf("after id_card: %+v", got)
	}

	res := e.applicantPost(id, tok, "existing-account", `{"bank":"004","account_number":"110-1234-5678901"}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("existing-account: %d %s", res.StatusCode, res.body)
	}
	wantNoKimPII(t, res.body)
	if got := decodeJSON[vview](t, res); got.method("existing_account").Status != "started" {
		t.Fatalf("after start: %+v", got)
	}
	code := e.memo("004", "11012345678901")
	wrong := "ZZZZ"
	if code == wrong {
		wrong = "YYYY"
	}
	got = e.mustStep(id, tok, "existing-account/confirm", `{"code":"`+wrong+`"}`)
	if m := got.method("existing_account"); m.Status != "started" || m.Attempts != 1 {
		t.Fatalf("after a wrong code: %+v", m)
	}
	got = e.mustStep(id, tok, "existing-account/confirm", `{"code":"`+code+`"}`)
	if got.Status != "passed" || got.method("existing_account").Status != "passed" {
		t.Fatalf("after the right code: %+v", got)
	}

	final := e.getSession(v, id)
	slices.Sort(final.Passed)
	if final.Status != "passed" || !slices.Equal(final.Passed, []string{"existing_account", "id_card"}) || final.DecidedAt == nil {
		t.Errorf("final %+v", final)
	}
	e.wantProblem(e.applicantPost(id, tok, "carrier", ""), 409, "verification_closed")
}

// TestVerificationBiometric passes id_card and biometric: the selfie is
// bound to the server's nonce.
func TestVerificationBiometric(t *testing.T) {
	e := newEnv(t, withEKYC(t))
	v := e.newVerifier()
	o := e.openKim(v)
	id, tok := o.Session.ID, o.ApplicantToken

	e.wantProblem(e.applicantPost(id, tok, "biometric/nonce", ""), 409, "id_card_required")
	e.mustStep(id, tok, "id-card", kimCardBody(std64(face.IDPhotoFixture("kim"))))
	res := e.applicantPost(id, tok, "biometric/nonce", "{}")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("nonce: %d %s", res.StatusCode, res.body)
	}
	n := decodeJSON[struct {
		Nonce     string    `json:"nonce"`
		ExpiresAt time.Time `json:"expires_at"`
	}](t, res)
	if n.Nonce == "" || !n.ExpiresAt.After(e.clock.Now()) {
		t.Fatalf("nonce %+v", n)
	}
	body := `{"selfie":"` + std64(face.SelfieFixture("kim", n.Nonce)) + `","nonce":"` + n.Nonce + `"}`
	got := e.mustStep(id, tok, "biometric", body)
	if got.method("biometric").Status != "passed" || got.Status != "passed" {
		t.Fatalf("after biometric: %+v", got)
	}
}

func TestVideoCallByAgentOnly(t *testing.T) {
	e := newEnv(t, withEKYC(t))
	v := e.newVerifier()
	o := e.openKim(v)
	path := "/v1/operator/verifications/" + o.Session.ID + "/video-call"
	approve := `{"decision":"approve","recording_ref":"rec/2026/03/01/0001"}`

	for _, role := range []operator.Role{operator.RoleTeller, operator.RoleSupervisor, operator.RoleAnalyst, operator.RoleAuditor, operator.RoleAdmin} {
		t.Run("error/"+string(role), func(t *testing.T) {
			s := e.login(e.newOperator("op."+string(role), role))
			before := len(e.events())
			e.wantProblem(e.as(s, e.request("POST", path, approve)), 403, "role_required")
			if n := len(e.events()) - before; n != 0 {
				t.Errorf("a refused verdict wrote %d audit events", n)
			}
			if got := e.getSession(v, o.Session.ID); len(got.Methods) != 0 {
				t.Errorf("session changed: %+v", got.Methods)
			}
		})
	}
	agent := e.newOperator("agent.kang", operator.RoleAgent)
	s := e.login(agent)
	t.Run("error/no session", func(t *testing.T) {
		e.wantProblem(e.send(e.request("POST", path, approve)), 401, "session_invalid")
	})
	t.Run("error/decision", func(t *testing.T) {
		p := e.wantProblem(e.as(s, e.request("POST", path, `{"decision":"maybe","recording_ref":"r"}`)), 400, "invalid_request")
		if p.Field != "decision" {
			t.Errorf("field %q", p.Field)
		}
	})
	t.Run("error/reject without reason", func(t *testing.T) {
		e.wantProblem(e.as(s, e.request("POST", path, `{"decision":"reject","recording_ref":"r"}`)), 400, "invalid_decision")
	})
	t.Run("error/unknown session", func(t *testing.T) {
		e.wantProblem(e.as(s, e.request("POST", "/v1/operator/verifications/ver_nosuchsession/video-call", approve)), 404, "not_found")
	})
	t.Run("ok/agent", func(t *testing.T) {
		before := len(e.events())
		res := e.as(s, e.request("POST", path, approve))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("agent: %d %s", res.StatusCode, res.body)
		}
		wantNoKimPII(t, res.body)
		if got := decodeJSON[vview](t, res); got.method("video_call").Status != "passed" {
			t.Fatalf("after video call: %+v", got)
		}
		found := false
		for _, ev := range e.events()[before:] {
			found = found || ev.Actor == agent.op.ID
		}
		if !found {
			t.Error("no audit entry names the agent")
		}
	})
}

// registryMedium is a TOTP medium registration; the seed is RFC 6238's
// SHA1 test key.
const registryMedium = `{"serial":"otp-0001-kim","kind":"totp","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","holder":` + kimApplicant + `}`

func TestSecurityMediaRoute(t *testing.T) {
	e := newEnv(t, withEKYC(t))
	v := e.newVerifier()
	c, _ := e.newClient(institution.ScopeDevice)
	deviceOnly, _ := e.newKey(c.ID)

	res := e.send(withKey(e.request("POST", "/v1/security-media", registryMedium), v.key))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", res.StatusCode, res.body)
	}
	wantNoKimPII(t, res.body)
	if bytes.Contains(res.body, []byte("GEZDGNBVGY3TQOJQ")) {
		t.Fatalf("the answer shows the seed: %s", res.body)
	}
	m := decodeJSON[struct{ Serial, Kind string }](t, res)
	if m.Serial != "OTP-0001-KIM" || m.Kind != "totp" {
		t.Errorf("medium %+v", m)
	}
	media := e.server.SecurityMedia.(*secmedia.Service)
	if _, err := media.Get(context.Background(), v.id, "OTP-0001-KIM"); err != nil {
		t.Errorf("not registered for the caller: %v", err)
	}
	other := e.newVerifier()
	if _, err := media.Get(context.Background(), other.id, "OTP-0001-KIM"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("another institution sees the medium: %v", err)
	}

	tests := []struct {
		name, key, body string
		status          int
		code, field     string
	}{
		{"error/same serial", v.key, registryMedium, 409, "security_medium_exists", "serial"},
		{"error/seed too short", v.key, strings.Replace(registryMedium, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "GEZDGNBV", 1), 400, "invalid_seed", "seed"},
		{"error/hotp with period", v.key, strings.Replace(strings.Replace(registryMedium, `"totp"`, `"hotp"`, 1), `"seed"`, `"period":30,"seed"`, 1), 400, "invalid_period", "period"},
		{"error/unknown field", v.key, strings.Replace(registryMedium, `"kind"`, `"counter":0,"kind"`, 1), 400, "unknown_field", "counter"},
		{"error/digits type", v.key, strings.Replace(registryMedium, `"kind"`, `"digits":"6","kind"`, 1), 400, "wrong_type", "digits"},
		{"error/holder", v.key, strings.Replace(registryMedium, "1990-01-01", "1990-02-30", 1), 400, "invalid_birth_date", "holder.birth_date"},
		{"error/no ekyc scope", deviceOnly, strings.Replace(registryMedium, "0001", "0002", 1), 403, "insufficient_scope", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.events())
			res := e.send(withKey(e.request("POST", "/v1/security-media", tt.body), tt.key))
			p := e.wantProblem(res, tt.status, tt.code)
			if p.Field != tt.field {
				t.Errorf("field %q, want %q", p.Field, tt.field)
			}
			if bytes.Contains(res.body, []byte("GEZDGNBV")) {
				t.Errorf("the refusal shows the seed: %s", res.body)
			}
			if n := len(e.events()) - before; n != 0 {
				t.Errorf("a refused registration wrote %d audit events", n)
			}
		})
	}
}

func TestWebhookEndpointRoute(t *testing.T) {
	e := newEnv(t, withEKYC(t))
	c, _ := e.newClient(institution.ScopeDevice) // any scope may set its endpoint
	key, _ := e.newKey(c.ID)
	put := func(body string) response {
		return e.send(withKey(e.request("PUT", "/v1/webhook-endpoint", body), key))
	}

	res := put(`{"url":"https://bank.example/haechi/events"}`)
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("set: %d %s (Cache-Control %q)", res.StatusCode, res.body, res.Header.Get("Cache-Control"))
	}
	first := decodeJSON[struct{ URL, Secret string }](t, res)
	if first.URL != "https://bank.example/haechi/events" || !strings.HasPrefix(first.Secret, webhook.SecretPrefix) {
		t.Fatalf("set: %+v", first)
	}
	hooks := e.server.Webhooks.(*webhook.Service)
	ep, err := hooks.Endpoint(context.Background(), c.ID)
	if err != nil || ep.URL != first.URL || len(ep.Secrets) != 1 || string(ep.Secrets[0]) != first.Secret {
		t.Fatalf("stored endpoint %v, %v", ep, err)
	}

	second := decodeJSON[struct{ URL, Secret string }](t, put(`{"url":"https://bank.example/v2/events"}`))
	if second.Secret == first.Secret || second.Secret == "" {
		t.Error("a new secret was not issued")
	}
	if ep, err := hooks.Endpoint(context.Background(), c.ID); err != nil || ep.URL != second.URL || len(ep.Secrets) != 2 {
		t.Errorf("after rotation %v, %v", ep, err)
	}

	for _, tt := range []struct{ name, body, code, field string }{
		{"error/plain http", `{"url":"http://bank.example/events"}`, "invalid_webhook_url", "url"},
		{"error/credentials in url", `{"url":"https://user:pw@bank.example/events"}`, "invalid_webhook_url", "url"},
		{"error/unknown field", `{"url":"https://bank.example/events","secret":"mine"}`, "unknown_field", "secret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := e.wantProblem(put(tt.body), 400, tt.code)
			if p.Field != tt.field {
				t.Errorf("field %q, want %q", p.Field, tt.field)
			}
			if ep, _ := hooks.Endpoint(context.Background(), c.ID); ep == nil || ep.URL != second.URL {
				t.Error("a refused request changed the endpoint")
			}
		})
	}
}

func TestSimulatorMemoRoute(t *testing.T) {
	t.Run("ok/last memo", func(t *testing.T) {
		e := newEnv(t, withEKYC(t))
		e.wantProblem(e.send(e.request("GET", "/v1/simulator/bank/004/11012345678901/memo", "")), 404, "deposit_not_found")
		bank := e.server.Simulators.Bank
		for _, memo := range []string{"AB12", "CD34"} {
			if _, err := bank.Deposit(context.Background(), bankxfer.Account{Bank: "004", Number: "11012345678901"}, 1, memo); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.memo("004", "110-1234-5678901"); got != "CD34" {
			t.Errorf("memo %q, want the last one", got)
		}
		e.wantProblem(e.send(e.request("GET", "/v1/simulator/bank/088/110123456789/memo", "")), 404, "deposit_not_found")
	})
	t.Run("error/absent without the bank simulator", func(t *testing.T) {
		e := newEnv(t)
		e.wantProblem(e.send(e.request("GET", "/v1/simulator/bank/004/11012345678901/memo", "")), 404, "not_found")
	})
}
