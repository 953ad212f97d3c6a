package session

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
)

// BenchmarkVerifyProof is the whole pure check of one proof: strict
// parsing of header, key and claims, the ES256 signature through jwx, the
// thumbprint. Compare with BenchmarkECDSAVerifyBare, the signature alone.
func BenchmarkVerifyProof(b *testing.B) {
	k := newDeviceKey(b, elliptic.P256())
	proof := k.proof(b, claimsFor(testNow, ATH(testToken)))
	ath := ATH(testToken)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyProof(proof, testMethod, testURL, ath, testNow, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkECDSAVerifyBare verifies the same proof's P-256 signature with
// crypto/ecdsa and nothing else: the floor VerifyProof cannot go below.
func BenchmarkECDSAVerifyBare(b *testing.B) {
	k := newDeviceKey(b, elliptic.P256())
	proof := k.proof(b, claimsFor(testNow, ATH(testToken)))
	i := strings.LastIndexByte(proof, '.')
	sig, err := base64.RawURLEncoding.DecodeString(proof[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte(proof[:i]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	pub := &k.priv.PublicKey
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.Verify(pub, digest[:], r, s) {
			b.Fatal("signature did not verify")
		}
	}
}
