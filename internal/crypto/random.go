package crypto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
)

// lowerBase32 is RFC 4648 base32 in lower case without padding: letters a-z
// and digits 2-7, so identifiers survive URLs, case-folding logs and the
// hk_<id>_<secret> API key layout.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomBytes reads n bytes from crypto/rand. Since Go 1.24 rand.Read never
// returns an error (the runtime aborts instead), so the panic is unreachable
// and only guards against a future change.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto: reading crypto/rand: " + err.Error())
	}
	return b
}

// NewID returns prefix + 26 lowercase base32 characters encoding 16 random
// bytes (128 bits) from crypto/rand.
func NewID(prefix string) string {
	return prefix + lowerBase32.EncodeToString(randomBytes(16))
}

// Token returns n random bytes as unpadded base64url.
func Token(n int) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))
}

// RandomBase32 returns n random bytes as lowercase unpadded base32 (letters
// and digits only, safe inside hk_<id>_<secret>).
func RandomBase32(n int) string {
	return lowerBase32.EncodeToString(randomBytes(n))
}

// Equal compares in constant time. Only the length may leak, which for
// stored MACs and hashes is public anyway.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// MAC is HMAC-SHA256(key, msg): the stored form of random secrets (API keys,
// session tokens), where a slow hash adds nothing.
func MAC(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}
