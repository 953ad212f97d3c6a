package credential_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/errs"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		name, in string
		want     credential.Pattern
		err      error
		reason   string // a word of the English message, telling the rule
	}{
		{"ok/L shape", "[1,2,3,6]", credential.Pattern{1, 2, 3, 6}, nil, ""},
		{"ok/all nine", "[1,2,3,6,5,4,7,8,9]", credential.Pattern{1, 2, 3, 6, 5, 4, 7, 8, 9}, nil, ""},
		{"ok/whitespace", " [ 7 , 4 , 1 , 2 ] ", credential.Pattern{7, 4, 1, 2}, nil, ""},
		{"ok/knight move 1→6", "[1,6,7,2]", credential.Pattern{1, 6, 7, 2}, nil, ""},
		{"ok/knight moves 3→4, 9→2, 7→2, 1→8", "[3,4,9,2,7]", credential.Pattern{3, 4, 9, 2, 7}, nil, ""},
		{"ok/1→3 over visited 2", "[2,1,3,6]", credential.Pattern{2, 1, 3, 6}, nil, ""},
		{"ok/1→9 over visited 5", "[5,1,9,6]", credential.Pattern{5, 1, 9, 6}, nil, ""},
		{"ok/2→8 over visited 5", "[5,2,8,7]", credential.Pattern{5, 2, 8, 7}, nil, ""},
		{"ok/3→7 over visited 5", "[5,3,7,4]", credential.Pattern{5, 3, 7, 4}, nil, ""},
		{"ok/diagonal neighbours", "[1,5,9,6]", credential.Pattern{1, 5, 9, 6}, nil, ""},
		{"error/1→3 skips 2", "[1,3,6,9]", nil, credential.ErrPatternInvalid, "jumps"},
		{"error/3→1 skips 2", "[3,1,4,5]", nil, credential.ErrPatternInvalid, "jumps"},
		{"error/1→9 skips 5", "[1,9,8,7]", nil, credential.ErrPatternInvalid, "jumps"},
		{"error/2→8 skips 5", "[2,8,9,6]", nil, credential.ErrPatternInvalid, "jumps"},
		{"error/4→6 skips 5", "[4,6,3,2]", nil, credential.ErrPatternInvalid, "jumps"},
		{"error/3→7 skips 5", "[3,7,8,9]", nil, credential.ErrPatternInvalid, "jumps"},
		{"error/7→9 skips 8", "[7,9,6,3]", nil, credential.ErrPatternInvalid, "jumps"},
		{"error/1→7 skips 4", "[1,7,8,9]", nil, credential.ErrPatternInvalid, "jumps"},
		{"error/3→9 skips 6", "[3,9,8,7]", nil, credential.ErrPatternInvalid, "jumps"},
		{"error/skip late in the path", "[5,4,1,2,3,9]", nil, credential.ErrPatternInvalid, "jumps"},
		{"error/revisit", "[1,2,3,2]", nil, credential.ErrPatternInvalid, "twice"},
		{"error/revisit by a long way round", "[1,2,5,4,1]", nil, credential.ErrPatternInvalid, "twice"},
		{"error/node 0", "[0,1,2,3]", nil, credential.ErrPatternInvalid, "1 to 9"},
		{"error/node 10", "[1,2,3,10]", nil, credential.ErrPatternInvalid, "1 to 9"},
		{"error/negative", "[-1,2,3,6]", nil, credential.ErrPatternInvalid, "1 to 9"},
		{"error/float", "[1.0,2,3,6]", nil, credential.ErrPatternInvalid, "1 to 9"},
		{"error/huge", "[1,2,3,99999999999999999999]", nil, credential.ErrPatternInvalid, "1 to 9"},
		{"error/strings", `["1","2","3","6"]`, nil, credential.ErrPatternInvalid, "1 to 9"},
		{"error/not an array", `{"a":1}`, nil, credential.ErrPatternInvalid, "1 to 9"},
		{"error/trailing data", "[1,2,3,6]x", nil, credential.ErrPatternInvalid, "1 to 9"},
		{"error/canonical form is not the wire form", "1-2-3-6", nil, credential.ErrPatternInvalid, "1 to 9"},
		{"error/oversized input", "[1,2,3,6" + strings.Repeat(" ", 300) + "]", nil, credential.ErrPatternInvalid, "1 to 9"},
		{"error/three nodes", "[1,2,3]", nil, credential.ErrPatternTooShort, "4"},
		{"error/empty", "[]", nil, credential.ErrPatternTooShort, "4"},
		{"error/null", "null", nil, credential.ErrPatternTooShort, "4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := credential.ParsePattern(tc.in)
			if tc.err == nil {
				if err != nil || !slices.Equal(p, tc.want) {
					t.Fatalf("ParsePattern = %v, %v; want %v", p, err, tc.want)
				}
				return
			}
			checkCode(t, err, tc.err, "pattern")
			if p != nil {
				t.Fatalf("refused pattern returned %v", p)
			}
			checkReason(t, err, tc.reason)
		})
	}
}

// checkReason asserts the message names the rule and does not echo the
// pattern.
func checkReason(t *testing.T, err error, word string) {
	t.Helper()
	e := errs.As(err)
	if !strings.Contains(e.EN, word) || e.KO == "" {
		t.Fatalf("message %q (KO %q) does not give the reason %q", e.EN, e.KO, word)
	}
	if strings.ContainsAny(e.EN, "235678") || strings.ContainsAny(e.KO, "235678") {
		t.Fatalf("message %q / %q may echo the pattern", e.EN, e.KO)
	}
}

// TestEveryMoveOfTheGrid checks each of the 72 ordered moves from a
// fresh start against the list of moves that cross a node.
func TestEveryMoveOfTheGrid(t *testing.T) {
	crossing := map[[2]int]bool{}
	for _, m := range [][3]int{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {1, 4, 7}, {2, 5, 8}, {3, 6, 9}, {1, 5, 9}, {3, 5, 7}} {
		crossing[[2]int{m[0], m[2]}], crossing[[2]int{m[2], m[0]}] = true, true
	}
	for a := 1; a <= 9; a++ {
		for b := 1; b <= 9; b++ {
			if a == b {
				continue
			}
			err := credential.Pattern{a, b}.Validate()
			if crossing[[2]int{a, b}] == errors.Is(err, credential.ErrPatternTooShort) {
				t.Errorf("move %d→%d: %v, crossing=%v", a, b, err, crossing[[2]int{a, b}])
			}
		}
	}
}
