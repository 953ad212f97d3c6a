package webhook

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

var fuzzSecret = []byte("whsec_fuzz-secret")

// FuzzParseSignature: any header either parses into a timestamp and at
// least one 32-byte signature, or is refused with one of the package's
// errors; nothing panics and nothing oversized is accepted.
func FuzzParseSignature(f *testing.F) {
	for _, seed := range []string{
		"t=1740821400,v1=" + strings.Repeat("ab", 32),
		"t=1740821400,v1=" + strings.Repeat("ab", 32) + ",v1=" + strings.Repeat("CD", 32),
		"t=1740821400,v2=future,v1=" + strings.Repeat("00", 32),
		"t=1740821400", "v1=" + strings.Repeat("ab", 32), "t=-1,v1=00", "t=1e9,v1=00",
		"t=1,t=2,v1=" + strings.Repeat("ab", 32), ",,,", "t=,v1=", "t=1;v1=2", "t=99999999999999999999,v1=",
		" t=1,v1=" + strings.Repeat("ab", 32), strings.Repeat("v1=x,", 20), "",
	} {
		f.Add(seed)
	}
	known := []error{ErrHeaderTooLarge, ErrHeaderMalformed, ErrNoTimestamp, ErrBadTimestamp, ErrNoSignature, ErrBadSignatureEncoding}
	f.Fuzz(func(t *testing.T, header string) {
		sig, err := parseSignature(header)
		if err != nil {
			for _, k := range known {
				if errors.Is(err, k) {
					return
				}
			}
			t.Fatalf("parse %q: unexpected error %v", header, err)
		}
		if len(header) > maxHeaderLen || len(sig.v1) == 0 || sig.t < 0 {
			t.Fatalf("accepted %q as t=%d with %d signatures", header, sig.t, len(sig.v1))
		}
		for _, v := range sig.v1 {
			if len(v) != sha256.Size {
				t.Fatalf("accepted a %d-byte signature from %q", len(v), header)
			}
		}
	})
}

// FuzzVerify: what Sign makes, Verify accepts at the same time; with any
// change to the body, or any header not made with the secret, it refuses.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"id":"evt_1","status":"passed"}`), int64(1740821400), "", []byte("x"))
	f.Add([]byte{}, int64(0), "t=0,v1="+strings.Repeat("0", 64), []byte{0})
	f.Add([]byte("\x00\xff"), int64(1<<40), "t=1740821400,v1=zz", []byte(""))
	f.Fuzz(func(t *testing.T, body []byte, unix int64, forged string, extra []byte) {
		unix = min(max(unix, 0), 1<<40)
		at := time.Unix(unix, 0)
		secrets := [][]byte{fuzzSecret}
		header := Sign(secrets, at, body)
		if err := Verify(header, body, secrets, at, Tolerance); err != nil {
			t.Fatalf("own signature refused: %v (header %q)", err, header)
		}
		if len(extra) > 0 {
			tampered := append(bytes.Clone(body), extra...)
			if err := Verify(header, tampered, secrets, at, Tolerance); !errors.Is(err, ErrSignatureMismatch) {
				t.Fatalf("tampered body: %v, want mismatch", err)
			}
		}
		if forged != header && Verify(forged, body, secrets, at, Tolerance) == nil {
			t.Fatalf("forged header %q accepted", forged)
		}
	})
}
