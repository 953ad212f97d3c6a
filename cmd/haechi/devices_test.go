package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/device"
)

// startServe runs `haechi serve --migrate` in-process on :0 and returns its
// base URL.
func startServe(t *testing.T, dataDir string) string {
	t.Helper()
	cheapHashes(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--migrate", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, pw, io.Discard)
		pw.Close()
	}()
	d := &demoServer{dataDir: dataDir}
	d.readBanner(t, bufio.NewScanner(pr))
	go io.Copy(io.Discard, pr)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return d.base
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

// startBody is a well-formed registration start for institution inst.
func startBody(t *testing.T, inst string) string {
	t.Helper()
	s := carrier.DefaultSubscribers()[0]
	b, err := json.Marshal(map[string]any{"institution_id": inst,
		"customer": map[string]string{"name": s.Name, "birth_date": s.BirthDate, "phone": s.Phone},
		"device": device.Report{DeviceID: "hw-1", Model: "SM-S918N", OS: "android", OSVersion: "15", SecurityPatch: "2026-01-01",
			AppVersion: device.DemoAppVersion, AppDigest: device.DemoAppDigest, NetworkType: "wifi"},
		"integrity_token": "not-a-token"})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServeWithoutProviders(t *testing.T) {
	dir := t.TempDir()
	cheapHashes(t)
	if _, err := runCLI(t, dir, "migrate"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, dir, "clients", "create", "--name", "Device Bank", "--scopes", "device")
	if err != nil {
		t.Fatalf("clients create: %v %q", err, out)
	}
	inst := fieldRe.FindStringSubmatch(strings.Split(out, "\n")[0])[2]
	base := startServe(t, dir)

	t.Run("error/registration answers 503 and counts nothing", func(t *testing.T) {
		for range 4 { // past the failure limit: none of these may count
			code, body := post(t, base+"/v1/device-registrations", startBody(t, inst))
			if code != http.StatusServiceUnavailable || body["code"] != "provider_not_configured" {
				t.Fatalf("start = %d %v", code, body)
			}
		}
	})
	t.Run("error/no simulator routes", func(t *testing.T) {
		code, body := get(t, base+"/v1/simulator/sms/01012345678", nil)
		if code != http.StatusNotFound || body["code"] != "not_found" {
			t.Fatalf("simulator sms = %d %v", code, body)
		}
	})
	t.Run("ok/the rest of the server works", func(t *testing.T) {
		if code, _ := get(t, base+"/readyz", nil); code != 200 {
			t.Fatalf("readyz = %d", code)
		}
	})
}

func TestServeSimulatorsByEnv(t *testing.T) {
	t.Setenv("HAECHI_SIMULATORS", "true")
	base := startServe(t, t.TempDir())
	code, body := get(t, base+"/v1/simulator/sms/01012345678", nil)
	if code != http.StatusNotFound || body["code"] != "sms_not_found" {
		t.Fatalf("simulator sms = %d %v, want the route mounted", code, body)
	}
	code, body = post(t, base+"/v1/simulator/integrity-tokens", `{"app_digest":"`+device.DemoAppDigest+`","app_version":"3.2.0","device_integrity":true,"nonce":"n"}`)
	if code != http.StatusCreated || body["token"] == "" {
		t.Fatalf("mint = %d %v", code, body)
	}
}

func TestDemoDataFile(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	path := filepath.Join(dir, "demo.json")
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("demo.json mode %v, want 0600", fi.Mode().Perm())
	}
	var data demoData
	if err := json.Unmarshal(first, &data); err != nil {
		t.Fatal(err)
	}
	t.Run("ok/institution and customers", func(t *testing.T) {
		if data.InstitutionID != d.clientID || data.ClientID != d.clientID || data.APIKey != d.apiKey || data.Server != "" {
			t.Fatalf("demo.json %s", first)
		}
		subs := carrier.DefaultSubscribers()
		if len(data.Customers) != len(subs) {
			t.Fatalf("%d customers, want %d", len(data.Customers), len(subs))
		}
		for i, c := range data.Customers {
			if c.Phone != subs[i].Phone || c.Name != subs[i].Name || !strings.HasPrefix(c.ID, "cus_") {
				t.Fatalf("customer %d: %+v", i, c)
			}
			code, _ := get(t, d.base+"/v1/customers/"+c.ID+"/registration-status", map[string]string{"X-Api-Key": data.APIKey})
			if code != 200 {
				t.Fatalf("status of %s = %d", c.ID, code)
			}
		}
	})
	t.Run("ok/every demo operator logs in with its role", func(t *testing.T) {
		for name, wantRole := range map[string]string{"demo-admin": "admin", "demo-agent": "agent", "demo-supervisor": "supervisor", "demo-teller": "teller"} {
			u := data.Operators[name]
			b, _ := json.Marshal(map[string]string{"username": u.Username, "password": u.Password, "code": mustTOTP(t, u.TOTPSecret)})
			code, body := post(t, d.base+"/v1/operator/sessions", string(b))
			roles, _ := body["operator"].(map[string]any)["roles"].([]any)
			if code != 201 || !containsAny(roles, wantRole) {
				t.Fatalf("%s login = %d %v", name, code, body)
			}
		}
	})
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	t.Run("ok/a second start keeps demo.json", func(t *testing.T) {
		again := startDemo(t, dir)
		defer again.stop()
		now, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(now, first) {
			t.Fatalf("demo.json changed on a second start (%v)", err)
		}
	})
}

func containsAny(xs []any, want string) bool {
	for _, x := range xs {
		if x == want {
			return true
		}
	}
	return false
}

// TestServeWithoutAppDigests configures real authorities but no app
// digests: registration must answer 503 without asking anyone or counting,
// rather than refuse every app as not genuine.
func TestServeWithoutAppDigests(t *testing.T) {
	asked := make(chan string, 10)
	authority := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- r.URL.Path
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer authority.Close()
	for _, p := range []string{"CARRIER", "ATTEST"} {
		t.Setenv("HAECHI_"+p+"_URL", authority.URL)
		t.Setenv("HAECHI_"+p+"_TOKEN", "test-token")
	}
	dir := t.TempDir()
	cheapHashes(t)
	if _, err := runCLI(t, dir, "migrate"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, dir, "clients", "create", "--name", "Device Bank", "--scopes", "device")
	if err != nil {
		t.Fatalf("clients create: %v %q", err, out)
	}
	base := startServe(t, dir)
	inst := fieldRe.FindStringSubmatch(strings.Split(out, "\n")[0])[2]
	for range 4 {
		code, body := post(t, base+"/v1/device-registrations", startBody(t, inst))
		if code != http.StatusServiceUnavailable || body["code"] != "provider_not_configured" {
			t.Fatalf("start = %d %v", code, body)
		}
	}
	if len(asked) != 0 {
		t.Fatalf("an authority was asked %q", <-asked)
	}
}
