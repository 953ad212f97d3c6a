package crypto

import (
	"context"
	"time"
)

// WrappedKey is a data-encryption key (DEK) as stored: encrypted under the
// master key version KEKVersion. Plain DEKs never touch storage.
type WrappedKey struct {
	ID         string
	KEKVersion int
	Wrapped    []byte
	CreatedAt  time.Time
}

// DataKeyStore keeps wrapped data keys. RewrapDataKeys replaces the wrapped
// form of every given key in one transaction, so a rotation that fails half way
// leaves the old wrapping in place.
type DataKeyStore interface {
	DataKeys(ctx context.Context) ([]WrappedKey, error)
	AddDataKey(ctx context.Context, k WrappedKey) error
	RewrapDataKeys(ctx context.Context, keys []WrappedKey) error
}
