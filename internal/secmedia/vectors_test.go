package secmedia_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/secmedia"
)

// RFC 4226 Appendix D: HOTP-SHA1 of "12345678901234567890", counts 0–9.
var rfc4226 = []string{"755224", "287082", "359152", "969429", "338314",
	"254676", "287922", "162583", "399871", "520489"}

func TestHOTPVectorsThroughVerify(t *testing.T) {
	f := newFixture(t)
	register(t, f, "cl_a", hotpReg("HOTP-RFC-4226"))
	for count, code := range rfc4226 {
		t.Run(fmt.Sprintf("ok/count %d", count), func(t *testing.T) {
			if !verify(t, f, "cl_a", kim(), "HOTP-RFC-4226", code) {
				t.Fatalf("count %d code %s refused", count, code)
			}
			if got := stored(t, f, "cl_a", "HOTP-RFC-4226").Counter; got != uint64(count+1) {
				t.Fatalf("counter %d after count %d, want %d", got, count, count+1)
			}
			if verify(t, f, "cl_a", kim(), "HOTP-RFC-4226", code) {
				t.Fatalf("count %d code %s accepted twice", count, code)
			}
			if got := stored(t, f, "cl_a", "HOTP-RFC-4226").Failures; got != 0 {
				t.Fatalf("the replay was counted as a wrong code: %d failures", got)
			}
		})
	}
}

// RFC 6238 Appendix B: 8-digit TOTP, 30-second steps, with the seed
// repeated to the hash's length.
var rfc6238Seeds = map[secmedia.Algorithm]string{
	secmedia.SHA1:   rfcSeed,
	secmedia.SHA256: "12345678901234567890123456789012",
	secmedia.SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
}

var rfc6238 = []struct {
	unix  int64
	codes map[secmedia.Algorithm]string
}{
	{59, map[secmedia.Algorithm]string{secmedia.SHA1: "94287082", secmedia.SHA256: "46119246", secmedia.SHA512: "90693936"}},
	{1111111109, map[secmedia.Algorithm]string{secmedia.SHA1: "07081804", secmedia.SHA256: "68084774", secmedia.SHA512: "25091201"}},
	{1111111111, map[secmedia.Algorithm]string{secmedia.SHA1: "14050471", secmedia.SHA256: "67062674", secmedia.SHA512: "99943326"}},
	{1234567890, map[secmedia.Algorithm]string{secmedia.SHA1: "89005924", secmedia.SHA256: "91819424", secmedia.SHA512: "93441116"}},
	{2000000000, map[secmedia.Algorithm]string{secmedia.SHA1: "69279037", secmedia.SHA256: "90698825", secmedia.SHA512: "38618901"}},
	{20000000000, map[secmedia.Algorithm]string{secmedia.SHA1: "65353130", secmedia.SHA256: "77737706", secmedia.SHA512: "47863826"}},
}

func TestTOTPVectorsThroughVerify(t *testing.T) {
	for _, alg := range []secmedia.Algorithm{secmedia.SHA1, secmedia.SHA256, secmedia.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t)
			serial := "TOTP-RFC-" + string(alg)
			register(t, f, "cl_a", secmedia.Registration{Serial: serial, Kind: secmedia.TOTP,
				SeedBase32: b32(rfc6238Seeds[alg]), Digits: 8, Algorithm: alg, Holder: kim()})
			// The times rise, so each vector's step is after the last one spent.
			for _, v := range rfc6238 {
				f.clk.Set(time.Unix(v.unix, 0))
				code := v.codes[alg]
				if !verify(t, f, "cl_a", kim(), serial, code) {
					t.Fatalf("T=%d code %s refused", v.unix, code)
				}
				if verify(t, f, "cl_a", kim(), serial, code) {
					t.Fatalf("T=%d code %s accepted twice", v.unix, code)
				}
				if got, want := stored(t, f, "cl_a", serial).LastStep, v.unix/30; got != want {
					t.Fatalf("T=%d: last step %d, want %d", v.unix, got, want)
				}
			}
		})
	}
}

func TestTOTPWrongAlgorithmRefuses(t *testing.T) {
	f := newFixture(t)
	register(t, f, "cl_a", secmedia.Registration{Serial: "TOTP-SHA256-X", Kind: secmedia.TOTP,
		SeedBase32: b32(rfcSeed), Digits: 8, Algorithm: secmedia.SHA256, Holder: kim()})
	f.clk.Set(time.Unix(59, 0))
	if verify(t, f, "cl_a", kim(), "TOTP-SHA256-X", rfc6238[0].codes[secmedia.SHA1]) {
		t.Fatal("a SHA-1 code was accepted on a SHA-256 medium")
	}
}
