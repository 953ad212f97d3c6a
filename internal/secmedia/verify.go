package secmedia

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
)

// Verify checks code on the medium with serial that institutionID
// registered to holder, and spends it: a TOTP step or HOTP counter once
// accepted is never accepted again. An unknown serial, another
// institution's, and another person's medium all answer false with no
// detail, after the same work. A code that is not 6 or 8 ASCII digits (or
// not the medium's digits) is ErrCodeFormat and is not counted; a wrong
// code is counted, and MaxFailures of them in a row lock the medium
// (ErrLocked) until Unlock.
func (s *Service) Verify(ctx context.Context, institutionID string, holder ekyc.Applicant, serial, code string) (bool, error) {
	if !codeShape(code) {
		return false, ErrCodeFormat
	}
	serial, err := NormalizeSerial(serial)
	if err != nil {
		return false, err
	}
	index, holderOK := s.indexOf(holder)
	rec, err := s.Store.Medium(ctx, institutionID, serial)
	if errors.Is(err, errs.ErrNotFound) {
		decoy(code, 2*TOTPSkew+1)
		return false, nil
	} else if err != nil {
		return false, err
	}
	if !holderOK || !crypto.Equal(index, rec.HolderIndex) {
		decoy(code, tries(rec.Kind))
		return false, nil
	}
	return s.check(ctx, rec, code)
}

// check verifies code on the holder's own medium.
func (s *Service) check(ctx context.Context, rec *Record, code string) (bool, error) {
	if len(code) != rec.Digits {
		return false, ErrCodeFormat
	}
	if rec.Failures >= s.maxFailures() {
		return false, ErrLocked
	}
	seed, err := s.Ring.Open(rec.SeedSealed, aad(rec.ID, colSeed))
	if err != nil {
		return false, fmt.Errorf("open security medium %s seed: %w", rec.ID, err)
	}
	g := generator{secret: b32.EncodeToString(seed), digits: otp.Digits(rec.Digits), alg: otpAlgorithm(rec.Algorithm)}
	clear(seed)
	if rec.Kind == HOTP {
		return s.checkHOTP(ctx, rec, g, code)
	}
	return s.checkTOTP(ctx, rec, g, code)
}

// checkTOTP accepts the current step or one either side, provided the
// step is after the last one accepted; recording it is conditional on
// that too, so of parallel uses of one code exactly one wins.
func (s *Service) checkTOTP(ctx context.Context, rec *Record, g generator, code string) (bool, error) {
	period := int64(rec.Period)
	cur := floorDiv(s.now().Unix(), period)
	matched, spendable := false, int64(-1)
	for step := cur - TOTPSkew; step <= cur+TOTPSkew; step++ {
		if step < 0 || !g.totp(step, period, code) {
			continue
		}
		matched = true
		if step > rec.LastStep && spendable < 0 {
			spendable = step
		}
	}
	switch {
	case !matched:
		return s.fail(ctx, rec)
	case spendable < 0:
		return false, nil // a replay: the right code, already spent
	}
	return s.Store.AdvanceTOTP(ctx, rec.ID, spendable, s.maxFailures())
}

// checkHOTP tries the expected counter and the HOTPLookAhead after it; a
// match moves the counter past it, conditional on no one having moved it
// meanwhile. The code of the counter spent last is a replay, refused but
// not counted as wrong: it is what a double submission, or the losers of
// a race on one code, send.
func (s *Service) checkHOTP(ctx context.Context, rec *Record, g generator, code string) (bool, error) {
	var found bool
	var at uint64
	for i := uint64(0); i <= HOTPLookAhead; i++ {
		if g.hotp(rec.Counter+i, code) && !found {
			found, at = true, rec.Counter+i
		}
	}
	replay := rec.Counter > 0 && g.hotp(rec.Counter-1, code)
	switch {
	case found:
		return s.Store.AdvanceHOTP(ctx, rec.ID, rec.Counter, at+1, s.maxFailures())
	case replay:
		return false, nil
	}
	return s.fail(ctx, rec)
}

// fail counts a wrong code; the one that reaches the cap is audited as the
// lock, with the institution whose request made it as the actor.
func (s *Service) fail(ctx context.Context, rec *Record) (bool, error) {
	e := audit.Entry{Time: s.now().UTC(), Actor: rec.InstitutionID, Action: actLock, Target: rec.ID,
		Result: audit.ResultFailure, Details: map[string]string{"serial": maskSerial(rec.Serial)}}
	_, _, err := s.Store.CountMediumFailure(ctx, rec.ID, s.maxFailures(), e)
	return false, err
}

// indexOf normalises a holder and returns its blind index; false when the
// holder cannot be anyone's (it could not have been registered).
func (s *Service) indexOf(holder ekyc.Applicant) ([]byte, bool) {
	h, err := normalizeHolder(holder)
	if err != nil {
		return nil, false
	}
	return s.holderIndex(h), true
}

// codeShape accepts 6 or 8 ASCII digits, the only lengths a medium shows.
func codeShape(code string) bool {
	if len(code) != 6 && len(code) != 8 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// generator computes a medium's codes and compares them in constant time.
type generator struct {
	secret string // base32, as pquerna/otp takes it
	digits otp.Digits
	alg    otp.Algorithm
}

func (g generator) hotp(counter uint64, code string) bool {
	want, err := hotp.GenerateCodeCustom(g.secret, counter, hotp.ValidateOpts{Digits: g.digits, Algorithm: g.alg})
	return err == nil && crypto.Equal([]byte(want), []byte(code))
}

func (g generator) totp(step, period int64, code string) bool {
	want, err := totp.GenerateCodeCustom(g.secret, time.Unix(step*period, 0),
		totp.ValidateOpts{Period: uint(period), Digits: g.digits, Algorithm: g.alg})
	return err == nil && crypto.Equal([]byte(want), []byte(code))
}

// decoySecret stands in for a seed when there is no medium to check, so
// that an unknown serial or a stranger's medium costs the HMACs a real
// check does.
var decoySecret = b32.EncodeToString(make([]byte, seedBytes))

func decoy(code string, n int) {
	g := generator{secret: decoySecret, digits: otp.Digits(len(code)), alg: otp.AlgorithmSHA1}
	for i := range n {
		g.hotp(uint64(i), code)
	}
}

// tries is how many codes a check of a medium of kind computes.
func tries(k Kind) int {
	if k == HOTP {
		return HOTPLookAhead + 2 // the window and the last spent counter
	}
	return 2*TOTPSkew + 1
}

func otpAlgorithm(a Algorithm) otp.Algorithm {
	switch a {
	case SHA256:
		return otp.AlgorithmSHA256
	case SHA512:
		return otp.AlgorithmSHA512
	}
	return otp.AlgorithmSHA1
}

// floorDiv is a/b rounded down, as RFC 6238's T = floor((now - T0) / X).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// maskSerial keeps the last four characters of a serial, as eKYC shows it.
func maskSerial(s string) string {
	if len(s) <= 4 {
		return strings.Repeat("*", len(s))
	}
	return strings.Repeat("*", len(s)-4) + s[len(s)-4:]
}
