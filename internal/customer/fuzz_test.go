package customer

import (
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzNormalizePhone: whatever is accepted comes out as 10 or 11 digits with
// a mobile prefix, and normalising again changes nothing.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"010-1234-5678", "+82 10 1234 5678", "0111234567", "02-123-4567", "+82", "", "--"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := NormalizePhone(s)
		if err != nil {
			return
		}
		if _, ok := digitsOnly(d, ""); !ok || len(d) < 10 || len(d) > 11 || !hasMobilePrefix(d) {
			t.Fatalf("NormalizePhone(%q) = %q", s, d)
		}
		if again, err := NormalizePhone(d); err != nil || again != d {
			t.Fatalf("NormalizePhone(%q) = %q, %v; not idempotent", d, again, err)
		}
	})
}

// FuzzNormalizeRRN: an accepted RRN is 13 digits whose first six are the
// returned birth date, which is a real day.
func FuzzNormalizeRRN(f *testing.F) {
	for _, s := range []string{"900101-1234567", "9001011234567", "000229-3234563", "901301-1234567", "", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, birth, err := NormalizeRRN(s)
		if err != nil {
			return
		}
		if _, ok := digitsOnly(d, ""); !ok || len(d) != 13 {
			t.Fatalf("NormalizeRRN(%q) digits %q", s, d)
		}
		day, err := time.Parse(dateLayout, birth)
		if err != nil || day.Format("060102") != d[:6] {
			t.Fatalf("NormalizeRRN(%q) birth %q does not match %q", s, birth, d[:6])
		}
	})
}

// FuzzValidate: an accepted New is normalised, and validating it again
// accepts it unchanged.
func FuzzValidate(f *testing.F) {
	f.Add("김민수", "1990-01-01", "010-1234-5678", "900101-1234567")
	f.Add(" a ", "2000-02-29", "+821012345678", "")
	f.Add("\u202e", "1990-02-30", "02", "x")
	f.Fuzz(func(t *testing.T, name, birth, phone, rrn string) {
		n := New{Name: name, BirthDate: birth, Phone: phone, RRN: rrn}
		if n.Validate() != nil {
			return
		}
		if !utf8.ValidString(n.Name) || n.Name == "" {
			t.Fatalf("accepted name %q", n.Name)
		}
		again := n
		if err := again.Validate(); err != nil || again != n {
			t.Fatalf("Validate not idempotent: %+v -> %+v, %v", n, again, err)
		}
	})
}
