package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// Secrets are "whsec_" followed by 32 random bytes in base64url. The HMAC
// key is the whole string as shown, prefix included, so a receiver uses it
// as is and cannot get the key wrong by decoding it.
const (
	SecretPrefix = "whsec_"
	secretBytes  = 32
	// maxSecrets is the new secret and the one it replaces: enough for a
	// receiver to switch over, and a leaked secret is gone after two
	// rotations (or one and EndRotation).
	maxSecrets = 2
	maxURLLen  = 2048
	maxOwner   = 128
)

// Errors of endpoint management.
var (
	ErrBadURL = errs.New(errs.Invalid, "invalid_webhook_url",
		"The webhook URL must be an absolute https URL without credentials or fragment.",
		"웹훅 URL은 자격 증명이나 프래그먼트가 없는 절대 https URL이어야 합니다.").WithField("url")
	ErrNoRotation = errs.New(errs.Conflict, "webhook_no_rotation",
		"The endpoint has a single secret; there is no rotation to end.",
		"엔드포인트에 비밀키가 하나뿐이라 끝낼 교체가 없습니다.")
)

// Service manages owners' endpoints and opens their secrets for the
// dispatcher. Secrets are sealed with Ring, bound to the owner's row.
type Service struct {
	Store EndpointStore
	Ring  *crypto.Keyring
	Now   func() time.Time
	// AllowHTTP admits plain http URLs. Only the demo sets it: over http a
	// delivery's body and signature are readable on the way.
	AllowHTTP bool
}

// SetEndpoint sets owner's URL and a new secret, which it returns once: it
// is stored sealed and never shown again. The newest secret it replaces
// keeps signing deliveries too, so the owner's receiver goes on verifying
// while it switches over; EndRotation drops it.
func (s *Service) SetEndpoint(ctx context.Context, actor, owner, rawURL string) (string, error) {
	if err := checkOwner(owner); err != nil {
		return "", err
	}
	u, err := s.checkURL(rawURL)
	if err != nil {
		return "", err
	}
	prev, old, err := s.current(ctx, owner)
	if err != nil {
		return "", err
	}
	secret := SecretPrefix + crypto.Token(secretBytes)
	secrets := append([][]byte{[]byte(secret)}, old...)[:min(1+len(old), maxSecrets)]
	// The host only: a query string may carry the receiver's own token.
	e := s.entry(actor, "webhook.endpoint.set", owner, map[string]string{"host": u.Host, "secrets": fmt.Sprint(len(secrets))})
	if err := s.put(ctx, owner, u.String(), secrets, prev, e); err != nil {
		return "", err
	}
	return secret, nil
}

// EndRotation keeps only the newest secret, once the owner's receiver
// uses it: from then on the replaced one verifies nothing.
func (s *Service) EndRotation(ctx context.Context, actor, owner string) error {
	rec, err := s.Store.WebhookEndpointRecord(ctx, owner)
	if err != nil {
		return err
	}
	secrets, err := s.open(rec)
	if err != nil {
		return err
	}
	if len(secrets) < 2 {
		return ErrNoRotation
	}
	e := s.entry(actor, "webhook.endpoint.end_rotation", owner, nil)
	return s.put(ctx, owner, rec.URL, secrets[:1], rec.SealedSecrets, e)
}

// Endpoint returns owner's endpoint with its secrets opened, for signing.
// It implements Resolver. Callers must not log or show the secrets.
func (s *Service) Endpoint(ctx context.Context, owner string) (*Endpoint, error) {
	rec, err := s.Store.WebhookEndpointRecord(ctx, owner)
	if err != nil {
		return nil, err
	}
	secrets, err := s.open(rec)
	if err != nil {
		return nil, err
	}
	return &Endpoint{Owner: rec.Owner, URL: rec.URL, Secrets: secrets, UpdatedAt: rec.UpdatedAt}, nil
}

// current reads the stored record, if any, and its secrets; prev is what
// the write compares against.
func (s *Service) current(ctx context.Context, owner string) (prev []byte, secrets [][]byte, err error) {
	rec, err := s.Store.WebhookEndpointRecord(ctx, owner)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	secrets, err = s.open(rec)
	return rec.SealedSecrets, secrets, err
}

// put seals secrets and stores the record if it is still prev.
func (s *Service) put(ctx context.Context, owner, u string, secrets [][]byte, prev []byte, e audit.Entry) error {
	plain, err := json.Marshal(secrets) // a JSON list of base64 strings
	if err != nil {
		return err
	}
	sealed, err := s.Ring.Seal(plain, secretsAAD(owner))
	if err != nil {
		return err
	}
	rec := EndpointRecord{Owner: owner, URL: u, SealedSecrets: sealed, UpdatedAt: s.Now().UTC()}
	return s.Store.PutWebhookEndpoint(ctx, rec, prev, e)
}

func (s *Service) open(rec *EndpointRecord) ([][]byte, error) {
	plain, err := s.Ring.Open(rec.SealedSecrets, secretsAAD(rec.Owner))
	if err != nil {
		return nil, fmt.Errorf("webhook endpoint %s secrets: %w", rec.Owner, err)
	}
	var secrets [][]byte
	if err := json.Unmarshal(plain, &secrets); err != nil || len(secrets) == 0 {
		return nil, fmt.Errorf("webhook endpoint %s secrets: not a list of secrets", rec.Owner)
	}
	return secrets, nil
}

func secretsAAD(owner string) crypto.AAD {
	return crypto.AAD{Table: "webhook_endpoints", Column: "secrets", RowID: owner}
}

// checkURL parses the URL that will be stored and dialled.
func (s *Service) checkURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLLen || strings.TrimSpace(raw) != raw {
		return nil, ErrBadURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, ErrBadURL
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !s.AllowHTTP) {
		return nil, ErrBadURL
	}
	return u, nil
}

func checkOwner(owner string) error {
	if owner == "" || len(owner) > maxOwner || strings.ContainsAny(owner, " \t\r\n") {
		return errs.ErrInvalid.WithField("owner")
	}
	return nil
}

func (s *Service) entry(actor, action, owner string, details map[string]string) audit.Entry {
	return audit.Entry{Time: s.Now().UTC(), Actor: actor, Action: action, Target: owner,
		Result: audit.ResultSuccess, Details: details}
}
