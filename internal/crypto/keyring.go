package crypto

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// ErrOpen is wrapped by every error Open returns for bad input: an unknown
// format, a truncated value, an unknown data key, or a value that was
// tampered with or belongs to another record.
var ErrOpen = errors.New("crypto: sealed value does not open")

// sealFormat is the first byte of every sealed value, so that a later layout
// or algorithm can be introduced while old rows stay readable.
const sealFormat byte = 1

// minSealedBody is the GCM nonce and tag that follow the header.
const minSealedBody = 12 + 16

// Data keys unknown to this keyring (made by another node, say) are looked up
// in the store at most once per refreshEvery, so sealed values naming made-up
// keys cannot turn into a flood of database reads.
const (
	refreshEvery   = time.Second
	refreshTimeout = 5 * time.Second
)

// AAD binds a ciphertext to the record it belongs to: moved to another table,
// column or row, it no longer decrypts.
type AAD struct {
	Table, Column, RowID string
}

// validate refuses an incomplete binding: a forgotten RowID would let a value
// be copied between rows unnoticed.
func (a AAD) validate() error {
	if a.Table == "" || a.Column == "" || a.RowID == "" {
		return errors.New("crypto: AAD needs a table, a column and a row id")
	}
	return nil
}

// encode returns the sealed header followed by each field with a 4-byte
// length prefix, so ("a|b", "c") and ("a", "b|c") never encode alike. The
// header is authenticated too, so its format byte and key id cannot be
// swapped.
func (a AAD) encode(header []byte) []byte {
	b := make([]byte, 0, len(header)+12+len(a.Table)+len(a.Column)+len(a.RowID))
	b = append(b, header...)
	for _, s := range [...]string{a.Table, a.Column, a.RowID} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// Keyring seals and opens PII fields with data keys wrapped by the master key.
// It is safe for concurrent use.
//
// A sealed value is: the format byte (1), the data key id length (1 byte) and
// id, a random 12-byte nonce, then the AES-256-GCM ciphertext and tag. The
// AAD is the header followed by the length-prefixed table, column and row id.
type Keyring struct {
	masters  map[int][]byte // copied: the caller's KeyMaterial may change later
	blindKey []byte
	activeID string
	active   cipher.AEAD
	store    DataKeyStore
	now      func() time.Time

	mu   sync.RWMutex
	keys map[string]cipher.AEAD // data key id -> AEAD

	refreshMu   sync.Mutex
	lastRefresh time.Time
}

// LoadKeyring unwraps every stored data key; it fails (naming the key id) when
// the master keys cannot unwrap them. When no data key is wrapped under the
// active master version yet, it creates one and stores it.
func LoadKeyring(ctx context.Context, km *KeyMaterial, store DataKeyStore, now func() time.Time) (*Keyring, error) {
	if err := km.Validate(); err != nil {
		return nil, err
	}
	k := &Keyring{masters: cloneMasters(km.MasterKeys), blindKey: slices.Clone(km.BlindKey),
		store: store, now: now, keys: make(map[string]cipher.AEAD)}
	stored, err := store.DataKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("crypto: reading data keys: %w", err)
	}
	for _, wk := range stored {
		if _, err := k.addKey(wk); err != nil {
			return nil, err
		}
	}
	if err := k.pickActive(ctx, km.ActiveMaster, stored); err != nil {
		return nil, err
	}
	return k, nil
}

func cloneMasters(m map[int][]byte) map[int][]byte {
	c := maps.Clone(m)
	for v, key := range c {
		c[v] = slices.Clone(key)
	}
	return c
}

// pickActive makes the newest data key under the active master version the
// one Seal uses, creating it when there is none.
func (k *Keyring) pickActive(ctx context.Context, version int, stored []WrappedKey) error {
	if i := newest(stored, version); i >= 0 {
		k.activeID, k.active = stored[i].ID, k.keys[stored[i].ID]
		return nil
	}
	wk, err := addDataKey(ctx, k.masters, version, k.store, stored, k.now)
	if err != nil {
		return err
	}
	k.active, err = k.addKey(wk)
	k.activeID = wk.ID
	return err
}

// addKey unwraps wk and makes it available to Open.
func (k *Keyring) addKey(wk WrappedKey) (cipher.AEAD, error) {
	dek, err := unwrapKey(k.masters, wk)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.keys[wk.ID] = aead
	k.mu.Unlock()
	return aead, nil
}

// ActiveKeyID is the id of the data key new Seals use.
func (k *Keyring) ActiveKeyID() string { return k.activeID }

// Seal encrypts plaintext with the active data key, bound to aad.
func (k *Keyring) Seal(plaintext []byte, aad AAD) ([]byte, error) {
	if err := aad.validate(); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2+len(k.activeID)+minSealedBody+len(plaintext))
	out = append(out, sealFormat, byte(len(k.activeID)))
	out = append(out, k.activeID...)
	ad := aad.encode(out) // out holds just the header here
	return k.active.Seal(out, nil, plaintext, ad), nil
}

// Open decrypts a Seal output; any mismatch of key, aad or bytes fails.
func (k *Keyring) Open(sealed []byte, aad AAD) ([]byte, error) {
	if err := aad.validate(); err != nil {
		return nil, err
	}
	header, id, body, err := parseSealed(sealed)
	if err != nil {
		return nil, err
	}
	aead, err := k.lookup(id)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nil, body, aad.encode(header))
	if err != nil {
		return nil, fmt.Errorf("%w: data key %s: altered, or sealed for another record", ErrOpen, id)
	}
	return plain, nil
}

// parseSealed splits a sealed value into its header, key id and the nonce,
// ciphertext and tag, checking every length before slicing.
func parseSealed(sealed []byte) (header []byte, id string, body []byte, err error) {
	if len(sealed) < 2 {
		return nil, "", nil, fmt.Errorf("%w: too short", ErrOpen)
	}
	if sealed[0] != sealFormat {
		return nil, "", nil, fmt.Errorf("%w: unknown format %d", ErrOpen, sealed[0])
	}
	n := int(sealed[1])
	if n == 0 || len(sealed) < 2+n+minSealedBody {
		return nil, "", nil, fmt.Errorf("%w: truncated", ErrOpen)
	}
	return sealed[:2+n], string(sealed[2 : 2+n]), sealed[2+n:], nil
}

// lookup finds a data key, reloading the store when the key is unknown: two
// nodes starting on an empty database each create a data key, and each must
// still open what the other sealed.
func (k *Keyring) lookup(id string) (cipher.AEAD, error) {
	if aead, ok := k.cached(id); ok {
		return aead, nil
	}
	return k.refresh(id)
}

func (k *Keyring) cached(id string) (cipher.AEAD, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	aead, ok := k.keys[id]
	return aead, ok
}

func (k *Keyring) refresh(id string) (cipher.AEAD, error) {
	k.refreshMu.Lock()
	defer k.refreshMu.Unlock()
	if aead, ok := k.cached(id); ok {
		return aead, nil // loaded while this caller waited
	}
	unknown := fmt.Errorf("%w: unknown data key %q", ErrOpen, id)
	now := k.now()
	if d := now.Sub(k.lastRefresh); d >= 0 && d < refreshEvery {
		return nil, unknown
	}
	k.lastRefresh = now
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	stored, err := k.store.DataKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("crypto: reloading data keys: %w", err)
	}
	for _, wk := range stored {
		if wk.ID == id {
			return k.addKey(wk)
		}
	}
	return nil, unknown
}
