package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	_ "modernc.org/sqlite"
)

// demoServer is a `haechi serve --demo` running in-process on :0 with the
// credentials it printed.
type demoServer struct {
	base, dataDir                  string
	clientID, clientSecret, apiKey string
	opUser, opPassword, totpSecret string
	stop                           func() error
}

func cheapHashes(t testing.TB) {
	// Argon2id at the lowest cost the config accepts keeps the race-enabled
	// suite fast; the production default is exercised by the benchmarks.
	t.Setenv("HAECHI_ARGON2_MEMORY_KIB", "19456")
}

func startDemo(t testing.TB, dataDir string) *demoServer {
	t.Helper()
	cheapHashes(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, pw, io.Discard)
		pw.Close()
	}()
	d := &demoServer{dataDir: dataDir}
	d.readBanner(t, bufio.NewScanner(pr))
	go io.Copy(io.Discard, pr)
	d.stop = func() error { cancel(); return <-done }
	t.Cleanup(func() { cancel() })
	return d
}

var fieldRe = regexp.MustCompile(`^([a-z_]+):\s+(\S+)`)

func (d *demoServer) readBanner(t testing.TB, sc *bufio.Scanner) {
	t.Helper()
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "listening on ") {
			d.base = strings.Fields(line[strings.Index(line, "listening on ")+len("listening on "):])[0]
			return
		}
		m := fieldRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch m[1] {
		case "client_id":
			d.clientID = m[2]
		case "client_secret":
			d.clientSecret = m[2]
		case "api_key":
			d.apiKey = m[2]
		case "username":
			d.opUser = m[2]
		case "password":
			d.opPassword = m[2]
		case "totp_secret":
			d.totpSecret = m[2]
		}
	}
	t.Fatal("server exited before listening")
}

func get(t *testing.T, url string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body
}

func TestDemoServerEndToEnd(t *testing.T) {
	d := startDemo(t, t.TempDir())
	if d.apiKey == "" || d.clientSecret == "" || d.totpSecret == "" {
		t.Fatalf("demo banner lacks credentials: %+v", d)
	}
	t.Run("health", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, _ := get(t, d.base+p, nil); code != 200 {
				t.Fatalf("%s = %d", p, code)
			}
		}
	})
	t.Run("api key", func(t *testing.T) {
		code, body := get(t, d.base+"/v1/ping", map[string]string{"X-Api-Key": d.apiKey})
		if code != 200 || body["client_id"] != d.clientID {
			t.Fatalf("ping = %d %v", code, body)
		}
		if code, _ := get(t, d.base+"/v1/ping", nil); code != 401 {
			t.Fatalf("ping without key = %d", code)
		}
	})
	t.Run("oauth token", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}}
		req, _ := http.NewRequest("POST", d.base+"/v1/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(d.clientID, d.clientSecret)
		code, body := do(t, req)
		if code != 200 {
			t.Fatalf("token = %d %v", code, body)
		}
		code, body = get(t, d.base+"/v1/ping", map[string]string{"Authorization": "Bearer " + body["access_token"].(string)})
		if code != 200 || body["via"] != "jwt" {
			t.Fatalf("ping with jwt = %d %v", code, body)
		}
	})
	t.Run("operator login", func(t *testing.T) {
		code := mustTOTP(t, d.totpSecret)
		b, _ := json.Marshal(map[string]string{"username": d.opUser, "password": d.opPassword, "code": code})
		req, _ := http.NewRequest("POST", d.base+"/v1/operator/sessions", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		status, body := do(t, req)
		if status != 201 && status != 200 {
			t.Fatalf("login = %d %v", status, body)
		}
	})
	t.Run("console served", func(t *testing.T) {
		res, err := http.Get(d.base + "/console/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatalf("console = %d csp %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
		}
	})
	if err := d.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

func mustTOTP(t *testing.T, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// runCLI runs a subcommand against dataDir and returns its output.
func runCLI(t *testing.T, dataDir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append(args, "--data-dir", dataDir), &out, io.Discard)
	return out.String(), err
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, dir, "audit", "verify")
	if err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("verify on a fresh log: %v %q", err, out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "haechi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The append-only triggers stop casual edits; an attacker with write
	// access to the file drops them first. The chain must still tell.
	for _, q := range []string{`DROP TRIGGER audit_events_no_update`, `UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	_, err = runCLI(t, dir, "audit", "verify")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 3 || !strings.Contains(err.Error(), "event 2") {
		t.Fatalf("verify after tampering = %v; want exit 3 naming event 2", err)
	}
}

func TestAdministrationCommands(t *testing.T) {
	cheapHashes(t)
	dir := t.TempDir()
	if _, err := runCLI(t, dir, "migrate"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, dir, "clients", "create", "--name", "Hana Test", "--scopes", "ekyc,login")
	if err != nil || !strings.Contains(out, "api_key:       hk_") {
		t.Fatalf("clients create: %v %q", err, out)
	}
	id := fieldRe.FindStringSubmatch(strings.Split(out, "\n")[0])[2]
	if out, err = runCLI(t, dir, "clients", "list"); err != nil || !strings.Contains(out, "Hana Test") || strings.Contains(out, "hk_") {
		t.Fatalf("clients list: %v %q", err, out)
	}
	if _, err = runCLI(t, dir, "clients", "revoke", id); err != nil {
		t.Fatal(err)
	}
	if out, _ = runCLI(t, dir, "clients", "list"); !strings.Contains(out, "revoked") {
		t.Fatalf("revoked client not shown as revoked: %q", out)
	}
	if _, err = runCLI(t, dir, "clients", "create", "--name", "Bad", "--scopes", "root"); err == nil {
		t.Fatal("unknown scope accepted")
	}
	out, err = runCLI(t, dir, "operators", "create", "--username", "kim.teller", "--roles", "teller")
	if err != nil || !strings.Contains(out, "totp_url:") {
		t.Fatalf("operators create: %v %q", err, out)
	}
	opID := fieldRe.FindStringSubmatch(strings.Split(out, "\n")[0])[2]
	if _, err = runCLI(t, dir, "operators", "disable", opID); err != nil {
		t.Fatal(err)
	}
	if out, _ = runCLI(t, dir, "operators", "list"); !strings.Contains(out, "disabled") {
		t.Fatalf("operators list: %q", out)
	}
	if out, err = runCLI(t, dir, "audit", "verify"); err != nil {
		t.Fatalf("audit verify after administration: %v %q", err, out)
	}
}

func TestKeyRotationKeepsDataReadable(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, dir, "keys", "rotate"); err != nil || !strings.Contains(out, "version 2") {
		t.Fatalf("keys rotate: %v %q", err, out)
	}
	// The operator's TOTP secret was sealed under the old data key: logging in
	// after rotation proves it still opens.
	d2 := startDemo(t, dir)
	b, _ := json.Marshal(map[string]string{"username": d.opUser, "password": d.opPassword, "code": mustTOTP(t, d.totpSecret)})
	req, _ := http.NewRequest("POST", d2.base+"/v1/operator/sessions", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if status, body := do(t, req); status != 201 && status != 200 {
		t.Fatalf("login after rotation = %d %v", status, body)
	}
	if err := d2.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestServeRefusesOutdatedSchema(t *testing.T) {
	cheapHashes(t)
	dir := t.TempDir()
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("serve on an empty database = %v; want a refusal pointing at migrate", err)
	}
}

func TestBadSettingStopsStartup(t *testing.T) {
	t.Setenv("HAECHI_HASH_WORKERS", "zero")
	err := run(context.Background(), []string{"serve", "--data-dir", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HAECHI_HASH_WORKERS") {
		t.Fatalf("err = %v", err)
	}
}

func TestWrongMasterKeyStopsStartup(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	// Another installation's key file: the stored data keys must not open.
	other := t.TempDir()
	if _, err := runCLI(t, other, "migrate"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(other, "keys.json"), filepath.Join(dir, "keys.json")); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, dir, "clients", "list")
	if err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("start with a foreign key file = %v; want a master key mismatch", err)
	}
}

func TestAuditExport(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, dir, "audit", "export")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("export has %d lines: %q", len(lines), out)
	}
	for i, l := range lines {
		var ev struct {
			Seq    int64  `json:"seq"`
			Action string `json:"action"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Seq != int64(i+1) || ev.Action == "" {
			t.Fatalf("line %d = %q (%v)", i+1, l, err)
		}
	}
	if strings.Contains(out, d.clientSecret) || strings.Contains(out, d.apiKey) || strings.Contains(out, d.opPassword) {
		t.Fatal("the audit log holds a secret")
	}
}
