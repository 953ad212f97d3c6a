package oauth

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/audit"
)

// StoredKey is a JWT signing key as stored: the PKCS#8 private key sealed with
// the data keyring (AAD bound to the key id).
type StoredKey struct {
	ID        string
	Sealed    []byte
	CreatedAt time.Time
	RetiredAt *time.Time // no longer signs; still published until tokens expire
}

// KeyStore keeps signing keys. AddSigningKey retires every other active key in
// the same transaction, so exactly one key signs at a time.
type KeyStore interface {
	SigningKeys(ctx context.Context) ([]StoredKey, error)
	AddSigningKey(ctx context.Context, k StoredKey, e audit.Entry) error
}
