package passkey

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/haechi/haechi/internal/errs"
)

// memStore is the in-memory SessionStore the unit tests use; it keeps the
// contract (single use, expiry at now) that sqlstore is tested for.
type memStore struct {
	mu   sync.Mutex
	rows map[string]memSession
}

type memSession struct {
	data    []byte
	expires time.Time
}

func newMemStore() *memStore { return &memStore{rows: map[string]memSession{}} }

func (m *memStore) SavePasskeySession(_ context.Context, id string, data []byte, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rows[id]; ok {
		return errs.ErrConflict
	}
	m.rows[id] = memSession{data: append([]byte(nil), data...), expires: expires}
	return nil
}

func (m *memStore) TakePasskeySession(_ context.Context, id string, now time.Time) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.rows[id]
	if !ok || !s.expires.After(now) {
		return nil, errs.ErrNotFound
	}
	delete(m.rows, id)
	return s.data, nil
}

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagAT = 0x40
)

var b64 = base64.RawURLEncoding

// softAuthenticator is a software WebAuthn authenticator and client in one:
// it answers the service's options as a browser with a platform key would,
// and each field can be bent to play an attacker.
type softAuthenticator struct {
	origin string
	rpID   string
	format string // "none" or "packed" (self attestation)
	aaguid []byte
	noUV   bool // the user was not verified
	be     bool // backup eligible (a synced passkey)
}

// softKey is one credential held by the authenticator.
type softKey struct {
	id     []byte
	priv   *ecdsa.PrivateKey
	user   []byte
	count  uint32
	counts bool // false: an authenticator without a signature counter (always 0)
}

func newSoftKey(t testing.TB) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &softKey{id: id, priv: priv, counts: true}
}

// creationOptions is the part of BeginRegistration's options a client reads.
type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
		Attestation string `json:"attestation"`
		Timeout     int    `json:"timeout"`
		Selection   struct {
			UserVerification string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		Exclude []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		Allow     []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func decodeJSON[T any](t testing.TB, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func (a *softAuthenticator) clientData(t testing.TB, typ, challenge string) []byte {
	t.Helper()
	cd, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	if err != nil {
		t.Fatal(err)
	}
	return cd
}

func (a *softAuthenticator) flags() byte {
	f := byte(flagUP)
	if !a.noUV {
		f |= flagUV
	}
	if a.be {
		f |= flagBE
	}
	return f
}

// authData is rpIdHash | flags | counter, then attested credential data when
// att is set.
func (a *softAuthenticator) authData(t testing.TB, k *softKey, att bool) []byte {
	t.Helper()
	rp := sha256.Sum256([]byte(a.rpID))
	out := append(rp[:], a.flags())
	out = binary.BigEndian.AppendUint32(out, k.count)
	if !att {
		return out
	}
	out[32] |= flagAT
	out = append(out, a.aaguid...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(k.id)))
	out = append(out, k.id...)
	return append(out, coseKey(t, k)...)
}

func coseKey(t testing.TB, k *softKey) []byte {
	t.Helper()
	pub, err := k.priv.PublicKey.Bytes() // 0x04 | X | Y
	if err != nil {
		t.Fatal(err)
	}
	key := webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, // P-256
		XCoord:        pub[1:33],
		YCoord:        pub[33:],
	}
	b, err := webauthncbor.Marshal(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t testing.TB, k *softKey, authData, clientData []byte) []byte {
	t.Helper()
	cdh := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte(nil), authData...), cdh[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// create answers BeginRegistration's options with key k and returns the
// PublicKeyCredential JSON a browser would post.
func (a *softAuthenticator) create(t testing.TB, options []byte, k *softKey) []byte {
	t.Helper()
	opts := decodeJSON[creationOptions](t, options)
	user, err := b64.DecodeString(opts.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user id: %v", err)
	}
	k.user = user
	cd := a.clientData(t, "webauthn.create", opts.PublicKey.Challenge)
	ad := a.authData(t, k, true)
	stmt := map[string]any{}
	if a.format == "packed" {
		stmt = map[string]any{"alg": int64(webauthncose.AlgES256), "sig": sign(t, k, ad, cd)}
	}
	att, err := webauthncbor.Marshal(map[string]any{"fmt": a.format, "attStmt": stmt, "authData": ad})
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
}

// get answers BeginLogin's options with key k, moving its counter first as
// an authenticator does.
func (a *softAuthenticator) get(t testing.TB, options []byte, k *softKey) []byte {
	t.Helper()
	opts := decodeJSON[requestOptions](t, options)
	if k.counts {
		k.count++
	}
	cd := a.clientData(t, "webauthn.get", opts.PublicKey.Challenge)
	ad := a.authData(t, k, false)
	return marshal(t, map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sign(t, k, ad, cd)),
			"userHandle":        b64.EncodeToString(k.user),
		},
	})
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
