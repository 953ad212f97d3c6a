package logging

import (
	"bytes"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"rrn with dash", "id 900101-1234567 seen", "id 900101-1****** seen"},
		{"rrn without dash", "9001012234567", "900101-2******"},
		{"phone", "call 010-1234-5678", "call 010-****-5678"},
		{"phone plain", "01012345678", "010-****-5678"},
		{"card", "card 4111 1111 1111 1111 ok", "card 411111******1111 ok"},
		{"plain text", "no numbers here", "no numbers here"},
		{"short numbers kept", "status 404 after 12 ms", "status 404 after 12 ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.in); got != tt.want {
				t.Fatalf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLoggerRedacts(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "info")
	log.Info("login", "password", "hunter2-secret", "client_secret", "abc", "note", "rrn 900101-1234567", "authorization", "Bearer xyz")
	out := buf.String()
	for _, leak := range []string{"hunter2-secret", "abc\"", "1234567", "xyz"} {
		if strings.Contains(out, leak) {
			t.Fatalf("log leaks %q: %s", leak, out)
		}
	}
	if !strings.Contains(out, "[REDACTED]") || !strings.Contains(out, "900101-1******") {
		t.Fatalf("log lacks redaction markers: %s", out)
	}
}
