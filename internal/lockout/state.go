package lockout

import (
	"math"
	"slices"
	"time"
)

// Key is what failures count against: the customer and the method, never the
// device, so a reinstall or a new phone keeps the count.
type Key struct {
	CustomerID string
	Method     Method
}

// RecentFailures is how many failure times a state keeps for bot detection.
const RecentFailures = 8

// State is the ladder's durable state for one key.
type State struct {
	Key
	Failures       int       // consecutive failures since the last success
	LastFailure    time.Time // zero: none
	NextAllowed    time.Time // stage 1: no attempt before this
	LockedUntil    time.Time // stage 2: no attempt before this
	Protected      bool      // stage 3: no attempt until LiftProtection
	ProtectedSince time.Time
	Recent         []time.Time // the last RecentFailures failure times, oldest first
	Pending        string      // the reservation in flight, "" when none
	PendingUntil   time.Time   // when that reservation expires and counts as a failure
	Version        int64       // bumped by the store on every write

	// Set on a state returned by a change, never stored: what the change did.
	Transitions  []Transition
	BotSuspected bool
}

// Transition is one change of stage, audited and announced to the customer.
type Transition string

const (
	Delayed          Transition = "delayed"
	Locked           Transition = "locked"
	Protected        Transition = "protected"
	Reset            Transition = "reset"             // a success ended a run of failures
	Abandoned        Transition = "abandoned"         // an expired reservation was counted
	Unlocked         Transition = "unlocked"          // an operator cleared a lock or delay
	ProtectionLifted Transition = "protection_lifted" // re-verification or branch reset
	SourceThrottled  Transition = "source_throttled"  // a spraying source was throttled
)

// clone copies s deeply enough to be changed without touching s.
func (s State) clone() State {
	s.Recent = slices.Clone(s.Recent)
	s.Transitions = slices.Clone(s.Transitions)
	return s
}

// pendingExpired reports whether a reservation lapsed and awaits counting.
func (s *State) pendingExpired(now time.Time) bool {
	return s.Pending != "" && !now.Before(s.PendingUntil)
}

// BotRule says which failure timing looks automated. Zero fields take the
// defaults shown; Disabled turns detection off (for tests of the bare
// ladder).
type BotRule struct {
	MinGap    time.Duration // a failure closer than this to the previous one: 1 s
	Intervals int           // this many intervals in a row...: 4
	MaxCV     float64       // ...with a coefficient of variation below this: 0.1
	Disabled  bool
}

func (b BotRule) withDefaults() BotRule {
	if b.MinGap <= 0 {
		b.MinGap = time.Second
	}
	if b.Intervals <= 0 {
		b.Intervals = 4
	}
	if b.MaxCV <= 0 {
		b.MaxCV = 0.1
	}
	return b
}

// suspect applies both rules to failure times, oldest first, the newest
// last.
func (b BotRule) suspect(times []time.Time) bool {
	if b.Disabled || len(times) < 2 {
		return false
	}
	n := len(times)
	if times[n-1].Sub(times[n-2]) < b.MinGap {
		return true
	}
	return n > b.Intervals && regular(times[n-b.Intervals-1:], b.MaxCV)
}

// regular reports whether the gaps between times vary less than maxCV
// (standard deviation over mean): a human's pace is never that even.
func regular(times []time.Time, maxCV float64) bool {
	gaps := make([]float64, len(times)-1)
	var sum float64
	for i := range gaps {
		gaps[i] = float64(times[i+1].Sub(times[i]))
		sum += gaps[i]
	}
	mean := sum / float64(len(gaps))
	if mean <= 0 {
		return false
	}
	var sq float64
	for _, g := range gaps {
		sq += (g - mean) * (g - mean)
	}
	return math.Sqrt(sq/float64(len(gaps)))/mean < maxCV
}

// fail counts one failure at the given time and applies its stage.
func fail(s *State, l Ladder, bot BotRule, at time.Time) {
	s.Failures++
	s.LastFailure = at
	s.Recent = append(s.Recent, at)
	if len(s.Recent) > RecentFailures {
		s.Recent = slices.Clone(s.Recent[len(s.Recent)-RecentFailures:])
	}
	if bot.suspect(s.Recent) {
		s.BotSuspected = true
		s.Failures = l.escalate(s.Failures)
	}
	applyStage(s, l, at)
}

// applyStage imposes what the count calls for; see Ladder.
func applyStage(s *State, l Ladder, at time.Time) {
	switch n := s.Failures; {
	case n >= l.ProtectAt:
		s.Protected, s.ProtectedSince = true, at
		s.Transitions = append(s.Transitions, Protected)
	case n >= l.LockAt:
		s.LockedUntil = at.Add(l.LockFor)
		s.Transitions = append(s.Transitions, Locked)
	case l.delayAt(n) > 0:
		s.NextAllowed = at.Add(l.delayAt(n))
		s.Transitions = append(s.Transitions, Delayed)
	}
}

// succeed ends the run of failures.
func succeed(s *State) {
	if s.Failures > 0 {
		s.Transitions = append(s.Transitions, Reset)
	}
	s.Failures, s.NextAllowed, s.LockedUntil, s.Recent = 0, time.Time{}, time.Time{}, nil
}

// settle counts a lapsed reservation as a failure at its expiry: the
// verification it reserved may have happened, and a crash must not give a
// free guess.
func settle(s *State, l Ladder, bot BotRule, now time.Time) bool {
	if !s.pendingExpired(now) {
		return false
	}
	at := s.PendingUntil
	s.Pending, s.PendingUntil = "", time.Time{}
	s.Transitions = append(s.Transitions, Abandoned)
	fail(s, l, bot, at)
	return true
}

// refusal is why s refuses an attempt at now, or nil. A lapsed reservation
// must be settled first.
func refusal(s *State, now time.Time) error {
	switch {
	case s.Protected:
		return ErrProtection
	case s.LockedUntil.After(now):
		return ErrLocked.WithRetryAfter(retryAfter(s.LockedUntil, now))
	case s.NextAllowed.After(now):
		return ErrDelayed.WithRetryAfter(retryAfter(s.NextAllowed, now))
	case s.Pending != "" && s.PendingUntil.After(now):
		return ErrInProgress.WithRetryAfter(retryAfter(s.PendingUntil, now))
	}
	return nil
}

// retryAfter rounds up to whole seconds, as Retry-After carries them.
func retryAfter(until, now time.Time) time.Duration {
	d := until.Sub(now)
	return (d + time.Second - 1).Truncate(time.Second)
}
