package jsonapi

import (
	"bytes"
	"testing"
)

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"ok":true}`))
	f.Add([]byte(`{"ok":true} {}`))
	f.Add([]byte(`{"ok":`))
	f.Add([]byte(``))
	f.Add(bytes.Repeat([]byte(" "), maxResponse+1))
	f.Fuzz(func(t *testing.T, body []byte) {
		var out struct {
			OK *bool `json:"ok"`
		}
		if err := decode(bytes.NewReader(body), &out); err == nil && len(body) > maxResponse {
			t.Fatalf("accepted %d bytes", len(body))
		}
	})
}
