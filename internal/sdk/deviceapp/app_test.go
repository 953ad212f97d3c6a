package deviceapp

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/device"
)

// fakeServer checks what the app sends with the device package's own
// verifiers, so the client and the domain agree on every signed byte.
type fakeServer struct {
	t         *testing.T
	challenge []byte
	pub       *ecdsa.PublicKey
	nonce     string
}

func (f *fakeServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/device-registrations", f.start)
	mux.HandleFunc("POST /v1/device-registrations/{id}/code", f.code)
	mux.HandleFunc("POST /v1/device-registrations/{id}/key", f.key)
	mux.HandleFunc("POST /v1/device-nonces", func(w http.ResponseWriter, r *http.Request) {
		f.nonce = "nonce-" + strconv.Itoa(len(f.nonce))
		reply(w, 201, map[string]string{"nonce": f.nonce})
	})
	mux.HandleFunc("GET /v1/devices/current", f.current)
	return mux
}

func (f *fakeServer) start(w http.ResponseWriter, r *http.Request) {
	var in struct {
		InstitutionID string          `json:"institution_id"`
		Customer      Identity        `json:"customer"`
		Device        json.RawMessage `json:"device"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		f.t.Errorf("start body: %v", err)
	}
	if _, err := device.DecodeReport(in.Device); err != nil || in.InstitutionID != "bank" || in.Customer.Phone != "01012345678" {
		f.t.Errorf("start: report %v, institution %q, customer %+v", err, in.InstitutionID, in.Customer)
	}
	reply(w, 201, map[string]any{"registration_id": "reg_1", "challenge": b64.EncodeToString(f.challenge), "expires_at": time.Now().Add(5 * time.Minute)})
}

func (f *fakeServer) code(w http.ResponseWriter, r *http.Request) {
	var in struct{ Code string }
	json.NewDecoder(r.Body).Decode(&in)
	if in.Code == "123456" && r.PathValue("id") == "reg_1" {
		reply(w, 200, map[string]string{"status": "code_verified"})
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(403)
	io.WriteString(w, `{"code":"code_wrong","status":403,"remaining_attempts":1}`)
}

func (f *fakeServer) key(w http.ResponseWriter, r *http.Request) {
	var in keyRequest
	json.NewDecoder(r.Body).Decode(&in)
	spki, _ := b64.DecodeString(in.PublicKey)
	sig, _ := b64.DecodeString(in.Signature)
	if ch, _ := b64.DecodeString(in.Challenge); string(ch) != string(f.challenge) {
		f.t.Errorf("key: challenge %q", in.Challenge)
	}
	if _, err := (device.AppKeyProof{PublicKey: spki, Signature: sig}).Verify(r.Context(), r.PathValue("id"), f.challenge); err != nil {
		f.t.Errorf("key proof: %v", err)
	}
	f.pub, _ = device.ParsePublicKey(spki)
	reply(w, 201, map[string]any{"device_id": "dev_1", "kind": "app_key", "revoked_device_ids": []string{}})
}

func (f *fakeServer) current(w http.ResponseWriter, r *http.Request) {
	h := r.Header
	unix, _ := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	sig, _ := b64.DecodeString(h.Get(HeaderSignature))
	empty := sha256.Sum256(nil)
	err := device.VerifyRequest(f.pub, r.Method, r.URL.RequestURI(), empty[:], h.Get(HeaderNonce), unix, sig)
	if err != nil || h.Get(HeaderNonce) != f.nonce || h.Get(HeaderDeviceID) != "dev_1" || time.Since(time.Unix(unix, 0)).Abs() > time.Minute {
		f.t.Errorf("signed request: %v, headers %v", err, h)
	}
	reply(w, 200, map[string]string{"device_id": "dev_1"})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func TestAppAgainstDomainVerifiers(t *testing.T) {
	f := &fakeServer{t: t, challenge: []byte("0123456789abcdef0123456789abcdef")}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	app, err := NewApp(srv.URL, "bank", DemoReport(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := app.StartRegistration(ctx, "김민수", "1990-01-01", "01012345678", "token")
	if err != nil || reg.ID != "reg_1" || string(reg.Challenge) != string(f.challenge) {
		t.Fatalf("start: %+v %v", reg, err)
	}
	t.Run("error/wrong code carries remaining attempts", func(t *testing.T) {
		err := app.SubmitCode(ctx, reg.ID, "000000")
		p, ok := AsProblem(err)
		if !ok || p.Code != "code_wrong" || p.Status != 403 || p.RemainingAttempts == nil || *p.RemainingAttempts != 1 {
			t.Fatalf("wrong code: %v", err)
		}
	})
	if err := app.SubmitCode(ctx, reg.ID, "123456"); err != nil {
		t.Fatalf("code: %v", err)
	}
	if err := app.SignedGet(ctx, "/v1/devices/current", nil); err == nil {
		t.Fatal("signed request accepted before the app has a device")
	}
	b, err := app.BindKey(ctx, reg)
	if err != nil || b.DeviceID != "dev_1" || app.DeviceID != "dev_1" {
		t.Fatalf("bind: %+v %v", b, err)
	}
	for _, path := range []string{"/v1/devices/current", "/v1/devices/current?with=query"} {
		var out map[string]string
		if err := app.SignedGet(ctx, path, &out); err != nil || out["device_id"] != "dev_1" {
			t.Fatalf("signed GET %s: %v %v", path, out, err)
		}
	}
}

func TestDemoReportMeetsDemoPolicy(t *testing.T) {
	now := time.Now()
	r := DemoReport(now)
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	// A nil verdict: only the report's own fields are judged here.
	p := device.DemoPolicy()
	p.RequireIntegrity = false
	if err := p.Check(r, nil, now); err != nil {
		t.Fatalf("demo report refused by the demo policy: %v", err)
	}
	if DemoReport(now).DeviceID == r.DeviceID {
		t.Fatal("two demo phones share a hardware id")
	}
}
