package onetime

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// Alphabets codes are drawn from. Alnum has 32 upper-case characters with
// none a person confuses when reading a bank statement memo: no 0/O, no 1/I.
const (
	Digits = "0123456789"
	Alnum  = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
)

// Bounds on what callers may ask for; outside them is a programming error.
const (
	minLength      = 4
	maxLength      = 12
	maxMaxAttempts = 100
	// maxInput bounds a submitted code before it is hashed.
	maxInput = 64
)

// Service issues and checks codes.
type Service struct {
	Store  Store
	Pepper []byte
	Now    func() time.Time
}

// Issue creates a code of n decimal digits, valid for ttl and for at most
// maxAttempts entries. The code is returned to be delivered; only its MAC is
// stored.
func (s *Service) Issue(ctx context.Context, purpose, subject string, digits int, ttl time.Duration, maxAttempts int) (code string, c *Code, err error) {
	return s.issue(ctx, Digits, purpose, subject, digits, ttl, maxAttempts)
}

// IssueAlnum is Issue with the Alnum alphabet (the 1-won memo code).
func (s *Service) IssueAlnum(ctx context.Context, purpose, subject string, length int, ttl time.Duration, maxAttempts int) (string, *Code, error) {
	return s.issue(ctx, Alnum, purpose, subject, length, ttl, maxAttempts)
}

func (s *Service) issue(ctx context.Context, alphabet, purpose, subject string, n int, ttl time.Duration, maxAttempts int) (string, *Code, error) {
	if err := checkIssue(purpose, subject, n, ttl, maxAttempts); err != nil {
		return "", nil, err
	}
	code := draw(alphabet, n)
	now := s.now().UTC()
	c := &Code{ID: crypto.NewID("otc_"), Purpose: purpose, Subject: subject, Hash: s.hash(purpose, subject, code),
		ExpiresAt: now.Add(ttl), MaxAttempts: maxAttempts, CreatedAt: now}
	if err := s.Store.CreateCode(ctx, c); err != nil {
		return "", nil, err
	}
	return code, c, nil
}

func checkIssue(purpose, subject string, n int, ttl time.Duration, maxAttempts int) error {
	switch {
	case purpose == "" || subject == "":
		return fmt.Errorf("one-time code needs a purpose and a subject: %w", errs.ErrInvalid)
	case n < minLength || n > maxLength:
		return fmt.Errorf("one-time code length %d outside [%d, %d]: %w", n, minLength, maxLength, errs.ErrInvalid)
	case ttl <= 0:
		return fmt.Errorf("one-time code ttl %v: %w", ttl, errs.ErrInvalid)
	case maxAttempts < 1 || maxAttempts > maxMaxAttempts:
		return fmt.Errorf("one-time code max attempts %d: %w", maxAttempts, errs.ErrInvalid)
	}
	return nil
}

// Check counts one attempt and compares in constant time. The attempt is
// counted before anything is compared, so parallel guesses each use up a try.
// A code issued for another purpose or subject (an SMS code of another
// registration) hashes differently and is simply Wrong, and counted.
func (s *Service) Check(ctx context.Context, id, purpose, subject, code string) (Result, error) {
	now := s.now()
	c, err := s.Store.ConsumeAttempt(ctx, id, now)
	if errors.Is(err, ErrNotCounted) && c != nil {
		return refusal(c, now), nil
	} else if err != nil {
		return Wrong, err
	}
	if !s.matches(c, purpose, subject, code) {
		if c.Attempts >= c.MaxAttempts {
			return Exhausted, nil
		}
		return Wrong, nil
	}
	won, err := s.Store.MarkCodeUsed(ctx, id, now)
	if err != nil {
		return Wrong, err
	}
	if !won {
		return Used, nil // a parallel check with the same code got there first
	}
	return Accepted, nil
}

// refusal says why a code took no attempt.
func refusal(c *Code, now time.Time) Result {
	switch {
	case c.UsedAt != nil:
		return Used
	case !now.Before(c.ExpiresAt):
		return Expired
	}
	return Exhausted
}

func (s *Service) matches(c *Code, purpose, subject, code string) bool {
	if len(code) > maxInput {
		return false
	}
	return crypto.Equal(c.Hash, s.hash(purpose, subject, upperASCII(code)))
}

// hash is HMAC(pepper, purpose, subject, code), each length-prefixed so
// that no two different triples share an input.
func (s *Service) hash(purpose, subject, code string) []byte {
	var msg []byte
	for _, f := range [...]string{purpose, subject, code} {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(f)))
		msg = append(msg, f...)
	}
	return crypto.MAC(s.Pepper, msg)
}

// upperASCII lets a person type an Alnum code in lower case; digits are
// unchanged.
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// draw returns n characters of alphabet chosen uniformly with crypto/rand.
// Bytes at or above the largest multiple of len(alphabet) are thrown away:
// taking them modulo the length would favour the first characters.
func draw(alphabet string, n int) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		rand.Read(buf) // never fails since Go 1.24
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
