package device

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func mustDER(t testing.TB, pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func p256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParsePublicKey(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	good := mustDER(t, &p256(t).PublicKey)
	tests := []struct {
		name string
		der  []byte
		ok   bool
	}{
		{"ok/P-256", good, true},
		{"error/P-384", mustDER(t, &p384.PublicKey), false},
		{"error/RSA", mustDER(t, &rsaKey.PublicKey), false},
		{"error/Ed25519", mustDER(t, edPub), false},
		{"error/empty", nil, false},
		{"error/truncated", good[:len(good)-1], false},
		{"error/trailing byte", append(bytes.Clone(good), 0), false},
		{"error/point off the curve", offCurve(good), false},
		{"error/too large", make([]byte, MaxKeySize+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePublicKey(tt.der)
			if (err == nil) != tt.ok {
				t.Fatalf("ParsePublicKey = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrKeyInvalid) {
				t.Fatalf("error %v is not key_invalid", err)
			}
		})
	}
}

// offCurve flips a bit of the point's last byte, moving it off the curve.
func offCurve(der []byte) []byte {
	b := bytes.Clone(der)
	b[len(b)-1] ^= 1
	return b
}

func jwkJSON(t testing.TB, k *ecdsa.PublicKey, edit func(m map[string]any)) []byte {
	b, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"kty": "EC", "crv": "P-256", "x": base64.RawURLEncoding.EncodeToString(b[1:33]),
		"y": base64.RawURLEncoding.EncodeToString(b[33:])}
	if edit != nil {
		edit(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseJWK(t *testing.T) {
	k := p256(t)
	tests := []struct {
		name string
		edit func(m map[string]any)
		ok   bool
	}{
		{"ok/minimal", nil, true},
		{"ok/with kid, use and alg", func(m map[string]any) { m["kid"], m["use"], m["alg"] = "k1", "sig", "ES256" }, true},
		{"error/kty RSA", func(m map[string]any) { m["kty"] = "RSA" }, false},
		{"error/crv P-384", func(m map[string]any) { m["crv"] = "P-384" }, false},
		{"error/private key", func(m map[string]any) { m["d"] = m["x"] }, false},
		{"error/alg RS256", func(m map[string]any) { m["alg"] = "RS256" }, false},
		{"error/use enc", func(m map[string]any) { m["use"] = "enc" }, false},
		{"error/unknown member", func(m map[string]any) { m["x5c"] = []string{"MIIB"} }, false},
		{"error/padded coordinate", func(m map[string]any) { m["x"] = m["x"].(string) + "=" }, false},
		{"error/short coordinate", func(m map[string]any) { m["y"] = m["y"].(string)[4:] }, false},
		{"error/point off the curve", func(m map[string]any) { m["y"] = m["x"] }, false},
		{"error/coordinate not a string", func(m map[string]any) { m["x"] = 5 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := ParseJWK(jwkJSON(t, &k.PublicKey, tt.edit))
			if (err == nil) != tt.ok {
				t.Fatalf("ParseJWK = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrKeyInvalid) {
					t.Fatalf("error %v is not key_invalid", err)
				}
				return
			}
			pub, err := ParsePublicKey(der)
			if err != nil || !pub.Equal(&k.PublicKey) {
				t.Fatalf("round trip: %v", err)
			}
		})
	}
	t.Run("error/trailing data", func(t *testing.T) {
		if _, err := ParseJWK(append(jwkJSON(t, &k.PublicKey, nil), []byte(" {}")...)); !errors.Is(err, ErrKeyInvalid) {
			t.Fatalf("ParseJWK = %v", err)
		}
	})
}

func TestAppKeyProof(t *testing.T) {
	k := p256(t)
	challenge := bytes.Repeat([]byte{7}, 32)
	msg := sha256.Sum256(KeyProofMessage("reg_1", challenge))
	sig, _ := ecdsa.SignASN1(rand.Reader, k, msg[:])
	p := AppKeyProof{PublicKey: mustDER(t, &k.PublicKey), Signature: sig}
	tests := []struct {
		name      string
		regID     string
		challenge []byte
		want      error
	}{
		{"ok", "reg_1", challenge, nil},
		{"error/another registration", "reg_2", challenge, ErrProofInvalid},
		{"error/another challenge", "reg_1", bytes.Repeat([]byte{8}, 32), ErrProofInvalid},
		{"error/id and challenge shifted", "reg_1\x07", challenge[1:], ErrProofInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := p.Verify(context.Background(), tt.regID, tt.challenge)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err == nil && (key.Kind != KeyKindAppKey || !bytes.Equal(key.SPKI, p.PublicKey)) {
				t.Fatalf("key %+v", key)
			}
		})
	}
}

func TestVerifyRequest(t *testing.T) {
	k := p256(t)
	body := sha256.Sum256([]byte(`{"to":"110-123-456789","amount":50000}`))
	ts := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC).Unix()
	digest := sha256.Sum256(RequestMessage("POST", "/v1/transfers?x=1", body[:], "nonce-1", ts))
	sig, _ := ecdsa.SignASN1(rand.Reader, k, digest[:])
	other := sha256.Sum256([]byte(`{"to":"110-123-456789","amount":500000}`))
	tests := []struct {
		name   string
		pub    *ecdsa.PublicKey
		method string
		path   string
		body   []byte
		nonce  string
		ts     int64
		sig    []byte
		ok     bool
	}{
		{"ok", &k.PublicKey, "POST", "/v1/transfers?x=1", body[:], "nonce-1", ts, sig, true},
		{"error/other method", &k.PublicKey, "PUT", "/v1/transfers?x=1", body[:], "nonce-1", ts, sig, false},
		{"error/other path", &k.PublicKey, "POST", "/v1/transfers?x=2", body[:], "nonce-1", ts, sig, false},
		{"error/other body", &k.PublicKey, "POST", "/v1/transfers?x=1", other[:], "nonce-1", ts, sig, false},
		{"error/other nonce", &k.PublicKey, "POST", "/v1/transfers?x=1", body[:], "nonce-2", ts, sig, false},
		{"error/other time", &k.PublicKey, "POST", "/v1/transfers?x=1", body[:], "nonce-1", ts + 1, sig, false},
		{"error/other key", &p256(t).PublicKey, "POST", "/v1/transfers?x=1", body[:], "nonce-1", ts, sig, false},
		{"error/no key", nil, "POST", "/v1/transfers?x=1", body[:], "nonce-1", ts, sig, false},
		{"error/body hash not 32 bytes", &k.PublicKey, "POST", "/v1/transfers?x=1", body[:31], "nonce-1", ts, sig, false},
		{"error/empty nonce", &k.PublicKey, "POST", "/v1/transfers?x=1", body[:], "", ts, sig, false},
		{"error/garbage signature", &k.PublicKey, "POST", "/v1/transfers?x=1", body[:], "nonce-1", ts, []byte{0x30, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyRequest(tt.pub, tt.method, tt.path, tt.body, tt.nonce, tt.ts, tt.sig)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrSignatureInvalid)) {
				t.Fatalf("VerifyRequest = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

type fakeLog map[string][]string

func (l fakeLog) FailedCustomers(_ context.Context, fp string, _ time.Time) ([]string, error) {
	return l[fp], nil
}

func TestSimpleScorer(t *testing.T) {
	s := SimpleScorer{Log: fakeLog{"fp_spray": {"cus_1", "cus_2"}, "fp_one": {"cus_1", "cus_1"}}}
	rootedEmu := goodReport()
	rootedEmu.Rooted, rootedEmu.Emulator = true, true
	rootedOnly := goodReport()
	rootedOnly.Rooted = true
	tests := []struct {
		name string
		ev   Event
		want Risk
	}{
		{"ok/ordinary failure", Event{Fingerprint: "fp_one", CustomerKey: "cus_1", Result: "failure"}, RiskLow},
		{"ok/success is not scored on the log", Event{Fingerprint: "fp_spray", CustomerKey: "cus_3", Result: "success"}, RiskLow},
		{"ok/a third failure for a customer already counted", Event{Fingerprint: "fp_spray", CustomerKey: "cus_2", Result: "failure"}, RiskLow},
		{"ok/rooted alone is the policy's business", Event{Report: &rootedOnly, Result: "failure"}, RiskLow},
		{"error/third customer failing from one device", Event{Fingerprint: "fp_spray", CustomerKey: "cus_3", Result: "failure"}, RiskHigh},
		{"error/rooted emulator", Event{Report: &rootedEmu, Result: "failure"}, RiskHigh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Assess(context.Background(), tt.ev)
			if err != nil || got != tt.want {
				t.Fatalf("Assess = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFramingIsUnambiguous(t *testing.T) {
	a := KeyProofMessage("reg_1", []byte("xy"))
	b := KeyProofMessage("reg_1x", []byte("y"))
	if bytes.Equal(a, b) || !strings.HasPrefix(string(a[4:]), "haechi-device-key-proof-v1") {
		t.Fatal("framing is ambiguous or unlabelled")
	}
}

func FuzzParsePublicKey(f *testing.F) {
	f.Add(mustDER(f, &p256(f).PublicKey))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, der []byte) {
		pub, err := ParsePublicKey(der)
		if err != nil {
			if !errors.Is(err, ErrKeyInvalid) {
				t.Fatalf("error %v is not key_invalid", err)
			}
			return
		}
		if pub.Curve != elliptic.P256() {
			t.Fatal("accepted a key off P-256")
		}
	})
}

func FuzzParseJWK(f *testing.F) {
	k := p256(f)
	f.Add(jwkJSON(f, &k.PublicKey, nil))
	f.Add(jwkJSON(f, &k.PublicKey, func(m map[string]any) { m["d"] = "AAAA" }))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"","y":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		der, err := ParseJWK(in)
		if err != nil {
			if !errors.Is(err, ErrKeyInvalid) {
				t.Fatalf("error %v is not key_invalid", err)
			}
			return
		}
		if _, err := ParsePublicKey(der); err != nil {
			t.Fatalf("ParseJWK accepted what ParsePublicKey refuses: %v", err)
		}
	})
}

func FuzzDecodeReport(f *testing.F) {
	good, _ := json.Marshal(goodReport())
	f.Add(good)
	f.Add([]byte(`{"device_id":"a","rooted":true}`))
	f.Add([]byte(`{"device_id":"a"}{"x":1}`))
	f.Add([]byte(`{"model":"\u0000"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := DecodeReport(in)
		if err != nil {
			if !errors.Is(err, ErrReportInvalid) {
				t.Fatalf("error %v is not report_invalid", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded an invalid report: %v", err)
		}
		if IntegrityNonce(r) == "" {
			t.Fatal("no nonce")
		}
	})
}
