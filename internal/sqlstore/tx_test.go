package sqlstore

import (
	"strconv"
	"strings"
	"testing"
)

func TestRebindNumbered(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ok/none", "SELECT 1", "SELECT 1"},
		{"ok/in order", "UPDATE t SET a = ?, b = ? WHERE id = ?", "UPDATE t SET a = $1, b = $2 WHERE id = $3"},
		{"ok/more than nine", strings.Repeat("?,", 10) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11"},
		{"ok/question mark in a string literal", "SELECT '?' || ?", "SELECT '?' || $1"},
		{"ok/escaped quote in a literal", "SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{"ok/quoted identifier", `SELECT "a?b" FROM t WHERE x = ?`, `SELECT "a?b" FROM t WHERE x = $1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rebindNumbered(tc.in); got != tc.want {
				t.Fatalf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzRebind checks rebinding against a naive oracle for queries without
// quotes, and that it never panics on anything.
func FuzzRebind(f *testing.F) {
	f.Add("SELECT a FROM t WHERE b = ? AND c = ?")
	f.Add("'?' \"?\" ?")
	f.Add("?????????????")
	f.Add("?00000000000")
	f.Add("")
	f.Fuzz(func(t *testing.T, q string) {
		out := rebindNumbered(q)
		if strings.ContainsAny(q, `'"`) {
			return
		}
		want := q
		for n := 1; strings.Contains(want, "?"); n++ {
			want = strings.Replace(want, "?", "$"+strconv.Itoa(n), 1)
		}
		if out != want {
			t.Fatalf("rebind(%q) = %q, want %q", q, out, want)
		}
	})
}
