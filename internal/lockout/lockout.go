package lockout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/notify"
)

// Errors of this package.
var (
	ErrDelayed    = errs.New(errs.TooManyRequests, "login_delayed", "Too many failed attempts; wait before trying again.", "실패가 반복되어 잠시 후 다시 시도해야 합니다.")
	ErrLocked     = errs.New(errs.Locked, "login_locked", "Login is locked for a while after repeated failures.", "반복된 실패로 로그인이 잠시 잠겼습니다.")
	ErrProtection = errs.New(errs.Locked, "login_protection", "Login is blocked to protect the account; verify your identity again.", "계정 보호를 위해 로그인이 차단되었습니다. 본인확인을 다시 해주세요.")
	ErrInProgress = errs.New(errs.TooManyRequests, "login_in_progress", "Another login attempt is being checked; try again shortly.", "다른 로그인 시도를 확인하고 있습니다. 잠시 후 다시 시도하세요.")
	// ErrAttemptLost: the reservation expired (and was counted) or was
	// cleared before the result came; the caller must discard the result.
	ErrAttemptLost        = errs.New(errs.Conflict, "login_attempt_expired", "The login attempt took too long; try again.", "로그인 시도 시간이 초과되었습니다. 다시 시도하세요.")
	ErrSourceThrottled    = errs.New(errs.TooManyRequests, "login_source_throttled", "Too many failed logins from this device or network; try again later.", "이 기기 또는 네트워크에서 실패가 많아 잠시 후 다시 시도해야 합니다.")
	ErrNeedsReverify      = errs.New(errs.Conflict, "protection_needs_reverification", "Protection mode is lifted only by identity re-verification or at a branch.", "보호 모드는 본인 재확인 또는 영업점에서만 해제할 수 있습니다.")
	ErrNothingToClear     = errs.New(errs.Conflict, "lockout_nothing_to_clear", "The login is neither locked nor delayed.", "로그인이 잠겨 있거나 지연되어 있지 않습니다.")
	ErrNotProtected       = errs.New(errs.Conflict, "lockout_not_protected", "The login is not in protection mode.", "로그인이 보호 모드가 아닙니다.")
	ErrUnknownMethod      = errs.New(errs.Invalid, "unknown_login_method", "The login method is unknown.", "알 수 없는 로그인 방식입니다.")
	ErrInvalidClearReason = errs.New(errs.Invalid, "invalid_clear_reason", "The reason for clearing the lock is not one of the allowed codes.", "잠금 해제 사유가 허용된 코드가 아닙니다.")
)

// Audit actions.
const (
	ActionFailure   = "login.failure"
	ActionSuccess   = "login.success"
	ActionAbandoned = "login.abandoned"
	ActionReleased  = "login.released"
	ActionClear     = "lockout.clear"
	ActionLift      = "lockout.lift_protection"
	ActionThrottle  = "lockout.source_throttled"
)

// Notification kinds, one per transition the customer is told about.
const (
	KindLoginDelayed          = "login.delayed"
	KindLoginLocked           = "login.locked"
	KindLoginProtected        = "login.protected"
	KindLoginUnlocked         = "login.unlocked"
	KindLoginProtectionLifted = "login.protection_lifted"
)

// DefaultReservationTTL bounds one verification; an attempt not completed
// by then counts as a failure.
const DefaultReservationTTL = 10 * time.Second

// Change is what an update writes besides the state, in the same
// transaction: audit entries, notifications, and a failure to charge to its
// sources.
type Change struct {
	Audit  []audit.Entry
	Notes  []notify.Notification
	Source *SourceFailure
}

// Store keeps the ladder's states and the spraying sources.
type Store interface {
	// LockoutState returns the key's state, zero (with Key set) if never
	// written.
	LockoutState(ctx context.Context, k Key) (State, error)
	// LockoutStates returns the customer's written states by method.
	LockoutStates(ctx context.Context, customerID string) ([]State, error)
	// UpdateLockout locks the key's state (creating it zero), lets fn change
	// it, and writes it back with fn's Change in one transaction; a nil
	// Change writes nothing, an error rolls back. fn may run more than once
	// and must depend only on the state it is given. The returned state
	// carries the transitions, including SourceThrottled when the Change's
	// source failure throttled a source.
	UpdateLockout(ctx context.Context, k Key, fn func(*State) (*Change, error)) (State, error)
	// SourceThrottledUntil returns the latest throttle end among sources.
	SourceThrottledUntil(ctx context.Context, sources []string) (time.Time, error)
}

// Meta describes the request behind an attempt, for audit and spraying.
type Meta struct {
	Actor       string // the institution (app) the request came through
	RequestID   string
	IP          string
	Fingerprint string // device fingerprint
}

// Service runs the ladder. Ladders must pass Validate; zero Bot, Spray and
// ReservationTTL take defaults.
type Service struct {
	Store          Store
	Ladders        Ladders
	Bot            BotRule
	Spray          Spray
	ReservationTTL time.Duration
	Now            func() time.Time // for operator actions
}

// key checks a key and returns its method's ladder.
func (s *Service) key(customerID string, m Method) (Ladder, error) {
	if customerID == "" || len(customerID) > 128 {
		return Ladder{}, errNoCustomer
	}
	l, ok := s.Ladders[m]
	if !ok {
		return Ladder{}, ErrUnknownMethod
	}
	return l, nil
}

func (s *Service) ttl() time.Duration {
	if s.ReservationTTL > 0 {
		return s.ReservationTTL
	}
	return DefaultReservationTTL
}

// Decision is what Check found.
type Decision struct {
	Allowed bool
	State   State
}

// Check tells, without writing, whether an attempt at now would be
// reserved; a refusal comes back as the error Begin would return.
func (s *Service) Check(ctx context.Context, customerID string, method Method, now time.Time) (Decision, error) {
	l, err := s.key(customerID, method)
	if err != nil {
		return Decision{}, err
	}
	st, err := s.Store.LockoutState(ctx, Key{customerID, method})
	if err != nil {
		return Decision{}, err
	}
	st = st.clone()
	settle(&st, l, s.Bot.withDefaults(), now) // as Begin would, in memory only
	st.Transitions, st.BotSuspected = nil, false
	if err := refusal(&st, now); err != nil {
		return Decision{State: st}, err
	}
	return Decision{Allowed: true, State: st}, nil
}

// Attempt is a reserved attempt: the caller verifies the secret and then
// calls exactly one of Fail and Succeed.
type Attempt struct {
	ID  string
	Key Key
	s   *Service
	l   Ladder
}

// Begin reserves an attempt before the secret is verified. It refuses while
// the key is delayed, locked, protected or has another attempt in flight; a
// lapsed reservation is counted as a failure first. Refusals write nothing
// else, and a plainly refused request does not even take a write
// transaction, so a flood of refused attempts costs reads only.
func (s *Service) Begin(ctx context.Context, customerID string, method Method, now time.Time) (*Attempt, error) {
	l, err := s.key(customerID, method)
	if err != nil {
		return nil, err
	}
	k := Key{customerID, method}
	cur, err := s.Store.LockoutState(ctx, k)
	if err != nil {
		return nil, err
	}
	if err := refusal(&cur, now); err != nil && !cur.pendingExpired(now) {
		return nil, err
	}
	a := &Attempt{ID: crypto.NewID("att_"), Key: k, s: s, l: l}
	var refused error
	_, err = s.Store.UpdateLockout(ctx, k, func(st *State) (*Change, error) {
		ch := s.settleChange(st, l, now)
		if refused = refusal(st, now); refused != nil {
			return ch, nil
		}
		st.Pending, st.PendingUntil = a.ID, now.Add(s.ttl())
		return orEmpty(ch), nil
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	return a, nil
}

// settleChange counts a lapsed reservation and returns what to write for
// it, or nil.
func (s *Service) settleChange(st *State, l Ladder, now time.Time) *Change {
	if !settle(st, l, s.Bot.withDefaults(), now) {
		return nil
	}
	e := attemptEntry(st, Meta{Actor: "system"}, ActionAbandoned, st.LastFailure)
	return &Change{Audit: []audit.Entry{e}, Notes: notes(st, st.LastFailure)}
}

func orEmpty(c *Change) *Change {
	if c == nil {
		return &Change{}
	}
	return c
}

// Fail records that the verification failed. A reservation that lapsed and
// was counted meanwhile is not counted again. The failure is also charged
// to the request's sources for the spraying rule.
func (a *Attempt) Fail(ctx context.Context, now time.Time, m Meta) (State, error) {
	s := a.s
	return s.Store.UpdateLockout(ctx, a.Key, func(st *State) (*Change, error) {
		if st.Pending != a.ID {
			return nil, nil // counted already, when it lapsed
		}
		st.Pending, st.PendingUntil = "", time.Time{}
		fail(st, a.l, s.Bot.withDefaults(), now)
		ch := &Change{Audit: []audit.Entry{attemptEntry(st, m, ActionFailure, now)}, Notes: notes(st, now)}
		ch.Source = s.Spray.failure(a.Key.CustomerID, m, now)
		return ch, nil
	})
}

// Release gives back a reservation whose secret was never compared, because
// the hash pool refused the work: nothing was guessed, so nothing counts,
// and a flood that overloads the pool cannot push customers up the ladder.
// A reservation that lapsed meanwhile has counted already and stays
// counted. Only refusals made before any comparison may call it.
func (a *Attempt) Release(ctx context.Context, now time.Time, m Meta) error {
	s := a.s
	_, err := s.Store.UpdateLockout(ctx, a.Key, func(st *State) (*Change, error) {
		if st.Pending != a.ID {
			return nil, nil
		}
		if st.pendingExpired(now) {
			return s.settleChange(st, a.l, now), nil
		}
		st.Pending, st.PendingUntil = "", time.Time{}
		e := attemptEntry(st, m, ActionReleased, now)
		e.Details["reason"] = "hash_pool_busy"
		return &Change{Audit: []audit.Entry{e}}, nil
	})
	return err
}

// Succeed records that the verification succeeded and ends the run of
// failures. If the reservation lapsed first it counts as the failure it
// became and ErrAttemptLost tells the caller to refuse the login.
func (a *Attempt) Succeed(ctx context.Context, now time.Time, m Meta) (State, error) {
	s := a.s
	var lost bool
	st, err := s.Store.UpdateLockout(ctx, a.Key, func(st *State) (*Change, error) {
		lost = st.Pending != a.ID || st.pendingExpired(now)
		if lost {
			return s.settleChange(st, a.l, now), nil
		}
		st.Pending, st.PendingUntil = "", time.Time{}
		succeed(st)
		return &Change{Audit: []audit.Entry{attemptEntry(st, m, ActionSuccess, now)}}, nil
	})
	if err == nil && lost {
		err = ErrAttemptLost
	}
	return st, err
}

// attemptEntry is the audit entry of an attempt's outcome.
func attemptEntry(st *State, m Meta, action string, at time.Time) audit.Entry {
	result := audit.ResultFailure
	if action == ActionSuccess {
		result = audit.ResultSuccess
	}
	d := map[string]string{"method": string(st.Method), "failures": strconv.Itoa(st.Failures)}
	if len(st.Transitions) > 0 {
		d["transitions"] = joinTransitions(st.Transitions)
	}
	if st.BotSuspected {
		d["bot_suspected"] = "true"
	}
	return audit.Entry{Time: at, Actor: m.Actor, Action: action, Target: st.CustomerID, Result: result,
		RequestID: m.RequestID, ClientIP: m.IP, Details: d}
}

func joinTransitions(ts []Transition) string {
	var b []byte
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, t...)
	}
	return string(b)
}

// notes are the customer's notifications of st's transitions.
func notes(st *State, now time.Time) []notify.Notification {
	var ns []notify.Notification
	for _, t := range st.Transitions {
		ns = append(ns, noteOf(st, t, now)...)
	}
	return ns
}

// noteOf is the notification of one transition, if the customer is told
// of it.
func noteOf(st *State, t Transition, now time.Time) []notify.Notification {
	kind, until := "", time.Time{}
	switch t {
	case Delayed:
		kind, until = KindLoginDelayed, st.NextAllowed
	case Locked:
		kind, until = KindLoginLocked, st.LockedUntil
	case Protected:
		kind = KindLoginProtected
	case Unlocked:
		kind = KindLoginUnlocked
	case ProtectionLifted:
		kind = KindLoginProtectionLifted
	}
	if kind == "" {
		return nil
	}
	data := map[string]string{"method": string(st.Method)}
	if !until.IsZero() {
		data["until"] = until.UTC().Format(time.RFC3339)
	}
	return []notify.Notification{notify.New(st.CustomerID, kind, data, now)}
}

// IsRefusal reports whether err is one of the ladder's refusals (as opposed
// to a storage failure).
func IsRefusal(err error) bool {
	for _, r := range []error{ErrDelayed, ErrLocked, ErrProtection, ErrInProgress, ErrSourceThrottled} {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

var errNoCustomer = fmt.Errorf("lockout: no customer: %w", errs.ErrInvalid)
