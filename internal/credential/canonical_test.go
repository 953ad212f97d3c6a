package credential

import (
	"errors"
	"testing"

	"github.com/haechi/haechi/internal/errs"
)

// TestCanonicalForms: what is hashed carries the method, and a pattern's
// form does not depend on how its JSON was spaced.
func TestCanonicalForms(t *testing.T) {
	tests := []struct {
		name   string
		method Method
		in     string
		want   string
	}{
		{"ok/pin", MethodPIN, "384917", "pin:384917"},
		{"ok/pattern", MethodPattern, "[1,2,3,6]", "pattern:1-2-3-6"},
		{"ok/pattern spaced", MethodPattern, "[ 1 ,2, 3,6 ]", "pattern:1-2-3-6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := newSecret(tc.method, tc.in, "")
			if err != nil || string(set) != tc.want {
				t.Fatalf("newSecret = %q, %v; want %q", set, err, tc.want)
			}
			login, err := loginSecret(tc.method, tc.in)
			if err != nil || string(login) != tc.want {
				t.Fatalf("loginSecret = %q, %v; want %q", login, err, tc.want)
			}
		})
	}
}

func TestSetWithoutCustomer(t *testing.T) {
	var s Service
	if err := s.Set(t.Context(), "x", nil, MethodPIN, "384917"); !errors.Is(err, errs.ErrInvalid) {
		t.Fatalf("Set(nil customer) = %v", err)
	}
}
