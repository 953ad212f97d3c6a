package crypto

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzParsePHC: the parser never panics, and whatever it accepts is in
// bounds and in the one canonical form Hash writes.
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=47104,t=1,p=1$aGFlY2hpLWR1bW15LXNsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=4294967296,t=1,p=1$c2FsdA$aGFzaA")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("$argon2id$v=19$m=,t=,p=$x$y")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePHC(s)
		if err != nil {
			return
		}
		if err := p.params.Validate(); err != nil {
			t.Fatalf("accepted out-of-bounds parameters: %v", err)
		}
		if len(p.salt) < 8 || len(p.key) < 16 {
			t.Fatalf("accepted salt %d bytes, hash %d bytes", len(p.salt), len(p.key))
		}
		if p.String() != s {
			t.Fatalf("accepted non-canonical %q (canonical %q)", s, p.String())
		}
	})
}

// FuzzDecodeKeyFile: the key file decoder never panics and accepts only
// valid key material.
func FuzzDecodeKeyFile(f *testing.F) {
	valid, err := encodeKeyFile(NewKeyMaterial())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`{"format":1,"master_keys":{"x":"AAAA"}}`))
	f.Add([]byte(`{"format":1,"master_keys":{"-1":null},"active_master":-1}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		km, err := decodeKeyFile(data)
		if err != nil {
			return
		}
		if err := km.Validate(); err != nil {
			t.Fatalf("accepted invalid key material: %v", err)
		}
	})
}

// FuzzParseMasterKeys: HAECHI_MASTER_KEYS parsing never panics, accepted
// keys are 32 bytes under positive versions, and errors never echo the input.
func FuzzParseMasterKeys(f *testing.F) {
	k1 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	f.Add("1:" + k1)
	f.Add("1:" + k1 + ",2:" + k1)
	f.Add("1:" + k1 + ",1:" + k1)
	f.Add("0:" + k1)
	f.Add(":")
	f.Add(",,,")
	f.Add("99999999999999999999:" + k1)
	f.Fuzz(func(t *testing.T, s string) {
		keys, active, err := parseMasterKeys(s)
		if err != nil {
			for _, entry := range strings.Split(s, ",") {
				_, key, _ := strings.Cut(entry, ":")
				if len(key) >= 8 && strings.Contains(err.Error(), key) {
					t.Fatalf("error echoes a key: %v", err)
				}
			}
			return
		}
		if _, ok := keys[active]; !ok {
			t.Fatalf("active version %d not among the keys", active)
		}
		for v, k := range keys {
			if v < 1 || len(k) != keySize || v > active {
				t.Fatalf("accepted version %d with a %d-byte key (active %d)", v, len(k), active)
			}
		}
	})
}
