package session

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

const (
	testURL    = "https://api.haechi.test/v1/accounts"
	testMethod = "GET"
	testToken  = "access-token-for-tests"
)

var testNow = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// deviceKey is a phone's P-256 key in the forms the tests need.
type deviceKey struct {
	priv *ecdsa.PrivateKey
	pub  jwk.Key // the public JWK placed in proof headers
}

func newDeviceKey(tb testing.TB, curve elliptic.Curve) *deviceKey {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := jwk.Import(priv.Public())
	if err != nil {
		tb.Fatal(err)
	}
	return &deviceKey{priv: priv, pub: pub}
}

// claimsFor are the claims of a good proof for the test request.
func claimsFor(iat time.Time, ath string) map[string]any {
	c := map[string]any{"jti": "jti-" + base64.RawURLEncoding.EncodeToString(randBytes(9)), "htm": testMethod, "htu": testURL, "iat": iat.Unix()}
	if ath != "" {
		c["ath"] = ath
	}
	return c
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// sign makes a proof with jwx: typ dpop+jwt, the given header jwk and alg.
func sign(tb testing.TB, alg jwa.SignatureAlgorithm, key any, hdrJWK jwk.Key, claims map[string]any) string {
	tb.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	hdr := jws.NewHeaders()
	for k, v := range map[string]any{jws.TypeKey: proofType, jws.JWKKey: hdrJWK} {
		if err := hdr.Set(k, v); err != nil {
			tb.Fatal(err)
		}
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		tb.Fatal(err)
	}
	return string(out)
}

func (k *deviceKey) proof(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	return sign(tb, jwa.ES256(), k.priv, k.pub, claims)
}

// raw builds a proof by hand, for headers and payloads jwx would not make,
// signed ES256 with priv over whatever header and payload bytes are given.
func raw(tb testing.TB, priv *ecdsa.PrivateKey, header, payload string) string {
	tb.Helper()
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	size := (priv.Curve.Params().BitSize + 7) / 8
	sig := make([]byte, 2*size)
	r.FillBytes(sig[:size])
	s.FillBytes(sig[size:])
	return input + "." + enc.EncodeToString(sig)
}

func jwkJSON(tb testing.TB, k jwk.Key) string {
	tb.Helper()
	b, err := json.Marshal(k)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestVerifyProof(t *testing.T) {
	k := newDeviceKey(t, elliptic.P256())
	other := newDeviceKey(t, elliptic.P256())
	p384 := newDeviceKey(t, elliptic.P384())
	ath := ATH(testToken)
	good := func() map[string]any { return claimsFor(testNow, "") }
	with := func(key string, v any) map[string]any { c := good(); c[key] = v; return c }
	without := func(key string) map[string]any { c := good(); delete(c, key); return c }
	pubJSON := jwkJSON(t, k.pub)
	goodPayload, _ := json.Marshal(good())
	tests := []struct {
		name          string
		proof         func() string
		method, url   string
		ath           string
		wantErr       bool
		wantProofJTI  bool
		wantReplayKey string
	}{
		{name: "ok", proof: func() string { return k.proof(t, good()) }},
		{name: "ok/with ath", proof: func() string { return k.proof(t, claimsFor(testNow, ath)) }, ath: ath},
		{name: "ok/htu normalised, query ignored", proof: func() string {
			return k.proof(t, with("htu", "HTTPS://API.haechi.TEST:443/v1/./x/../%61ccounts"))
		}, url: testURL + "?page=2#top"},
		{name: "ok/iat at the edge of the window", proof: func() string { return k.proof(t, with("iat", testNow.Add(-60*time.Second).Unix())) }},
		{name: "error/wrong htm", proof: func() string { return k.proof(t, good()) }, method: "POST", wantErr: true},
		{name: "error/htm in another case", proof: func() string { return k.proof(t, with("htm", "get")) }, wantErr: true},
		{name: "error/wrong htu path", proof: func() string { return k.proof(t, with("htu", "https://api.haechi.test/v1/transfers")) }, wantErr: true},
		{name: "error/wrong htu host", proof: func() string { return k.proof(t, with("htu", "https://evil.test/v1/accounts")) }, wantErr: true},
		{name: "error/wrong htu scheme", proof: func() string { return k.proof(t, with("htu", "http://api.haechi.test/v1/accounts")) }, wantErr: true},
		{name: "error/htu with user info", proof: func() string { return k.proof(t, with("htu", "https://u@api.haechi.test/v1/accounts")) }, wantErr: true},
		{name: "error/stale iat", proof: func() string { return k.proof(t, with("iat", testNow.Add(-61*time.Second).Unix())) }, wantErr: true},
		{name: "error/future iat", proof: func() string { return k.proof(t, with("iat", testNow.Add(61*time.Second).Unix())) }, wantErr: true},
		{name: "error/fractional iat", proof: func() string { return k.proof(t, with("iat", float64(testNow.Unix())+0.5)) }, wantErr: true},
		{name: "error/iat as a string", proof: func() string { return k.proof(t, with("iat", "1772357400")) }, wantErr: true},
		{name: "error/jti missing", proof: func() string { return k.proof(t, without("jti")) }, wantErr: true},
		{name: "error/jti empty", proof: func() string { return k.proof(t, with("jti", "")) }, wantErr: true},
		{name: "error/jti of 65 characters", proof: func() string { return k.proof(t, with("jti", strings.Repeat("j", 65))) }, wantErr: true},
		{name: "error/jti with a control character", proof: func() string { return k.proof(t, with("jti", "a\x00b")) }, wantErr: true},
		{name: "error/unknown claim", proof: func() string { return k.proof(t, with("nonce", "n")) }, wantErr: true},
		{name: "error/ath missing with an access token", proof: func() string { return k.proof(t, good()) }, ath: ath, wantErr: true},
		{name: "error/ath of another token", proof: func() string { return k.proof(t, claimsFor(testNow, ATH("other"))) }, ath: ath, wantErr: true},
		{name: "error/ath without an access token", proof: func() string { return k.proof(t, claimsFor(testNow, ath)) }, wantErr: true},
		{name: "error/alg none", proof: func() string {
			hdr := jws.NewHeaders()
			hdr.Set(jws.TypeKey, proofType)
			hdr.Set(jws.JWKKey, k.pub)
			out, err := jws.Sign(goodPayload, jws.WithInsecureNoSignature(jws.WithProtectedHeaders(hdr)))
			if err != nil {
				t.Fatal(err)
			}
			return string(out)
		}, wantErr: true},
		{name: "error/alg none with a real signature", proof: func() string {
			return raw(t, k.priv, `{"typ":"dpop+jwt","alg":"none","jwk":`+pubJSON+`}`, string(goodPayload))
		}, wantErr: true},
		{name: "error/HS256 with the jwk as secret", proof: func() string {
			return sign(t, jwa.HS256(), []byte(pubJSON), k.pub, good())
		}, wantErr: true},
		{name: "error/jwk with private d", proof: func() string {
			priv, err := jwk.Import(k.priv)
			if err != nil {
				t.Fatal(err)
			}
			return sign(t, jwa.ES256(), k.priv, priv, good())
		}, wantErr: true},
		{name: "error/HS512 with the jwk as secret, a 64-byte MAC", proof: func() string {
			return sign(t, jwa.HS512(), []byte(pubJSON), k.pub, good())
		}, wantErr: true},
		{name: "error/jwk on P-384 with a 64-byte signature", proof: func() string {
			return raw(t, k.priv, `{"typ":"dpop+jwt","alg":"ES256","jwk":`+jwkJSON(t, p384.pub)+`}`, string(goodPayload))
		}, wantErr: true},
		{name: "error/jwk on P-384 signed ES384", proof: func() string { return sign(t, jwa.ES384(), p384.priv, p384.pub, good()) }, wantErr: true},
		{name: "error/jwk on P-384 claiming ES256", proof: func() string {
			return raw(t, p384.priv, `{"typ":"dpop+jwt","alg":"ES256","jwk":`+jwkJSON(t, p384.pub)+`}`, string(goodPayload))
		}, wantErr: true},
		{name: "error/header jwk of another key", proof: func() string { return sign(t, jwa.ES256(), other.priv, k.pub, good()) }, wantErr: true},
		{name: "error/typ jwt", proof: func() string {
			return raw(t, k.priv, `{"typ":"jwt","alg":"ES256","jwk":`+pubJSON+`}`, string(goodPayload))
		}, wantErr: true},
		{name: "error/extra header member", proof: func() string {
			return raw(t, k.priv, `{"typ":"dpop+jwt","alg":"ES256","kid":"x","jwk":`+pubJSON+`}`, string(goodPayload))
		}, wantErr: true},
		{name: "error/duplicate alg", proof: func() string {
			return raw(t, k.priv, `{"typ":"dpop+jwt","alg":"HS256","alg":"ES256","jwk":`+pubJSON+`}`, string(goodPayload))
		}, wantErr: true},
		{name: "error/duplicate claim", proof: func() string {
			return raw(t, k.priv, `{"typ":"dpop+jwt","alg":"ES256","jwk":`+pubJSON+`}`,
				`{"jti":"a","htm":"POST","htm":"GET","htu":"`+testURL+`","iat":`+jsonNum(testNow)+`}`)
		}, wantErr: true},
		{name: "error/tampered payload", proof: func() string {
			p := strings.Split(k.proof(t, good()), ".")
			body, _ := json.Marshal(with("htu", "https://api.haechi.test/v1/transfers"))
			return p[0] + "." + base64.RawURLEncoding.EncodeToString(body) + "." + p[2]
		}, url: "https://api.haechi.test/v1/transfers", wantErr: true},
		{name: "error/padded signature", proof: func() string { return k.proof(t, good()) + "=" }, wantErr: true},
		{name: "error/JSON serialization", proof: func() string { return `{"payload":"e30","signatures":[]}` }, wantErr: true},
		{name: "error/empty", proof: func() string { return "" }, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method, url := tc.method, tc.url
			if method == "" {
				method = testMethod
			}
			if url == "" {
				url = testURL
			}
			p, err := VerifyProof(tc.proof(), method, url, tc.ath, testNow, 0)
			if tc.wantErr {
				if !errors.Is(err, ErrProofInvalid) || p != nil {
					t.Fatalf("got %v, %v; want ErrProofInvalid", p, err)
				}
				if want := refusedFor[tc.name]; want != "" && !strings.Contains(err.Error(), want) {
					t.Fatalf("refused for %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != thumbprintJWX(t, k.pub) || !strings.HasPrefix(p.JTI, "jti-") || p.IAT.After(testNow) {
				t.Fatalf("proof %+v", p)
			}
		})
	}
}

// refusedFor names the check that must refuse a case, so that a case
// cannot pass by failing earlier for an unrelated reason.
var refusedFor = map[string]string{
	"error/alg none with a real signature":              `alg "none"`,
	"error/HS512 with the jwk as secret, a 64-byte MAC": `alg "HS512"`,
	"error/jwk with private d":                          "private key",
	"error/jwk on P-384 with a 64-byte signature":       "not exactly a P-256",
	"error/header jwk of another key":                   "signature",
	"error/tampered payload":                            "signature",
	"error/duplicate alg":                               "duplicate",
	"error/duplicate claim":                             "duplicate",
	"error/stale iat":                                   "iat",
	"error/future iat":                                  "iat",
	"error/wrong htm":                                   "htm",
	"error/ath of another token":                        "ath does not match",
	"error/ath missing with an access token":            "ath missing",
	"error/ath without an access token":                 "ath present",
	"error/wrong htu host":                              "htu",
	"error/typ jwt":                                     "typ",
}

func jsonNum(t time.Time) string {
	b, _ := json.Marshal(t.Unix())
	return string(b)
}

// thumbprintJWX is the library's RFC 7638 thumbprint, to check ours.
func thumbprintJWX(tb testing.TB, k jwk.Key) string {
	tb.Helper()
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func TestBindMatchesProofThumbprint(t *testing.T) {
	k := newDeviceKey(t, elliptic.P256())
	spki, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := (&Service{}).Bind(spki)
	if err != nil {
		t.Fatal(err)
	}
	p, err := VerifyProof(k.proof(t, claimsFor(testNow, "")), testMethod, testURL, "", testNow, 0)
	if err != nil {
		t.Fatal(err)
	}
	if jkt != p.JKT || jkt != thumbprintJWX(t, k.pub) {
		t.Fatalf("Bind %s, proof %s, jwx %s", jkt, p.JKT, thumbprintJWX(t, k.pub))
	}
	p384 := newDeviceKey(t, elliptic.P384())
	spki384, _ := x509.MarshalPKIXPublicKey(p384.priv.Public())
	for name, key := range map[string][]byte{"P-384": spki384, "garbage": []byte("not a key"), "empty": nil} {
		if _, err := (&Service{}).Bind(key); err == nil {
			t.Errorf("Bind accepted a %s key", name)
		}
	}
}

func TestNormalizeHTU(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://api.haechi.test/v1/a", "https://api.haechi.test/v1/a"},
		{"HTTPS://API.Haechi.Test:443/v1/a?x=1#f", "https://api.haechi.test/v1/a"},
		{"http://h.test:80", "http://h.test/"},
		{"https://h.test:8443/", "https://h.test:8443/"},
		{"https://h.test/a/b/../c/./d", "https://h.test/a/c/d"},
		{"https://h.test/a/b/..", "https://h.test/a/"},
		{"https://h.test/%7e%2f%2Fx", "https://h.test/~%2F%2Fx"},
		{"https://h.test/a//b", "https://h.test/a//b"},
		{"https://[::1]:443/x", "https://[::1]/x"},
	}
	for _, tc := range tests {
		got, err := normalizeHTU(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("normalizeHTU(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "/v1/a", "ftp://h.test/a", "https://u:p@h.test/", "mailto:a@b", "https:///x", "https://h.test/%zz"} {
		if got, err := normalizeHTU(bad); err == nil {
			t.Errorf("normalizeHTU(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzVerifyProof feeds arbitrary proofs, methods and URLs: VerifyProof
// must never panic, and must accept nothing but a signing input made here
// (header and claims of a genuine proof), for its method and normalised
// URL. The key and claims are fixed, so every fuzzing worker knows the same
// genuine inputs; ECDSA signatures are randomized, hence the comparison of
// signing inputs rather than whole proofs.
func FuzzVerifyProof(f *testing.F) {
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		f.Fatal(err)
	}
	pub, err := jwk.Import(priv.Public())
	if err != nil {
		f.Fatal(err)
	}
	k := &deviceKey{priv: priv, pub: pub}
	genuine := map[string]bool{}
	for i, iat := range []time.Time{testNow, testNow.Add(-time.Second)} {
		c := map[string]any{"jti": "fuzz-" + strconv.Itoa(i), "htm": testMethod, "htu": testURL, "iat": iat.Unix()}
		p := k.proof(f, c)
		genuine[p[:strings.LastIndexByte(p, '.')]] = true
		f.Add(p, testMethod, testURL)
	}
	pubJSON := jwkJSON(f, k.pub)
	f.Add(raw(f, k.priv, `{"typ":"dpop+jwt","alg":"none","jwk":`+pubJSON+`}`, `{}`), "GET", testURL)
	f.Add(sign(f, jwa.HS512(), []byte(pubJSON), k.pub, claimsFor(testNow, "")), "GET", testURL)
	f.Add("e30.e30.", "GET", "https://h.test/")
	f.Add("..", "", "")
	want, _ := normalizeHTU(testURL)
	f.Fuzz(func(t *testing.T, proof, method, url string) {
		p, err := VerifyProof(proof, method, url, "", testNow, 0)
		if err != nil {
			if p != nil || !errors.Is(err, ErrProofInvalid) {
				t.Fatalf("failure returned %v, %v", p, err)
			}
			return
		}
		got, _ := normalizeHTU(url)
		if !genuine[proof[:strings.LastIndexByte(proof, '.')]] || method != testMethod || got != want {
			t.Fatalf("accepted a proof not made for this request: %q %q %q", proof, method, url)
		}
	})
}
