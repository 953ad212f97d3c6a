package attest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/haechi/haechi/internal/attest"
	"github.com/haechi/haechi/internal/errs"
)

var base = time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)

var claims = attest.Claims{Nonce: "n0nce", AppDigest: strings.Repeat("ab", 32), AppVersion: "3.2.1", DeviceIntegrity: true}

func newSim(t testing.TB, now *time.Time) (*attest.Simulator, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := attest.NewSimulatorWithKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sim.Now = func() time.Time { return *now }
	return sim, key
}

func mint(t testing.TB, sim *attest.Simulator, c attest.Claims) string {
	t.Helper()
	tok, err := sim.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSimulatorVerifyOK(t *testing.T) {
	now := base
	sim, _ := newSim(t, &now)
	tok := mint(t, sim, claims)
	v, err := sim.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if v.TokenID == "" || v.Nonce != claims.Nonce || v.AppDigest != claims.AppDigest || v.AppVersion != claims.AppVersion ||
		!v.DeviceIntegrity || !v.IssuedAt.Equal(base) {
		t.Fatalf("verdict %+v", v)
	}
	again, err := sim.Verify(t.Context(), tok)
	if err != nil || again.TokenID != v.TokenID {
		t.Fatalf("second verify = %+v, %v: reuse is the caller's to refuse, by the same TokenID", again, err)
	}
	if other, _ := sim.Verify(t.Context(), mint(t, sim, claims)); other.TokenID == v.TokenID {
		t.Fatal("two tokens share an id")
	}
	now = base.Add(attest.TokenLifetime - time.Second)
	if _, err := sim.Verify(t.Context(), tok); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
}

// b64 encodes a JWS segment.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signRaw signs an arbitrary payload with key, as a platform gone wrong
// might.
func signRaw(t *testing.T, key *ecdsa.PrivateKey, payload map[string]any) string {
	t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(data, jws.WithKey(jwa.ES256(), key))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

func goodClaims() map[string]any {
	return map[string]any{"jti": "j1", "nonce": "n0nce", "app_digest": "ab", "app_version": "1",
		"device_integrity": true, "iat": base.Unix(), "exp": base.Add(attest.TokenLifetime).Unix()}
}

func with(k string, v any) map[string]any {
	c := goodClaims()
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}

func TestSimulatorVerifyRefuses(t *testing.T) {
	now := base
	sim, key := newSim(t, &now)
	other, _ := newSim(t, &now)
	tok := mint(t, sim, claims)
	parts := strings.Split(tok, ".")
	tampered := strings.Replace(string(mustDecode(t, parts[1])), `"device_integrity":true`, `"device_integrity":false`, 1)
	hmacKey := []byte("public key bytes as an HMAC secret")
	hs, err := jws.Sign([]byte(mustDecode(t, parts[1])), jws.WithKey(jwa.HS256(), hmacKey))
	if err != nil {
		t.Fatal(err)
	}
	future, _ := newSim(t, &now)
	tests := []struct {
		name  string
		token string
		now   time.Time
	}{
		{"error/forged with another key", mint(t, other, claims), base},
		{"error/tampered payload", parts[0] + "." + b64(tampered) + "." + parts[2], base},
		{"error/tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), base},
		{"error/expired", tok, base.Add(attest.TokenLifetime)},
		{"error/alg none", b64(`{"alg":"none"}`) + "." + parts[1] + ".", base},
		{"error/alg none with signature", b64(`{"alg":"none"}`) + "." + parts[1] + "." + parts[2], base},
		{"error/alg HS256", string(hs), base},
		{"error/header swapped to ES384", b64(`{"alg":"ES384"}`) + "." + parts[1] + "." + parts[2], base},
		{"error/JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, base},
		{"error/issued in the future", mintAt(t, future, &now, base.Add(time.Hour)), base},
		{"error/validity too long", signRaw(t, key, with("exp", base.Add(time.Hour).Unix())), base},
		{"error/exp before iat", signRaw(t, key, with("exp", base.Add(-time.Second).Unix())), base},
		{"error/missing jti", signRaw(t, key, with("jti", nil)), base},
		{"error/empty nonce", signRaw(t, key, with("nonce", "")), base},
		{"error/missing exp", signRaw(t, key, with("exp", nil)), base},
		{"error/unknown claim", signRaw(t, key, with("admin", true)), base},
		{"error/wrong type", signRaw(t, key, with("device_integrity", "true")), base},
		{"error/empty", "", base},
		{"error/garbage", "not.a.token", base},
		{"error/too large", strings.Repeat("a", 5000), base},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.now
			v, err := sim.Verify(t.Context(), tc.token)
			if !errors.Is(err, attest.ErrInvalidToken) || v != nil {
				t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", v, err)
			}
			if e := errs.As(err); e == nil || e.Kind != errs.Invalid || e.Code != "integrity_token_invalid" {
				t.Fatalf("error %#v is not the client-visible invalid token", e)
			}
		})
	}
	now = base
	if _, err := sim.Verify(t.Context(), signRaw(t, key, goodClaims())); err != nil {
		t.Fatalf("the well-formed token the cases alter is refused: %v", err)
	}
}

// mintAt mints with sim's clock set to at, then restores it.
func mintAt(t *testing.T, sim *attest.Simulator, now *time.Time, at time.Time) string {
	t.Helper()
	saved := *now
	*now = at
	defer func() { *now = saved }()
	return mint(t, sim, claims)
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flip changes the first character of a base64url segment.
func flip(s string) string {
	c := byte('A')
	if s[0] == 'A' {
		c = 'B'
	}
	return string(c) + s[1:]
}

func TestNewSimulatorWithKeyRefusesOtherCurves(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.NewSimulatorWithKey(key); err == nil {
		t.Fatal("P-384 key accepted")
	}
	if _, err := attest.NewSimulatorWithKey(nil); err == nil {
		t.Fatal("nil key accepted")
	}
}

func TestNewSimulator(t *testing.T) {
	a, b := attest.NewSimulator(), attest.NewSimulator()
	tok := mint(t, a, claims)
	if _, err := a.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(t.Context(), tok); !errors.Is(err, attest.ErrInvalidToken) {
		t.Fatalf("a token of another simulator: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	now := base
	sim, _ := newSim(f, &now)
	tok := mint(f, sim, claims)
	parts := strings.Split(tok, ".")
	f.Add(tok)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(b64(`{"alg":"none"}`) + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add("..")
	f.Add("")
	f.Add(`{"payload":"","signatures":[]}`)
	want, err := sim.Verify(f.Context(), tok)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		v, err := sim.Verify(t.Context(), token)
		if err != nil {
			if !errors.Is(err, attest.ErrInvalidToken) {
				t.Fatalf("error %v is not ErrInvalidToken", err)
			}
			return
		}
		// Without the key nothing but the seed's claims can verify.
		if *v != *want {
			t.Fatalf("verified %q into %+v", token, v)
		}
	})
}
