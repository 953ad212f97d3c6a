// Package errs is haechi's one error type. Every error that may reach a client
// is an *Error with a stable machine code and a message in English and Korean;
// anything else is treated as internal and never shown.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Kind decides the HTTP status; Code says precisely what went wrong.
type Kind int

const (
	Internal Kind = iota
	Invalid
	Unauthenticated
	Forbidden
	NotFound
	Conflict
	TooLarge
	UnsupportedMedia
	TooManyRequests
	Unavailable
	Locked
)

// Error is safe to show: Code, the two messages, Field and RetryAfter reach the
// client; Cause never does.
type Error struct {
	Kind       Kind
	Code       string
	EN, KO     string
	Field      string
	RetryAfter time.Duration
	Cause      error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %v", e.Code, e.Cause)
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Cause }

// Is lets errors.Is match by code, so a copy with a field or cause attached is
// still the same error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// New declares an error; packages keep their errors as package-level values.
func New(kind Kind, code, en, ko string) *Error {
	return &Error{Kind: kind, Code: code, EN: en, KO: ko}
}

// WithField returns a copy naming the offending input field.
func (e *Error) WithField(field string) *Error {
	c := *e
	c.Field = field
	return &c
}

// WithCause returns a copy carrying an internal cause for logs.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.Cause = err
	return &c
}

// WithRetryAfter returns a copy telling the client when to try again.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// As returns the *Error inside err, or nil when err is internal.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// KindOf reports the kind of err; unknown errors are Internal.
func KindOf(err error) Kind {
	if e := As(err); e != nil {
		return e.Kind
	}
	return Internal
}

// Errors shared by several capabilities.
var (
	ErrNotFound    = New(NotFound, "not_found", "The resource does not exist.", "요청한 리소스가 없습니다.")
	ErrConflict    = New(Conflict, "conflict", "The resource already exists or was changed.", "리소스가 이미 있거나 변경되었습니다.")
	ErrInvalid     = New(Invalid, "invalid_request", "The request is not valid.", "요청이 올바르지 않습니다.")
	ErrForbidden   = New(Forbidden, "forbidden", "You may not do this.", "이 작업을 할 권한이 없습니다.")
	ErrUnauth      = New(Unauthenticated, "unauthenticated", "Authentication is required.", "인증이 필요합니다.")
	ErrUnavailable = New(Unavailable, "unavailable", "The service is busy; try again shortly.", "서비스가 바쁩니다. 잠시 후 다시 시도하세요.")
	ErrInternal    = New(Internal, "internal", "An internal error occurred.", "내부 오류가 발생했습니다.")
)
