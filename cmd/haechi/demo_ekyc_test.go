package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/webhook"
)

// TestDemoEKYC runs `haechi demo ekyc` twice against an in-process
// `serve --demo`: both sessions end as shown, both webhooks arrive with a
// verified signature, and no personal value or secret is printed. The
// second run registers the receiver again, so its deliveries carry the
// replaced secret's signature as well.
func TestDemoEKYC(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	secrets := demoSecrets(t, dir)
	for run, signedWith := range []string{"signed with 1 secret;", "signed with 2 secrets;"} {
		var out bytes.Buffer
		err := runDemoEKYC(d.base, dir, &out)
		text := out.String()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run+1, err, text)
		}
		if run == 0 {
			t.Logf("demo output:\n%s", text)
		}
		if strings.Contains(text, "✗") {
			t.Fatalf("run %d: a step failed but the demo succeeded", run+1)
		}
		for _, want := range []string{
			"signing secret whsec_",
			"→ id_card passed",
			"→ existing_account started",
			"→ existing_account passed",
			"→ passed, passed [id_card + existing_account], failed []; applicant 김*수, 1990-**-**, 010-****-5678 (masked)",
			"→ id_card failed: id_reported_lost",
			"→ failed: required_method_failed, passed [], failed [id_card]; applicant 박*수",
			"verification.passed (Haechi-Event-Type)",
			"verification.failed (Haechi-Event-Type)",
			`"type": "verification.passed"`,
			`"type": "verification.failed"`,
			`"reason": "id_reported_lost"`,
			"behaved as shown",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("run %d lacks %q", run+1, want)
			}
		}
		if n := strings.Count(text, signedWith+" signature verified"); n != 2 {
			t.Errorf("run %d: %d webhooks %s signature verified, want 2", run+1, n, signedWith)
		}
		for _, s := range append(secrets, "800315-1456789", "8003151456789", "900101-1234567", "01012345678", "01055556666", "12345678") {
			if strings.Contains(text, s) {
				t.Errorf("run %d shows %q unmasked", run+1, s)
			}
		}
	}
	if err := d.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

func runDemoEKYC(base, dir string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return run(ctx, []string{"demo", "ekyc", "--server", base, "--data-dir", dir}, out, io.Discard)
}

// TestWebhookReceiver is the demo receiver's judgement of deliveries.
func TestWebhookReceiver(t *testing.T) {
	const secret = "whsec_newest"
	body := []byte(`{"id":"evt_1","type":"verification.passed","data":{"id":"ekyc_1"}}`)
	now := time.Now()
	tests := []struct {
		name     string
		secret   string // "" before registration
		signWith []string
		at       time.Time
		id, typ  string
		want     int
		kept     int
		refused  bool
	}{
		{name: "ok/newest secret", secret: secret, signWith: []string{secret}, at: now, id: "evt_1", typ: "verification.passed", want: 204, kept: 1},
		{name: "ok/newest and replaced secret", secret: secret, signWith: []string{secret, "whsec_old"}, at: now, id: "evt_1", typ: "verification.passed", want: 204, kept: 1},
		{name: "error/replaced secret only", secret: secret, signWith: []string{"whsec_old"}, at: now, id: "evt_1", typ: "verification.passed", want: 401, refused: true},
		{name: "error/stale timestamp", secret: secret, signWith: []string{secret}, at: now.Add(-webhook.Tolerance - time.Minute), id: "evt_1", typ: "verification.passed", want: 401, refused: true},
		{name: "error/event id header differs from body", secret: secret, signWith: []string{secret}, at: now, id: "evt_2", typ: "verification.passed", want: 401, refused: true},
		{name: "error/event type header differs from body", secret: secret, signWith: []string{secret}, at: now, id: "evt_1", typ: "verification.failed", want: 401, refused: true},
		{name: "retry/no secret yet", signWith: []string{secret}, at: now, id: "evt_1", typ: "verification.passed", want: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &webhookReceiver{seen: map[string]bool{}}
			if tc.secret != "" {
				r.setSecret(tc.secret)
			}
			var secrets [][]byte
			for _, s := range tc.signWith {
				secrets = append(secrets, []byte(s))
			}
			h := http.Header{}
			h.Set(webhook.HeaderSignature, webhook.Sign(secrets, tc.at, body))
			h.Set(webhook.HeaderEventID, tc.id)
			h.Set(webhook.HeaderEventType, tc.typ)
			for range 2 { // at least once: the same event twice is kept once
				if got := r.receive(h, body); got != tc.want {
					t.Fatalf("status %d, want %d", got, tc.want)
				}
			}
			got, err := r.of(map[string]ekyc.Status{"ekyc_1": ekyc.StatusPassed})
			if len(got) != tc.kept || (err != nil) != tc.refused {
				t.Fatalf("kept %d (refused: %v), want %d (refused: %v)", len(got), err, tc.kept, tc.refused)
			}
			if tc.kept > 0 && (got[0].signatures != len(tc.signWith) || got[0].session != "ekyc_1") {
				t.Fatalf("kept %+v", got[0])
			}
		})
	}
}

// FuzzSignatureShape: whatever the header, the shape shown never holds a
// whole v1 signature.
func FuzzSignatureShape(f *testing.F) {
	f.Add("t=1712345678,v1=" + strings.Repeat("ab", 32))
	f.Add("t=1,v1=" + strings.Repeat("0", 64) + ",v1=" + strings.Repeat("f", 64))
	f.Add("v1=,,=,v1")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		shape := signatureShape(h)
		for p := range strings.SplitSeq(shape, ",") {
			if v, ok := strings.CutPrefix(p, "v1="); ok && len(strings.TrimSuffix(v, "…")) > 8 {
				t.Fatalf("%q shows v1 %q", shape, v)
			}
		}
	})
}
