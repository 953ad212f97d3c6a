package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestDemoLogin runs `haechi demo login` against an in-process
// `serve --demo`: every step must behave as shown, and the output must show
// personal data and secrets masked only. It waits out the ladder's real 5 s
// and 30 s delays, twice: a second run must cope with what the first left.
func TestDemoLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the ladder's real delays (about 100 s)")
	}
	dir := t.TempDir()
	d := startDemo(t, dir)
	if !hasRoute(t, d.base, "/v1/logins") {
		t.Skip("waiting for the login routes")
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"demo", "login", "--server", d.base, "--data-dir", dir}, &out, io.Discard)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo login: %v", err)
	}
	text := out.String()
	if strings.Contains(text, "✗") {
		t.Fatal("a step failed but the demo succeeded")
	}
	for _, want := range []string{
		"the weak PIN 123456 refused: pin_sequence",
		"GET /v1/sessions/current with Authorization: DPoP",
		"refused: refresh_reused (401)",
		"wrong PIN 2 refused: login_failed (401)",
		"wrong PIN 3 refused: login_delayed (429), Retry-After 5s",
		"wrong PIN 4 refused: login_delayed (429), Retry-After 30s",
		"wrong PIN 5 refused: login_locked (423), retry after 30m",
		"the right PIN while locked refused: login_locked (423)",
		"PIN 5 consecutive failures, not locked",
		"escalated one stage at once",
		"2 guesses counted as 3 failures",
		"wrong PIN 10 refused: login_protection (423)",
		"cannot clear protection mode: protection_needs_reverification",
		"protection lifted, a new PIN required",
		"the old PIN as the new one refused: credential_reused",
		"behaved as shown",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, secret := range demoSecrets(t, dir) {
		if strings.Contains(text, secret) {
			t.Errorf("output shows %q unmasked", secret)
		}
	}
	t.Run("a second run starts from what the first left", func(t *testing.T) {
		var again bytes.Buffer
		err := run(context.Background(), []string{"demo", "login", "--server", d.base, "--data-dir", dir}, &again, io.Discard)
		if err != nil {
			t.Fatalf("second run: %v\n%s", err, again.String())
		}
		for _, want := range []string{"PIN changed to ****** in that session", "a good login ends the 3 failures an earlier run left"} {
			if !strings.Contains(again.String(), want) {
				t.Errorf("second run lacks %q:\n%s", want, again.String())
			}
		}
	})
	if err := d.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

// hasRoute reports whether the server's OpenAPI document lists path.
func hasRoute(t *testing.T, base, path string) bool {
	t.Helper()
	res, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	_, ok := doc.Paths[path]
	return ok
}
