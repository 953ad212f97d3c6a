package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/webhook"
)

func secretsOf(t *testing.T, e *env, owner string) []string {
	t.Helper()
	ep, err := e.svc.Endpoint(t.Context(), owner)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ep.Secrets))
	for i, s := range ep.Secrets {
		out[i] = string(s)
	}
	return out
}

func TestSetEndpointRotates(t *testing.T) {
	e := newEnv(t)
	first := e.setEndpoint("cl_1", "https://bank.example/hooks")
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(first, webhook.SecretPrefix))
	if !strings.HasPrefix(first, webhook.SecretPrefix) || err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not whsec_ and 32 bytes of base64url", first)
	}
	if got := secretsOf(t, e, "cl_1"); len(got) != 1 || got[0] != first {
		t.Fatalf("after set: %d secrets, want the new one only", len(got))
	}
	second := e.setEndpoint("cl_1", "https://bank.example/v2/hooks")
	if got := secretsOf(t, e, "cl_1"); len(got) != 2 || got[0] != second || got[1] != first {
		t.Fatal("after rotation: want [new, old]")
	}
	third := e.setEndpoint("cl_1", "https://bank.example/v2/hooks")
	if got := secretsOf(t, e, "cl_1"); len(got) != 2 || got[0] != third || got[1] != second {
		t.Fatal("after a second rotation: want [newest, previous], the first dropped")
	}
	ep, err := e.svc.Endpoint(t.Context(), "cl_1")
	if err != nil || ep.URL != "https://bank.example/v2/hooks" || !ep.UpdatedAt.Equal(e.clock.Now()) {
		t.Fatalf("endpoint = %+v, %v", ep, err)
	}

	t.Run("ok/end rotation keeps the newest", func(t *testing.T) {
		if err := e.svc.EndRotation(t.Context(), "op_test", "cl_1"); err != nil {
			t.Fatal(err)
		}
		if got := secretsOf(t, e, "cl_1"); len(got) != 1 || got[0] != third {
			t.Fatal("after EndRotation: want the newest only")
		}
	})
	t.Run("error/end rotation with one secret", func(t *testing.T) {
		if err := e.svc.EndRotation(t.Context(), "op_test", "cl_1"); !errors.Is(err, webhook.ErrNoRotation) {
			t.Fatalf("EndRotation = %v, want ErrNoRotation", err)
		}
	})
	t.Run("error/unknown owner", func(t *testing.T) {
		if _, err := e.svc.Endpoint(t.Context(), "cl_nope"); !errors.Is(err, errs.ErrNotFound) {
			t.Fatalf("Endpoint = %v, want not found", err)
		}
		if err := e.svc.EndRotation(t.Context(), "op_test", "cl_nope"); !errors.Is(err, errs.ErrNotFound) {
			t.Fatalf("EndRotation = %v, want not found", err)
		}
	})
	t.Run("ok/audited without the secret", func(t *testing.T) {
		evs, err := e.db.AuditEvents(t.Context(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, ev := range evs {
			actions = append(actions, ev.Action)
			if ev.Result != audit.ResultSuccess || ev.Target != "cl_1" || ev.Actor != "op_test" {
				t.Fatalf("audit event %+v", ev.Entry)
			}
			for _, s := range []string{first, second, third} {
				if strings.Contains(ev.Details["host"]+ev.Details["secrets"], s) {
					t.Fatal("a secret reached the audit log")
				}
			}
		}
		want := "webhook.endpoint.set webhook.endpoint.set webhook.endpoint.set webhook.endpoint.end_rotation"
		if strings.Join(actions, " ") != want {
			t.Fatalf("audit actions = %v", actions)
		}
	})
}

// TestEndpointSecretsSealed: the database holds no secret in the clear,
// and sealed secrets copied to another owner's row do not open.
func TestEndpointSecretsSealed(t *testing.T) {
	e := newEnv(t)
	secret := e.setEndpoint("cl_1", "https://bank.example/hooks")
	e.setEndpoint("cl_2", "https://other.example/hooks")
	var stored string
	if err := e.db.SQL().QueryRow(`SELECT secrets FROM webhook_endpoints WHERE owner = 'cl_1'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(stored)
	plain := base64.StdEncoding.EncodeToString([]byte(secret))
	if strings.Contains(stored, secret) || bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(plain)) {
		t.Fatal("the secret is stored in the clear")
	}
	if _, err := e.db.SQL().Exec(`UPDATE webhook_endpoints SET secrets = ? WHERE owner = 'cl_2'`, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Endpoint(t.Context(), "cl_2"); err == nil {
		t.Fatal("cl_1's sealed secrets opened as cl_2's")
	}
}

func TestSetEndpointRefused(t *testing.T) {
	tests := []struct {
		name, owner, url string
		allowHTTP        bool
		want             error
	}{
		{"error/http", "cl_1", "http://bank.example/hooks", false, webhook.ErrBadURL},
		{"error/credentials in URL", "cl_1", "https://user:pw@bank.example/hooks", false, webhook.ErrBadURL},
		{"error/fragment", "cl_1", "https://bank.example/hooks#x", false, webhook.ErrBadURL},
		{"error/relative", "cl_1", "/hooks", false, webhook.ErrBadURL},
		{"error/no host", "cl_1", "https:///hooks", false, webhook.ErrBadURL},
		{"error/other scheme", "cl_1", "ftp://bank.example/hooks", true, webhook.ErrBadURL},
		{"error/opaque", "cl_1", "https:bank.example", false, webhook.ErrBadURL},
		{"error/surrounding space", "cl_1", " https://bank.example/hooks", false, webhook.ErrBadURL},
		{"error/too long", "cl_1", "https://bank.example/" + strings.Repeat("a", 2048), false, webhook.ErrBadURL},
		{"error/no owner", "", "https://bank.example/hooks", false, errs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name+" writes nothing", func(t *testing.T) {
			e := newEnv(t)
			e.svc.AllowHTTP = tc.allowHTTP
			secret, err := e.svc.SetEndpoint(t.Context(), "op_test", tc.owner, tc.url)
			if !errors.Is(err, tc.want) || secret != "" {
				t.Fatalf("SetEndpoint = %q, %v, want %v", secret, err, tc.want)
			}
			if _, err := e.db.WebhookEndpointRecord(t.Context(), tc.owner); !errors.Is(err, errs.ErrNotFound) {
				t.Fatalf("an endpoint was stored: %v", err)
			}
			if h, _ := e.db.AuditHead(t.Context()); h.Seq != 0 {
				t.Fatal("a refused endpoint was audited")
			}
		})
	}
	t.Run("ok/http when allowed", func(t *testing.T) {
		e := newEnv(t)
		e.svc.AllowHTTP = true
		if _, err := e.svc.SetEndpoint(t.Context(), "op_test", "cl_1", "http://127.0.0.1:8080/hooks"); err != nil {
			t.Fatal(err)
		}
	})
}

// racingStore lets another rotation commit between a SetEndpoint's read
// and its write.
type racingStore struct {
	webhook.EndpointStore
	between func()
}

func (r *racingStore) PutWebhookEndpoint(ctx context.Context, rec webhook.EndpointRecord, prev []byte, e audit.Entry) error {
	if f := r.between; f != nil {
		r.between = nil
		f()
	}
	return r.EndpointStore.PutWebhookEndpoint(ctx, rec, prev, e)
}

// TestSetEndpointRace: of two rotations at once, one is refused, so no
// caller holds a secret that was silently dropped.
func TestSetEndpointRace(t *testing.T) {
	e := newEnv(t)
	first := e.setEndpoint("cl_1", "https://bank.example/hooks")
	var winner string
	racing := &racingStore{EndpointStore: e.db, between: func() { winner = e.setEndpoint("cl_1", "https://bank.example/hooks") }}
	slow := &webhook.Service{Store: racing, Ring: e.svc.Ring, Now: e.clock.Now}
	lost, err := slow.SetEndpoint(t.Context(), "op_test", "cl_1", "https://bank.example/hooks")
	if !errors.Is(err, errs.ErrConflict) || lost != "" {
		t.Fatalf("the later rotation = %q, %v, want a conflict", lost, err)
	}
	if got := secretsOf(t, e, "cl_1"); len(got) != 2 || got[0] != winner || got[1] != first {
		t.Fatal("want [winner, first] after the race")
	}
}
