package crypto

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrMasterKeyMismatch is wrapped by the error LoadKeyring returns when a
// master key does not unwrap a stored data key: the key material is not the
// one the database was written with.
var ErrMasterKeyMismatch = errors.New("the master key does not match (is this the key material the database was created with?)")

// maxKeyIDLen is what a sealed value's one-byte id length can carry.
const maxKeyIDLen = 255

// newAEAD returns AES-256-GCM that draws a random 96-bit nonce per Seal and
// prepends it. Random nonces are safe for 2^32 messages per key; data keys are
// replaced at every rotation and each holds far fewer fields than that.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("crypto: %w", err)
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// wrapAAD binds a wrapped data key to its id and master version, so a wrapped
// blob copied onto another data key row, or relabelled with another version,
// does not unwrap. The version is the last field and all digits, so the
// encoding is unambiguous whatever the id holds.
func wrapAAD(id string, version int) []byte {
	return []byte("haechi-dek|" + id + "|" + strconv.Itoa(version))
}

// wrapKey encrypts a data key under master key version v of masters.
func wrapKey(masters map[int][]byte, v int, id string, dek []byte) ([]byte, error) {
	kek, ok := masters[v]
	if !ok {
		return nil, fmt.Errorf("crypto: master key version %d is not in the key material", v)
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, nil, dek, wrapAAD(id, v)), nil
}

// unwrapKey returns the plain data key; errors name the key id so an operator
// knows which key and which master version is at fault.
func unwrapKey(masters map[int][]byte, wk WrappedKey) ([]byte, error) {
	if len(wk.ID) == 0 || len(wk.ID) > maxKeyIDLen {
		return nil, fmt.Errorf("crypto: data key id %.40q has %d bytes, want 1 to %d", wk.ID, len(wk.ID), maxKeyIDLen)
	}
	kek, ok := masters[wk.KEKVersion]
	if !ok {
		return nil, fmt.Errorf("crypto: data key %s is wrapped under master key version %d, which the key material lacks (was the key file saved after the last rotation?)", wk.ID, wk.KEKVersion)
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	dek, err := aead.Open(nil, nil, wk.Wrapped, wrapAAD(wk.ID, wk.KEKVersion))
	if err != nil {
		return nil, fmt.Errorf("crypto: data key %s does not unwrap with master key version %d: %w", wk.ID, wk.KEKVersion, ErrMasterKeyMismatch)
	}
	if len(dek) != keySize {
		return nil, fmt.Errorf("crypto: data key %s is %d bytes, want %d", wk.ID, len(dek), keySize)
	}
	return dek, nil
}

// unwrapAll unwraps every stored key, failing on the first that does not.
func unwrapAll(masters map[int][]byte, stored []WrappedKey) ([][]byte, error) {
	deks := make([][]byte, len(stored))
	for i, wk := range stored {
		dek, err := unwrapKey(masters, wk)
		if err != nil {
			return nil, err
		}
		deks[i] = dek
	}
	return deks, nil
}

// addDataKey makes a fresh data key under master version v and stores it. Its
// creation time is later than every stored key's, even on a coarse or stopped
// clock, because "newest under the active version" picks the key for Seal.
func addDataKey(ctx context.Context, masters map[int][]byte, v int, store DataKeyStore, stored []WrappedKey, now func() time.Time) (WrappedKey, error) {
	id := NewID("dek_")
	dek := randomBytes(keySize)
	wrapped, err := wrapKey(masters, v, id, dek)
	if err != nil {
		return WrappedKey{}, err
	}
	wk := WrappedKey{ID: id, KEKVersion: v, Wrapped: wrapped, CreatedAt: laterThanAll(now(), stored)}
	if err := store.AddDataKey(ctx, wk); err != nil {
		return WrappedKey{}, fmt.Errorf("crypto: storing data key %s: %w", id, err)
	}
	return wk, nil
}

func laterThanAll(t time.Time, stored []WrappedKey) time.Time {
	for _, wk := range stored {
		if !t.After(wk.CreatedAt) {
			t = wk.CreatedAt.Add(time.Millisecond)
		}
	}
	return t
}

// newest returns the index of the newest key wrapped under version v, or -1.
// Ties on time break by id so that every node picks the same key.
func newest(stored []WrappedKey, v int) int {
	best := -1
	for i, wk := range stored {
		if wk.KEKVersion != v {
			continue
		}
		if best < 0 || newer(wk, stored[best]) {
			best = i
		}
	}
	return best
}

func newer(a, b WrappedKey) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}
