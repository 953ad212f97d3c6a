// Package session is a customer's session after a successful login: short
// access tokens and rotating refresh tokens, both bound to the device key
// with DPoP (RFC 9449), so that a stolen token is useless without the key
// kept in the phone's secure hardware.
//
// Tokens are opaque random strings, stored only as an HMAC under the pepper,
// rather than self-contained JWTs with cnf.jkt: every use then reads the
// database, which is what lets one transaction kill a whole family — access
// tokens included — on refresh-token reuse, device revocation or a branch
// reset, with no revocation list and no window until a JWT expires.
package session

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
)

// Lifetimes (issue #4).
const (
	AccessTTL  = 10 * time.Minute
	RefreshTTL = 30 * 24 * time.Hour
	// FamilyTTL caps a family however often it is refreshed: the customer
	// logs in again with PIN, pattern or biometric at least this often.
	FamilyTTL = 90 * 24 * time.Hour
	// ScopeCustomer is the only scope a customer session carries.
	ScopeCustomer = "customer"
	// tokenBytes is the entropy of every token.
	tokenBytes = 32
)

// Audit actions.
const (
	ActionIssue          = "session.issue"
	ActionRefresh        = "session.refresh"
	ActionRefreshReuse   = "session.refresh_reuse"
	ActionRevokeDevice   = "session.revoke_device"
	ActionRevokeCustomer = "session.revoke_customer"
)

// Revocation reasons stored with a family.
const (
	ReasonReuse    = "refresh_reuse"
	ReasonDevice   = "device"
	ReasonCustomer = "customer"
)

// Errors reaching the client; the cause stays in the logs.
var (
	ErrProofInvalid = errs.New(errs.Unauthenticated, "invalid_dpop_proof",
		"The DPoP proof is not valid for this request and key.", "DPoP 증명이 이 요청과 키에 유효하지 않습니다.")
	ErrProofReplayed = errs.New(errs.Unauthenticated, "dpop_proof_replayed",
		"The DPoP proof was already used.", "DPoP 증명이 이미 사용되었습니다.")
	ErrTokenInvalid = errs.New(errs.Unauthenticated, "invalid_token",
		"The access token is not valid.", "액세스 토큰이 올바르지 않습니다.")
	ErrTokenExpired = errs.New(errs.Unauthenticated, "token_expired",
		"The access token has expired.", "액세스 토큰이 만료되었습니다.")
	ErrRefreshInvalid = errs.New(errs.Unauthenticated, "invalid_refresh_token",
		"The refresh token is not valid; log in again.", "리프레시 토큰이 올바르지 않습니다. 다시 로그인하세요.")
	ErrRefreshReused = errs.New(errs.Unauthenticated, "refresh_reused",
		"The refresh token was already used; the session has been ended for your safety. Log in again.",
		"이미 사용된 리프레시 토큰입니다. 안전을 위해 세션을 종료했습니다. 다시 로그인하세요.")
)

// Family is one login's chain of refresh tokens. Generation names the one
// current refresh token; every rotation moves it by one, by compare-and-set.
type Family struct {
	ID           string
	CustomerID   string
	DeviceID     string
	JKT          string
	Generation   int64
	CreatedAt    time.Time
	ExpiresAt    time.Time // the absolute cap, CreatedAt + FamilyTTL
	RevokedAt    time.Time // zero while live
	RevokeReason string
}

// RefreshToken is the stored form of one refresh token of a family. Rotated
// tokens are kept until the family expires, so that their reuse is seen.
type RefreshToken struct {
	Hash       []byte
	FamilyID   string
	Generation int64
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// AccessToken is the stored form of an access token.
type AccessToken struct {
	Hash       []byte
	FamilyID   string
	CustomerID string
	DeviceID   string
	JKT        string
	Scope      string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// Rotation replaces a family's current refresh token (generation From) with
// Refresh (generation From+1) and adds Access, in one transaction.
type Rotation struct {
	FamilyID string
	From     int64
	Refresh  *RefreshToken
	Access   *AccessToken
	Now      time.Time
	Entry    audit.Entry
}

// Store keeps sessions durable. Each method is one transaction; each method
// that changes a family writes its audit entry in the same transaction.
type Store interface {
	// CreateSession stores a new family with its first tokens, only for an
	// active device of that customer (else errs.ErrNotFound).
	CreateSession(ctx context.Context, f *Family, r *RefreshToken, a *AccessToken, e audit.Entry) error
	// SessionRefresh finds a refresh token, current or rotated, and its
	// family, revoked or not (errs.ErrNotFound when unknown).
	SessionRefresh(ctx context.Context, hash []byte) (*Family, *RefreshToken, error)
	// RotateSession moves the family from r.From to r.From+1 only if it is
	// still at r.From, live, unexpired at r.Now and its device active;
	// otherwise errs.ErrConflict and nothing is written.
	RotateSession(ctx context.Context, r Rotation) error
	// RevokeSessionFamily revokes one family and deletes its access tokens.
	// Revoking a revoked family changes nothing but is still audited.
	RevokeSessionFamily(ctx context.Context, familyID, reason string, now time.Time, e audit.Entry) error
	// RevokeDeviceSessions and RevokeCustomerSessions revoke every live
	// family of a device or customer and return how many.
	RevokeDeviceSessions(ctx context.Context, deviceID, reason string, now time.Time, e audit.Entry) (int64, error)
	RevokeCustomerSessions(ctx context.Context, customerID, reason string, now time.Time, e audit.Entry) (int64, error)
	// SessionAccess finds an access token of a live family whose device is
	// still active (errs.ErrNotFound otherwise), expired or not.
	SessionAccess(ctx context.Context, hash []byte) (*AccessToken, error)
	// UseDPoPJTI records a proof's jti for its key until expires; false when
	// it is recorded and unexpired at now. PurgeSessions deletes old ones.
	UseDPoPJTI(ctx context.Context, jkt, jti string, now, expires time.Time) (bool, error)
	// PurgeSessions deletes families past their cap with their tokens,
	// expired access tokens and expired jtis, at now. The wiring must run it
	// periodically (Service.Purge); nothing else shrinks these tables.
	PurgeSessions(ctx context.Context, now time.Time) (int64, error)
}
