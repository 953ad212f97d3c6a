package session

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// Service issues, refreshes, checks and revokes customer sessions.
type Service struct {
	Store  Store
	Pepper []byte // keys the HMAC under which tokens are stored
	Now    func() time.Time
	// ProofMaxAge is the accepted distance of a proof's iat from now;
	// 0 means DefaultProofMaxAge.
	ProofMaxAge time.Duration
}

// Validate reports a missing collaborator, for the wiring to call at start.
func (s *Service) Validate() error {
	switch {
	case s.Store == nil:
		return errors.New("session service: Store is required")
	case len(s.Pepper) < 32:
		return errors.New("session service: Pepper of at least 32 bytes is required")
	case s.Now == nil:
		return errors.New("session service: Now is required")
	case s.ProofMaxAge < 0 || s.ProofMaxAge > 5*time.Minute:
		return errors.New("session service: ProofMaxAge must lie between 0 and 5 minutes")
	}
	return nil
}

// Tokens are what a login or a refresh hands to the app, shown once.
type Tokens struct {
	Access         string
	Refresh        string
	AccessExpires  time.Time
	RefreshExpires time.Time
}

// Principal is the customer an authenticated request acts for.
type Principal struct {
	CustomerID string
	DeviceID   string
	FamilyID   string
	Scope      string
}

// maxTokenLen bounds a presented token; ours are 43 characters.
const maxTokenLen = 128

// Bind returns the thumbprint of a device's registered key (PKIX DER), so
// that the login flow can require the DPoP proof's JKT to equal it: the
// session is then bound to the very key that proved possession at login.
func (s *Service) Bind(deviceSPKI []byte) (string, error) {
	k, err := x509.ParsePKIXPublicKey(deviceSPKI)
	if err != nil {
		return "", fmt.Errorf("session: device key: %w", err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return "", fmt.Errorf("session: device key is %T, not P-256", k)
	}
	return thumbprint(pub), nil
}

// Issue starts a new family for a customer's active device after a
// successful login; jkt is the device key's thumbprint (Bind), already
// matched with the login's DPoP proof. e is completed and audited.
func (s *Service) Issue(ctx context.Context, customerID, deviceID, jkt string, e audit.Entry) (*Tokens, error) {
	if customerID == "" || deviceID == "" || len(jkt) != 43 {
		return nil, fmt.Errorf("session: issue needs a customer, a device and a thumbprint: %w", errs.ErrInvalid)
	}
	now := s.Now().UTC()
	f := &Family{ID: crypto.NewID("sf_"), CustomerID: customerID, DeviceID: deviceID, JKT: jkt,
		Generation: 1, CreatedAt: now, ExpiresAt: now.Add(FamilyTTL)}
	t, r, a := s.mint(f, f.Generation, now)
	e = complete(e, ActionIssue, audit.ResultSuccess, f, now)
	if err := s.Store.CreateSession(ctx, f, r, a, e); err != nil {
		return nil, fmt.Errorf("session: issue: %w", err)
	}
	return t, nil
}

// Refresh rotates a refresh token presented with a DPoP proof for this
// request (method and URL of the token endpoint). A rotated token presented
// again means two parties hold the family: it is revoked whole and
// ErrRefreshReused returned. Of two refreshes racing with the current
// token, one wins the compare-and-set and the loser is treated the same
// way: the app refreshes one request at a time, so a parallel refresh is a
// second holder, and ending the family is the sound answer to that.
func (s *Service) Refresh(ctx context.Context, refreshToken, proof, method, url string) (*Tokens, error) {
	now := s.Now().UTC()
	if refreshToken == "" || len(refreshToken) > maxTokenLen {
		return nil, ErrRefreshInvalid
	}
	p, err := VerifyProof(proof, method, url, "", now, s.ProofMaxAge)
	if err != nil {
		return nil, err
	}
	f, rt, err := s.Store.SessionRefresh(ctx, s.hash("refresh", refreshToken))
	if err != nil {
		return nil, notFoundAs(err, ErrRefreshInvalid)
	}
	if err := s.checkFamily(ctx, f, p, now); err != nil {
		return nil, err
	}
	if rt.Generation != f.Generation {
		return nil, s.reuse(ctx, f, rt.Generation, now)
	}
	if !now.Before(rt.ExpiresAt) {
		return nil, ErrRefreshInvalid.WithCause(errors.New("refresh token expired"))
	}
	return s.rotate(ctx, f, now)
}

// checkFamily refuses a dead family, a proof by another key, and a replayed
// proof. Only a proof by the family's own key can lead to revocation, so
// someone holding a stolen token but not the key cannot end the session.
func (s *Service) checkFamily(ctx context.Context, f *Family, p *Proof, now time.Time) error {
	switch {
	case !f.RevokedAt.IsZero():
		return ErrRefreshInvalid.WithCause(errors.New("family revoked"))
	case !now.Before(f.ExpiresAt):
		return ErrRefreshInvalid.WithCause(errors.New("family past its lifetime"))
	case p.JKT != f.JKT:
		return ErrProofInvalid.WithCause(errors.New("proof key is not the session's"))
	}
	return s.spend(ctx, p, now)
}

func (s *Service) rotate(ctx context.Context, f *Family, now time.Time) (*Tokens, error) {
	t, r, a := s.mint(f, f.Generation+1, now)
	e := complete(audit.Entry{}, ActionRefresh, audit.ResultSuccess, f, now)
	err := s.Store.RotateSession(ctx, Rotation{FamilyID: f.ID, From: f.Generation, Refresh: r, Access: a, Now: now, Entry: e})
	switch {
	case errors.Is(err, errs.ErrConflict):
		return nil, s.reuse(ctx, f, f.Generation, now)
	case errors.Is(err, errs.ErrNotFound):
		return nil, ErrRefreshInvalid.WithCause(err)
	case err != nil:
		return nil, fmt.Errorf("session: rotate: %w", err)
	}
	return t, nil
}

// reuse revokes the family with its access tokens and audits the attempt.
func (s *Service) reuse(ctx context.Context, f *Family, presented int64, now time.Time) error {
	e := complete(audit.Entry{}, ActionRefreshReuse, audit.ResultDenied, f, now)
	e.Details["presented_generation"] = strconv.FormatInt(presented, 10)
	if err := s.Store.RevokeSessionFamily(ctx, f.ID, ReasonReuse, now, e); err != nil {
		return fmt.Errorf("session: revoke on reuse: %w", err)
	}
	return ErrRefreshReused
}

// Authenticate checks an access token and its DPoP proof for this request:
// the token is live, the proof is valid for method and URL, signed by the
// token's key, carries the token's ath, and its jti is new.
func (s *Service) Authenticate(ctx context.Context, token, proof, method, url string) (*Principal, error) {
	now := s.Now().UTC()
	if token == "" || len(token) > maxTokenLen {
		return nil, ErrTokenInvalid
	}
	p, err := VerifyProof(proof, method, url, ATH(token), now, s.ProofMaxAge)
	if err != nil {
		return nil, err
	}
	a, err := s.Store.SessionAccess(ctx, s.hash("access", token))
	if err != nil {
		return nil, notFoundAs(err, ErrTokenInvalid)
	}
	switch {
	case !now.Before(a.ExpiresAt):
		return nil, ErrTokenExpired
	case p.JKT != a.JKT:
		return nil, ErrProofInvalid.WithCause(errors.New("proof key is not the token's"))
	}
	if err := s.spend(ctx, p, now); err != nil {
		return nil, err
	}
	return &Principal{CustomerID: a.CustomerID, DeviceID: a.DeviceID, FamilyID: a.FamilyID, Scope: a.Scope}, nil
}

// SpendProof verifies a DPoP proof made without an access token (a login)
// for this request, spends its jti and returns its key's thumbprint.
func (s *Service) SpendProof(ctx context.Context, proof, method, url string) (string, error) {
	now := s.Now().UTC()
	p, err := VerifyProof(proof, method, url, "", now, s.maxAge())
	if err != nil {
		return "", err
	}
	if err := s.spend(ctx, p, now); err != nil {
		return "", err
	}
	return p.JKT, nil
}

// spend records the proof's jti. It is kept a second past the last instant
// its iat is accepted, after which the iat check refuses it anyway.
func (s *Service) spend(ctx context.Context, p *Proof, now time.Time) error {
	expires := p.IAT.Add(s.maxAge() + time.Second)
	fresh, err := s.Store.UseDPoPJTI(ctx, p.JKT, p.JTI, now, expires)
	if err != nil {
		return fmt.Errorf("session: dpop jti: %w", err)
	}
	if !fresh {
		return ErrProofReplayed
	}
	return nil
}

// RevokeDevice ends every session of a device (device revocation).
func (s *Service) RevokeDevice(ctx context.Context, deviceID string, e audit.Entry) (int64, error) {
	now := s.Now().UTC()
	e = complete(e, ActionRevokeDevice, audit.ResultSuccess, &Family{ID: deviceID}, now)
	return s.Store.RevokeDeviceSessions(ctx, deviceID, ReasonDevice, now, e)
}

// RevokeCustomer ends every session of a customer (branch reset).
func (s *Service) RevokeCustomer(ctx context.Context, customerID string, e audit.Entry) (int64, error) {
	now := s.Now().UTC()
	e = complete(e, ActionRevokeCustomer, audit.ResultSuccess, &Family{ID: customerID, CustomerID: customerID}, now)
	return s.Store.RevokeCustomerSessions(ctx, customerID, ReasonCustomer, now, e)
}

// Purge deletes what has expired; the wiring runs it periodically.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	return s.Store.PurgeSessions(ctx, s.Now().UTC())
}

// mint makes the tokens of one generation; none outlives the family.
func (s *Service) mint(f *Family, gen int64, now time.Time) (*Tokens, *RefreshToken, *AccessToken) {
	t := &Tokens{Access: crypto.Token(tokenBytes), Refresh: crypto.Token(tokenBytes),
		AccessExpires: earliest(now.Add(AccessTTL), f.ExpiresAt), RefreshExpires: earliest(now.Add(RefreshTTL), f.ExpiresAt)}
	r := &RefreshToken{Hash: s.hash("refresh", t.Refresh), FamilyID: f.ID, Generation: gen, CreatedAt: now, ExpiresAt: t.RefreshExpires}
	a := &AccessToken{Hash: s.hash("access", t.Access), FamilyID: f.ID, CustomerID: f.CustomerID, DeviceID: f.DeviceID,
		JKT: f.JKT, Scope: ScopeCustomer, CreatedAt: now, ExpiresAt: t.AccessExpires}
	return t, r, a
}

// hash is the stored form of a token. The kind is part of the MAC input,
// so a refresh token presented as an access token (or the reverse) finds
// nothing.
func (s *Service) hash(kind, token string) []byte {
	return crypto.MAC(s.Pepper, []byte("haechi-session-"+kind+"\x00"+token))
}

func (s *Service) maxAge() time.Duration {
	if s.ProofMaxAge <= 0 {
		return DefaultProofMaxAge
	}
	return s.ProofMaxAge
}

// complete fills what the caller left empty in an audit entry.
func complete(e audit.Entry, action, result string, f *Family, now time.Time) audit.Entry {
	if e.Action == "" {
		e.Action = action
	}
	if e.Result == "" {
		e.Result = result
	}
	if e.Actor == "" {
		e.Actor = f.CustomerID
	}
	if e.Target == "" {
		e.Target = f.ID
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	d := make(map[string]string, len(e.Details)+2)
	for k, v := range e.Details {
		d[k] = v
	}
	if f.DeviceID != "" {
		d["device_id"] = f.DeviceID
	}
	e.Details = d
	return e
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// notFoundAs turns the store's not-found into the client error want.
func notFoundAs(err error, want *errs.Error) error {
	if errors.Is(err, errs.ErrNotFound) {
		return want.WithCause(err)
	}
	return fmt.Errorf("session: %w", err)
}
