package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// BlindIndex is HMAC-SHA256 under the blind key over purpose and a normalised
// value. It lets an encrypted column be searched by equality without the
// database learning the value; the purpose (e.g. "customer.rrn") keeps equal
// values in different columns from sharing an index. Both are length-prefixed
// so ("ab", "c") and ("a", "bc") differ. The caller normalises the value
// (digits only, case, width) so that equal values index equally.
func (k *Keyring) BlindIndex(purpose string, value []byte) []byte {
	m := hmac.New(sha256.New, k.blindKey)
	writePrefixed(m, []byte(purpose))
	writePrefixed(m, value)
	return m.Sum(nil)
}

// writePrefixed writes len(b) as 8 bytes, then b.
func writePrefixed(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
