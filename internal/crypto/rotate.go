package crypto

import (
	"context"
	"fmt"
	"time"
)

// Rotate adds a new master key version to km (the caller saves the key file),
// re-wraps every stored data key under it in one transaction and adds a fresh
// data key for new writes. It returns the new version.
//
// Older master versions stay in km: the key file keeps them until an operator
// has checked the rotation and removes them by hand. Removing them is safe
// once Rotate has returned without error, because every data key is then
// wrapped under the new version and no master key encrypts data directly.
//
// On error km is left as it was, unless the store already holds a data key
// wrapped under the new version: then the error says so, the new version is
// returned, and km must be saved all the same. Saving km between AddMasterKey
// and Rewrap, as two steps, closes even that window (and a crash in it).
func Rotate(ctx context.Context, km *KeyMaterial, store DataKeyStore, now func() time.Time) (int, error) {
	if err := km.Validate(); err != nil {
		return 0, err
	}
	prevActive := km.ActiveMaster
	v, err := AddMasterKey(km)
	if err != nil {
		return 0, err
	}
	stored, err := rewrap(ctx, km, store, now)
	if err != nil && !stored {
		delete(km.MasterKeys, v)
		km.ActiveMaster = prevActive
		return 0, err
	}
	if err != nil {
		return v, fmt.Errorf("crypto: master key version %d is already needed by a stored data key; save the key material, then rotate again: %w", v, err)
	}
	return v, nil
}

// AddMasterKey adds master key version max+1 with fresh random bytes to km and
// makes it active. It touches no storage, so the key file can be saved with
// the new version before any data key depends on it; Rewrap then finishes the
// rotation. It returns the new version.
func AddMasterKey(km *KeyMaterial) (int, error) {
	if err := km.Validate(); err != nil {
		return 0, err
	}
	v := km.maxVersion() + 1
	km.MasterKeys[v] = randomBytes(keySize)
	km.ActiveMaster = v
	return v, nil
}

// Rewrap re-wraps every stored data key under km's active master version in
// one transaction and adds a fresh data key under it for new writes. Running
// it again is harmless.
func Rewrap(ctx context.Context, km *KeyMaterial, store DataKeyStore, now func() time.Time) error {
	if err := km.Validate(); err != nil {
		return err
	}
	_, err := rewrap(ctx, km, store, now)
	return err
}

// rewrap checks that every data key unwraps before changing anything. The
// fresh data key is stored first: if the re-wrap then fails, the old
// wrappings are intact and only an unused key depends on the new version,
// whereas the other order could leave every data key depending on a master
// key the caller never saved. stored reports whether the store changed.
func rewrap(ctx context.Context, km *KeyMaterial, store DataKeyStore, now func() time.Time) (stored bool, err error) {
	keys, err := store.DataKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("crypto: reading data keys: %w", err)
	}
	deks, err := unwrapAll(km.MasterKeys, keys)
	if err != nil {
		return false, err
	}
	v := km.ActiveMaster
	if _, err := addDataKey(ctx, km.MasterKeys, v, store, keys, now); err != nil {
		return false, err
	}
	for i := range keys {
		if keys[i].Wrapped, err = wrapKey(km.MasterKeys, v, keys[i].ID, deks[i]); err != nil {
			return true, err
		}
		keys[i].KEKVersion = v
	}
	if err := store.RewrapDataKeys(ctx, keys); err != nil {
		return true, fmt.Errorf("crypto: re-wrapping data keys under master key version %d: %w", v, err)
	}
	return true, nil
}
