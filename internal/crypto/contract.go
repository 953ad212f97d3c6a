// Package crypto holds every cryptographic primitive haechi uses: envelope
// encryption of PII fields, blind indexes, Argon2id for secrets people type,
// random identifiers and constant-time comparison.
//
// CONTRACT STUB: signatures here are fixed; bodies are being implemented.
package crypto

import (
	"context"
	"errors"
	"time"
)

// AAD binds a ciphertext to the record it belongs to: moved to another table,
// column or row, it no longer decrypts.
type AAD struct {
	Table, Column, RowID string
}

// KeyMaterial is the root secrets: versioned master keys (KEKs), the blind
// index key, the pepper and the audit signing seed.
type KeyMaterial struct {
	MasterKeys   map[int][]byte // version -> 32-byte AES-256 key
	ActiveMaster int
	BlindKey     []byte // 32 bytes
	Pepper       []byte // 32 bytes
	AuditSeed    []byte // 32-byte Ed25519 seed
}

// Keyring seals and opens PII fields with data keys wrapped by the master key.
type Keyring struct{}

var errStub = errors.New("crypto: not implemented")

// LoadKeyring unwraps every stored data key; it fails (naming the key id) when
// the master keys cannot unwrap them. When no data key is wrapped under the
// active master version yet, it creates one and stores it.
func LoadKeyring(ctx context.Context, km *KeyMaterial, store DataKeyStore, now func() time.Time) (*Keyring, error) {
	return nil, errStub
}

// Seal encrypts plaintext with the active data key, bound to aad.
func (k *Keyring) Seal(plaintext []byte, aad AAD) ([]byte, error) { return nil, errStub }

// Open decrypts a Seal output; any mismatch of key, aad or bytes fails.
func (k *Keyring) Open(sealed []byte, aad AAD) ([]byte, error) { return nil, errStub }

// BlindIndex is HMAC-SHA256 under the blind key over purpose and a normalised value.
func (k *Keyring) BlindIndex(purpose string, value []byte) []byte { return nil }

// Rotate adds a new master key version to km (the caller saves the key file),
// re-wraps every stored data key under it in one transaction and adds a fresh
// data key for new writes. It returns the new version.
func Rotate(ctx context.Context, km *KeyMaterial, store DataKeyStore, now func() time.Time) (int, error) {
	return 0, errStub
}

// Hasher is Argon2id with pepper behind a bounded pool.
type Hasher struct{}

// HashParams are Argon2id's cost settings.
type HashParams struct {
	Time    uint32
	MemKiB  uint32
	Threads uint8
}

// ErrBusy is returned when the hash pool's queue is full.
var ErrBusy = errors.New("crypto: hash pool busy")

// NewHasher makes a pool running at most workers hashes at once and letting
// at most queue callers wait; more get ErrBusy at once.
func NewHasher(pepper []byte, p HashParams, workers, queue int) *Hasher { return &Hasher{} }

// Hash returns a PHC-format string ($argon2id$v=19$m=..,t=..,p=..$salt$hash).
func (h *Hasher) Hash(ctx context.Context, secret []byte) (string, error) { return "", errStub }

// Verify reports whether secret matches encoded, in constant time.
func (h *Hasher) Verify(ctx context.Context, encoded string, secret []byte) (bool, error) {
	return false, errStub
}

// DummyVerify costs what a Verify costs; used when the account is unknown so
// that timing does not tell.
func (h *Hasher) DummyVerify(ctx context.Context, secret []byte) error { return errStub }

// MAC is HMAC-SHA256(key, msg): the stored form of random secrets (API keys,
// session tokens), where a slow hash adds nothing.
func MAC(key, msg []byte) []byte { return nil }

// Equal compares in constant time.
func Equal(a, b []byte) bool { return false }

// NewID returns prefix + 26 random base32 characters (130 bits) from crypto/rand.
func NewID(prefix string) string { return "" }

// Token returns n random bytes as unpadded base64url.
func Token(n int) string { return "" }

// LoadOrCreateKeyFile reads the JSON key file at path or, when absent,
// creates it with fresh keys and mode 0600. created reports which.
func LoadOrCreateKeyFile(path string) (km *KeyMaterial, created bool, err error) {
	return nil, false, errStub
}

// SaveKeyFile writes km atomically with mode 0600.
func SaveKeyFile(path string, km *KeyMaterial) error { return errStub }

// RandomBase32 returns n random bytes as lowercase unpadded base32 (letters
// and digits only, safe inside hk_<id>_<secret>).
func RandomBase32(n int) string { return "" }
