package crypto

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrHashFormat is wrapped by Verify's error for a stored hash that is not an
// Argon2id PHC string within haechi's bounds.
var ErrHashFormat = errors.New("crypto: malformed argon2id hash")

// maxPHCLen bounds the stored string; a 64-byte salt and key fit well inside.
const maxPHCLen = 256

var phcB64 = base64.RawStdEncoding.Strict()

// phc is a parsed $argon2id$v=19$m=..,t=..,p=..$salt$hash string.
type phc struct {
	params    HashParams
	salt, key []byte
}

func (p phc) String() string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.params.MemKiB, p.params.Time,
		p.params.Threads, phcB64.EncodeToString(p.salt), phcB64.EncodeToString(p.key))
}

// parsePHC accepts only the canonical form phc.String writes: fixed field
// order, no leading zeros, unpadded base64 with zero trailing bits, and
// parameters within HashParams.Validate. Anything else is an error, so a
// corrupted or planted row cannot make Verify misbehave.
func parsePHC(s string) (phc, error) {
	if len(s) > maxPHCLen {
		return phc{}, fmt.Errorf("%w: longer than %d bytes", ErrHashFormat, maxPHCLen)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return phc{}, fmt.Errorf("%w: want the form $argon2id$v=19$<params>$<salt>$<hash>", ErrHashFormat)
	}
	params, err := parsePHCParams(parts[3])
	if err != nil {
		return phc{}, err
	}
	salt, err := decodePHCField("salt", parts[4], 8)
	if err != nil {
		return phc{}, err
	}
	key, err := decodePHCField("hash", parts[5], 16)
	if err != nil {
		return phc{}, err
	}
	return phc{params: params, salt: salt, key: key}, nil
}

func parsePHCParams(s string) (HashParams, error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return HashParams{}, fmt.Errorf("%w: want m=<KiB>,t=<passes>,p=<lanes>", ErrHashFormat)
	}
	m, errM := phcNumber(fields[0], "m=")
	t, errT := phcNumber(fields[1], "t=")
	p, errP := phcNumber(fields[2], "p=")
	if errM != nil || errT != nil || errP != nil || p > maxHashThreads {
		return HashParams{}, fmt.Errorf("%w: want m=..,t=..,p=.. in decimal", ErrHashFormat)
	}
	params := HashParams{Time: t, MemKiB: m, Threads: uint8(p)}
	if err := params.Validate(); err != nil {
		return HashParams{}, fmt.Errorf("%w: %w", ErrHashFormat, err)
	}
	return params, nil
}

// phcNumber parses prefix followed by a canonical decimal uint32.
func phcNumber(field, prefix string) (uint32, error) {
	digits, ok := strings.CutPrefix(field, prefix)
	if !ok || digits == "" || (digits[0] == '0' && len(digits) > 1) {
		return 0, ErrHashFormat
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, ErrHashFormat
		}
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, ErrHashFormat
	}
	return uint32(n), nil
}

func decodePHCField(name, s string, minLen int) ([]byte, error) {
	b, err := phcB64.DecodeString(s)
	// The decoder skips \r and \n even in strict mode; re-encoding catches them.
	if err != nil || len(b) < minLen || len(b) > 64 || phcB64.EncodeToString(b) != s {
		return nil, fmt.Errorf("%w: %s must be %d to 64 bytes of unpadded base64", ErrHashFormat, name, minLen)
	}
	return b, nil
}
