package device_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/storetest"
)

// BenchmarkRegistration measures completed registrations (start, carrier
// code, key binding: three audited transactions plus the code's own) per
// second. The app's work (integrity token, key pair) is prepared before
// the clock starts; the signature over the challenge is inside it.
func BenchmarkRegistration(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		w := newWorld()
		benchRegistration(b, seed(fileFixture(b, w, tempPath(b))))
	})
	b.Run("postgres", func(b *testing.B) {
		w := newWorld()
		benchRegistration(b, seed(pgFixture(b, w, storetest.PostgresSchemaURL(b))))
	})
}

func benchRegistration(b *testing.B, f *fixture) {
	ctx := context.Background()
	inputs := make([]device.StartInput, b.N)
	keys := make([]*ecdsa.PrivateKey, b.N)
	for i := range inputs {
		inputs[i], keys[i] = f.input(kim, fmt.Sprintf("bench-%d", i)), newKey(b)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		st, err := f.svc.Start(ctx, inst, inputs[i])
		if err != nil {
			b.Fatal(err)
		}
		if err := f.svc.VerifyCode(ctx, inst, st.RegistrationID, f.smsCode(kim)); err != nil {
			b.Fatal(err)
		}
		if _, err := f.svc.BindKey(ctx, inst, st.RegistrationID, st.Challenge, proof(b, keys[i], st.RegistrationID, st.Challenge)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
}

// signedRequest is one device-signed request.
type signedRequest struct {
	pub  *ecdsa.PublicKey
	body []byte
	ts   int64
	sig  []byte
}

func newSignedRequest(b *testing.B) signedRequest {
	k := newKey(b)
	body := sha256.Sum256([]byte(`{"order":"A-1001","amount":6900}`))
	r := signedRequest{pub: &k.PublicKey, body: body[:], ts: 1795770000}
	r.sig = sign(b, k, device.RequestMessage("POST", "/v1/payments", r.body, "nonce-1", r.ts))
	return r
}

// BenchmarkVerifyDeviceSignature is VerifyRequest: framing the canonical
// message, hashing it and one P-256 verification.
func BenchmarkVerifyDeviceSignature(b *testing.B) {
	r := newSignedRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := device.VerifyRequest(r.pub, "POST", "/v1/payments", r.body, "nonce-1", r.ts, r.sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkECDSAVerifyBare is the P-256 verification alone, over a digest
// computed once: the floor VerifyRequest is compared with.
func BenchmarkECDSAVerifyBare(b *testing.B) {
	k := newKey(b)
	digest := sha256.Sum256([]byte("message"))
	sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.VerifyASN1(&k.PublicKey, digest[:], sig) {
			b.Fatal("verify failed")
		}
	}
}
