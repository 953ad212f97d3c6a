package oauth

import (
	"bytes"
	"context"
	stdcrypto "crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
)

// memKeys is an in-memory KeyStore that retires the other keys on add, as
// the real stores do in one transaction.
type memKeys struct {
	mu      sync.Mutex
	keys    []StoredKey
	entries []audit.Entry
	reads   int
}

func (m *memKeys) SigningKeys(context.Context) ([]StoredKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	return slices.Clone(m.keys), nil
}

func (m *memKeys) AddSigningKey(_ context.Context, k StoredKey, e audit.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].RetiredAt == nil {
			at := k.CreatedAt
			m.keys[i].RetiredAt = &at
		}
	}
	m.keys = append(m.keys, k)
	m.entries = append(m.entries, e)
	return nil
}

// memDataKeys is an in-memory crypto.DataKeyStore for the real keyring.
type memDataKeys struct {
	mu   sync.Mutex
	keys []crypto.WrappedKey
}

func (m *memDataKeys) DataKeys(context.Context) ([]crypto.WrappedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.keys), nil
}

func (m *memDataKeys) AddDataKey(_ context.Context, k crypto.WrappedKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, k)
	return nil
}

func (m *memDataKeys) RewrapDataKeys(_ context.Context, keys []crypto.WrappedKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		for i := range m.keys {
			if m.keys[i].ID == k.ID {
				m.keys[i] = k
			}
		}
	}
	return nil
}

// clock is an injected time that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	iss  *Issuer
	cfg  Config
	clk  *clock
	keys *memKeys
	ring *crypto.Keyring
}

var testCfg = Config{Issuer: "https://haechi.test", Audience: "https://api.haechi.test"}

func newRing(t testing.TB, master byte) *crypto.Keyring {
	t.Helper()
	km := &crypto.KeyMaterial{
		MasterKeys:   map[int][]byte{1: bytes.Repeat([]byte{master}, 32)},
		ActiveMaster: 1,
		BlindKey:     bytes.Repeat([]byte{2}, 32),
		Pepper:       bytes.Repeat([]byte{3}, 32),
		AuditSeed:    bytes.Repeat([]byte{4}, 32),
	}
	ring, err := crypto.LoadKeyring(context.Background(), km, &memDataKeys{}, time.Now)
	if err != nil {
		t.Fatalf("LoadKeyring: %v", err)
	}
	return ring
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{cfg: testCfg, clk: &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}, keys: &memKeys{}, ring: newRing(t, 1)}
	e.iss = e.issuer(t, e.cfg)
	return e
}

// issuer makes another node over the same store and keyring.
func (e *env) issuer(t testing.TB, cfg Config) *Issuer {
	t.Helper()
	iss, err := NewIssuer(context.Background(), cfg, e.keys, e.ring, e.clk.now)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	return iss
}

var client = &institution.Principal{ClientID: "cl_test", Scopes: []string{"ekyc", "login"}}

func (e *env) issue(t testing.TB) string {
	t.Helper()
	tok, _, err := e.iss.Issue(context.Background(), client)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return tok
}

func (e *env) active() *signingKey { return e.iss.state().active }

// claims are valid claims for a token forged at the current time.
func (e *env) claims() map[string]any {
	now := e.clk.now().Unix()
	return map[string]any{
		"iss": e.cfg.Issuer, "sub": "cl_test", "aud": []string{e.cfg.Audience},
		"iat": now, "nbf": now, "exp": now + 600, "jti": "forged", "scope": "ekyc payment", "client_id": "cl_test",
	}
}

func (e *env) header(alg string) map[string]any {
	return map[string]any{"alg": alg, "kid": e.active().id, "typ": "at+jwt"}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// forge builds a compact JWS from any header and claims, signed by sign.
func forge(t testing.TB, hdr, claims map[string]any, sign func([]byte) []byte) string {
	t.Helper()
	in := b64JSON(t, hdr) + "." + b64JSON(t, claims)
	return in + "." + b64(sign([]byte(in)))
}

func es256(priv *ecdsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		h := sha256.Sum256(in)
		r, s, err := ecdsa.Sign(rand.Reader, priv, h[:])
		if err != nil {
			panic(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
}

func hs256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

func rs256(priv *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		h := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, priv, stdcrypto.SHA256, h[:])
		if err != nil {
			panic(err)
		}
		return sig
	}
}

func noSig([]byte) []byte { return nil }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	e := errs.As(err)
	if e == nil || e.Code != code {
		t.Fatalf("error = %v, want code %q", err, code)
	}
	if e.Cause == nil {
		t.Errorf("error %q carries no cause for the logs", code)
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	e := newEnv(t)
	tok, exp, err := e.iss.Issue(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clk.now().Add(DefaultTTL); !exp.Equal(want) {
		t.Errorf("expiry = %v, want %v", exp, want)
	}
	p, err := e.iss.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.ClientID != "cl_test" || !slices.Equal(p.Scopes, client.Scopes) || p.Via != "jwt" || len(p.CredentialID) < 20 {
		t.Errorf("principal = %+v", p)
	}
	hdr, claims := decodeToken(t, tok)
	if hdr["alg"] != "ES256" || hdr["typ"] != "at+jwt" || hdr["kid"] != e.active().id || len(hdr) != 3 {
		t.Errorf("header = %v", hdr)
	}
	wantClaims := map[string]any{"iss": testCfg.Issuer, "sub": "cl_test", "client_id": "cl_test", "scope": "ekyc login", "jti": p.CredentialID}
	for k, v := range wantClaims {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != testCfg.Audience {
		t.Errorf("aud = %v", claims["aud"])
	}
	if claims["exp"].(float64)-claims["iat"].(float64) != 600 || claims["nbf"] != claims["iat"] {
		t.Errorf("times iat=%v nbf=%v exp=%v", claims["iat"], claims["nbf"], claims["exp"])
	}
}

func TestIssueDistinctIDs(t *testing.T) {
	e := newEnv(t)
	a, _ := e.iss.Verify(context.Background(), e.issue(t))
	b, _ := e.iss.Verify(context.Background(), e.issue(t))
	if a == nil || b == nil || a.CredentialID == b.CredentialID {
		t.Fatalf("two tokens share jti: %+v %+v", a, b)
	}
}

func decodeToken(t *testing.T, tok string) (hdr, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	for i, dst := range []*map[string]any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, claims
}

func TestVerifyLifetime(t *testing.T) {
	tests := []struct {
		name  string
		shift time.Duration
		code  string // "" when the token must verify
	}{
		{name: "ok/just issued", shift: 0},
		{name: "ok/expired but within skew", shift: DefaultTTL + 20*time.Second},
		{name: "error/expired", shift: DefaultTTL + skew + time.Second, code: "token_expired"},
		{name: "error/long expired", shift: 24 * time.Hour, code: "token_expired"},
		{name: "ok/clock behind within skew", shift: -20 * time.Second},
		{name: "error/not yet valid", shift: -2 * time.Minute, code: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tok := e.issue(t)
			e.clk.add(tt.shift)
			_, err := e.iss.Verify(context.Background(), tok)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			wantCode(t, err, tt.code)
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// alone marks the tokens that the library must refuse even without our
	// stricter checks around it (defence in depth). It accepts the others:
	// it ignores the header's alg and typ when the key names its alg, and
	// knows nothing of our claims.
	tests := []struct {
		name  string
		token func(t *testing.T, e *env) string
		alone bool
	}{
		{"error/wrong audience", func(t *testing.T, e *env) string {
			other := e.issuer(t, Config{Issuer: testCfg.Issuer, Audience: "https://other.test"})
			tok, _, _ := other.Issue(context.Background(), client)
			return tok
		}, true},
		{"error/wrong issuer", func(t *testing.T, e *env) string {
			other := e.issuer(t, Config{Issuer: "https://evil.test", Audience: testCfg.Audience})
			tok, _, _ := other.Issue(context.Background(), client)
			return tok
		}, true},
		{"error/alg none", func(t *testing.T, e *env) string {
			return forge(t, e.header("none"), e.claims(), noSig)
		}, true},
		{"error/alg none with a signature-sized tail", func(t *testing.T, e *env) string {
			return forge(t, e.header("none"), e.claims(), func([]byte) []byte { return make([]byte, 64) })
		}, true},
		{"error/HS256 keyed with the public key PEM", func(t *testing.T, e *env) string {
			der, _ := x509.MarshalPKIXPublicKey(&e.active().priv.PublicKey)
			secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			return forge(t, e.header("HS256"), e.claims(), hs256(secret))
		}, true},
		{"error/HS256 keyed with the public key DER", func(t *testing.T, e *env) string {
			der, _ := x509.MarshalPKIXPublicKey(&e.active().priv.PublicKey)
			return forge(t, e.header("HS256"), e.claims(), hs256(der))
		}, true},
		{"error/HS256 keyed with the published JWK", func(t *testing.T, e *env) string {
			jwks, _ := e.iss.JWKS()
			var set struct{ Keys []json.RawMessage }
			_ = json.Unmarshal(jwks, &set)
			return forge(t, e.header("HS256"), e.claims(), hs256(set.Keys[0]))
		}, true},
		{"error/HS256 keyed with the JWKS document", func(t *testing.T, e *env) string {
			jwks, _ := e.iss.JWKS()
			return forge(t, e.header("HS256"), e.claims(), hs256(jwks))
		}, true},
		{"error/HMAC signature under an ES256 header", func(t *testing.T, e *env) string {
			der, _ := x509.MarshalPKIXPublicKey(&e.active().priv.PublicKey)
			return forge(t, e.header("ES256"), e.claims(), func(in []byte) []byte {
				return append(hs256(der)(in), make([]byte, 32)...)
			})
		}, true},
		{"error/RS256 with our kid", func(t *testing.T, e *env) string {
			return forge(t, e.header("RS256"), e.claims(), rs256(rsaKey))
		}, true},
		{"error/unknown P-256 key with a published kid", func(t *testing.T, e *env) string {
			return forge(t, e.header("ES256"), e.claims(), es256(stranger))
		}, true},
		{"error/unknown P-256 key with its own kid", func(t *testing.T, e *env) string {
			k, _ := newSigningKey(stranger, time.Time{})
			return forge(t, map[string]any{"alg": "ES256", "kid": k.id, "typ": "at+jwt"}, e.claims(), es256(stranger))
		}, true},
		{"error/our key but header says HS256", func(t *testing.T, e *env) string {
			return forge(t, e.header("HS256"), e.claims(), es256(e.active().priv))
		}, false},
		{"error/our key but no kid", func(t *testing.T, e *env) string {
			return forge(t, map[string]any{"alg": "ES256", "typ": "at+jwt"}, e.claims(), es256(e.active().priv))
		}, true},
		{"error/our key but typ JWT", func(t *testing.T, e *env) string {
			h := e.header("ES256")
			h["typ"] = "JWT"
			return forge(t, h, e.claims(), es256(e.active().priv))
		}, false},
		{"error/our key but a jku header", func(t *testing.T, e *env) string {
			h := e.header("ES256")
			h["jku"] = "https://evil.test/jwks"
			return forge(t, h, e.claims(), es256(e.active().priv))
		}, false},
		{"error/our key but client_id differs from sub", func(t *testing.T, e *env) string {
			c := e.claims()
			c["client_id"] = "cl_other"
			return forge(t, e.header("ES256"), c, es256(e.active().priv))
		}, false},
		{"error/our key but no exp", func(t *testing.T, e *env) string {
			c := e.claims()
			delete(c, "exp")
			return forge(t, e.header("ES256"), c, es256(e.active().priv))
		}, true},
		{"error/our key but scope not a string", func(t *testing.T, e *env) string {
			c := e.claims()
			c["scope"] = []string{"payment"}
			return forge(t, e.header("ES256"), c, es256(e.active().priv))
		}, false},
		{"error/tampered payload", func(t *testing.T, e *env) string {
			parts := strings.Split(e.issue(t), ".")
			c := e.claims()
			c["scope"] = "ekyc login payment"
			return parts[0] + "." + b64JSON(t, c) + "." + parts[2]
		}, true},
		{"error/tampered signature", func(t *testing.T, e *env) string {
			tok := []byte(e.issue(t))
			i := len(tok) - 10
			tok[i] = map[bool]byte{true: 'B', false: 'A'}[tok[i] == 'A']
			return string(tok)
		}, true},
		{"error/trailing newline", func(t *testing.T, e *env) string { return e.issue(t) + "\n" }, false},
		{"error/JWS JSON serialization", func(t *testing.T, e *env) string {
			parts := strings.Split(e.issue(t), ".")
			b, _ := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
			return string(b)
		}, true},
		{"error/empty", func(*testing.T, *env) string { return "" }, true},
		{"error/too long", func(t *testing.T, e *env) string { return e.issue(t) + strings.Repeat("A", maxTokenLen) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			p, err := e.iss.Verify(context.Background(), tt.token(t, e))
			if p != nil {
				t.Fatalf("accepted: %+v", p)
			}
			wantCode(t, err, "invalid_token")
			if tt.alone {
				if _, err := e.iss.parse(e.iss.state(), tt.token(t, e)); err == nil {
					t.Error("the library alone accepts it")
				}
			}
		})
	}
}

func TestRotate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	oldTok, oldKid := e.issue(t), e.active().id
	e.clk.add(time.Minute)
	newKid, err := e.iss.Rotate(ctx, "op_admin")
	if err != nil {
		t.Fatal(err)
	}
	if newKid == oldKid || e.active().id != newKid {
		t.Fatalf("rotate kept kid %s", oldKid)
	}
	newTok := e.issue(t)
	if hdr, _ := decodeToken(t, newTok); hdr["kid"] != newKid {
		t.Errorf("new token kid = %v, want %s", hdr["kid"], newKid)
	}
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := e.iss.Verify(ctx, tok); err != nil {
			t.Errorf("%s token after rotation: %v", name, err)
		}
	}
	if got := jwksKids(t, e.iss); !slices.Equal(got, []string{newKid, oldKid}) {
		t.Errorf("JWKS kids = %v, want new then old", got)
	}

	// Retired a minute after issue: the old key outlives its last token by
	// publishGrace, then it is gone.
	e.clk.add(DefaultTTL + publishGrace - time.Second)
	if got := jwksKids(t, e.iss); len(got) != 2 {
		t.Errorf("old key unpublished too early: %v", got)
	}
	e.clk.add(2 * time.Second)
	if got := jwksKids(t, e.iss); !slices.Equal(got, []string{newKid}) {
		t.Errorf("JWKS kids = %v, want only %s", got, newKid)
	}
	forged := forge(t, map[string]any{"alg": "ES256", "kid": oldKid, "typ": "at+jwt"}, e.claims(), es256(e.keyByID(t, oldKid)))
	_, err = e.iss.Verify(ctx, forged)
	wantCode(t, err, "invalid_token")

	actions := []string{}
	for _, en := range e.keys.entries {
		actions = append(actions, en.Actor+" "+en.Action+" "+en.Target)
	}
	if want := []string{"system signing_key.create " + oldKid, "op_admin signing_key.rotate " + newKid}; !slices.Equal(actions, want) {
		t.Errorf("audit = %q, want %q", actions, want)
	}
}

// keyByID opens a stored key, even one no longer published.
func (e *env) keyByID(t *testing.T, kid string) *ecdsa.PrivateKey {
	t.Helper()
	for _, sk := range e.keys.keys {
		if sk.ID == kid {
			k, err := openKey(e.ring, sk)
			if err != nil {
				t.Fatal(err)
			}
			return k.priv
		}
	}
	t.Fatalf("no stored key %s", kid)
	return nil
}

func jwksKids(t *testing.T, iss *Issuer) []string {
	t.Helper()
	var kids []string
	for _, k := range jwksKeys(t, iss) {
		kids = append(kids, k["kid"].(string))
	}
	return kids
}

func jwksKeys(t *testing.T, iss *Issuer) []map[string]any {
	t.Helper()
	b, err := iss.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

func TestJWKSIsPublicOnly(t *testing.T) {
	e := newEnv(t)
	if _, err := e.iss.Rotate(context.Background(), "op_admin"); err != nil {
		t.Fatal(err)
	}
	keys := jwksKeys(t, e.iss)
	if len(keys) != 2 {
		t.Fatalf("JWKS holds %d keys, want 2", len(keys))
	}
	for _, k := range keys {
		want := map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig"}
		for name, v := range want {
			if k[name] != v {
				t.Errorf("%s = %v, want %v", name, k[name], v)
			}
		}
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range k {
				if !yield(n) {
					return
				}
			}
		})
		if !slices.Equal(names, []string{"alg", "crv", "kid", "kty", "use", "x", "y"}) {
			t.Errorf("JWK members = %v; a private member leaked?", names)
		}
	}
}

func TestStoredKeyIsSealed(t *testing.T) {
	e := newEnv(t)
	sk := e.keys.keys[0]
	if _, err := x509.ParsePKCS8PrivateKey(sk.Sealed); err == nil {
		t.Fatal("stored key parses as a plain PKCS#8 key")
	}
	if _, err := e.ring.Open(sk.Sealed, crypto.AAD{Table: "signing_keys", Column: "private_key", RowID: "other"}); err == nil {
		t.Fatal("sealed key opens under another row's AAD")
	}
	k, err := openKey(e.ring, sk)
	if err != nil || k.id != sk.ID {
		t.Fatalf("openKey = %v, %v", k, err)
	}
}

func TestNewIssuer(t *testing.T) {
	t.Run("ok/reuses the stored key", func(t *testing.T) {
		e := newEnv(t)
		other := e.issuer(t, testCfg)
		if len(e.keys.keys) != 1 || other.state().active.id != e.active().id {
			t.Fatalf("second issuer made a new key: %d stored", len(e.keys.keys))
		}
		if _, err := other.Verify(context.Background(), e.issue(t)); err != nil {
			t.Fatalf("node B rejects node A's token: %v", err)
		}
	})
	t.Run("error/wrong keyring", func(t *testing.T) {
		e := newEnv(t)
		if _, err := NewIssuer(context.Background(), testCfg, e.keys, newRing(t, 9), e.clk.now); err == nil {
			t.Fatal("opened signing keys with another master key")
		}
	})
	t.Run("error/row holds another key than its id", func(t *testing.T) {
		e := newEnv(t)
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(priv)
		sealed, err := e.ring.Seal(der, keyAAD(e.active().id+"x"))
		if err != nil {
			t.Fatal(err)
		}
		e.keys.keys = []StoredKey{{ID: e.active().id + "x", Sealed: sealed, CreatedAt: e.clk.now()}}
		if _, err := NewIssuer(context.Background(), testCfg, e.keys, e.ring, e.clk.now); err == nil {
			t.Fatal("accepted a key whose thumbprint is not its id")
		}
	})
	for name, cfg := range map[string]Config{
		"error/no issuer":       {Audience: "a"},
		"error/no audience":     {Issuer: "i"},
		"error/negative ttl":    {Issuer: "i", Audience: "a", TTL: -time.Second},
		"error/all three empty": {},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewIssuer(context.Background(), cfg, &memKeys{}, nil, time.Now); err == nil {
				t.Fatal("accepted a bad config")
			}
		})
	}
}

func TestRotationSeenByOtherNode(t *testing.T) {
	e := newEnv(t)
	nodeB := e.issuer(t, testCfg)
	ctx := context.Background()
	if _, err := nodeB.Rotate(ctx, "op_admin"); err != nil {
		t.Fatal(err)
	}
	tok, _, err := nodeB.Issue(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	// Node A read the keys a moment ago and may not look again yet.
	_, err = e.iss.Verify(ctx, tok)
	wantCode(t, err, "invalid_token")
	e.clk.add(lookAgainAfter)
	if _, err := e.iss.Verify(ctx, tok); err != nil {
		t.Fatalf("node A still rejects node B's new key: %v", err)
	}
	// Made-up kids do not make node A read the store again and again.
	reads := e.keys.reads
	for range 100 {
		_, _ = e.iss.Verify(ctx, forge(t, map[string]any{"alg": "ES256", "kid": "junk", "typ": "at+jwt"}, e.claims(), noSigES))
	}
	if e.keys.reads-reads > 1 {
		t.Errorf("100 unknown kids caused %d store reads", e.keys.reads-reads)
	}
	// Node A notices within refreshEvery that its key was retired.
	e.clk.add(refreshEvery)
	aTok := e.issue(t)
	if hdr, _ := decodeToken(t, aTok); hdr["kid"] != nodeB.state().active.id {
		t.Errorf("node A still signs with its retired key %v", hdr["kid"])
	}
}

func noSigES([]byte) []byte { return make([]byte, 64) }

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				tok, _, err := e.iss.Issue(ctx, client)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := e.iss.Verify(ctx, tok); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := e.iss.Rotate(ctx, "op_admin"); err != nil {
				t.Error(err)
			}
			_, _ = e.iss.JWKS()
		}
	})
	wg.Wait()
}

func FuzzVerify(f *testing.F) {
	e := newEnv(f)
	valid := e.issue(f)
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add("")
	f.Add(".")
	f.Add("..")
	f.Add("a.b.c")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add(valid + "." + parts[2])
	f.Add(forge(f, e.header("none"), e.claims(), noSig))
	f.Add(forge(f, e.header("HS256"), e.claims(), hs256([]byte("secret"))))
	f.Add(b64([]byte(`{"alg":"ES256","kid":"x","typ":"at+jwt","kid":"y"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(b64([]byte(`{"alg":"ES256","KID":"x","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(b64([]byte(`{"alg":"ES256","kid":{},"typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2])
	f.Add(b64([]byte(`[1,2]`)) + "." + parts[1] + "." + parts[2])
	f.Fuzz(func(t *testing.T, s string) {
		p, err := e.iss.Verify(context.Background(), s)
		if s == valid {
			return
		}
		if err == nil || p != nil {
			t.Fatalf("verified a string that is not the issued token: %q", s)
		}
		if c := errs.As(err); c == nil || (c.Code != "invalid_token" && c.Code != "token_expired") {
			t.Fatalf("error %v is not a client error", err)
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.iss.Issue(ctx, client); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	tok := e.issue(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.iss.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
