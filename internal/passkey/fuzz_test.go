package passkey

import (
	"bytes"
	"testing"
	"time"
)

// fuzzSeeds are bodies a client or an attacker might send: a genuine answer
// (to another challenge), its truncations and shapes the parser must refuse.
func fuzzSeeds(genuine []byte) [][]byte {
	return [][]byte{
		genuine,
		genuine[:len(genuine)/2],
		bytes.Replace(genuine, []byte(`"public-key"`), []byte(`"password"`), 1),
		nil,
		[]byte("{}"),
		[]byte("null"),
		[]byte(`[]`),
		[]byte(`{"id":"","rawId":"","type":"public-key","response":{}}`),
		[]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`),
		[]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA"}}`),
		[]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{"attestationObject":"v2NmbXRkbm9uZf8"}} trailing`),
	}
}

// FuzzFinishRegistration: whatever the body, FinishRegistration returns a
// client-safe passkey_invalid and never panics. Each input answers a fresh
// session, so even the genuine seed fails on its stale challenge.
func FuzzFinishRegistration(f *testing.F) {
	fx := newFuzzFixture(f)
	opts, _, err := fx.svc.BeginRegistration(f.Context(), fx.user)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzSeeds(fx.auth.create(f, opts, newSoftKey(f))) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, id, err := fx.svc.BeginRegistration(t.Context(), fx.user)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fx.svc.FinishRegistration(t.Context(), id, fx.user, body)
		wantCode(t, err, ErrInvalid)
	})
}

// FuzzFinishLogin is the same for assertions.
func FuzzFinishLogin(f *testing.F) {
	fx := newFuzzFixture(f)
	k := newSoftKey(f)
	opts, id, err := fx.svc.BeginRegistration(f.Context(), fx.user)
	if err != nil {
		f.Fatal(err)
	}
	c, err := fx.svc.FinishRegistration(f.Context(), id, fx.user, fx.auth.create(f, opts, k))
	if err != nil {
		f.Fatal(err)
	}
	fx.user.Existing = []Credential{*c}
	opts, _, err = fx.svc.BeginLogin(f.Context(), fx.user)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzSeeds(fx.auth.get(f, opts, k)) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, id, err := fx.svc.BeginLogin(t.Context(), fx.user)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fx.svc.FinishLogin(t.Context(), id, fx.user, body)
		wantCode(t, err, ErrInvalid)
	})
}

func newFuzzFixture(f *testing.F) *fixture {
	fx := &fixture{store: newMemStore(), now: t0,
		auth: &softAuthenticator{origin: testOrigin, rpID: "bank.example", format: "packed", aaguid: make([]byte, 16)},
		user: User{ID: []byte("cus_fuzz"), Name: "010-****-5678", DisplayName: "김*수"}}
	svc, err := New(testConfig(), fx.store, func() time.Time { return fx.now })
	if err != nil {
		f.Fatal(err)
	}
	fx.svc = svc
	return fx
}
