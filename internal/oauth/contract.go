// Package oauth issues and verifies the short-lived ES256 JWTs that
// institutions get from OAuth2 client credentials, and publishes the JWKS.
//
// CONTRACT STUB: signatures here are fixed; bodies are being implemented.
package oauth

import (
	"context"
	"errors"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/institution"
)

// Config sets the token's issuer, audience and lifetime (default 10 min).
type Config struct {
	Issuer   string
	Audience string
	TTL      time.Duration
}

// Issuer signs tokens with the active key and verifies with any published one.
type Issuer struct{}

var errStub = errors.New("oauth: not implemented")

// NewIssuer loads the signing keys (creating the first one if none exist).
func NewIssuer(ctx context.Context, cfg Config, store KeyStore, ring *crypto.Keyring, now func() time.Time) (*Issuer, error) {
	return nil, errStub
}

// Issue signs a token for p; it returns the compact JWT and its expiry.
func (i *Issuer) Issue(ctx context.Context, p *institution.Principal) (string, time.Time, error) {
	return "", time.Time{}, errStub
}

// Verify accepts only ES256 tokens signed by a published key, with our
// issuer and audience, inside their lifetime; else ErrBadToken.
func (i *Issuer) Verify(ctx context.Context, raw string) (*institution.Principal, error) {
	return nil, errStub
}

// JWKS returns the public key set as JSON.
func (i *Issuer) JWKS() ([]byte, error) { return nil, errStub }

// Rotate creates a new signing key; the old one stays published for
// verification until tokens it signed have expired.
func (i *Issuer) Rotate(ctx context.Context, actor string) (string, error) { return "", errStub }
