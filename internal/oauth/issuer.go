// Package oauth issues and verifies the short-lived ES256 JWTs that
// institutions get from OAuth2 client credentials, and publishes the JWKS.
//
// Signing keys are P-256 keys stored sealed with the data keyring. Exactly one
// key signs; a rotated-out key stays published until the tokens it signed
// have expired, then it no longer verifies anything.
package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
)

// DefaultTTL is a token's lifetime when Config.TTL is zero.
const DefaultTTL = 10 * time.Minute

// How stale a node's view of the keys may get when another node rotates
// them: Issue reloads keys older than refreshEvery, so a retired key signs
// for at most that long after its retirement (publishGrace covers it). An
// unknown kid makes Verify look again at most every lookAgainAfter, so that
// made-up kids cannot hammer the store while a new key from another node is
// still found within seconds.
const (
	refreshEvery   = 30 * time.Second
	lookAgainAfter = 2 * time.Second
)

// Config sets the token's issuer, audience and lifetime (default 10 min).
type Config struct {
	Issuer   string
	Audience string
	TTL      time.Duration
}

func (c *Config) validate() error {
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	switch {
	case c.Issuer == "":
		return errors.New("oauth: issuer is empty")
	case c.Audience == "":
		return errors.New("oauth: audience is empty")
	case c.TTL < 0:
		return errors.New("oauth: token lifetime is negative")
	}
	return nil
}

// Issuer signs tokens with the active key and verifies with any published one.
// It is safe for concurrent use.
type Issuer struct {
	cfg   Config
	store KeyStore
	ring  *crypto.Keyring
	now   func() time.Time

	loadMu sync.Mutex // one reload or rotation at a time
	mu     sync.RWMutex
	st     *keyState
}

// NewIssuer loads the signing keys (creating the first one if none exist).
func NewIssuer(ctx context.Context, cfg Config, store KeyStore, ring *crypto.Keyring, now func() time.Time) (*Issuer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	i := &Issuer{cfg: cfg, store: store, ring: ring, now: now}
	err := i.Reload(ctx)
	if errors.Is(err, errNoActiveKey) {
		_, err = i.addKey(ctx, "system", "signing_key.create")
	}
	if err != nil {
		return nil, err
	}
	return i, nil
}

// Rotate creates a new signing key; the old one stays published for
// verification until tokens it signed have expired.
func (i *Issuer) Rotate(ctx context.Context, actor string) (string, error) {
	return i.addKey(ctx, actor, "signing_key.rotate")
}

// JWKS returns the public key set as JSON.
func (i *Issuer) JWKS() ([]byte, error) {
	b, err := json.Marshal(i.state().set)
	if err != nil {
		return nil, fmt.Errorf("oauth: encode JWKS: %w", err)
	}
	return b, nil
}

// Reload re-reads the signing keys from the store, picking up a rotation made
// by another node. Issue and Verify call it on their own when needed.
func (i *Issuer) Reload(ctx context.Context) error {
	i.loadMu.Lock()
	defer i.loadMu.Unlock()
	return i.reloadLocked(ctx)
}

// addKey generates, stores and loads a new signing key. The store retires
// every other key in the same transaction as the audit entry.
func (i *Issuer) addKey(ctx context.Context, actor, action string) (string, error) {
	i.loadMu.Lock()
	defer i.loadMu.Unlock()
	now := i.now().UTC()
	k, sk, err := generateKey(i.ring, now)
	if err != nil {
		return "", err
	}
	e := audit.Fill(ctx, audit.Entry{
		Time: now, Actor: actor, Action: action, Target: k.id,
		Result: audit.ResultSuccess, Details: map[string]string{"alg": "ES256"},
	})
	if err := i.store.AddSigningKey(ctx, sk, e); err != nil {
		return "", fmt.Errorf("oauth: store signing key: %w", err)
	}
	return k.id, i.reloadLocked(ctx)
}

func (i *Issuer) reloadLocked(ctx context.Context) error {
	stored, err := i.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("oauth: read signing keys: %w", err)
	}
	now := i.now()
	keys, err := i.openPublished(stored, now)
	if err != nil {
		return err
	}
	st, err := buildState(keys, now, now, i.cfg.TTL)
	if err != nil {
		return err
	}
	i.mu.Lock()
	i.st = st
	i.mu.Unlock()
	return nil
}

// openPublished opens the stored keys that are still published, reusing the
// ones already open; keys retired long ago are never unsealed again.
func (i *Issuer) openPublished(stored []StoredKey, now time.Time) ([]*signingKey, error) {
	var open map[string]*signingKey
	if st := i.snapshot(); st != nil {
		open = st.byKid
	}
	var keys []*signingKey
	for _, sk := range stored {
		probe := signingKey{retiredAt: sk.RetiredAt}
		if !probe.published(now, i.cfg.TTL) {
			continue
		}
		if k, ok := open[sk.ID]; ok {
			c := *k
			c.retiredAt = sk.RetiredAt
			keys = append(keys, &c)
			continue
		}
		k, err := openKey(i.ring, sk)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func (i *Issuer) snapshot() *keyState {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.st
}

// state returns the keys published now, dropping retired keys whose tokens
// have all expired since the snapshot was built.
func (i *Issuer) state() *keyState {
	st := i.snapshot()
	now := i.now()
	if st.until.IsZero() || now.Before(st.until) {
		return st
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.st != st {
		return i.st // rebuilt meanwhile
	}
	// The active key is kept whatever the time, so this cannot fail.
	if next, err := buildState(st.keys, now, st.loaded, i.cfg.TTL); err == nil {
		i.st = next
	}
	return i.st
}

// refresh reloads the keys when they were read more than maxAge ago.
func (i *Issuer) refresh(ctx context.Context, maxAge time.Duration) error {
	if i.now().Sub(i.snapshot().loaded) < maxAge {
		return nil
	}
	i.loadMu.Lock()
	defer i.loadMu.Unlock()
	if i.now().Sub(i.snapshot().loaded) < maxAge {
		return nil // another caller just did
	}
	return i.reloadLocked(ctx)
}
