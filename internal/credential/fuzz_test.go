package credential_test

import (
	"testing"

	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/errs"
)

// FuzzParsePattern: never panics, refuses with an *errs.Error, and every
// accepted pattern obeys the drawing rules, checked here again by a
// separate, coordinate-free reading of them.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"[1,2,3,6]", "[1,6,7,2]", "[2,1,3,6]", "[1,3,6,9]", "[1,2,3]", "[1,1,2,3]",
		"[0,1,2,3]", "[]", "null", `["1"]`, "[1e0,2,3,6]", "[1,2,3,6,5,4,7,8,9]", "[5,1,9,3,7,2,8,4,6]", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := credential.ParsePattern(s)
		if err != nil {
			if errs.As(err) == nil || p != nil {
				t.Fatalf("ParsePattern(%q) = %v, %v", s, p, err)
			}
			return
		}
		if msg := drawable(p); msg != "" {
			t.Fatalf("ParsePattern(%q) accepted %v: %s", s, p, msg)
		}
	})
}

// between lists, for each pair of nodes, the node a straight line between
// them crosses.
var between = map[[2]int]int{
	{1, 3}: 2, {4, 6}: 5, {7, 9}: 8, {1, 7}: 4, {2, 8}: 5, {3, 9}: 6, {1, 9}: 5, {3, 7}: 5,
}

func drawable(p credential.Pattern) string {
	if len(p) < credential.MinPatternNodes || len(p) > 9 {
		return "wrong length"
	}
	seen := map[int]bool{}
	for i, n := range p {
		if n < 1 || n > 9 || seen[n] {
			return "bad or repeated node"
		}
		if i > 0 {
			a, b := min(p[i-1], n), max(p[i-1], n)
			if mid, ok := between[[2]int{a, b}]; ok && !seen[mid] {
				return "skips an unvisited node"
			}
		}
		seen[n] = true
	}
	return ""
}

// FuzzValidatePIN: never panics, refuses with an *errs.Error of kind
// Invalid, and whatever it accepts is six ASCII digits, not one digit
// repeated, not a run, and free of the birth date.
func FuzzValidatePIN(f *testing.F) {
	for _, s := range [][2]string{{"384917", "1990-05-17"}, {"900517", "1990-05-17"}, {"051799", "1990-05-17"},
		{"123456", ""}, {"567890", ""}, {"12345", ""}, {"١٢٣٤٥٦", ""}, {"384917", "19900517"}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pin, birth string) {
		err := credential.ValidatePIN(pin, birth)
		if err != nil {
			if e := errs.As(err); e == nil || e.Kind != errs.Invalid || e.Field != "pin" {
				t.Fatalf("ValidatePIN(%q, %q) = %v", pin, birth, err)
			}
			return
		}
		if msg := weak(pin, birth); msg != "" {
			t.Fatalf("ValidatePIN(%q, %q) accepted: %s", pin, birth, msg)
		}
	})
}

func weak(pin, birth string) string {
	if len(pin) != 6 {
		return "length"
	}
	up, down, same := true, true, true
	for i := range 6 {
		if pin[i] < '0' || pin[i] > '9' {
			return "not a digit"
		}
		if i > 0 {
			d := (int(pin[i]) - int(pin[i-1]) + 10) % 10
			up, down, same = up && d == 1, down && d == 9, same && d == 0
		}
	}
	if up || down || same {
		return "run or repeat"
	}
	if isDate(birth) {
		if pin == birth[2:4]+birth[5:7]+birth[8:] {
			return "YYMMDD"
		}
		for i := 0; i+4 <= 6; i++ {
			if pin[i:i+4] == birth[5:7]+birth[8:] {
				return "MMDD"
			}
		}
	}
	return ""
}

// isDate is the shape YYYY-MM-DD in ASCII digits; ValidatePIN skips the
// birth-date rule for anything else.
func isDate(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := range 10 {
		if i == 4 || i == 7 {
			if s[i] != '-' {
				return false
			}
		} else if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
