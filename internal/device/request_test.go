package device

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/haechi/haechi/internal/errs"
)

// nonceMem is an in-memory RequestStore keeping the contract sqlstore is
// tested for: nonces single use, bound to their device, for active devices.
type nonceMem struct {
	mu     sync.Mutex
	dev    *Device
	nonces map[string]time.Time // nonce → expiry, all for dev
}

func (m *nonceMem) DeviceByID(_ context.Context, id string) (*Device, error) {
	if m.dev == nil || id != m.dev.ID {
		return nil, errs.ErrNotFound
	}
	d := *m.dev
	return &d, nil
}

func (m *nonceMem) IssueDeviceNonce(_ context.Context, nonce, deviceID string, _, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dev == nil || deviceID != m.dev.ID || m.dev.State != DeviceActive {
		return errs.ErrNotFound
	}
	m.nonces[nonce] = expires
	return nil
}

func (m *nonceMem) ConsumeDeviceNonce(_ context.Context, nonce, deviceID string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.nonces[nonce]
	if !ok || deviceID != m.dev.ID || !now.Before(exp) || m.dev.State != DeviceActive {
		return errs.ErrNotFound
	}
	delete(m.nonces, nonce)
	return nil
}

type requestFixture struct {
	q   *Requests
	mem *nonceMem
	key *ecdsa.PrivateKey
	now time.Time
}

func newRequestFixture(t *testing.T) *requestFixture {
	k := p256(t)
	f := &requestFixture{key: k, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	f.mem = &nonceMem{nonces: map[string]time.Time{},
		dev: &Device{ID: "dev_abc", KeyKind: KeyKindAppKey, PublicKey: mustDER(t, &k.PublicKey), State: DeviceActive}}
	f.q = &Requests{Store: f.mem, Now: func() time.Time { return f.now }}
	return f
}

// signed is a request signed by key over a fresh nonce at the fixture's time.
func (f *requestFixture) signed(t *testing.T, key *ecdsa.PrivateKey) SignedRequest {
	t.Helper()
	nonce, _, err := f.q.IssueNonce(t.Context(), "dev_abc")
	if err != nil {
		t.Fatal(err)
	}
	body := sha256.Sum256([]byte(`{"a":1}`))
	r := SignedRequest{DeviceID: "dev_abc", Method: "POST", Path: "/v1/x", BodySHA256: body[:], Nonce: nonce, Unix: f.now.Unix()}
	digest := sha256.Sum256(RequestMessage(r.Method, r.Path, r.BodySHA256, r.Nonce, r.Unix))
	if r.Signature, err = ecdsa.SignASN1(rand.Reader, key, digest[:]); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRequestsVerify(t *testing.T) {
	t.Run("ok/once, then the nonce is spent", func(t *testing.T) {
		f := newRequestFixture(t)
		r := f.signed(t, f.key)
		if dev, err := f.q.Verify(t.Context(), r); err != nil || dev.ID != "dev_abc" {
			t.Fatalf("verify: %v %v", dev, err)
		}
		_, err := f.q.Verify(t.Context(), r)
		wantIs(t, err, ErrNonceInvalid)
	})
	t.Run("error/a bad signature leaves the nonce unspent", func(t *testing.T) {
		f := newRequestFixture(t)
		good := f.signed(t, f.key)
		bad := good
		bad.Signature = f.signed(t, p256(t)).Signature
		_, err := f.q.Verify(t.Context(), bad)
		wantIs(t, err, ErrSignatureInvalid)
		if _, err := f.q.Verify(t.Context(), good); err != nil {
			t.Fatalf("the device's own request after a forgery: %v", err)
		}
	})
	tests := []struct {
		name string
		edit func(f *requestFixture, r *SignedRequest)
		want error
	}{
		{"error/61 s behind", func(f *requestFixture, r *SignedRequest) { f.now = f.now.Add(61 * time.Second) }, ErrRequestSkew},
		{"error/61 s ahead", func(f *requestFixture, r *SignedRequest) { f.now = f.now.Add(-61 * time.Second) }, ErrRequestSkew},
		{"error/other body", func(f *requestFixture, r *SignedRequest) { r.BodySHA256 = make([]byte, 32) }, ErrSignatureInvalid},
		{"error/other method", func(f *requestFixture, r *SignedRequest) { r.Method = "PUT" }, ErrSignatureInvalid},
		{"error/unknown device", func(f *requestFixture, r *SignedRequest) { r.DeviceID = "dev_other" }, ErrSignatureInvalid},
		{"error/malformed device id", func(f *requestFixture, r *SignedRequest) { r.DeviceID = "../dev_abc" }, ErrSignatureInvalid},
		{"error/revoked device", func(f *requestFixture, r *SignedRequest) { f.mem.dev.State = DeviceRevoked }, ErrDeviceRevoked},
		{"error/webauthn device", func(f *requestFixture, r *SignedRequest) { f.mem.dev.KeyKind = KeyKindWebAuthn }, ErrSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRequestFixture(t)
			r := f.signed(t, f.key)
			tt.edit(f, &r)
			_, err := f.q.Verify(t.Context(), r)
			wantIs(t, err, tt.want)
		})
	}
	t.Run("error/nonce expired", func(t *testing.T) {
		f := newRequestFixture(t)
		nonce, expires, err := f.q.IssueNonce(t.Context(), "dev_abc")
		if err != nil || !expires.Equal(f.now.Add(NonceTTL)) {
			t.Fatalf("issue: %v, expires %v", err, expires)
		}
		f.now = expires
		r := f.signed(t, f.key)
		r.Nonce = nonce
		digest := sha256.Sum256(RequestMessage(r.Method, r.Path, r.BodySHA256, r.Nonce, r.Unix))
		r.Signature, _ = ecdsa.SignASN1(rand.Reader, f.key, digest[:])
		_, err = f.q.Verify(t.Context(), r)
		wantIs(t, err, ErrNonceInvalid)
	})
	t.Run("error/no nonce for a revoked device", func(t *testing.T) {
		f := newRequestFixture(t)
		f.mem.dev.State = DeviceRevoked
		_, _, err := f.q.IssueNonce(t.Context(), "dev_abc")
		wantIs(t, err, ErrDeviceNotFound)
	})
}

func wantIs(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func coseOf(t testing.TB, alg webauthncose.COSEAlgorithmIdentifier, crv int64, x, y []byte) []byte {
	b, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(alg)},
		Curve:         crv, XCoord: x, YCoord: y})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCOSEToSPKI(t *testing.T) {
	k := p256(t)
	pt, _ := k.PublicKey.Bytes()
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pt384, _ := k384.PublicKey.Bytes()
	t.Run("ok/ES256 on P-256", func(t *testing.T) {
		der, err := COSEToSPKI(coseOf(t, webauthncose.AlgES256, 1, pt[1:33], pt[33:]))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ParsePublicKey(der)
		if err != nil || !pub.Equal(&k.PublicKey) {
			t.Fatalf("round trip: %v", err)
		}
	})
	tests := []struct {
		name string
		cose []byte
	}{
		{"error/ES384", coseOf(t, webauthncose.AlgES384, 2, pt384[1:49], pt384[49:])},
		{"error/point off the curve", coseOf(t, webauthncose.AlgES256, 1, make([]byte, 32), make([]byte, 32))},
		{"error/not CBOR", []byte("not a key")},
		{"error/empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := COSEToSPKI(tt.cose)
			wantIs(t, err, ErrKeyInvalid)
		})
	}
}

func FuzzCOSEToSPKI(f *testing.F) {
	k := p256(f)
	pt, _ := k.PublicKey.Bytes()
	f.Add(coseOf(f, webauthncose.AlgES256, 1, pt[1:33], pt[33:]))
	f.Add(coseOf(f, webauthncose.AlgES256, 1, pt[1:32], pt[33:]))
	f.Add([]byte{0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, cose []byte) {
		der, err := COSEToSPKI(cose)
		if err != nil {
			if !errors.Is(err, ErrKeyInvalid) {
				t.Fatalf("error %v is not key_invalid", err)
			}
			return
		}
		if _, err := ParsePublicKey(der); err != nil {
			t.Fatalf("accepted a key that does not parse back: %v", err)
		}
	})
}
