// Package operator is the people who run haechi: call-center agents, branch
// tellers, fraud analysts, auditors and admins. They log in with a password and
// a TOTP code and hold server-side sessions.
package operator

import (
	"context"
	"slices"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
)

// Role grants a set of operator actions; later capabilities check them.
type Role string

const (
	RoleAgent   Role = "agent"
	RoleTeller  Role = "teller"
	RoleAnalyst Role = "analyst"
	RoleAuditor Role = "auditor"
	RoleAdmin   Role = "admin"
	// RoleSupervisor approves what another operator requested, such as a
	// call-center release of a blocked device registration.
	RoleSupervisor Role = "supervisor"
)

// Roles is every role, in the order the console shows them.
var Roles = []Role{RoleAgent, RoleTeller, RoleAnalyst, RoleAuditor, RoleAdmin, RoleSupervisor}

// Operator is a staff account. TOTPSealed is the TOTP secret sealed with the
// data keyring; LastTOTPStep stops a code from being used twice.
type Operator struct {
	ID           string
	Username     string
	Roles        []Role
	PasswordHash string
	TOTPSealed   []byte
	Disabled     bool
	FailedLogins int
	LockedUntil  time.Time
	LastTOTPStep int64
	CreatedAt    time.Time
}

// Has reports whether the operator holds role.
func (o *Operator) Has(r Role) bool { return slices.Contains(o.Roles, r) }

// Session is a console session. Only the HMAC of its token is stored, so a
// database read does not yield usable sessions.
type Session struct {
	TokenHash  []byte
	CSRFHash   []byte
	OperatorID string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// Store keeps operators and sessions. Counters move with single atomic
// statements, and every mutation writes its audit entry in the same
// transaction.
type Store interface {
	CreateOperator(ctx context.Context, o *Operator, e audit.Entry) error
	Operator(ctx context.Context, id string) (*Operator, error)
	OperatorByUsername(ctx context.Context, username string) (*Operator, error)
	Operators(ctx context.Context) ([]*Operator, error)
	// SetOperatorDisabled flips the flag; disabling also ends every session.
	SetOperatorDisabled(ctx context.Context, id string, disabled bool, e audit.Entry) error
	// RecordOperatorFailure adds one failure and, when the count reaches
	// limit, locks the account until lockUntil. It returns the new count.
	RecordOperatorFailure(ctx context.Context, id string, limit int, lockUntil time.Time, e audit.Entry) (int, error)
	// CompleteOperatorLogin accepts TOTP step only if it is newer than the
	// stored one (else ErrCodeReused), resets failures and stores the session.
	CompleteOperatorLogin(ctx context.Context, id string, step int64, s *Session, e audit.Entry) error
	OperatorSession(ctx context.Context, tokenHash []byte) (*Session, error)
	DeleteOperatorSession(ctx context.Context, tokenHash []byte, e audit.Entry) error
	// AppendAudit records a refusal that changes nothing else.
	AppendAudit(ctx context.Context, e audit.Entry) error
}

// Errors of this package.
var (
	ErrBadLogin   = errs.New(errs.Unauthenticated, "invalid_credentials", "Username, password or code is wrong.", "아이디, 비밀번호 또는 인증코드가 올바르지 않습니다.")
	ErrLocked     = errs.New(errs.Locked, "operator_locked", "The account is locked for a while after repeated failures.", "반복된 실패로 계정이 잠시 잠겼습니다.")
	ErrCodeReused = errs.New(errs.Unauthenticated, "totp_reused", "This code was already used; wait for the next one.", "이미 사용한 인증코드입니다. 다음 코드를 기다리세요.")
	ErrNoSession  = errs.New(errs.Unauthenticated, "session_invalid", "The session is missing or has expired.", "세션이 없거나 만료되었습니다.")
	ErrCSRF       = errs.New(errs.Forbidden, "csrf_failed", "The request lacks a valid CSRF token.", "CSRF 토큰이 올바르지 않습니다.")
	ErrRole       = errs.New(errs.Forbidden, "role_required", "Your role does not allow this.", "이 작업을 할 역할이 없습니다.")
	ErrWeakPass   = errs.New(errs.Invalid, "weak_password", "The password must have at least 12 characters.", "비밀번호는 12자 이상이어야 합니다.")
	ErrBadRole    = errs.New(errs.Invalid, "unknown_role", "A role is unknown.", "알 수 없는 역할입니다.")
)
