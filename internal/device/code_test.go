package device_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/haechi/haechi/internal/device"
)

func TestVerifyCode(t *testing.T) {
	tests := []struct {
		name      string
		limits    device.Limits
		act       func(f *fixture, regID string) error
		code      string
		remaining int
		state     string // of the registration afterwards
	}{
		{"error/wrong code", device.Limits{}, func(f *fixture, regID string) error {
			return f.svc.VerifyCode(context.Background(), inst, regID, f.wrongCode(kim))
		}, "code_wrong", 2, device.StateStarted},
		{"error/code of another registration", device.Limits{}, func(f *fixture, regID string) error {
			f.mustStart(lee, "device-lee")
			return f.svc.VerifyCode(context.Background(), inst, regID, f.smsCode(lee))
		}, "code_wrong", 2, device.StateStarted},
		{"error/code expired after 3 min", device.Limits{}, func(f *fixture, regID string) error {
			f.clk.Add(device.CodeTTL)
			return f.svc.VerifyCode(context.Background(), inst, regID, f.smsCode(kim))
		}, "code_expired", 2, device.StateFailed},
		{"error/registration expired after 5 min", device.Limits{}, func(f *fixture, regID string) error {
			f.clk.Add(device.RegistrationTTL)
			return f.svc.VerifyCode(context.Background(), inst, regID, f.smsCode(kim))
		}, "registration_expired", 2, device.StateFailed},
		{"error/fifth wrong code exhausts the code", device.Limits{Failures: 10}, func(f *fixture, regID string) error {
			for range device.CodeTries - 1 {
				wantCode(f.t, f.svc.VerifyCode(context.Background(), inst, regID, f.wrongCode(kim)), "code_wrong")
			}
			return f.svc.VerifyCode(context.Background(), inst, regID, f.wrongCode(kim))
		}, "code_exhausted", 5, device.StateFailed},
		{"ok/right code", device.Limits{}, func(f *fixture, regID string) error {
			return f.svc.VerifyCode(context.Background(), inst, regID, f.smsCode(kim))
		}, "", 0, device.StateCodeVerified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.svc.Limits = tt.limits
			st := f.mustStart(kim, "device-1")
			err := tt.act(f, st.RegistrationID)
			if tt.code == "" {
				must(t, err)
			} else {
				wantCode(t, err, tt.code)
				if n, _ := device.Remaining(err); n != tt.remaining {
					t.Fatalf("remaining %d, want %d", n, tt.remaining)
				}
			}
			reg, err := f.db.Registration(context.Background(), inst, st.RegistrationID)
			must(t, err)
			if reg.State != tt.state {
				t.Fatalf("state %q, want %q", reg.State, tt.state)
			}
		})
	}
}

func TestVerifyCodeScope(t *testing.T) {
	f := newFixture(t)
	st := f.mustStart(kim, "device-1")
	tests := []struct {
		name, inst, regID, code string
	}{
		{"error/another institution's registration", "cl_other", st.RegistrationID, "registration_not_found"},
		{"error/unknown registration", inst, "reg_nope", "registration_not_found"},
		{"error/absurd id", inst, string(make([]byte, 500)), "registration_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, f.svc.VerifyCode(context.Background(), tt.inst, tt.regID, f.smsCode(kim)), tt.code)
		})
	}
	t.Run("error/a verified registration cannot be verified again, nothing counted", func(t *testing.T) {
		must(t, f.svc.VerifyCode(context.Background(), inst, st.RegistrationID, f.smsCode(kim)))
		wantCode(t, f.svc.VerifyCode(context.Background(), inst, st.RegistrationID, f.smsCode(kim)), "registration_state")
		if f.customerFailures(kim) != 0 {
			t.Fatal("counted")
		}
	})
}

// verified starts a registration for kim and verifies its code.
func (f *fixture) verified(deviceID string) *device.Started {
	f.t.Helper()
	st := f.mustStart(kim, deviceID)
	must(f.t, f.svc.VerifyCode(context.Background(), inst, st.RegistrationID, f.smsCode(kim)))
	return st
}

func TestBindKeyRefusals(t *testing.T) {
	otherKey := newKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(t, err)
	p384DER, err := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	must(t, err)
	tests := []struct {
		name string
		bind func(f *fixture, st *device.Started) error
		code string
	}{
		{"error/signature by another key", func(f *fixture, st *device.Started) error {
			p := proof(t, newKey(t), st.RegistrationID, st.Challenge)
			p.Signature = sign(t, otherKey, device.KeyProofMessage(st.RegistrationID, st.Challenge))
			return f.bind(st, st.Challenge, p)
		}, "proof_invalid"},
		{"error/signature over another registration", func(f *fixture, st *device.Started) error {
			return f.bind(st, st.Challenge, proof(t, newKey(t), "reg_other", st.Challenge))
		}, "proof_invalid"},
		{"error/public key on P-384", func(f *fixture, st *device.Started) error {
			sig, err := ecdsa.SignASN1(rand.Reader, p384, sha256sum(device.KeyProofMessage(st.RegistrationID, st.Challenge)))
			must(t, err)
			return f.bind(st, st.Challenge, device.AppKeyProof{PublicKey: p384DER, Signature: sig})
		}, "key_invalid"},
		{"error/malformed DER", func(f *fixture, st *device.Started) error {
			p := proof(t, newKey(t), st.RegistrationID, st.Challenge)
			p.PublicKey = p.PublicKey[:len(p.PublicKey)-3]
			return f.bind(st, st.Challenge, p)
		}, "key_invalid"},
		{"error/wrong challenge", func(f *fixture, st *device.Started) error {
			other := make([]byte, device.ChallengeSize)
			return f.bind(st, other, proof(t, newKey(t), st.RegistrationID, other))
		}, "challenge_invalid"},
		{"error/challenge expired", func(f *fixture, st *device.Started) error {
			f.clk.Add(device.RegistrationTTL)
			return f.bind(st, st.Challenge, proof(t, newKey(t), st.RegistrationID, st.Challenge))
		}, "registration_expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			st := f.verified("device-1")
			wantCode(t, tt.bind(f, st), tt.code)
			if f.customerFailures(kim) != 1 || f.fingerprintFailures("device-1") != 1 {
				t.Fatal("not counted against customer and fingerprint")
			}
			t.Run("error/the challenge is spent: a correct proof after it is refused", func(t *testing.T) {
				wantCode(t, f.bind(st, st.Challenge, proof(t, newKey(t), st.RegistrationID, st.Challenge)), "challenge_invalid")
			})
		})
	}
}

func (f *fixture) bind(st *device.Started, challenge []byte, p device.Proof) error {
	_, err := f.svc.BindKey(context.Background(), inst, st.RegistrationID, challenge, p)
	return err
}

func TestChallengeReplay(t *testing.T) {
	f := newFixture(t)
	st := f.verified("device-1")
	k := newKey(t)
	p := proof(t, k, st.RegistrationID, st.Challenge)
	must(t, f.bind(st, st.Challenge, p))
	t.Run("error/replaying the completed binding is refused and counted", func(t *testing.T) {
		wantCode(t, f.bind(st, st.Challenge, p), "challenge_invalid")
		if f.customerFailures(kim) != 1 {
			t.Fatal("replay not counted")
		}
	})
	t.Run("error/binding before the code is verified", func(t *testing.T) {
		st2 := f.mustStart(kim, "device-2")
		wantCode(t, f.bind(st2, st2.Challenge, proof(t, newKey(t), st2.RegistrationID, st2.Challenge)), "challenge_invalid")
	})
}

func TestKeyBindsOnce(t *testing.T) {
	f := newFixture(t)
	_, k, err := f.register(kim, "device-1")
	must(t, err)
	st, err := f.start(lee, "device-2")
	must(t, err)
	must(t, f.svc.VerifyCode(context.Background(), inst, st.RegistrationID, f.smsCode(lee)))
	seq := f.auditSeq()
	wantCode(t, f.bind(st, st.Challenge, proof(t, k, st.RegistrationID, st.Challenge)), "key_invalid")
	if f.customerFailures(lee) != 1 {
		t.Fatal("key reuse not counted")
	}
	evs := f.events(seq)
	if len(evs) != 1 || evs[0].Details["reason"] != "key_invalid" {
		t.Fatalf("audit %+v: want only the counted failure, the refused completion rolled back", evs)
	}
	reg, err := f.db.Registration(context.Background(), inst, st.RegistrationID)
	must(t, err)
	if reg.State != device.StateFailed {
		t.Fatalf("state %q, want failed", reg.State)
	}
}

func TestBindKeyWithJWK(t *testing.T) {
	f := newFixture(t)
	st := f.verified("device-1")
	k := newKey(t)
	jwk, err := json.Marshal(jwkOf(t, &k.PublicKey))
	must(t, err)
	der, err := device.ParseJWK(jwk)
	must(t, err)
	p := device.AppKeyProof{PublicKey: der, Signature: sign(t, k, device.KeyProofMessage(st.RegistrationID, st.Challenge))}
	d, err := f.svc.BindKey(context.Background(), inst, st.RegistrationID, st.Challenge, p)
	must(t, err)
	pub, err := device.ParsePublicKey(d.PublicKey)
	must(t, err)
	if !pub.Equal(&k.PublicKey) {
		t.Fatal("bound key differs from the JWK")
	}
}

// jwkOf is the JWK form of a P-256 public key.
func jwkOf(t testing.TB, pub *ecdsa.PublicKey) map[string]string {
	b, err := pub.Bytes() // 0x04 || x || y
	must(t, err)
	enc := base64.RawURLEncoding.EncodeToString
	return map[string]string{"kty": "EC", "crv": "P-256", "alg": "ES256", "x": enc(b[1:33]), "y": enc(b[33:])}
}
