package crypto

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/argon2"
)

// HashParams are Argon2id's cost settings.
type HashParams struct {
	Time    uint32
	MemKiB  uint32
	Threads uint8
}

// DefaultHashParams is OWASP's first recommended Argon2id setting
// (m=46 MiB, t=1, p=1). Treat it as a constant.
var DefaultHashParams = HashParams{Time: 1, MemKiB: 46 * 1024, Threads: 1}

// TestHashParams is cheap enough for unit tests of other packages; never use
// it in production. Treat it as a constant.
var TestHashParams = HashParams{Time: 1, MemKiB: 64, Threads: 1}

// Upper bounds on parameters, also enforced on stored hashes: a row written
// with m=64 GiB must not be able to take the server down at the next login.
const (
	maxHashTime    = 10
	maxHashMemKiB  = 1 << 20 // 1 GiB
	maxHashThreads = 16
)

const (
	saltSize    = 16
	hashKeySize = 32
)

// ErrBusy is returned when the hash pool's queue is full.
var ErrBusy = errors.New("crypto: hash pool busy")

// Validate checks the parameters are within what Argon2id accepts and within
// haechi's bounds.
func (p HashParams) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxHashTime:
		return fmt.Errorf("crypto: argon2 time %d is outside 1..%d", p.Time, maxHashTime)
	case p.Threads < 1 || p.Threads > maxHashThreads:
		return fmt.Errorf("crypto: argon2 threads %d is outside 1..%d", p.Threads, maxHashThreads)
	case p.MemKiB < 8*uint32(p.Threads) || p.MemKiB > maxHashMemKiB:
		return fmt.Errorf("crypto: argon2 memory %d KiB is outside %d..%d", p.MemKiB, 8*uint32(p.Threads), maxHashMemKiB)
	}
	return nil
}

// Hasher is Argon2id with pepper behind a bounded pool.
//
// Each hash costs tens of MiB and tens of milliseconds, so the pool runs at
// most workers at once and lets at most queue callers wait; beyond that a
// flood of logins gets ErrBusy at once instead of exhausting memory.
type Hasher struct {
	pepper  []byte
	params  HashParams
	slots   chan struct{} // one token per running hash
	waiting chan struct{} // one token per caller waiting for a slot
	dummy   string

	// hook, when set by a test, runs while a slot is held.
	hook func()
}

// dummySalt and the zero key make the PHC string DummyVerify checks against;
// nothing hashes to it, but computing the comparison costs a real Verify.
var dummySalt = []byte("haechi-dummy-slt")

// NewHasher makes a pool running at most workers hashes at once and letting
// at most queue callers wait; more get ErrBusy at once.
func NewHasher(pepper []byte, p HashParams, workers, queue int) *Hasher {
	return &Hasher{
		pepper:  slices.Clone(pepper),
		params:  p,
		slots:   make(chan struct{}, max(workers, 1)),
		waiting: make(chan struct{}, max(queue, 0)),
		dummy:   phc{params: p, salt: dummySalt, key: make([]byte, hashKeySize)}.String(),
	}
}

// Hash returns a PHC-format string ($argon2id$v=19$m=..,t=..,p=..$salt$hash).
// What is hashed is HMAC-SHA256(pepper, secret): the pepper lives in the key
// material, never in the database, so a stolen database alone cannot be
// brute-forced.
func (h *Hasher) Hash(ctx context.Context, secret []byte) (string, error) {
	if err := h.params.Validate(); err != nil {
		return "", err
	}
	salt := randomBytes(saltSize)
	key, err := h.derive(ctx, h.params, salt, secret, hashKeySize)
	if err != nil {
		return "", err
	}
	return phc{params: h.params, salt: salt, key: key}.String(), nil
}

// Verify reports whether secret matches encoded, in constant time. It uses the
// parameters stored in encoded, so hashes made before a cost change still
// verify; NeedsRehash tells when to replace them.
func (h *Hasher) Verify(ctx context.Context, encoded string, secret []byte) (bool, error) {
	stored, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	key, err := h.derive(ctx, stored.params, stored.salt, secret, uint32(len(stored.key)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, stored.key) == 1, nil
}

// DummyVerify costs what a Verify costs; used when the account is unknown so
// that timing does not tell.
func (h *Hasher) DummyVerify(ctx context.Context, secret []byte) error {
	_, err := h.Verify(ctx, h.dummy, secret)
	return err
}

// NeedsRehash reports whether encoded was made with other settings than this
// hasher's, so that a caller who has just verified the secret can store a new
// hash. A malformed string needs one too.
func (h *Hasher) NeedsRehash(encoded string) bool {
	stored, err := parsePHC(encoded)
	return err != nil || stored.params != h.params || len(stored.salt) != saltSize || len(stored.key) != hashKeySize
}

// derive computes Argon2id over the peppered secret while holding a slot.
func (h *Hasher) derive(ctx context.Context, p HashParams, salt, secret []byte, n uint32) ([]byte, error) {
	if len(h.pepper) == 0 {
		return nil, errors.New("crypto: hasher has no pepper")
	}
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-h.slots }()
	if h.hook != nil {
		h.hook()
	}
	return argon2.IDKey(MAC(h.pepper, secret), salt, p.Time, p.MemKiB, p.Threads, n), nil
}

// Full reports whether a hash asked for now would get ErrBusy: every slot
// runs and the queue is full. It is advice, read without a lock: a caller
// uses it to refuse at once, before doing work (database writes) that the
// hash it waits for could not use anyway.
func (h *Hasher) Full() bool {
	return len(h.slots) == cap(h.slots) && len(h.waiting) == cap(h.waiting)
}

// acquire takes a slot, waiting only if fewer than queue callers already
// wait, and only until ctx ends.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case h.waiting <- struct{}{}:
	default:
		return ErrBusy
	}
	defer func() { <-h.waiting }()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
