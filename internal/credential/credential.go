// Package credential is what a customer knows, set after their device is
// registered: a 6-digit PIN (간편비밀번호) or a pattern on a 3×3 grid. The
// third login method, biometric, has no secret here: it is the device key,
// which the phone unlocks only after its own biometric check.
//
// Secrets are stored only as Argon2id hashes (with the pepper of
// crypto.Hasher) of a method-prefixed canonical form, so a PIN and a pattern
// never hash alike. They are never logged, never audited, and the byte forms
// this package makes of them are zeroed after hashing.
package credential

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
)

// Method is how a customer proves who they are when logging in.
type Method string

// Login methods. Biometric has no stored secret.
const (
	MethodPIN       Method = "pin"
	MethodPattern   Method = "pattern"
	MethodBiometric Method = "biometric"
)

// Valid reports whether m is a known method.
func (m Method) Valid() bool {
	return m == MethodPIN || m == MethodPattern || m == MethodBiometric
}

// HasSecret reports whether m is a method with a secret this package keeps.
func (m Method) HasSecret() bool { return m == MethodPIN || m == MethodPattern }

// HistorySize is how many recent secrets a new one must differ from: the
// current one and the HistorySize-1 it replaced. Credential.History holds
// those replaced ones, so a stored history is never longer than MaxHistory.
const (
	HistorySize = 3
	MaxHistory  = HistorySize - 1
)

// Credential is one customer's secret for one method, as stored.
type Credential struct {
	CustomerID string
	Method     Method
	Hash       string   // PHC string of crypto.Hasher
	History    []string // hashes of the secrets Hash replaced, newest first, at most MaxHistory
	UpdatedAt  time.Time
	// MustChange is set when protection mode ends: the old secret may have
	// been guessed at, so it no longer logs in and a new one is required.
	MustChange bool
}

// Store keeps credentials, one per (customer, method). Every change is
// written in one transaction with its audit entry.
type Store interface {
	// SetCredential inserts or replaces the customer's credential for
	// c.Method, with c.History as the history kept and MustChange as given,
	// only if the stored hash is still replaces ("" = none stored): a set
	// racing another is ErrChanged and writes nothing, so no history entry
	// is lost. An unknown customer is errs.ErrNotFound and writes nothing.
	SetCredential(ctx context.Context, c *Credential, replaces string, e audit.Entry) error
	// Credential returns the credential, errs.ErrNotFound when none.
	Credential(ctx context.Context, customerID string, method Method) (*Credential, error)
	// MarkMustChange forces a change of the secret at the next set;
	// errs.ErrNotFound when there is no credential.
	MarkMustChange(ctx context.Context, customerID string, method Method, e audit.Entry) error
}

// ErrChanged: the credential changed between reading it and replacing it
// (two sets at once); the later one is refused and may simply retry.
var ErrChanged = errs.New(errs.Conflict, "credential_changed",
	"The PIN or pattern was changed at the same time; try again.",
	"비밀번호나 패턴이 동시에 변경되었습니다. 다시 시도하세요.")

// Errors of this package. The PIN and pattern rules have their own codes in
// pin.go and pattern.go.
var (
	ErrMethod = errs.New(errs.Invalid, "credential_method",
		"The login method is not known.",
		"알 수 없는 로그인 방식입니다.").WithField("method")
	ErrNoSecret = errs.New(errs.Invalid, "credential_no_secret",
		"Biometric login uses the device key and has no PIN or pattern to set.",
		"생체인증 로그인은 기기 키를 사용하므로 설정할 비밀번호나 패턴이 없습니다.").WithField("method")
	ErrReused = errs.New(errs.Invalid, "credential_reused",
		"Choose a secret different from your last three.",
		"최근 세 번 사용한 것과 다른 비밀번호나 패턴을 정하세요.").WithField("secret")
	ErrMustChange = errs.New(errs.Forbidden, "credential_must_change",
		"This PIN or pattern must be replaced before it can be used again.",
		"이 비밀번호나 패턴은 다시 쓰기 전에 새로 정해야 합니다.")
)
