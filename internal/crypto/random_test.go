package crypto_test

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/crypto"
)

func TestNewID(t *testing.T) {
	shape := regexp.MustCompile(`^op_[a-z2-7]{26}$`)
	seen := make(map[string]bool)
	for range 1000 {
		id := crypto.NewID("op_")
		if !shape.MatchString(id) {
			t.Fatalf("NewID = %q, want op_ and 26 lowercase base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestToken(t *testing.T) {
	for _, n := range []int{0, 1, 16, 32, 33} {
		tok := crypto.Token(n)
		b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
		if err != nil || len(b) != n || strings.ContainsAny(tok, "=+/") {
			t.Fatalf("Token(%d) = %q: decodes to %d bytes, %v", n, tok, len(b), err)
		}
	}
	if a, b := crypto.Token(16), crypto.Token(16); a == b {
		t.Fatal("Token repeated")
	}
}

func TestRandomBase32(t *testing.T) {
	shape := regexp.MustCompile(`^[a-z2-7]*$`)
	dec := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	for _, n := range []int{0, 1, 15, 20, 32} {
		s := crypto.RandomBase32(n)
		b, err := dec.DecodeString(s)
		if !shape.MatchString(s) || err != nil || len(b) != n {
			t.Fatalf("RandomBase32(%d) = %q: decodes to %d bytes, %v", n, s, len(b), err)
		}
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"ok/equal", "secret", "secret", true},
		{"ok/both empty", "", "", true},
		{"differs/last byte", "secret", "secreT", false},
		{"differs/prefix", "secret", "secre", false},
		{"differs/one empty", "", "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := crypto.Equal([]byte(tt.a), []byte(tt.b)); got != tt.want {
				t.Fatalf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMAC checks RFC 4231 test case 2.
func TestMAC(t *testing.T) {
	got := hex.EncodeToString(crypto.MAC([]byte("Jefe"), []byte("what do ya want for nothing?")))
	if want := "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Fatalf("MAC = %s, want %s", got, want)
	}
}
