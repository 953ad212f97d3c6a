package device

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// Kinds of bound key.
const (
	KeyKindAppKey   = "app_key"  // a P-256 key made in the phone's secure hardware by the app
	KeyKindWebAuthn = "webauthn" // a passkey or security key registered through WebAuthn
)

// Key is a verified key ready to be bound to a device.
type Key struct {
	Kind         string
	SPKI         []byte // PKIX SubjectPublicKeyInfo, DER
	CredentialID []byte // WebAuthn credential id; nil for app keys
}

// Proof shows possession of a key for one registration. BindKey calls Verify
// with the registration id and its challenge; an error must be ErrKeyInvalid
// or ErrProofInvalid (both are counted failures). AppKeyProof is the app-key
// path; the WebAuthn path implements the same interface.
type Proof interface {
	Verify(ctx context.Context, registrationID string, challenge []byte) (Key, error)
}

// AppKeyProof is the app-key path: a P-256 public key (PKIX DER; use
// ParseJWK for the JWK form) and an ASN.1 ECDSA signature over SHA-256 of
// KeyProofMessage.
type AppKeyProof struct {
	PublicKey []byte
	Signature []byte
}

// Verify checks the key and the signature.
func (p AppKeyProof) Verify(_ context.Context, registrationID string, challenge []byte) (Key, error) {
	pub, err := ParsePublicKey(p.PublicKey)
	if err != nil {
		return Key{}, err
	}
	if len(p.Signature) > MaxSignatureSize {
		return Key{}, ErrProofInvalid
	}
	digest := sha256.Sum256(KeyProofMessage(registrationID, challenge))
	if !ecdsa.VerifyASN1(pub, digest[:], p.Signature) {
		return Key{}, ErrProofInvalid
	}
	return Key{Kind: KeyKindAppKey, SPKI: p.PublicKey}, nil
}

// KeyProofMessage is what the app signs to bind its key: a fixed domain
// string, the registration id and the challenge, each length-prefixed, so
// the signature can serve no other protocol and no other registration.
func KeyProofMessage(registrationID string, challenge []byte) []byte {
	return framed("haechi-device-key-proof-v1", []byte(registrationID), challenge)
}

// framed joins a domain string and fields, each with a 4-byte length.
func framed(domain string, fields ...[]byte) []byte {
	var b bytes.Buffer
	for _, f := range append([][]byte{[]byte(domain)}, fields...) {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		b.Write(f)
	}
	return b.Bytes()
}

// MaxKeySize bounds a DER or JWK public key.
const MaxKeySize = 1 << 10

// MaxSignatureSize bounds an ASN.1 P-256 signature (at most 72 bytes).
const MaxSignatureSize = 72

// ParsePublicKey parses a PKIX DER public key and accepts only P-256 ECDSA
// keys (x509 already refuses points off the curve).
func ParsePublicKey(der []byte) (*ecdsa.PublicKey, error) {
	if len(der) == 0 || len(der) > MaxKeySize {
		return nil, ErrKeyInvalid
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, ErrKeyInvalid.WithCause(err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, ErrKeyInvalid.WithCause(fmt.Errorf("public key is %T, not P-256", k))
	}
	return pub, nil
}

// jwk is the only JWK form accepted: an EC P-256 public key. "d" is listed
// so that a private key sent by mistake is refused rather than ignored.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// ParseJWK turns a strict JSON Web Key (RFC 7517/7518: kty EC, crv P-256,
// 32-byte unpadded base64url x and y, optional kid/use/alg) into PKIX DER.
func ParseJWK(b []byte) ([]byte, error) {
	if len(b) > MaxKeySize {
		return nil, ErrKeyInvalid
	}
	var k jwk
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		return nil, ErrKeyInvalid.WithCause(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrKeyInvalid.WithCause(fmt.Errorf("trailing data after the JWK"))
	}
	return k.spki()
}

func (k jwk) spki() ([]byte, error) {
	if k.Kty != "EC" || k.Crv != "P-256" || k.D != "" || (k.Alg != "" && k.Alg != "ES256") || (k.Use != "" && k.Use != "sig") {
		return nil, ErrKeyInvalid.WithCause(fmt.Errorf("JWK is not a P-256 signing public key"))
	}
	x, errX := coordinate(k.X)
	y, errY := coordinate(k.Y)
	if errX != nil || errY != nil {
		return nil, ErrKeyInvalid.WithCause(fmt.Errorf("JWK coordinates: %v %v", errX, errY))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, ErrKeyInvalid.WithCause(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, ErrKeyInvalid.WithCause(err)
	}
	return der, nil
}

// coordinate decodes one 32-byte coordinate; RFC 7518 fixes the length.
func coordinate(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("coordinate is %d bytes, want 32", len(b))
	}
	return b, nil
}

// RequestMessage is what a device signs for a device-signed request: a fixed
// domain string, the method, the path (with its query), the SHA-256 of the
// body, the server's nonce and the Unix time in seconds, each
// length-prefixed. The middleware checks the nonce (single use) and the
// time (±60 s); VerifyRequest checks the signature.
func RequestMessage(method, path string, bodySHA256 []byte, nonce string, unix int64) []byte {
	return framed("haechi-device-request-v1", []byte(method), []byte(path), bodySHA256,
		[]byte(nonce), binary.BigEndian.AppendUint64(nil, uint64(unix)))
}

// VerifyRequest checks a device's ASN.1 ECDSA signature over SHA-256 of
// RequestMessage. It is pure: freshness and nonce reuse are the caller's.
func VerifyRequest(pub *ecdsa.PublicKey, method, path string, bodySHA256 []byte, nonce string, unix int64, sig []byte) error {
	if pub == nil || len(bodySHA256) != sha256.Size || nonce == "" || len(sig) > MaxSignatureSize {
		return ErrSignatureInvalid
	}
	digest := sha256.Sum256(RequestMessage(method, path, bodySHA256, nonce, unix))
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return ErrSignatureInvalid
	}
	return nil
}
