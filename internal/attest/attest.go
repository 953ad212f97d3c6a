// Package attest verifies app-integrity tokens: a statement by the platform
// (Play Integrity, App Attest and the like) that a genuine, unmodified build
// of the app runs on a genuine device, bound to a nonce the server chose.
// Verifier has two implementations: Simulator (built in, for the demo and
// tests; NOT a real attestation service) and HTTP, an adapter for a real
// provider.
package attest

import (
	"context"
	"time"
)

// Verdict is what a verified token says.
type Verdict struct {
	TokenID         string // unique per token; the caller refuses reuse
	Nonce           string // must equal what the caller expects
	AppDigest       string // signing-certificate SHA-256, hex
	AppVersion      string
	DeviceIntegrity bool // genuine device, not rooted, not an emulator
	IssuedAt        time.Time
}

// Verifier checks a token's signature and freshness; it does not judge
// policy (the caller compares digest, version, nonce and integrity).
// Nor does it detect reuse: a token verifies as often as it is shown until
// it expires, and the caller refuses a TokenID it has already seen.
type Verifier interface {
	Verify(ctx context.Context, token string) (*Verdict, error)
}
