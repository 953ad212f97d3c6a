// Package institution is the callers of haechi's API: banks, fintechs and
// partners, each a Client with scopes, authenticating with API keys
// (hk_<id>_<secret>) or OAuth2 client credentials.
package institution

import (
	"context"
	"slices"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
)

// Scopes a client may hold. Routes name the scope they need.
const (
	ScopeEKYC    = "ekyc"
	ScopeDevice  = "device"
	ScopeLogin   = "login"
	ScopeRisk    = "risk"
	ScopePayment = "payment"
)

// KnownScopes is every scope a client may be given.
var KnownScopes = []string{ScopeEKYC, ScopeDevice, ScopeLogin, ScopeRisk, ScopePayment}

// Client is an institution's identity. SecretHash is the OAuth2 client secret,
// HMAC'd with the pepper (the secret is random, so a slow hash adds nothing).
type Client struct {
	ID         string
	Name       string
	Scopes     []string
	SecretHash []byte
	CreatedAt  time.Time
	RevokedAt  *time.Time
}

// APIKey is one long-lived credential of a client; its scopes are a subset of
// the client's.
type APIKey struct {
	ID         string
	ClientID   string
	SecretHash []byte
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	// ClientRevoked is set by Store.APIKey: whether the owning client is
	// revoked, read in the same statement so authentication needs one query.
	ClientRevoked bool
}

// Principal is an authenticated caller.
type Principal struct {
	ClientID string
	Scopes   []string
	// Via is "api_key" or "jwt"; CredentialID is the key id or token id.
	Via          string
	CredentialID string
}

// Has reports whether the principal holds scope.
func (p *Principal) Has(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Store keeps clients and keys. Every mutation writes its audit entry in the
// same transaction.
type Store interface {
	CreateClient(ctx context.Context, c *Client, e audit.Entry) error
	Client(ctx context.Context, id string) (*Client, error)
	Clients(ctx context.Context) ([]*Client, error)
	RevokeClient(ctx context.Context, id string, at time.Time, e audit.Entry) error
	CreateAPIKey(ctx context.Context, k *APIKey, e audit.Entry) error
	// APIKey returns one key with ClientRevoked filled in.
	APIKey(ctx context.Context, id string) (*APIKey, error)
	APIKeys(ctx context.Context, clientID string) ([]*APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time, e audit.Entry) error
}

// Errors of this package.
var (
	ErrBadKey     = errs.New(errs.Unauthenticated, "invalid_api_key", "The API key is not valid.", "API 키가 올바르지 않습니다.")
	ErrKeyExpired = errs.New(errs.Unauthenticated, "api_key_expired", "The API key has expired.", "API 키가 만료되었습니다.")
	ErrKeyRevoked = errs.New(errs.Unauthenticated, "api_key_revoked", "The API key has been revoked.", "API 키가 폐기되었습니다.")
	ErrBadClient  = errs.New(errs.Unauthenticated, "invalid_client", "Client authentication failed.", "클라이언트 인증에 실패했습니다.")
	ErrBadScope   = errs.New(errs.Invalid, "invalid_scope", "A requested scope is unknown or not granted.", "요청한 범위가 없거나 허용되지 않았습니다.")
	ErrScope      = errs.New(errs.Forbidden, "insufficient_scope", "The credential lacks the scope this route needs.", "이 경로에 필요한 권한 범위가 없습니다.")
)
