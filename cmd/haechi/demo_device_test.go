package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/idcheck"
)

// TestDemoDevice runs `haechi demo device` against an in-process
// `serve --demo`: every step must behave as shown, and the output must
// show personal data masked only.
func TestDemoDevice(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	var out bytes.Buffer
	err := run(context.Background(), []string{"demo", "device", "--server", d.base, "--data-dir", dir}, &out, io.Discard)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo device: %v", err)
	}
	text := out.String()
	if strings.Contains(text, "✗") {
		t.Fatal("a step failed but the demo succeeded")
	}
	for _, want := range []string{"device-signed GET /v1/devices/current", "wrong code 3 refused: registration_restricted (423)",
		"a fresh start refused: registration_restricted (423)", "restriction lifted", "registration_blocked (423)",
		"demo-supervisor approves rel_", "registers on their own phone", "behaved as shown"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, secret := range demoSecrets(t, dir) {
		if strings.Contains(text, secret) {
			t.Errorf("output shows %q unmasked", secret)
		}
	}
	t.Run("a second run starts from a clean slate", func(t *testing.T) {
		if testing.Short() {
			t.Skip("waits up to 30 s for fresh operator TOTP codes")
		}
		var again bytes.Buffer
		err := run(context.Background(), []string{"demo", "device", "--server", d.base, "--data-dir", dir}, &again, io.Discard)
		if err != nil {
			t.Fatalf("second run: %v\n%s", err, again.String())
		}
		if n := strings.Count(again.String(), "branch reset of customer #"); n != 4 {
			t.Fatalf("second run reset %d customers, want 4:\n%s", n, again.String())
		}
	})
	if err := d.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

// demoSecrets are the personal data and credentials the demo must never
// print: the customers' names, birth dates and phones, the ID cards'
// numbers, the operators' passwords and TOTP secrets, the API key.
func demoSecrets(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var target demoTarget
	if err := json.Unmarshal(b, &target); err != nil {
		t.Fatal(err)
	}
	secrets := []string{target.APIKey, target.ClientSecret}
	for _, c := range target.Customers {
		secrets = append(secrets, c.Name, c.BirthDate, c.Phone, c.Phone[len(c.Phone)-8:])
	}
	for _, o := range target.Operators {
		secrets = append(secrets, o.Password, o.TOTPSecret)
	}
	for _, r := range idcheck.DefaultRecords() {
		secrets = append(secrets, r.Card.RRN, r.Card.RRN[7:])
	}
	return secrets
}

func TestDemoRefusals(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantText string
	}{
		{"error/no demo data", []string{"demo", "device", "--data-dir", empty}, 1, "start `haechi serve --demo` first"},
		{"error/unknown flow", []string{"demo", "teleport", "--data-dir", empty}, 2, "usage: haechi demo"},
		{"error/no flow", []string{"demo"}, 2, "usage: haechi demo"},
		{"error/stray argument", []string{"demo", "device", "extra", "--data-dir", empty}, 2, "usage: haechi demo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || exitCode(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("err = %v (exit %d), want exit %d with %q", err, exitCode(err), tt.wantCode, tt.wantText)
			}
		})
	}
}
