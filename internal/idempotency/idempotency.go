// Package idempotency makes a state-changing call safe to retry: the
// client names each call with an Idempotency-Key; the first call with a
// key runs and its response is kept, a repeat with the same key and the
// same request gets that response again without running anything, and the
// same key with a different request is refused (409
// idempotency_key_reused). A key whose first call is still running is
// refused too (409 idempotency_in_progress), so two racing retries cannot
// both run.
//
// Records are durable in the database (a cache would forget a key and let
// a retry charge twice). The kept response is sealed with the keyring,
// bound to its scope and key, because it can carry a secret handed out
// once (a checkout's client secret). The request is remembered only as a
// keyed fingerprint the caller computes (see Fingerprint), never in the
// clear, so a card number or CVV in a body is not stored.
package idempotency

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// Header is the request header carrying the key.
const Header = "Idempotency-Key"

// Key limits: 16–128 characters of [A-Za-z0-9_-] (a UUID or a random
// token); short keys would collide between unrelated clients.
const (
	MinKeyLen = 16
	MaxKeyLen = 128
)

// Record is one key's entry. State is pending while the first call runs
// (until LeaseUntil, after which a retry may take the key over) and done
// once its response is kept.
type Record struct {
	Scope       string // whose key: a merchant id, or "checkout:<merchant id>"
	Key         string
	Fingerprint []byte // MAC of the request (method, route, the fields that matter)
	State       State
	Status      int    // HTTP status of the kept response
	Sealed      []byte // the kept response body, sealed
	CreatedAt   time.Time
	LeaseUntil  time.Time
	ExpiresAt   time.Time // the record is forgotten after this (Retention)
}

// State of a record.
type State string

const (
	Pending State = "pending"
	Done    State = "done"
)

// Defaults.
const (
	Lease     = time.Minute
	Retention = 24 * time.Hour
)

// Store keeps records.
//
// ClaimIdempotencyKey inserts r (State Pending) unless a live record of
// (r.Scope, r.Key) exists, in one statement: it returns nil when r was
// inserted, or the existing record. An existing record that is pending
// with its lease past at r.CreatedAt, or expired, is replaced by r as a
// compare-and-set, so exactly one of racing claimants gets the key.
// CompleteIdempotencyKey stores the response of a pending record the
// caller claimed (matched by scope, key and fingerprint) and marks it
// done. ReleaseIdempotencyKey deletes a pending record, for a call that
// failed in a way worth retrying (5xx). PurgeIdempotencyKeys deletes
// records expired at now.
type Store interface {
	ClaimIdempotencyKey(ctx context.Context, r Record) (*Record, error)
	CompleteIdempotencyKey(ctx context.Context, scope, key string, fingerprint []byte, status int, sealed []byte) error
	ReleaseIdempotencyKey(ctx context.Context, scope, key string, fingerprint []byte) error
	PurgeIdempotencyKeys(ctx context.Context, now time.Time) (int, error)
}

// Errors of this package.
var (
	ErrKeyRequired = errs.New(errs.Invalid, "idempotency_key_required",
		"This call needs an Idempotency-Key header of 16 to 128 characters (A-Z, a-z, 0-9, _ and -).",
		"이 요청에는 16~128자(A-Z, a-z, 0-9, _, -)의 Idempotency-Key 헤더가 필요합니다.")
	ErrKeyReused = errs.New(errs.Conflict, "idempotency_key_reused",
		"This Idempotency-Key was used for a different request.",
		"이 Idempotency-Key는 다른 요청에 이미 사용되었습니다.")
	ErrInProgress = errs.New(errs.Conflict, "idempotency_in_progress",
		"A request with this Idempotency-Key is still being processed; retry shortly.",
		"같은 Idempotency-Key의 요청이 아직 처리 중입니다. 잠시 후 다시 시도하세요.")
)

// Response is what a call produced and a repeat gets back.
type Response struct {
	Status int
	Body   []byte // JSON
}

// Outcome of Begin.
//
// When Replay is set the call already ran: send Replay and run nothing.
// Otherwise the caller holds the key: run the call, then Finish with its
// response (or Abandon it when it failed with a 5xx, so a retry runs).
type Outcome struct {
	Replay *Response
	claim  Record
}

// Service runs the protocol over a Store. Ring seals kept responses (AAD
// table "idempotency_keys", column "response", row id scope + "\x00" +
// key), Pepper keys the fingerprints; Now is the clock.
//
// Begin validates key (ErrKeyRequired), then claims it for fingerprint
// under scope: ErrKeyReused when the key was used with another
// fingerprint, ErrInProgress while its first call runs, a Replay when it
// is done.
type Service struct {
	Store  Store
	Ring   *crypto.Keyring
	Pepper []byte
	Now    func() time.Time
}

// Fingerprint is the keyed MAC of a request's parts (method, route and the
// canonical fields the caller chooses), each length-prefixed.
func (s *Service) Fingerprint(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, s.Pepper)
	// The pepper keys other MACs too; the purpose keeps a fingerprint from
	// ever equalling one of them.
	writePrefixed(m, []byte(fingerprintPurpose))
	for _, p := range parts {
		writePrefixed(m, p)
	}
	return m.Sum(nil)
}

const fingerprintPurpose = "haechi.idempotency.fingerprint.v1"

// writePrefixed writes len(b) as 8 bytes, then b, so that ("ab", "c") and
// ("a", "bc") fingerprint apart.
func writePrefixed(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// ValidKey reports whether key has the allowed length and alphabet.
func ValidKey(key string) bool {
	if len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// Begin claims key for a call; see Service.
func (s *Service) Begin(ctx context.Context, scope, key string, fingerprint []byte) (*Outcome, error) {
	if !ValidKey(key) {
		return nil, ErrKeyRequired
	}
	if scope == "" || len(fingerprint) == 0 {
		return nil, errors.New("idempotency: begin without a scope or a fingerprint")
	}
	now := s.now()
	claim := Record{Scope: scope, Key: key, Fingerprint: fingerprint, State: Pending,
		CreatedAt: now, LeaseUntil: now.Add(Lease), ExpiresAt: now.Add(Retention)}
	got, err := s.Store.ClaimIdempotencyKey(ctx, claim)
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	if got == nil {
		return &Outcome{claim: claim}, nil
	}
	// A fingerprint is a MAC; comparing in constant time keeps a prober from
	// learning it byte by byte.
	if !crypto.Equal(got.Fingerprint, fingerprint) {
		return nil, ErrKeyReused
	}
	if got.State != Done {
		return nil, ErrInProgress
	}
	body, err := s.Ring.Open(got.Sealed, responseAAD(scope, key))
	if err != nil {
		return nil, fmt.Errorf("open kept response: %w", err)
	}
	return &Outcome{Replay: &Response{Status: got.Status, Body: body}}, nil
}

// Finish keeps resp as the key's response.
func (s *Service) Finish(ctx context.Context, o *Outcome, resp Response) error {
	c, err := held(o)
	if err != nil {
		return err
	}
	if resp.Status < 100 || resp.Status > 599 {
		return fmt.Errorf("idempotency: status %d is not an HTTP status", resp.Status)
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	sealed, err := s.Ring.Seal(body, responseAAD(c.Scope, c.Key))
	if err != nil {
		return fmt.Errorf("seal kept response: %w", err)
	}
	if err := s.Store.CompleteIdempotencyKey(ctx, c.Scope, c.Key, c.Fingerprint, resp.Status, sealed); err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// Abandon releases the key so a retry runs anew.
func (s *Service) Abandon(ctx context.Context, o *Outcome) error {
	c, err := held(o)
	if err != nil {
		return err
	}
	err = s.Store.ReleaseIdempotencyKey(ctx, c.Scope, c.Key, c.Fingerprint)
	if errors.Is(err, errs.ErrNotFound) {
		// Already gone (its lease lapsed and the record was purged or taken
		// over): there is nothing left to release.
		return nil
	}
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// held returns the claim of an outcome whose caller holds the key.
func held(o *Outcome) (*Record, error) {
	if o == nil || o.Replay != nil || o.claim.Key == "" {
		return nil, errors.New("idempotency: the outcome holds no key (a replay, or Begin failed)")
	}
	return &o.claim, nil
}

// responseAAD binds a kept response to its scope and key: a sealed body
// copied to another key's row does not open.
func responseAAD(scope, key string) crypto.AAD {
	return crypto.AAD{Table: "idempotency_keys", Column: "response", RowID: scope + "\x00" + key}
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
