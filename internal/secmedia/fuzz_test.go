package secmedia

import (
	"regexp"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
)

var serialShape = regexp.MustCompile(`^[A-Z0-9-]{8,20}$`)

// FuzzRegistration feeds arbitrary registrations to the validation: it
// must never panic, refuse only with an Invalid *errs.Error that carries
// nothing but its code (so never the seed), and accept only what the stored form allows.
func FuzzRegistration(f *testing.F) {
	f.Add("OTP-0001-ABCD", "totp", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 0, 0, "", "김민수", "1990-01-01", "010-1234-5678")
	f.Add("otp-0001-abcd", "hotp", "gezd gnbv gy3t qojq gezd gnbv gy3t qojq====", 8, 0, "SHA512", "Kim", "2000-02-29", "+82 10 1234 5678")
	f.Add("SHORT", "totp", "AAAA", 7, 45, "MD5", "", "1990-02-30", "02-123-4567")
	f.Add(strings.Repeat("A", 21), "TOTP", "GEZDGNBVGY3TQOJQ0EZDGNBVGY3TQOJQ=", 6, 60, "SHA256", "김\u202e수", "1899-12-31", "0101234567")
	f.Add("OTP-\x00-12345", "hotp", strings.Repeat("A", 300), -1, 30, "sha1", "\xff", "", "")
	f.Fuzz(func(t *testing.T, serial, kind, seed string, digits, period int, alg, name, birth, phone string) {
		r := Registration{Serial: serial, Kind: Kind(kind), SeedBase32: seed, Digits: digits, Period: period,
			Algorithm: Algorithm(alg), Holder: ekyc.Applicant{Name: name, BirthDate: birth, Phone: phone}}
		v, err := r.validate()
		if err != nil {
			e := errs.As(err)
			if e == nil || e.Kind != errs.Invalid || e.Field == "" {
				t.Fatalf("refusal %v is not an invalid-input error naming a field", err)
			}
			if err.Error() != e.Code {
				t.Fatalf("refusal %q carries more than its code (the seed must never reach it)", err)
			}
			return
		}
		checkValidated(t, v)
		again, err := normalizeHolder(v.holder)
		if err != nil || again != v.holder {
			t.Fatalf("holder normalisation not idempotent: %+v → %+v, %v", v.holder, again, err)
		}
	})
}

// checkValidated asserts what the schema's CHECKs and the verifier rely on.
func checkValidated(t *testing.T, v *validated) {
	t.Helper()
	if !serialShape.MatchString(v.serial) {
		t.Fatalf("serial %q accepted", v.serial)
	}
	if len(v.seed) < minSeed || len(v.seed) > maxSeed {
		t.Fatalf("seed of %d bytes accepted", len(v.seed))
	}
	if v.digits != 6 && v.digits != 8 {
		t.Fatalf("digits %d accepted", v.digits)
	}
	if v.algorithm != SHA1 && v.algorithm != SHA256 && v.algorithm != SHA512 {
		t.Fatalf("algorithm %q accepted", v.algorithm)
	}
	switch {
	case v.kind == HOTP && v.period == 0:
	case v.kind == TOTP && (v.period == 30 || v.period == 60):
	default:
		t.Fatalf("kind %q with period %d accepted", v.kind, v.period)
	}
}

var codeRule = regexp.MustCompile(`^([0-9]{6}|[0-9]{8})$`)

// FuzzCodeShape checks the code parser against a plain statement of the
// rule.
func FuzzCodeShape(f *testing.F) {
	for _, s := range []string{"755224", "94287082", "", "12345", "1234567", "12a456", " 755224", "７５５２２４", "+75522"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		if got, want := codeShape(code), codeRule.MatchString(code); got != want {
			t.Fatalf("codeShape(%q) = %v, want %v", code, got, want)
		}
	})
}
