package attest

import (
	"testing"
	"time"
)

// FuzzParseClaims reaches the claims decoder directly, which FuzzVerify
// cannot without the key.
func FuzzParseClaims(f *testing.F) {
	f.Add([]byte(`{"jti":"j","nonce":"n","app_digest":"d","app_version":"1","device_integrity":true,"iat":1740821400,"exp":1740821520}`))
	f.Add([]byte(`{"jti":"j","nonce":"n","app_digest":"d","app_version":"1","device_integrity":true,"iat":1,"exp":1}`))
	f.Add([]byte(`{"jti":"","nonce":"n"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"jti":"j","nonce":"n","app_digest":"d","app_version":"1","device_integrity":true,"iat":9e99,"exp":1} {}`))
	now := time.Unix(1740821400, 0)
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := parseClaims(payload)
		if err != nil {
			return
		}
		if c.JTI == "" || c.Nonce == "" {
			t.Fatalf("accepted empty jti or nonce: %q", payload)
		}
		if err := c.fresh(now); err == nil {
			if life := c.Expires - c.IssuedAt; life <= 0 || time.Duration(life)*time.Second > TokenLifetime {
				t.Fatalf("fresh with a lifetime of %d s", life)
			}
		}
	})
}
