package institution

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// Service manages clients and authenticates their credentials.
type Service struct {
	Store  Store
	Pepper []byte
	Now    func() time.Time
}

// Limits on what an operator may ask for when creating credentials.
const (
	MaxNameLen    = 100
	MaxAPIKeyTTL  = 2 * 365 * 24 * time.Hour
	DefaultKeyTTL = 365 * 24 * time.Hour
)

var (
	errBadName = errs.New(errs.Invalid, "invalid_name", "The name must be 1 to 100 printable characters.", "이름은 1~100자의 출력 가능한 문자여야 합니다.")
	errBadTTL  = errs.New(errs.Invalid, "invalid_ttl", "The key lifetime must be between 1 day and 2 years.", "키 유효기간은 1일에서 2년 사이여야 합니다.")
)

// CreateClient registers an institution and returns its OAuth2 client secret,
// shown once.
func (s *Service) CreateClient(ctx context.Context, actor, name string, scopes []string) (*Client, string, error) {
	name = strings.TrimSpace(name)
	if err := validateName(name); err != nil {
		return nil, "", err
	}
	scopes, err := normaliseScopes(scopes, KnownScopes)
	if err != nil {
		return nil, "", err
	}
	secret := crypto.RandomBase32(32)
	c := &Client{
		ID:         crypto.NewID("cl_"),
		Name:       name,
		Scopes:     scopes,
		SecretHash: s.hash(secret),
		CreatedAt:  s.Now().UTC(),
	}
	e := s.entry(actor, "client.create", c.ID, map[string]string{"scopes": strings.Join(scopes, " ")})
	if err := s.Store.CreateClient(ctx, c, e); err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

// IssueAPIKey creates hk_<id>_<secret> for a client, shown once. Scopes
// default to the client's and may only narrow them.
func (s *Service) IssueAPIKey(ctx context.Context, actor, clientID string, scopes []string, ttl time.Duration) (string, *APIKey, error) {
	if ttl == 0 {
		ttl = DefaultKeyTTL
	}
	if ttl < 24*time.Hour || ttl > MaxAPIKeyTTL {
		return "", nil, errBadTTL.WithField("ttl_days")
	}
	c, err := s.Store.Client(ctx, clientID)
	if err != nil {
		return "", nil, err
	}
	if c.RevokedAt != nil {
		return "", nil, errs.ErrConflict.WithCause(fmt.Errorf("client %s is revoked", c.ID))
	}
	if len(scopes) == 0 {
		scopes = c.Scopes
	}
	if scopes, err = normaliseScopes(scopes, c.Scopes); err != nil {
		return "", nil, err
	}
	raw, k := s.newKey(c.ID, scopes, ttl)
	e := s.entry(actor, "api_key.create", k.ID, map[string]string{"client_id": c.ID, "scopes": strings.Join(scopes, " ")})
	if err := s.Store.CreateAPIKey(ctx, k, e); err != nil {
		return "", nil, err
	}
	return raw, k, nil
}

func (s *Service) newKey(clientID string, scopes []string, ttl time.Duration) (string, *APIKey) {
	id := crypto.RandomBase32(16)
	secret := crypto.RandomBase32(32)
	now := s.Now().UTC()
	return FormatAPIKey(id, secret), &APIKey{
		ID:         id,
		ClientID:   clientID,
		SecretHash: s.hash(secret),
		Scopes:     scopes,
		CreatedAt:  now,
		ExpiresAt:  now.Add(ttl),
	}
}

// RevokeClient ends a client and, through the client check at
// authentication, every credential it holds.
func (s *Service) RevokeClient(ctx context.Context, actor, id string) error {
	return s.Store.RevokeClient(ctx, id, s.Now().UTC(), s.entry(actor, "client.revoke", id, nil))
}

// RevokeAPIKey ends one key.
func (s *Service) RevokeAPIKey(ctx context.Context, actor, id string) error {
	return s.Store.RevokeAPIKey(ctx, id, s.Now().UTC(), s.entry(actor, "api_key.revoke", id, nil))
}

// Clients lists every client.
func (s *Service) Clients(ctx context.Context) ([]*Client, error) { return s.Store.Clients(ctx) }

// AuthenticateAPIKey checks a raw key: format, existence, secret, expiry,
// revocation of the key and of its client. Unknown keys and wrong secrets give
// the same error so that key ids cannot be probed.
func (s *Service) AuthenticateAPIKey(ctx context.Context, raw string) (*Principal, error) {
	id, secret, err := ParseAPIKey(raw)
	if err != nil {
		return nil, err
	}
	k, err := s.Store.APIKey(ctx, id)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, ErrBadKey
	} else if err != nil {
		return nil, err
	}
	if !crypto.Equal(k.SecretHash, s.hash(secret)) {
		return nil, ErrBadKey
	}
	if err := s.checkKeyLive(k); err != nil {
		return nil, err
	}
	return &Principal{ClientID: k.ClientID, Scopes: k.Scopes, Via: "api_key", CredentialID: k.ID}, nil
}

func (s *Service) checkKeyLive(k *APIKey) error {
	if k.RevokedAt != nil || k.ClientRevoked {
		return ErrKeyRevoked
	}
	if !s.Now().Before(k.ExpiresAt) {
		return ErrKeyExpired
	}
	return nil
}

// AuthenticateSecret checks OAuth2 client credentials and the requested
// scopes (empty = all of the client's); it returns the granted principal.
func (s *Service) AuthenticateSecret(ctx context.Context, clientID, secret string, scopes []string) (*Principal, error) {
	if !validID(clientID, "cl_") || secret == "" || len(secret) > 128 {
		return nil, ErrBadClient
	}
	c, err := s.Store.Client(ctx, clientID)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, ErrBadClient
	} else if err != nil {
		return nil, err
	}
	if !crypto.Equal(c.SecretHash, s.hash(secret)) || c.RevokedAt != nil {
		return nil, ErrBadClient
	}
	if len(scopes) == 0 {
		scopes = c.Scopes
	}
	if scopes, err = normaliseScopes(scopes, c.Scopes); err != nil {
		return nil, err
	}
	return &Principal{ClientID: c.ID, Scopes: scopes, Via: "jwt"}, nil
}

// hash is the stored form of a random secret: HMAC under the pepper, so a
// database dump alone cannot be used to check guesses.
func (s *Service) hash(secret string) []byte {
	return crypto.MAC(s.Pepper, []byte("haechi-client-secret\x00"+secret))
}

func (s *Service) entry(actor, action, target string, details map[string]string) audit.Entry {
	return audit.Entry{Time: s.Now().UTC(), Actor: actor, Action: action, Target: target, Result: audit.ResultSuccess, Details: details}
}

func validateName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return errBadName.WithField("name")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errBadName.WithField("name")
		}
	}
	return nil
}

// normaliseScopes sorts and de-duplicates scopes and checks each is allowed.
func normaliseScopes(scopes, allowed []string) ([]string, error) {
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		if !slices.Contains(allowed, sc) {
			return nil, ErrBadScope.WithField("scope")
		}
		out = append(out, sc)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
