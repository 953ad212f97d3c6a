package attest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/jsonapi"
)

// DefaultMaxAge is how old a verdict's issue time may be by default: the
// provider checks expiry, and this bounds it on our side as well.
const DefaultMaxAge = 5 * time.Minute

// HTTP is the Verifier backed by a real attestation provider (or a gateway
// in front of Play Integrity / App Attest), spoken to over this JSON API
// with "Authorization: Bearer <token>":
//
//	POST {base}/v1/verify {"token"} → 200 {"valid": bool, "token_id", "nonce",
//	     "app_digest", "app_version", "device_integrity": bool, "issued_at": unix seconds}
//
// "valid": false gives ErrInvalidToken. Any other status, a malformed answer
// or a timeout is an error wrapping errs.ErrUnavailable. Like Simulator, it
// does not detect reuse: the caller refuses a TokenID it has seen.
type HTTP struct {
	c *jsonapi.Client
	// Now is the clock for MaxAge; nil means time.Now.
	Now func() time.Time
	// MaxAge bounds how long ago a token may have been issued; 0 means
	// DefaultMaxAge.
	MaxAge time.Duration
}

var _ Verifier = (*HTTP)(nil)

// NewHTTP returns an adapter for the provider at cfg.BaseURL.
func NewHTTP(cfg jsonapi.Config) (*HTTP, error) {
	c, err := jsonapi.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	return &HTTP{c: c}, nil
}

type verifyRequest struct {
	Token string `json:"token"`
}

type verifyAnswer struct {
	Valid           *bool  `json:"valid"`
	TokenID         string `json:"token_id"`
	Nonce           string `json:"nonce"`
	AppDigest       string `json:"app_digest"`
	AppVersion      string `json:"app_version"`
	DeviceIntegrity bool   `json:"device_integrity"`
	IssuedAt        int64  `json:"issued_at"`
}

// Verify asks the provider about token and checks what it answers.
func (h *HTTP) Verify(ctx context.Context, token string) (*Verdict, error) {
	if token == "" || len(token) > maxTokenSize {
		return nil, ErrInvalidToken.WithCause(errors.New("token empty or too large"))
	}
	var a verifyAnswer
	if err := h.c.Post(ctx, "v1/verify", verifyRequest{Token: token}, &a); err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	if err := a.check(); err != nil {
		return nil, errs.ErrUnavailable.WithCause(fmt.Errorf("attest: provider answer: %w", err))
	}
	if !*a.Valid {
		return nil, ErrInvalidToken.WithCause(errors.New("provider says invalid"))
	}
	v := a.verdict()
	if age := h.now().Sub(v.IssuedAt); age > h.maxAge() || age < -clockSkew {
		return nil, ErrInvalidToken.WithCause(fmt.Errorf("issued %s ago", age.Round(time.Second)))
	}
	return v, nil
}

// check refuses an answer a provider in working order would not give.
func (a *verifyAnswer) check() error {
	switch {
	case a.Valid == nil:
		return errors.New(`"valid" missing`)
	case *a.Valid && (a.TokenID == "" || a.Nonce == "" || a.IssuedAt <= 0):
		return errors.New("a valid verdict lacks token_id, nonce or issued_at")
	}
	return nil
}

func (a *verifyAnswer) verdict() *Verdict {
	return &Verdict{TokenID: a.TokenID, Nonce: a.Nonce, AppDigest: a.AppDigest, AppVersion: a.AppVersion,
		DeviceIntegrity: a.DeviceIntegrity, IssuedAt: time.Unix(a.IssuedAt, 0).UTC()}
}

func (h *HTTP) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *HTTP) maxAge() time.Duration {
	if h.MaxAge <= 0 {
		return DefaultMaxAge
	}
	return h.MaxAge
}
