package oauth

import (
	stdcrypto "crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/haechi/haechi/internal/crypto"
)

// publishGrace keeps a retired key published a little past the expiry of the
// last token it signed: that token is still accepted within the clock skew.
const publishGrace = time.Minute

var errNoActiveKey = errors.New("oauth: no active signing key")

// signingKey is a key opened from storage. Its id is the RFC 7638 thumbprint
// of the public key (SHA-256, base64url), so the id itself names the key and
// a stored row whose id and key disagree is detected on opening.
type signingKey struct {
	id        string
	priv      *ecdsa.PrivateKey
	pub       jwk.Key // public half with kid, alg and use, as published
	createdAt time.Time
	retiredAt *time.Time
}

// keyAAD binds a sealed private key to its row.
func keyAAD(kid string) crypto.AAD {
	return crypto.AAD{Table: "signing_keys", Column: "private_key", RowID: kid}
}

// generateKey makes a fresh P-256 key and the sealed form to store.
func generateKey(ring *crypto.Keyring, now time.Time) (*signingKey, StoredKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, StoredKey{}, fmt.Errorf("oauth: generate signing key: %w", err)
	}
	k, err := newSigningKey(priv, now)
	if err != nil {
		return nil, StoredKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, StoredKey{}, fmt.Errorf("oauth: encode signing key: %w", err)
	}
	defer clear(der)
	sealed, err := ring.Seal(der, keyAAD(k.id))
	if err != nil {
		return nil, StoredKey{}, fmt.Errorf("oauth: seal signing key %s: %w", k.id, err)
	}
	return k, StoredKey{ID: k.id, Sealed: sealed, CreatedAt: now}, nil
}

// openKey unseals a stored key and checks that it is the key its id names.
func openKey(ring *crypto.Keyring, sk StoredKey) (*signingKey, error) {
	der, err := ring.Open(sk.Sealed, keyAAD(sk.ID))
	if err != nil {
		return nil, fmt.Errorf("oauth: open signing key %s: %w", sk.ID, err)
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("oauth: decode signing key %s: %w", sk.ID, err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("oauth: signing key %s is not a P-256 key", sk.ID)
	}
	k, err := newSigningKey(priv, sk.CreatedAt)
	if err != nil {
		return nil, err
	}
	if k.id != sk.ID {
		return nil, fmt.Errorf("oauth: signing key %s holds the key of %s", sk.ID, k.id)
	}
	k.retiredAt = sk.RetiredAt
	return k, nil
}

// newSigningKey derives the kid and the public JWK of priv.
func newSigningKey(priv *ecdsa.PrivateKey, created time.Time) (*signingKey, error) {
	pub, err := jwk.Import(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("oauth: public key to JWK: %w", err)
	}
	tp, err := pub.Thumbprint(stdcrypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("oauth: key thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	// alg on the key is what makes verification use ES256 whatever the
	// token's header claims.
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.ES256(), jwk.KeyUsageKey: jwk.ForSignature} {
		if err := pub.Set(name, v); err != nil {
			return nil, fmt.Errorf("oauth: set JWK %s: %w", name, err)
		}
	}
	return &signingKey{id: kid, priv: priv, pub: pub, createdAt: created}, nil
}

// published reports whether k may still verify tokens at now: active keys
// always, retired ones until every token they signed has expired.
func (k *signingKey) published(now time.Time, ttl time.Duration) bool {
	return k.retiredAt == nil || now.Sub(*k.retiredAt) < ttl+publishGrace
}

// keyState is an immutable snapshot of the keys; the Issuer swaps whole
// snapshots, so a reader never sees a half-rotated set.
type keyState struct {
	active *signingKey            // newest active key: signs
	keys   []*signingKey          // published keys, newest first
	byKid  map[string]*signingKey // the same, by id
	set    jwk.Set                // their public halves
	until  time.Time              // when a retired key stops being published; zero: never
	loaded time.Time              // when the keys were read from the store
}

// buildState keeps the keys published at now.
func buildState(keys []*signingKey, now, loaded time.Time, ttl time.Duration) (*keyState, error) {
	st := &keyState{byKid: make(map[string]*signingKey), set: jwk.NewSet(), loaded: loaded}
	for _, k := range keys {
		if k.published(now, ttl) && st.byKid[k.id] == nil {
			st.keys = append(st.keys, k)
			st.byKid[k.id] = k
		}
	}
	slices.SortFunc(st.keys, func(a, b *signingKey) int { return b.createdAt.Compare(a.createdAt) })
	for _, k := range st.keys {
		if err := st.set.AddKey(k.pub); err != nil {
			return nil, fmt.Errorf("oauth: add key %s to set: %w", k.id, err)
		}
		st.note(k, ttl)
	}
	if st.active == nil {
		return nil, errNoActiveKey
	}
	return st, nil
}

// note records k as the signer if it is the newest active key, or the time
// it stops being published if it is retired.
func (st *keyState) note(k *signingKey, ttl time.Duration) {
	if k.retiredAt == nil {
		if st.active == nil {
			st.active = k // keys are sorted newest first
		}
		return
	}
	end := k.retiredAt.Add(ttl + publishGrace)
	if st.until.IsZero() || end.Before(st.until) {
		st.until = end
	}
}
