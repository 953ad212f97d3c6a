package onetime

import (
	"strings"
	"testing"
)

// TestDrawUniform would catch modulo bias: taking a byte modulo 10 makes
// 0-5 come up 26/256 of the time and 6-9 25/256, which over 400,000 digits
// gives a chi-square near 150. An unbiased draw stays under 60 except with
// probability about 1e-9 (9 degrees of freedom).
func TestDrawUniform(t *testing.T) {
	for _, alphabet := range []string{Digits, Alnum} {
		const perSymbol = 40000
		n := perSymbol * len(alphabet)
		counts := make(map[rune]int)
		for _, r := range draw(alphabet, n) {
			counts[r]++
		}
		var chi float64
		for _, r := range alphabet {
			d := float64(counts[r] - perSymbol)
			chi += d * d / perSymbol
		}
		limit := 60.0
		if len(alphabet) == 32 {
			limit = 100 // 31 degrees of freedom
		}
		if len(counts) != len(alphabet) || chi > limit {
			t.Fatalf("alphabet %q: %d symbols, chi-square %.1f over %d draws", alphabet, len(counts), chi, n)
		}
	}
}

func TestAlnumUnambiguous(t *testing.T) {
	if len(Alnum) != 32 || strings.ContainsAny(Alnum, "0O1Iabcdefghijklmnopqrstuvwxyz") {
		t.Fatalf("Alnum %q has ambiguous or lower-case characters, or is not 32 long", Alnum)
	}
	seen := map[rune]bool{}
	for _, r := range Alnum {
		if seen[r] {
			t.Fatalf("Alnum repeats %q, which would favour it", r)
		}
		seen[r] = true
	}
}

func TestHashSeparatesFields(t *testing.T) {
	s := &Service{Pepper: []byte("pepper")}
	a := s.hash("p", "ab", "1234")
	for _, other := range [][3]string{{"p", "a", "b1234"}, {"pa", "b", "1234"}, {"p", "ab", "1235"}} {
		if string(a) == string(s.hash(other[0], other[1], other[2])) {
			t.Fatalf("hash(p, ab, 1234) equals hash%v", other)
		}
	}
}
