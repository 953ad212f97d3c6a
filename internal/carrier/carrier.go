// Package carrier is the mobile-carrier identity service (휴대폰 본인확인):
// it confirms that a phone's subscriber has a given name and birth date and
// delivers SMS codes. Provider has two implementations: Simulator, a
// deterministic built-in registry for the demo and tests (NOT a real
// carrier), and HTTP, an adapter for a real identity provider.
package carrier

import "context"

// Identity is what the customer claims.
type Identity struct {
	Name      string
	BirthDate string // YYYY-MM-DD
	Phone     string // digits only
}

// Provider is a carrier identity service.
type Provider interface {
	// Match reports whether the subscriber of id.Phone has id's name and
	// birth date. An unknown phone is a mismatch, not an error.
	Match(ctx context.Context, id Identity) (bool, error)
	// SendCode delivers a one-time code by SMS to phone.
	SendCode(ctx context.Context, phone, code string) error
}
