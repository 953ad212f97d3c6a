package mask

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMask(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) string
		in   string
		want string
	}{
		{"name/three hangul", Name, "김민수", "김*수"},
		{"name/two hangul", Name, "김수", "김*"},
		{"name/four hangul", Name, "남궁민수", "남**수"},
		{"name/one character", Name, "김", "*"},
		{"name/empty", Name, "", ""},
		{"name/latin keeps first and last letter", Name, "Smith", "S***h"},
		{"name/latin with space", Name, "Jo Ann", "J****n"},
		{"name/invalid utf-8", Name, "\xff\xfe\xfd", "\uFFFD*\uFFFD"},

		{"rrn/digits", RRN, "9001011234567", "900101-1******"},
		{"rrn/with dash", RRN, "900101-1234567", "900101-1******"},
		{"rrn/short", RRN, "900101", "******"},
		{"rrn/dash misplaced", RRN, "90010-11234567", "**************"},
		{"rrn/letters", RRN, "90010112345ab", "*************"},
		{"rrn/too long", RRN, "90010112345678", "**************"},
		{"rrn/empty", RRN, "", ""},

		{"phone/eleven digits", Phone, "01012345678", "010-****-5678"},
		{"phone/with hyphens", Phone, "010-1234-5678", "010-****-5678"},
		{"phone/ten digits", Phone, "0111234567", "011-***-4567"},
		{"phone/short", Phone, "12345", "*****"},
		{"phone/plus sign", Phone, "+821012345678", "*************"},

		{"account/twelve digits", Account, "110123456456", "110-***-***456"},
		{"account/thirteen digits", Account, "1101234567456", "110-****-***456"},
		{"account/with hyphens", Account, "110-123-456456", "110-***-***456"},
		{"account/too short", Account, "123456789", "*********"},
		{"account/too long", Account, "12345678901234567", "*****************"},

		{"pan/sixteen digits", PAN, "4111111111111111", "411111******1111"},
		{"pan/spaces", PAN, "5500 0000 0000 0004", "550000******0004"},
		{"pan/nineteen digits", PAN, "6011000990139424123", "601100******4123"},
		{"pan/twelve digits", PAN, "123456789012", "************"},

		{"birth date/ok", BirthDate, "1990-01-01", "1990-**-**"},
		{"birth date/no dashes", BirthDate, "19900101", "********"},
		{"birth date/letters", BirthDate, "1990-ab-01", "**********"},
		{"birth date/short", BirthDate, "1990", "****"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.fn(tc.in); got != tc.want {
				t.Fatalf("mask(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// keptDigits checks the property every digit masker shares: at most keep
// digits survive, and those that do are the input's first head and last
// tail digits in order, so no middle digit can leak.
func keptDigits(t *testing.T, in, out string, head, tail int) {
	t.Helper()
	var d strings.Builder
	for i := 0; i < len(in); i++ {
		if in[i] >= '0' && in[i] <= '9' {
			d.WriteByte(in[i])
		}
	}
	var o strings.Builder
	for i := 0; i < len(out); i++ {
		if out[i] >= '0' && out[i] <= '9' {
			o.WriteByte(out[i])
		}
	}
	digits, shown := d.String(), o.String()
	if shown == "" {
		return
	}
	if len(shown) != head+tail || len(digits) < head+tail ||
		shown != digits[:head]+digits[len(digits)-tail:] {
		t.Fatalf("mask(%q) = %q shows digits %q, want only the first %d and last %d", in, out, shown, head, tail)
	}
}

func onlyMaskChars(t *testing.T, in, out string) {
	t.Helper()
	for _, r := range out {
		if r != '*' && r != '-' && (r < '0' || r > '9') {
			t.Fatalf("mask(%q) = %q holds %q", in, out, r)
		}
	}
}

func FuzzMaskRRN(f *testing.F) {
	for _, s := range []string{"9001011234567", "900101-1234567", "", "-", "900101-123456-", "０１２"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := RRN(s)
		onlyMaskChars(t, s, out)
		keptDigits(t, s, out, 7, 0)
	})
}

func FuzzMaskPhone(f *testing.F) {
	for _, s := range []string{"01012345678", "010-1234-5678", "0111234567", "", "1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Phone(s)
		onlyMaskChars(t, s, out)
		keptDigits(t, s, out, 3, 4)
	})
}

func FuzzMaskAccount(f *testing.F) {
	for _, s := range []string{"110123456456", "1101234567456", "110-123-456456", "", "1234567890123456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Account(s)
		onlyMaskChars(t, s, out)
		keptDigits(t, s, out, 3, 3)
	})
}

func FuzzMaskPAN(f *testing.F) {
	for _, s := range []string{"4111111111111111", "5500 0000 0000 0004", "6011000990139424123", "", "4111"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := PAN(s)
		onlyMaskChars(t, s, out)
		keptDigits(t, s, out, 6, 4)
	})
}

func FuzzMaskBirthDate(f *testing.F) {
	for _, s := range []string{"1990-01-01", "19900101", "", "1990-1-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := BirthDate(s)
		onlyMaskChars(t, s, out)
		keptDigits(t, s, out, 4, 0)
	})
}

// FuzzMaskName: only the first and last character survive, and the masked
// form is as long as the name.
func FuzzMaskName(f *testing.F) {
	for _, s := range []string{"김민수", "김수", "김", "", "Smith", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Name(s)
		in, got := []rune(s), []rune(out)
		if len(got) != len(in) {
			t.Fatalf("Name(%q) = %q: %d characters, want %d", s, out, len(got), len(in))
		}
		for i, r := range got {
			kept := (i == 0 && len(in) >= 2) || (i == len(in)-1 && len(in) >= 3)
			if !kept && r != '*' {
				t.Fatalf("Name(%q) = %q shows character %d", s, out, i)
			}
		}
		if !utf8.ValidString(out) {
			t.Fatalf("Name(%q) = %q is not valid UTF-8", s, out)
		}
	})
}
