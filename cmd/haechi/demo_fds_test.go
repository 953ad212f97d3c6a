package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
)

// TestDemoFDS runs `haechi demo fds` twice against an in-process
// `serve --demo`: every step must behave as shown, each decision must be
// explained with its rules and features, and the output must show
// personal data and secrets masked only. The second run starts from what
// the first left (locked ladders, earlier failures, open cases).
func TestDemoFDS(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a whole server through registrations and logins")
	}
	dir := t.TempDir()
	d := startDemo(t, dir)
	if !hasRoute(t, d.base, "/v1/risk/events") {
		t.Skip("waiting for the risk routes")
	}
	secrets := demoSecrets(t, dir)
	for run := 1; run <= 2; run++ {
		var out bytes.Buffer
		err := runDemoFDS(context.Background(), dir, d.base, &out)
		text := out.String()
		t.Logf("run %d:\n%s", run, text)
		if err != nil {
			t.Fatalf("run %d: demo fds: %v", run, err)
		}
		if strings.Contains(text, "✗") {
			t.Fatalf("run %d: a step failed but the demo succeeded", run)
		}
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`PIN login from 203\.0\.113\.10 \(Seoul, KR, X-Forwarded-For\) → tokens`),
			regexp.MustCompile(`PIN login from 198\.51\.100\.10 \(New York, US, X-Forwarded-For\) → tokens`),
			regexp.MustCompile(`the New York login opened case case_\w+ \((review|deny)\)`),
			regexp.MustCompile(`impossible_travel +\+45`),
			regexp.MustCompile(`features: country=US country_changed=true location_source=ip distance_km=110\d\d\.\d+ travel_kmh=\d+(\.\d+)? impossible_travel=true`),
			regexp.MustCompile(`wrong PIN 2, \d+ms after the 1st, refused: login_delayed \(429\)`),
			regexp.MustCompile(`bot_paced +\+30`),
			regexp.MustCompile(`features: bot_suspected=true bot_paced=true last_interval_s=0\.\d+`),
			regexp.MustCompile(`2 guesses count as 3 failures, .*the ladder escalated the paced guess itself, and the engine's (deny|step_up) is recorded`),
			regexp.MustCompile(`new_device_large_amount +\+45`),
			regexp.MustCompile(`features: amount=5000000 device_new=true first_use=true`),
			regexp.MustCompile(`the payment is (review|deny)`),
			regexp.MustCompile(`all \d+ steps behaved as shown`),
		} {
			if !want.MatchString(text) {
				t.Errorf("run %d: output lacks %s", run, want)
			}
		}
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("run %d: output shows %q unmasked", run, secret)
			}
		}
	}
	if err := d.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

func runDemoFDS(ctx context.Context, dir, base string, out io.Writer) error {
	return run(ctx, []string{"demo", "fds", "--server", base, "--data-dir", dir}, out, io.Discard)
}
