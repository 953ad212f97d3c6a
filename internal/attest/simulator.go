package attest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// ErrInvalidToken: the integrity token is forged, altered, expired, not yet
// valid or not a token at all. Why is kept in the cause, for logs only.
var ErrInvalidToken = errs.New(errs.Invalid, "integrity_token_invalid",
	"The app integrity token is not valid.", "앱 무결성 토큰이 유효하지 않습니다.")

// Limits of a simulated token.
const (
	// TokenLifetime is exp - iat of a minted token.
	TokenLifetime = 2 * time.Minute
	// clockSkew tolerates a device clock slightly ahead of ours.
	clockSkew = 30 * time.Second
	// maxTokenSize refuses absurd input before any parsing.
	maxTokenSize = 4 << 10
)

// Claims is what the simulated platform attests; Mint adds the token id,
// the issue time and the expiry.
type Claims struct {
	Nonce           string
	AppDigest       string
	AppVersion      string
	DeviceIntegrity bool
}

// tokenClaims is the payload of a simulated token. Times are Unix seconds,
// as in a JWT.
type tokenClaims struct {
	JTI             string `json:"jti"`
	Nonce           string `json:"nonce"`
	AppDigest       string `json:"app_digest"`
	AppVersion      string `json:"app_version"`
	DeviceIntegrity bool   `json:"device_integrity"`
	IssuedAt        int64  `json:"iat"`
	Expires         int64  `json:"exp"`
}

// Simulator is a Verifier for the demo and tests. It is a SIMULATOR, not an
// attestation service: it plays the platform itself, holding an ECDSA P-256
// key, minting ES256 compact JWS tokens with Mint and verifying them. The
// real path is HTTP, which asks a real provider.
//
// Verify does not detect reuse: a token verifies as often as it is shown
// until it expires. The caller refuses a TokenID it has seen (the device
// store records it). Reuse must be judged by TokenID, never by the token
// string: an ECDSA signature can be altered into another valid one.
type Simulator struct {
	key *ecdsa.PrivateKey
	// Now is the clock for minting and for freshness; nil means time.Now.
	Now func() time.Time
}

var _ Verifier = (*Simulator)(nil)

// NewSimulator returns a simulator with a fresh random key.
func NewSimulator() *Simulator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil { // crypto/rand does not fail on supported platforms
		panic("attest: generate simulator key: " + err.Error())
	}
	return &Simulator{key: key}
}

// NewSimulatorWithKey returns a simulator signing with key, so that two
// processes (a demo server and a demo app) can share one.
func NewSimulatorWithKey(key *ecdsa.PrivateKey) (*Simulator, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return nil, errors.New("attest: simulator key must be ECDSA P-256")
	}
	return &Simulator{key: key}, nil
}

// PublicKey is the key tokens are verified with.
func (s *Simulator) PublicKey() *ecdsa.PublicKey { return &s.key.PublicKey }

// Mint issues a token for c with a random id, valid from now for
// TokenLifetime.
func (s *Simulator) Mint(c Claims) (string, error) {
	now := s.now()
	payload, err := json.Marshal(tokenClaims{JTI: crypto.Token(16), Nonce: c.Nonce, AppDigest: c.AppDigest,
		AppVersion: c.AppVersion, DeviceIntegrity: c.DeviceIntegrity,
		IssuedAt: now.Unix(), Expires: now.Add(TokenLifetime).Unix()})
	if err != nil {
		return "", fmt.Errorf("attest: encode claims: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), s.key))
	if err != nil {
		return "", fmt.Errorf("attest: sign token: %w", err)
	}
	return string(tok), nil
}

// Verify checks the signature (ES256 with the simulator's key, nothing
// else), then the claims and their freshness.
func (s *Simulator) Verify(ctx context.Context, token string) (*Verdict, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(token) > maxTokenSize {
		return nil, ErrInvalidToken.WithCause(errors.New("token too large"))
	}
	// VerifyCompactFast requires the header's alg to be ES256, so "none"
	// and algorithm confusion fail here, and refuses crit and b64 headers.
	payload, err := jws.VerifyCompactFast(&s.key.PublicKey, []byte(token), jwa.ES256())
	if err != nil {
		return nil, ErrInvalidToken.WithCause(err)
	}
	c, err := parseClaims(payload)
	if err != nil {
		return nil, ErrInvalidToken.WithCause(err)
	}
	if err := c.fresh(s.now()); err != nil {
		return nil, ErrInvalidToken.WithCause(err)
	}
	return c.verdict(), nil
}

// parseClaims decodes a payload strictly: every claim present with its
// type, no unknown one, nothing after.
func parseClaims(payload []byte) (*tokenClaims, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	for _, k := range []string{"jti", "nonce", "app_digest", "app_version", "device_integrity", "iat", "exp"} {
		if _, ok := raw[k]; !ok {
			return nil, fmt.Errorf("claims: %q missing", k)
		}
	}
	var c tokenClaims
	if err := strictUnmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if c.JTI == "" || c.Nonce == "" {
		return nil, errors.New("claims: empty jti or nonce")
	}
	return &c, nil
}

// fresh checks the validity window: issued not in the future (beyond the
// skew), not expired, and no longer than TokenLifetime.
func (c *tokenClaims) fresh(now time.Time) error {
	iat, exp := time.Unix(c.IssuedAt, 0), time.Unix(c.Expires, 0)
	switch {
	case iat.After(now.Add(clockSkew)):
		return fmt.Errorf("issued in the future (%s)", iat.UTC().Format(time.RFC3339))
	case !now.Before(exp):
		return fmt.Errorf("expired at %s", exp.UTC().Format(time.RFC3339))
	case !exp.After(iat) || exp.Sub(iat) > TokenLifetime:
		return errors.New("validity window empty or too long")
	}
	return nil
}

func (c *tokenClaims) verdict() *Verdict {
	return &Verdict{TokenID: c.JTI, Nonce: c.Nonce, AppDigest: c.AppDigest, AppVersion: c.AppVersion,
		DeviceIntegrity: c.DeviceIntegrity, IssuedAt: time.Unix(c.IssuedAt, 0).UTC()}
}

func (s *Simulator) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
