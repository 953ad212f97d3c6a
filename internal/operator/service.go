package operator

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// Service manages operator accounts, logins and sessions.
type Service struct {
	Store       Store
	Hasher      *crypto.Hasher
	Ring        *crypto.Keyring
	Pepper      []byte
	Now         func() time.Time
	SessionTTL  time.Duration // default 8 h
	MaxFailures int           // default 5
	LockFor     time.Duration // default 15 min
}

// Enrollment is what an operator needs once to set up the authenticator app.
type Enrollment struct {
	TOTPSecret string // base32
	TOTPURL    string // otpauth:// URL
}

const (
	totpPeriod     = 30
	minPasswordLen = 12
	maxPasswordLen = 256
)

var errBadUsername = errs.New(errs.Invalid, "invalid_username", "The username must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-'.", "아이디는 a-z, 0-9, '.', '_', '-' 로 된 3~64자여야 합니다.")

// Create adds an operator and returns their TOTP enrollment, shown once.
func (s *Service) Create(ctx context.Context, actor, username, password string, roles []Role) (*Operator, *Enrollment, error) {
	if err := validateNew(username, password, roles); err != nil {
		return nil, nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "haechi", AccountName: username, Period: totpPeriod, SecretSize: 20})
	if err != nil {
		return nil, nil, err
	}
	op, err := s.newOperator(ctx, username, password, roles, key.Secret())
	if err != nil {
		return nil, nil, err
	}
	e := s.entry(actor, "operator.create", op.ID, audit.ResultSuccess, map[string]string{"username": username, "roles": joinRoles(roles)})
	if err := s.Store.CreateOperator(ctx, op, e); err != nil {
		return nil, nil, err
	}
	return op, &Enrollment{TOTPSecret: key.Secret(), TOTPURL: key.URL()}, nil
}

func (s *Service) newOperator(ctx context.Context, username, password string, roles []Role, secret string) (*Operator, error) {
	hash, err := s.Hasher.Hash(ctx, []byte(password))
	if err != nil {
		return nil, err
	}
	id := crypto.NewID("op_")
	sealed, err := s.Ring.Seal([]byte(secret), totpAAD(id))
	if err != nil {
		return nil, err
	}
	r := slices.Clone(roles)
	slices.Sort(r)
	return &Operator{ID: id, Username: username, Roles: slices.Compact(r), PasswordHash: hash, TOTPSealed: sealed, CreatedAt: s.Now().UTC()}, nil
}

// Login checks password then TOTP; on success it returns a session token and
// a CSRF token, both shown once. Unknown users cost a dummy hash so that
// timing does not reveal which usernames exist.
func (s *Service) Login(ctx context.Context, username, password, code string) (token, csrf string, op *Operator, err error) {
	if len(password) > maxPasswordLen || len(code) > 10 {
		return "", "", nil, ErrBadLogin
	}
	op, err = s.Store.OperatorByUsername(ctx, username)
	if errors.Is(err, errs.ErrNotFound) {
		_ = s.Hasher.DummyVerify(ctx, []byte(password))
		return "", "", nil, ErrBadLogin
	} else if err != nil {
		return "", "", nil, err
	}
	now := s.Now()
	if op.Disabled {
		_ = s.Hasher.DummyVerify(ctx, []byte(password))
		return "", "", nil, s.refuse(ctx, op, "disabled", ErrBadLogin)
	}
	if now.Before(op.LockedUntil) {
		return "", "", nil, s.refuse(ctx, op, "locked", ErrLocked.WithRetryAfter(op.LockedUntil.Sub(now)))
	}
	step, err := s.checkFactors(ctx, op, password, code, now)
	if err != nil {
		return "", "", nil, err
	}
	token, csrf, err = s.startSession(ctx, op, step, now)
	return token, csrf, op, err
}

// checkFactors verifies both factors and counts a failure of either one.
func (s *Service) checkFactors(ctx context.Context, op *Operator, password, code string, now time.Time) (int64, error) {
	ok, err := s.Hasher.Verify(ctx, op.PasswordHash, []byte(password))
	if err != nil {
		return 0, err
	}
	step, codeOK := int64(0), false
	if ok {
		step, codeOK, err = s.checkTOTP(op, code, now)
		if err != nil {
			return 0, err
		}
	}
	if !ok || !codeOK {
		return 0, s.recordFailure(ctx, op, now)
	}
	return step, nil
}

// checkTOTP accepts the current step or one step either side for clock drift
// and returns the matched step, which must be newer than the last used one.
func (s *Service) checkTOTP(op *Operator, code string, now time.Time) (int64, bool, error) {
	secret, err := s.Ring.Open(op.TOTPSealed, totpAAD(op.ID))
	if err != nil {
		return 0, false, err
	}
	cur := now.Unix() / totpPeriod
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false, err
		}
		if crypto.Equal([]byte(want), []byte(code)) {
			return step, true, nil
		}
	}
	return 0, false, nil
}

func (s *Service) recordFailure(ctx context.Context, op *Operator, now time.Time) error {
	e := s.entry(op.ID, "operator.login", op.ID, audit.ResultFailure, map[string]string{"reason": "bad_credentials"})
	n, err := s.Store.RecordOperatorFailure(ctx, op.ID, s.maxFailures(), now.Add(s.lockFor()).UTC(), e)
	if err != nil {
		return err
	}
	if n >= s.maxFailures() {
		return ErrLocked.WithRetryAfter(s.lockFor())
	}
	return ErrBadLogin
}

func (s *Service) startSession(ctx context.Context, op *Operator, step int64, now time.Time) (string, string, error) {
	token, csrf := crypto.Token(32), crypto.Token(32)
	sess := &Session{
		TokenHash:  s.mac("session", token),
		CSRFHash:   s.mac("csrf", csrf),
		OperatorID: op.ID,
		CreatedAt:  now.UTC(),
		ExpiresAt:  now.Add(s.sessionTTL()).UTC(),
	}
	e := s.entry(op.ID, "operator.login", op.ID, audit.ResultSuccess, nil)
	if err := s.Store.CompleteOperatorLogin(ctx, op.ID, step, sess, e); err != nil {
		return "", "", err
	}
	return token, csrf, nil
}

// refuse audits a login refused before the factors were checked.
func (s *Service) refuse(ctx context.Context, op *Operator, reason string, err error) error {
	e := s.entry(op.ID, "operator.login", op.ID, audit.ResultDenied, map[string]string{"reason": reason})
	if aerr := s.Store.AppendAudit(ctx, e); aerr != nil {
		return aerr
	}
	return err
}

// Authenticate resolves a session token to its live session and operator.
func (s *Service) Authenticate(ctx context.Context, token string) (*Operator, *Session, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, ErrNoSession
	}
	sess, err := s.Store.OperatorSession(ctx, s.mac("session", token))
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil, ErrNoSession
	} else if err != nil {
		return nil, nil, err
	}
	if !s.Now().Before(sess.ExpiresAt) {
		return nil, nil, ErrNoSession
	}
	op, err := s.Store.Operator(ctx, sess.OperatorID)
	if err != nil {
		return nil, nil, err
	}
	if op.Disabled {
		return nil, nil, ErrNoSession
	}
	return op, sess, nil
}

// CheckCSRF compares the request's CSRF token with the session's.
func (s *Service) CheckCSRF(sess *Session, csrf string) error {
	if csrf == "" || !crypto.Equal(sess.CSRFHash, s.mac("csrf", csrf)) {
		return ErrCSRF
	}
	return nil
}

// Logout ends a session.
func (s *Service) Logout(ctx context.Context, actor, token string) error {
	e := s.entry(actor, "operator.logout", actor, audit.ResultSuccess, nil)
	return s.Store.DeleteOperatorSession(ctx, s.mac("session", token), e)
}

// SetDisabled disables or re-enables an operator; disabling ends sessions.
func (s *Service) SetDisabled(ctx context.Context, actor, id string, disabled bool) error {
	action := "operator.enable"
	if disabled {
		action = "operator.disable"
	}
	return s.Store.SetOperatorDisabled(ctx, id, disabled, s.entry(actor, action, id, audit.ResultSuccess, nil))
}

// List returns every operator.
func (s *Service) List(ctx context.Context) ([]*Operator, error) { return s.Store.Operators(ctx) }

func (s *Service) mac(purpose, token string) []byte {
	return crypto.MAC(s.Pepper, []byte("haechi-operator-"+purpose+"\x00"+token))
}

func (s *Service) entry(actor, action, target, result string, details map[string]string) audit.Entry {
	return audit.Entry{Time: s.Now().UTC(), Actor: actor, Action: action, Target: target, Result: result, Details: details}
}

func (s *Service) sessionTTL() time.Duration { return orDefault(s.SessionTTL, 8*time.Hour) }
func (s *Service) lockFor() time.Duration    { return orDefault(s.LockFor, 15*time.Minute) }
func (s *Service) maxFailures() int {
	if s.MaxFailures <= 0 {
		return 5
	}
	return s.MaxFailures
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func totpAAD(id string) crypto.AAD {
	return crypto.AAD{Table: "operators", Column: "totp_sealed", RowID: id}
}

func joinRoles(roles []Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, " ")
}

// validateNew checks a new operator's username, password and roles.
func validateNew(username, password string, roles []Role) error {
	if !validUsername(username) {
		return errBadUsername.WithField("username")
	}
	if n := utf8.RuneCountInString(password); n < minPasswordLen || len(password) > maxPasswordLen {
		return ErrWeakPass.WithField("password")
	}
	if len(roles) == 0 {
		return ErrBadRole.WithField("roles")
	}
	for _, r := range roles {
		if !slices.Contains(Roles, r) {
			return ErrBadRole.WithField("roles")
		}
	}
	return nil
}

func validUsername(u string) bool {
	if len(u) < 3 || len(u) > 64 {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
