package institution_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

type fixture struct {
	svc *institution.Service
	db  *sqlstore.DB
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	f.db = storetest.MustOpenSQLite(t, storetest.Options())
	f.svc = &institution.Service{Store: f.db, Pepper: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return f.now }}
	return f
}

func (f *fixture) auditCount(t *testing.T) int {
	t.Helper()
	evs, err := f.db.AuditEvents(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func TestAPIKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, _, err := f.svc.CreateClient(ctx, "admin", "Shinhan Test", []string{"login", "ekyc", "login"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Scopes, ",") != "ekyc,login" {
		t.Fatalf("scopes not normalised: %v", c.Scopes)
	}
	raw, k, err := f.svc.IssueAPIKey(ctx, "admin", c.ID, []string{"login"}, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.AuthenticateAPIKey(ctx, raw)
	if err != nil || p.ClientID != c.ID || !p.Has("login") || p.Has("ekyc") {
		t.Fatalf("authenticate = %+v, %v", p, err)
	}
	tampered := raw[:len(raw)-1] + flip(raw[len(raw)-1])
	tests := []struct {
		name string
		raw  string
		prep func()
		want error
	}{
		{"error/garbage", "not-a-key", nil, institution.ErrBadKey},
		{"error/wrong secret", tampered, nil, institution.ErrBadKey},
		{"error/unknown id", institution.FormatAPIKey(strings.Repeat("a", 26), strings.Repeat("b", 52)), nil, institution.ErrBadKey},
		{"error/expired", raw, func() { f.now = k.ExpiresAt }, institution.ErrKeyExpired},
		{"error/revoked", raw, func() {
			f.now = k.CreatedAt
			if err := f.svc.RevokeAPIKey(ctx, "admin", k.ID); err != nil {
				t.Fatal(err)
			}
		}, institution.ErrKeyRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prep != nil {
				tt.prep()
			}
			if _, err := f.svc.AuthenticateAPIKey(ctx, tt.raw); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRevokedClientKeysStopWorking(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, secret, _ := f.svc.CreateClient(ctx, "admin", "Kakao Test", []string{"payment"})
	raw, _, _ := f.svc.IssueAPIKey(ctx, "admin", c.ID, nil, 0)
	if err := f.svc.RevokeClient(ctx, "admin", c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateAPIKey(ctx, raw); !errors.Is(err, institution.ErrKeyRevoked) {
		t.Fatalf("key of revoked client: %v", err)
	}
	if _, err := f.svc.AuthenticateSecret(ctx, c.ID, secret, nil); !errors.Is(err, institution.ErrBadClient) {
		t.Fatalf("secret of revoked client: %v", err)
	}
}

func TestClientSecret(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, secret, _ := f.svc.CreateClient(ctx, "admin", "Toss Test", []string{"ekyc", "risk"})
	tests := []struct {
		name   string
		id     string
		secret string
		scopes []string
		want   error
	}{
		{"ok/all scopes", c.ID, secret, nil, nil},
		{"ok/narrowed", c.ID, secret, []string{"risk"}, nil},
		{"error/wrong secret", c.ID, secret + "x", nil, institution.ErrBadClient},
		{"error/unknown client", "cl_" + strings.Repeat("a", 26), secret, nil, institution.ErrBadClient},
		{"error/malformed id", "'; drop table clients; --", secret, nil, institution.ErrBadClient},
		{"error/scope not granted", c.ID, secret, []string{"payment"}, institution.ErrBadScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.svc.AuthenticateSecret(ctx, tt.id, tt.secret, tt.scopes)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && tt.scopes != nil && strings.Join(p.Scopes, ",") != strings.Join(tt.scopes, ",") {
				t.Fatalf("scopes = %v", p.Scopes)
			}
		})
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, _, _ := f.svc.CreateClient(ctx, "admin", "Woori Test", []string{"ekyc"})
	before := f.auditCount(t)
	cases := []struct {
		name string
		call func() error
	}{
		{"error/empty name", func() error { _, _, err := f.svc.CreateClient(ctx, "admin", " ", nil); return err }},
		{"error/control char", func() error { _, _, err := f.svc.CreateClient(ctx, "admin", "a\x00b", nil); return err }},
		{"error/unknown scope", func() error { _, _, err := f.svc.CreateClient(ctx, "admin", "X", []string{"root"}); return err }},
		{"error/key scope wider than client", func() error {
			_, _, err := f.svc.IssueAPIKey(ctx, "admin", c.ID, []string{"payment"}, 0)
			return err
		}},
		{"error/ttl too long", func() error { _, _, err := f.svc.IssueAPIKey(ctx, "admin", c.ID, nil, 10*365*24*time.Hour); return err }},
		{"error/unknown client", func() error { _, _, err := f.svc.IssueAPIKey(ctx, "admin", "cl_nope", nil, 0); return err }},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Fatal("accepted")
			}
			if n := f.auditCount(t); n != before {
				t.Fatalf("audit rows %d -> %d: a refused call wrote something", before, n)
			}
		})
	}
	cs, _ := f.svc.Clients(ctx)
	if len(cs) != 1 {
		t.Fatalf("clients = %d, want 1", len(cs))
	}
}

func TestMutationsAreAudited(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, _, _ := f.svc.CreateClient(ctx, "op_admin", "Audit Test", []string{"ekyc"})
	_, k, _ := f.svc.IssueAPIKey(ctx, "op_admin", c.ID, nil, 0)
	_ = f.svc.RevokeAPIKey(ctx, "op_admin", k.ID)
	evs, _ := f.db.AuditEvents(ctx, 0, 100)
	var got []string
	for _, e := range evs {
		got = append(got, e.Action+"@"+e.Actor)
		if e.Result != audit.ResultSuccess {
			t.Fatalf("result = %q", e.Result)
		}
	}
	want := "client.create@op_admin api_key.create@op_admin api_key.revoke@op_admin"
	if strings.Join(got, " ") != want {
		t.Fatalf("audit = %q, want %q", strings.Join(got, " "), want)
	}
}

func FuzzParseAPIKey(f *testing.F) {
	f.Add(institution.FormatAPIKey(strings.Repeat("a", 26), strings.Repeat("b", 52)))
	f.Add("hk_")
	f.Add("hk_" + strings.Repeat("_", 79))
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		id, secret, err := institution.ParseAPIKey(raw)
		if err != nil {
			return
		}
		if institution.FormatAPIKey(id, secret) != raw {
			t.Fatalf("parse/format round trip differs for %q", raw)
		}
	})
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

// BenchmarkAuthenticateAPIKey is the whole check a request pays: parse,
// lookup by id in SQLite, HMAC, expiry and client revocation.
func BenchmarkAuthenticateAPIKey(b *testing.B) {
	ctx := context.Background()
	db := storetest.MustOpenSQLite(b, storetest.Options())
	svc := &institution.Service{Store: db, Pepper: []byte("0123456789abcdef0123456789abcdef"), Now: time.Now}
	c, _, err := svc.CreateClient(ctx, "bench", "Bench Bank", []string{"login"})
	if err != nil {
		b.Fatal(err)
	}
	raw, _, err := svc.IssueAPIKey(ctx, "bench", c.ID, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.AuthenticateAPIKey(ctx, raw); err != nil {
			b.Fatal(err)
		}
	}
}
