package session_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/session"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

const (
	resourceURL = "https://api.haechi.test/v1/accounts"
	tokenURL    = "https://api.haechi.test/v1/sessions/refresh"
)

// phone holds a device key and makes DPoP proofs with it.
type phone struct {
	priv *ecdsa.PrivateKey
	pub  jwk.Key
}

func newPhone(t *testing.T) *phone {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.Import(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &phone{priv: priv, pub: pub}
}

// proof signs a fresh proof for method and url at now; token, when set,
// is bound through ath.
func (p *phone) proof(t *testing.T, method, url, token string, now time.Time) string {
	t.Helper()
	c := map[string]any{"jti": crypto.Token(16), "htm": method, "htu": url, "iat": now.Unix()}
	if token != "" {
		c["ath"] = session.ATH(token)
	}
	payload, _ := json.Marshal(c)
	hdr := jws.NewHeaders()
	hdr.Set(jws.TypeKey, "dpop+jwt")
	hdr.Set(jws.JWKKey, p.pub)
	out, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), p.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

type fixture struct {
	db    *sqlstore.DB
	svc   *session.Service
	now   time.Time
	phone *phone
	jkt   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := storetest.MustOpenSQLite(t, storetest.Options())
	storetest.SessionFixture(t, db)
	f := &fixture{db: db, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), phone: newPhone(t)}
	f.svc = &session.Service{Store: db, Pepper: bytes.Repeat([]byte{7}, 32), Now: func() time.Time { return f.now }}
	if err := f.svc.Validate(); err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(f.phone.priv.Public())
	jkt, err := f.svc.Bind(spki)
	if err != nil {
		t.Fatal(err)
	}
	f.jkt = jkt
	return f
}

func (f *fixture) issue(t *testing.T) *session.Tokens {
	t.Helper()
	tok, err := f.svc.Issue(t.Context(), "cus_1", "dev_1", f.jkt, audit.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) auth(t *testing.T, access string) error {
	t.Helper()
	_, err := f.svc.Authenticate(t.Context(), access, f.phone.proof(t, "GET", resourceURL, access, f.now), "GET", resourceURL)
	return err
}

func (f *fixture) refresh(t *testing.T, refresh string) (*session.Tokens, error) {
	t.Helper()
	return f.svc.Refresh(t.Context(), refresh, f.phone.proof(t, "POST", tokenURL, "", f.now), "POST", tokenURL)
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	tok := f.issue(t)
	t.Run("ok", func(t *testing.T) {
		p, err := f.svc.Authenticate(t.Context(), tok.Access, f.phone.proof(t, "GET", resourceURL, tok.Access, f.now), "GET", resourceURL)
		if err != nil {
			t.Fatal(err)
		}
		if p.CustomerID != "cus_1" || p.DeviceID != "dev_1" || p.Scope != session.ScopeCustomer {
			t.Fatalf("principal %+v", p)
		}
	})
	t.Run("error/replayed proof", func(t *testing.T) {
		proof := f.phone.proof(t, "GET", resourceURL, tok.Access, f.now)
		if _, err := f.svc.Authenticate(t.Context(), tok.Access, proof, "GET", resourceURL); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Authenticate(t.Context(), tok.Access, proof, "GET", resourceURL)
		wantErr(t, err, session.ErrProofReplayed)
	})
	t.Run("error/proof by a key other than the token's", func(t *testing.T) {
		thief := newPhone(t)
		_, err := f.svc.Authenticate(t.Context(), tok.Access, thief.proof(t, "GET", resourceURL, tok.Access, f.now), "GET", resourceURL)
		wantErr(t, err, session.ErrProofInvalid)
	})
	t.Run("error/proof for another token", func(t *testing.T) {
		_, err := f.svc.Authenticate(t.Context(), tok.Access, f.phone.proof(t, "GET", resourceURL, "other", f.now), "GET", resourceURL)
		wantErr(t, err, session.ErrProofInvalid)
	})
	t.Run("error/refresh token presented as access token", func(t *testing.T) {
		wantErr(t, f.auth(t, tok.Refresh), session.ErrTokenInvalid)
	})
	t.Run("error/expired", func(t *testing.T) {
		f.now = f.now.Add(session.AccessTTL)
		defer func() { f.now = f.now.Add(-session.AccessTTL) }()
		wantErr(t, f.auth(t, tok.Access), session.ErrTokenExpired)
	})
	t.Run("error/revoked device", func(t *testing.T) {
		n, err := f.svc.RevokeDevice(t.Context(), "dev_1", audit.Entry{Actor: "op_1"})
		if err != nil || n != 1 {
			t.Fatalf("revoked %d, %v", n, err)
		}
		wantErr(t, f.auth(t, tok.Access), session.ErrTokenInvalid)
		_, err = f.refresh(t, tok.Refresh)
		wantErr(t, err, session.ErrRefreshInvalid)
	})
}

func TestRefresh(t *testing.T) {
	f := newFixture(t)
	first := f.issue(t)
	f.now = f.now.Add(9 * time.Minute)
	second, err := f.refresh(t, first.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.auth(t, second.Access); err != nil {
		t.Fatal(err)
	}
	t.Run("error/proof by another key changes nothing", func(t *testing.T) {
		thief := newPhone(t)
		_, err := f.svc.Refresh(t.Context(), second.Refresh, thief.proof(t, "POST", tokenURL, "", f.now), "POST", tokenURL)
		wantErr(t, err, session.ErrProofInvalid)
		if err := f.auth(t, second.Access); err != nil {
			t.Fatalf("the family was touched: %v", err)
		}
	})
	t.Run("error/proof with ath at the token endpoint", func(t *testing.T) {
		_, err := f.svc.Refresh(t.Context(), second.Refresh, f.phone.proof(t, "POST", tokenURL, second.Access, f.now), "POST", tokenURL)
		wantErr(t, err, session.ErrProofInvalid)
	})
	t.Run("error/reuse revokes the family", func(t *testing.T) {
		before := head(t, f.db)
		_, err := f.refresh(t, first.Refresh)
		wantErr(t, err, session.ErrRefreshReused)
		wantErr(t, f.auth(t, second.Access), session.ErrTokenInvalid)
		_, err = f.refresh(t, second.Refresh)
		wantErr(t, err, session.ErrRefreshInvalid)
		ev := events(t, f.db, before)
		if len(ev) != 1 || ev[0].Action != session.ActionRefreshReuse || ev[0].Result != audit.ResultDenied || ev[0].Actor != "cus_1" {
			t.Fatalf("audit after reuse: %+v", ev)
		}
	})
}

// TestRefreshRace refreshes one current token twice at once: exactly one
// call wins; the other is treated as reuse and ends the family, so even the
// winner's new tokens die.
func TestRefreshRace(t *testing.T) {
	f := newFixture(t)
	tok := f.issue(t)
	proofs := []string{f.phone.proof(t, "POST", tokenURL, "", f.now), f.phone.proof(t, "POST", tokenURL, "", f.now)}
	results := make([]*session.Tokens, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { results[i], errs[i] = f.svc.Refresh(t.Context(), tok.Refresh, proofs[i], "POST", tokenURL) })
	}
	wg.Wait()
	winner := 0
	if errs[0] != nil {
		winner = 1
	}
	if errs[winner] != nil || !errors.Is(errs[1-winner], session.ErrRefreshReused) {
		t.Fatalf("results: %v, %v", errs[0], errs[1])
	}
	wantErr(t, f.auth(t, results[winner].Access), session.ErrTokenInvalid)
}

func TestLifetimes(t *testing.T) {
	t.Run("error/refresh token unused for 30 days", func(t *testing.T) {
		f := newFixture(t)
		tok := f.issue(t)
		f.now = f.now.Add(session.RefreshTTL)
		_, err := f.refresh(t, tok.Refresh)
		wantErr(t, err, session.ErrRefreshInvalid)
	})
	t.Run("error/family past 90 days however often refreshed", func(t *testing.T) {
		f := newFixture(t)
		tok := f.issue(t)
		for range 3 {
			f.now = f.now.Add(29 * 24 * time.Hour)
			next, err := f.refresh(t, tok.Refresh)
			if err != nil {
				t.Fatal(err)
			}
			tok = next
		}
		if cap := f.now.Add(3 * 24 * time.Hour); !tok.RefreshExpires.Equal(cap) {
			t.Fatalf("refresh expires %s, want the family cap %s", tok.RefreshExpires, cap)
		}
		f.now = f.now.Add(3 * 24 * time.Hour)
		_, err := f.refresh(t, tok.Refresh)
		wantErr(t, err, session.ErrRefreshInvalid)
	})
	t.Run("ok/customer revocation", func(t *testing.T) {
		f := newFixture(t)
		tok := f.issue(t)
		if _, err := f.svc.RevokeCustomer(t.Context(), "cus_1", audit.Entry{Actor: "op_teller"}); err != nil {
			t.Fatal(err)
		}
		wantErr(t, f.auth(t, tok.Access), session.ErrTokenInvalid)
	})
}

func head(t *testing.T, db *sqlstore.DB) int64 {
	t.Helper()
	h, err := db.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return h.Seq
}

func events(t *testing.T, db *sqlstore.DB, after int64) []audit.Event {
	t.Helper()
	ev, err := db.AuditEvents(t.Context(), after, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestSpendProof(t *testing.T) {
	f := newFixture(t)
	proof := f.phone.proof(t, "POST", tokenURL, "", f.now)
	jkt, err := f.svc.SpendProof(t.Context(), proof, "POST", tokenURL)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(f.phone.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := f.svc.Bind(spki); jkt != want {
		t.Fatalf("jkt %q, want the phone key's %q", jkt, want)
	}
	_, err = f.svc.SpendProof(t.Context(), proof, "POST", tokenURL)
	wantErr(t, err, session.ErrProofReplayed)
	_, err = f.svc.SpendProof(t.Context(), f.phone.proof(t, "POST", tokenURL, "tok", f.now), "POST", tokenURL)
	wantErr(t, err, session.ErrProofInvalid)
	_, err = f.svc.SpendProof(t.Context(), f.phone.proof(t, "GET", tokenURL, "", f.now), "POST", tokenURL)
	wantErr(t, err, session.ErrProofInvalid)
}
