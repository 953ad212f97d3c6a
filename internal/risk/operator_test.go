package risk

import (
	"strings"
	"testing"
)

func TestOperatorAction(t *testing.T) {
	tests := []struct {
		name, method, route, want string
	}{
		{"ok/plain", "GET", "/v1/operator/risk/cases", "GET:risk.cases"},
		{"ok/path values", "POST", "/v1/operator/risk/cases/{id}/close", "POST:risk.cases.id.close"},
		{"ok/outside the operator prefix", "POST", "/v1/operator/sessions", "POST:sessions"},
		{"ok/no route", "DELETE", "", "DELETE:"},
		{"ok/capped", "POST", "/" + strings.Repeat("abcdefgh/", 20), ("POST:" + strings.Repeat("abcdefgh.", 7))[:64]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := operatorAction(tt.method, tt.route); got != tt.want {
				t.Fatalf("operatorAction(%q, %q) = %q, want %q", tt.method, tt.route, got, tt.want)
			}
		})
	}
}

// FuzzOperatorAction: whatever the route, the action is one the engine
// takes (identifier alphabet, at most 64 bytes).
func FuzzOperatorAction(f *testing.F) {
	for _, r := range []string{"/v1/operator/risk/cases/{id}/close", "", "/", "//{}{}", "/v1/operator/ü/\x00", strings.Repeat("a/", 100)} {
		f.Add("POST", r)
	}
	f.Fuzz(func(t *testing.T, method, route string) {
		if !sane(method) || len(method) > 8 {
			t.Skip()
		}
		got := operatorAction(method, route)
		if len(got) > maxAction || !sane(got) || strings.Contains(got, "..") {
			t.Fatalf("operatorAction(%q, %q) = %q", method, route, got)
		}
	})
}

func sane(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-.:@", c) >= 0) {
			return false
		}
	}
	return true
}
