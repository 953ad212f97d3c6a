package crypto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// keyFileFormat versions the key file layout so a later layout can be told
// apart instead of misread.
const keyFileFormat = 1

// maxKeyFileSize bounds what LoadOrCreateKeyFile reads; a real file is well
// under 2 KiB even after many rotations.
const maxKeyFileSize = 64 << 10

const keyFileNote = "Secret: mode 0600, never commit or copy it. Master keys older than active_master " +
	"are kept so that a rotation interrupted before its re-wrap committed can still be finished; " +
	"once `haechi keys rotate` has reported success every data key is wrapped under active_master, " +
	"and older versions may be removed."

// keyFile is the JSON layout; []byte fields are standard base64.
type keyFile struct {
	Format       int            `json:"format"`
	Note         string         `json:"note"`
	MasterKeys   map[int][]byte `json:"master_keys"`
	ActiveMaster int            `json:"active_master"`
	BlindKey     []byte         `json:"blind_index_key"`
	Pepper       []byte         `json:"pepper"`
	AuditSeed    []byte         `json:"audit_signing_seed"`
}

// LoadOrCreateKeyFile reads the JSON key file at path or, when absent,
// creates it with fresh keys and mode 0600 (its directory 0700). created
// reports which. Two processes starting together cannot both create it: the
// loser of the race loads the winner's file.
func LoadOrCreateKeyFile(path string) (km *KeyMaterial, created bool, err error) {
	km, err = loadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return km, false, err
	}
	km = NewKeyMaterial()
	err = writeKeyFile(path, km, false)
	if errors.Is(err, fs.ErrExist) {
		km, err = loadKeyFile(path)
		return km, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return km, true, nil
}

// SaveKeyFile writes km atomically with mode 0600: a crash leaves either the
// old file or the new one, never a torn one.
func SaveKeyFile(path string, km *KeyMaterial) error {
	return writeKeyFile(path, km, true)
}

// loadKeyFile refuses a file others could read: the master keys in it open
// every PII field in the database. The mode is checked on the opened file, so
// a swap between check and read cannot slip a different file in.
func loadKeyFile(path string) (*KeyMaterial, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("crypto: opening key file: %w", err)
	}
	defer f.Close()
	if err := checkKeyFileMode(path, f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("crypto: reading key file %s: %w", path, err)
	}
	km, err := decodeKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return km, nil
}

func checkKeyFileMode(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("crypto: key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("crypto: key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("crypto: key file %s has mode %04o, open to group or others; run chmod 600 %s", path, perm, path)
	}
	return nil
}

// decodeKeyFile parses the key file strictly: unknown fields, trailing data
// or an unknown format are errors, never guesses.
func decodeKeyFile(data []byte) (*KeyMaterial, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("crypto: larger than %d bytes", maxKeyFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var kf keyFile
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("crypto: not a valid key file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("crypto: not a valid key file: data after the JSON object")
	}
	if kf.Format != keyFileFormat {
		return nil, fmt.Errorf("crypto: key file format %d is not supported (want %d)", kf.Format, keyFileFormat)
	}
	km := &KeyMaterial{MasterKeys: kf.MasterKeys, ActiveMaster: kf.ActiveMaster,
		BlindKey: kf.BlindKey, Pepper: kf.Pepper, AuditSeed: kf.AuditSeed}
	return km, km.Validate()
}

func encodeKeyFile(km *KeyMaterial) ([]byte, error) {
	if err := km.Validate(); err != nil {
		return nil, err
	}
	kf := keyFile{Format: keyFileFormat, Note: keyFileNote, MasterKeys: km.MasterKeys,
		ActiveMaster: km.ActiveMaster, BlindKey: km.BlindKey, Pepper: km.Pepper, AuditSeed: km.AuditSeed}
	data, err := json.MarshalIndent(kf, "", "  ")
	return append(data, '\n'), err
}

// writeKeyFile writes to a 0600 temporary file in the same directory, syncs
// it and moves it into place: rename when replacing, a hard link when the file
// must not exist yet (link fails with fs.ErrExist instead of clobbering).
func writeKeyFile(path string, km *KeyMaterial, replace bool) error {
	data, err := encodeKeyFile(km)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("crypto: creating key file directory: %w", err)
	}
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("crypto: writing key file: %w", err)
	}
	return syncDir(dir)
}

// writeTemp returns the name of a synced 0600 file holding data.
func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".haechi-keys-*.tmp")
	if err != nil {
		return "", fmt.Errorf("crypto: writing key file: %w", err)
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(0o600), f.Sync(), f.Close())
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("crypto: writing key file: %w", err)
	}
	return f.Name(), nil
}

// syncDir makes the new directory entry durable, so a power cut after a
// rotation cannot bring the old key file back.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("crypto: syncing key file directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("crypto: syncing key file directory: %w", err)
	}
	return nil
}
