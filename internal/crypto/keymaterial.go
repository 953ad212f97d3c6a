package crypto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// keySize is the size of every root secret: AES-256 keys, HMAC-SHA256 keys
// and the Ed25519 seed.
const keySize = 32

// KeyMaterial is the root secrets: versioned master keys (KEKs), the blind
// index key, the pepper and the audit signing seed.
type KeyMaterial struct {
	MasterKeys   map[int][]byte // version -> 32-byte AES-256 key
	ActiveMaster int
	BlindKey     []byte // 32 bytes
	Pepper       []byte // 32 bytes
	AuditSeed    []byte // 32-byte Ed25519 seed
}

// NewKeyMaterial returns fresh random secrets with master key version 1.
func NewKeyMaterial() *KeyMaterial {
	return &KeyMaterial{
		MasterKeys:   map[int][]byte{1: randomBytes(keySize)},
		ActiveMaster: 1,
		BlindKey:     randomBytes(keySize),
		Pepper:       randomBytes(keySize),
		AuditSeed:    randomBytes(keySize),
	}
}

// Validate checks every secret's size, that the active master version exists
// and that no secret is reused for two purposes. Messages name the secret,
// never its value.
func (km *KeyMaterial) Validate() error {
	if len(km.MasterKeys) == 0 {
		return errors.New("crypto: key material has no master key")
	}
	for _, v := range km.versions() {
		if v < 1 {
			return fmt.Errorf("crypto: master key version %d: versions start at 1", v)
		}
		if err := checkSize(fmt.Sprintf("master key version %d", v), km.MasterKeys[v]); err != nil {
			return err
		}
	}
	if _, ok := km.MasterKeys[km.ActiveMaster]; !ok {
		return fmt.Errorf("crypto: active master key version %d is not in the key material", km.ActiveMaster)
	}
	err := errors.Join(checkSize("blind index key", km.BlindKey), checkSize("pepper", km.Pepper),
		checkSize("audit signing seed", km.AuditSeed))
	if err != nil {
		return err
	}
	return km.checkDistinct()
}

func checkSize(name string, key []byte) error {
	if len(key) != keySize {
		return fmt.Errorf("crypto: %s is %d bytes, want %d", name, len(key), keySize)
	}
	return nil
}

// checkDistinct refuses one value used as two secrets (a copy-paste slip in a
// secret store): a blind index key equal to a master key, say, would tie two
// independent protections to one secret.
func (km *KeyMaterial) checkDistinct() error {
	all := [][]byte{km.BlindKey, km.Pepper, km.AuditSeed}
	for _, v := range km.versions() {
		all = append(all, km.MasterKeys[v])
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if bytes.Equal(all[i], all[j]) {
				return errors.New("crypto: key material reuses one value for two secrets; every key must be generated separately")
			}
		}
	}
	return nil
}

// AuditKey returns the Ed25519 key that signs audit checkpoints.
func (km *KeyMaterial) AuditKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(km.AuditSeed)
}

// versions returns the master key versions in ascending order.
func (km *KeyMaterial) versions() []int {
	return slices.Sorted(maps.Keys(km.MasterKeys))
}

// maxVersion returns the highest master key version, 0 when there is none.
func (km *KeyMaterial) maxVersion() int {
	vs := km.versions()
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)-1]
}

// The environment variables that carry key material when it is managed by a
// secret store instead of the key file.
const (
	envMasterKeys = "HAECHI_MASTER_KEYS"
	envBlindKey   = "HAECHI_BLIND_INDEX_KEY"
	envPepper     = "HAECHI_PEPPER"
	envAuditSeed  = "HAECHI_AUDIT_SIGNING_KEY"
)

var envNames = []string{envMasterKeys, envBlindKey, envPepper, envAuditSeed}

// KeyMaterialFromEnv reads key material from HAECHI_MASTER_KEYS
// ("1:base64,2:base64", the highest version active), HAECHI_BLIND_INDEX_KEY,
// HAECHI_PEPPER and HAECHI_AUDIT_SIGNING_KEY (standard base64 of 32 bytes).
// ok is false when none is set. Setting only some is an error: falling back
// to the key file then would silently run with other keys. Errors name the
// variable and never echo its value.
func KeyMaterialFromEnv(getenv func(string) string) (km *KeyMaterial, ok bool, err error) {
	vals := make(map[string]string, len(envNames))
	var missing []string
	for _, name := range envNames {
		if vals[name] = strings.TrimSpace(getenv(name)); vals[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) == len(envNames) {
		return nil, false, nil
	}
	if len(missing) > 0 {
		return nil, false, fmt.Errorf("crypto: key material in the environment is incomplete: %s not set (set all four or none)", strings.Join(missing, ", "))
	}
	km = &KeyMaterial{}
	var errMaster, errBlind, errPepper, errSeed error
	km.MasterKeys, km.ActiveMaster, errMaster = parseMasterKeys(vals[envMasterKeys])
	km.BlindKey, errBlind = decodeEnvKey(envBlindKey, vals[envBlindKey])
	km.Pepper, errPepper = decodeEnvKey(envPepper, vals[envPepper])
	km.AuditSeed, errSeed = decodeEnvKey(envAuditSeed, vals[envAuditSeed])
	if err := errors.Join(errMaster, errBlind, errPepper, errSeed); err != nil {
		return nil, false, err
	}
	if err := km.Validate(); err != nil {
		return nil, false, fmt.Errorf("key material from the environment: %w", err)
	}
	return km, true, nil
}

// decodeEnvKey decodes a 32-byte standard base64 secret. Decoder errors are
// not wrapped: the message must not carry any part of the value.
func decodeEnvKey(name, s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != keySize {
		return nil, fmt.Errorf("crypto: %s must be %d bytes in standard base64 (openssl rand -base64 32)", name, keySize)
	}
	return b, nil
}

// parseMasterKeys parses "version:base64[,version:base64...]"; the highest
// version is active, so adding a version is how operators rotate.
func parseMasterKeys(s string) (map[int][]byte, int, error) {
	keys := make(map[int][]byte)
	active := 0
	for i, entry := range strings.Split(s, ",") {
		v, key, err := parseMasterEntry(strings.TrimSpace(entry))
		if err != nil {
			return nil, 0, fmt.Errorf("crypto: %s entry %d: %w", envMasterKeys, i+1, err)
		}
		if _, dup := keys[v]; dup {
			return nil, 0, fmt.Errorf("crypto: %s: version %d appears twice", envMasterKeys, v)
		}
		keys[v] = key
		active = max(active, v)
	}
	return keys, active, nil
}

func parseMasterEntry(entry string) (int, []byte, error) {
	vs, ks, found := strings.Cut(entry, ":")
	v, err := strconv.Atoi(vs)
	if !found || err != nil || v < 1 || vs != strconv.Itoa(v) {
		return 0, nil, errors.New("want version:base64 with a version of 1 or more")
	}
	key, err := base64.StdEncoding.Strict().DecodeString(ks)
	if err != nil || len(key) != keySize {
		return 0, nil, fmt.Errorf("version %d: key must be %d bytes in standard base64", v, keySize)
	}
	return v, key, nil
}
