package cardnet

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

// Test cards of the Simulator (all Luhn-valid, with any future expiry and
// any CVV). Any other well-formed card is approved.
const (
	CardApproved          = "4111111111111111" // Visa: approved
	CardMastercard        = "5555555555554444" // Mastercard: approved
	CardDeclined          = "4000000000000002" // declined, reason "do_not_honor"
	CardInsufficientFunds = "4000000000009995" // insufficient_funds
	// CardLostAnswer is approved and charged, but the answer to the first
	// Authorize of a key is lost (an error wrapping errs.ErrUnavailable,
	// as after a timeout); asking again with the key gets the approval.
	CardLostAnswer = "4000000000000119"
)

// Decline reasons the simulator gives.
const (
	ReasonDoNotHonor        = "do_not_honor"
	ReasonInsufficientFunds = "insufficient_funds"
)

// ErrKeyReused: a Key came back with a different card, amount or merchant
// (or a cancellation key with a different authorization or amount). A
// network never answers that as if it were the first request; it is a bug
// of the gateway, so this is an internal error.
var ErrKeyReused = errors.New("cardnet: idempotency key reused for a different request")

// Causes of the failures the simulator injects.
var (
	errTimeout    = errors.New("injected timeout: the request never reached the network")
	errLostAnswer = errors.New("injected timeout: the network acted but its answer was lost")
	errOutage     = errors.New("injected outage")
)

// Simulator is a Network for the demo and tests. It is a SIMULATOR, NOT a
// card network: no card is charged and no money moves. It answers from
// the fixed test cards above, records what a real network would have
// charged (Charged, Authorizations) so tests can prove "at most once",
// and can be told to fail (TimeoutNext, LoseNext, FailCancelNext). It
// keeps a digest of the PAN and expiry only to spot a reused key, and
// never the CVV, which is checked for form and dropped. The real path is
// HTTP. Safe for concurrent use.
type Simulator struct {
	now func() time.Time

	mu             sync.Mutex
	auths          map[string]*simAuth  // by Authorization.Key
	cancels        map[string]simCancel // by Cancellation.Key
	seq            int                  // approval codes and references
	calls          int                  // Authorize calls received
	timeoutNext    int                  // Authorize calls to fail before the network acts
	loseNext       int                  // Authorize calls whose answer to lose after it acted
	failCancelNext int                  // Cancel calls to fail before the network acts
}

// simAuth is what the simulator remembers of an authorization.
type simAuth struct {
	card      [sha256.Size]byte // digest of PAN and expiry, to spot a reused key
	merchant  string
	amount    int64
	result    Result
	cancelled int64
}

type simCancel struct {
	authKey string
	amount  int64
	ref     string
}

var _ Network = (*Simulator)(nil)

// NewSimulator returns an empty simulator whose clock (expiry checks) is
// now; nil means time.Now.
func NewSimulator(now func() time.Time) *Simulator {
	if now == nil {
		now = time.Now
	}
	return &Simulator{now: now, auths: make(map[string]*simAuth), cancels: make(map[string]simCancel)}
}

// Authorize answers a test card's result. A Key seen before gets its first
// result again and charges nothing more; with a different card, amount
// or merchant it is ErrKeyReused. A malformed card is ErrInvalidCard and
// an expired one ErrCardExpired, with nothing recorded.
func (s *Simulator) Authorize(ctx context.Context, a Authorization) (Result, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Result{}, unavailable("authorize", a.Key, err)
	}
	if err := validateAuthorization(a); err != nil {
		return Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timeoutNext > 0 {
		s.timeoutNext--
		return Result{}, unavailable("authorize", a.Key, errTimeout)
	}
	card := cardDigest(a.Card)
	if r, ok := s.auths[a.Key]; ok {
		if r.card != card || r.amount != a.AmountKRW || r.merchant != a.MerchantID {
			return Result{}, fmt.Errorf("cardnet simulator: authorize %s: %w", a.Key, ErrKeyReused)
		}
		return r.result, nil
	}
	if expired(a.Card.Expiry, s.now()) {
		return Result{}, ErrCardExpired.WithField(FieldExpiry)
	}
	res := s.answer(a.Card.PAN)
	s.auths[a.Key] = &simAuth{card: card, merchant: a.MerchantID, amount: a.AmountKRW, result: res}
	if a.Card.PAN == CardLostAnswer {
		return Result{}, unavailable("authorize", a.Key, errLostAnswer)
	}
	if s.loseNext > 0 {
		s.loseNext--
		return Result{}, unavailable("authorize", a.Key, errLostAnswer)
	}
	return res, nil
}

// answer is the test card's result; approvals get the next code. The
// caller holds mu.
func (s *Simulator) answer(pan string) Result {
	switch pan {
	case CardDeclined:
		return Result{Status: Declined, Reason: ReasonDoNotHonor}
	case CardInsufficientFunds:
		return Result{Status: InsufficientFunds, Reason: ReasonInsufficientFunds}
	}
	s.seq++
	return Result{Status: Approved, ApprovalCode: fmt.Sprintf("%08d", s.seq)}
}

// Cancel reverses part or all of an approval and returns the reference,
// "SIMC" and a sequence number. A Key seen before returns its reference
// and reverses nothing more. An unknown or declined AuthKey, or more than
// the approval has left, is ErrNotCancellable.
func (s *Simulator) Cancel(ctx context.Context, c Cancellation) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", unavailable("cancel", c.Key, err)
	}
	if err := validateCancellation(c); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCancelNext > 0 {
		s.failCancelNext--
		return "", unavailable("cancel", c.Key, errOutage)
	}
	if prev, ok := s.cancels[c.Key]; ok {
		if prev.authKey != c.AuthKey || prev.amount != c.AmountKRW {
			return "", fmt.Errorf("cardnet simulator: cancel %s: %w", c.Key, ErrKeyReused)
		}
		return prev.ref, nil
	}
	a, ok := s.auths[c.AuthKey]
	if !ok || a.result.Status != Approved || c.AmountKRW > a.amount-a.cancelled {
		return "", fmt.Errorf("cardnet simulator: cancel %s of %s: %w", c.Key, c.AuthKey, ErrNotCancellable)
	}
	a.cancelled += c.AmountKRW
	s.seq++
	ref := fmt.Sprintf("SIMC%08d", s.seq)
	s.cancels[c.Key] = simCancel{authKey: c.AuthKey, amount: c.AmountKRW, ref: ref}
	return ref, nil
}

// Charged is what the authorization authKey has charged, net of
// cancellations: 0 for an unknown or declined one.
func (s *Simulator) Charged(authKey string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.auths[authKey]
	if !ok || a.result.Status != Approved {
		return 0
	}
	return a.amount - a.cancelled
}

// Authorizations counts the distinct charges made: approved keys, whether
// or not their answer was lost, and even if later cancelled.
func (s *Simulator) Authorizations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.auths {
		if a.result.Status == Approved {
			n++
		}
	}
	return n
}

// Calls counts every Authorize call received, whatever its outcome.
func (s *Simulator) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// TimeoutNext makes the next n well-formed Authorize calls time out before
// the network acts: nothing is charged or recorded, so a retry with the
// key is a first request. n ≤ 0 ends a pending fault.
func (s *Simulator) TimeoutNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timeoutNext = max(n, 0)
}

// LoseNext makes the next n first requests of a key act (charge an
// approval, record a decline) and then lose their answer, whatever the
// card, as CardLostAnswer does. n ≤ 0 ends a pending fault.
func (s *Simulator) LoseNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseNext = max(n, 0)
}

// FailCancelNext makes the next n well-formed Cancel calls fail before the
// network acts. n ≤ 0 ends a pending fault.
func (s *Simulator) FailCancelNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCancelNext = max(n, 0)
}

// cardDigest identifies a card within the simulator without keeping its
// number; the CVV is left out on purpose.
func cardDigest(c Card) [sha256.Size]byte {
	return sha256.Sum256([]byte(c.PAN + "/" + c.Expiry))
}

// unavailable is a failure the caller must treat as "maybe charged". The
// key is named only when well formed, so a caller's mistake cannot put
// card data in an error.
func unavailable(op, key string, cause error) error {
	if !validToken(key, maxKeyLen) {
		key = "(malformed key)"
	}
	return errs.ErrUnavailable.WithCause(fmt.Errorf("cardnet: %s %s: %w", op, key, cause))
}
