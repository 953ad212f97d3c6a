package api

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/haechi/haechi/internal/errs"
)

// FuzzSecretText feeds arbitrary JSON values to the secret decoder: it
// returns a string or invalid_request for the field, never panics, and
// hands an array through unchanged for the pattern parser.
func FuzzSecretText(f *testing.F) {
	for _, s := range []string{`"482915"`, `[1,2,3,6]`, `"[1,2,3,6]"`, `null`, ``, `12`, `{"a":1}`, `"\u0000"`, `[`, `true`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := secretText(json.RawMessage(raw))
		if err != nil {
			if !errors.Is(err, errs.ErrInvalid) || errs.As(err).Field != "secret" {
				t.Fatalf("%q: err %v", raw, err)
			}
			return
		}
		if len(raw) > 0 && raw[0] == '[' && got != raw {
			t.Fatalf("%q: array changed to %q", raw, got)
		}
	})
}
