// Package lockout is the staged ladder that guards login secrets: per
// customer and method, consecutive failures impose first a delay before the
// next attempt, then a temporary lock that ends by itself, then protection
// mode that only re-verification of the customer's identity lifts.
//
// The count is durable and keyed by (customer, method) alone, so a reinstall
// or a new device never resets it; only a successful login does.
//
// Attempts are reserved before the secret is verified (Begin), and at most
// one is in flight per customer and method. A reservation that is never
// completed counts as a failure once it expires, so parallel requests, extra
// nodes and a server killed mid-attempt all get no guess beyond the ladder:
// between two successes at most ProtectAt secrets are ever verified. The
// caller's order is CheckSource, Begin, verify, then Fail or Succeed; a
// Succeed that returns ErrAttemptLost must not log the customer in.
//
// Bot-like timing (see BotRule) escalates one stage at once: the count jumps
// to the next stage's threshold, so a bot reaches protection sooner.
// Operators may clear a lock or delay but never protection mode, and
// clearing keeps the count.
package lockout

import (
	"fmt"
	"time"
)

// Method is a login secret.
type Method string

const (
	PIN       Method = "pin"
	Pattern   Method = "pattern"
	Biometric Method = "biometric"
)

// Methods is every method, in the order an operator view shows them.
var Methods = []Method{PIN, Pattern, Biometric}

// Delay is stage 1 of the ladder: from the At-th consecutive failure on, the
// next attempt is refused until Wait after the failure that imposed it.
type Delay struct {
	At   int
	Wait time.Duration
}

// Ladder is one method's stages. The n-th consecutive failure (n counting
// from 1) has exactly one effect, the first that applies:
//   - n >= ProtectAt: protection mode, until LiftProtection;
//   - n >= LockAt: locked for LockFor after that failure;
//   - else the Delay with the largest At <= n, if any: refused for its Wait
//     after that failure;
//   - else nothing: the next attempt may follow at once.
//
// With DefaultLadders, after the 3rd consecutive PIN failure the next attempt
// is refused until 5 s after it, after the 4th until 30 s after it, and the
// 5th to 9th each lock for 30 minutes; the 10th enters protection mode. So at
// most ProtectAt attempts are ever verified between two successes.
type Ladder struct {
	Delays    []Delay
	LockAt    int
	LockFor   time.Duration
	ProtectAt int
}

// Ladders are the ladders of every method.
type Ladders map[Method]Ladder

// DefaultLadders is the table of DESIGN §3. "After the 5th" biometric
// failure means from the 5th on: the 5th to 9th each impose 30 s.
func DefaultLadders() Ladders {
	const lock = 30 * time.Minute
	return Ladders{
		PIN:       {Delays: []Delay{{3, 5 * time.Second}, {4, 30 * time.Second}}, LockAt: 5, LockFor: lock, ProtectAt: 10},
		Pattern:   {Delays: []Delay{{2, 5 * time.Second}, {3, 30 * time.Second}}, LockAt: 4, LockFor: lock, ProtectAt: 8},
		Biometric: {Delays: []Delay{{5, 30 * time.Second}}, LockAt: 10, LockFor: lock, ProtectAt: 20},
	}
}

// Validate checks every method has a sound ladder.
func (ls Ladders) Validate() error {
	for _, m := range Methods {
		l, ok := ls[m]
		if !ok {
			return fmt.Errorf("lockout: no ladder for method %q", m)
		}
		if err := l.Validate(); err != nil {
			return fmt.Errorf("lockout: ladder %q: %w", m, err)
		}
	}
	return nil
}

// Validate checks the stages climb: delays at increasing counts below the
// lock, a positive lock, protection after the lock.
func (l Ladder) Validate() error {
	prev := 0
	for i, d := range l.Delays {
		if d.At <= prev || d.Wait <= 0 {
			return fmt.Errorf("delay %d: counts must increase from 1 and waits be positive", i+1)
		}
		prev = d.At
	}
	switch {
	case l.LockAt <= prev:
		return fmt.Errorf("lock at %d must come after every delay", l.LockAt)
	case l.LockFor <= 0:
		return fmt.Errorf("lock length must be positive")
	case l.ProtectAt <= l.LockAt:
		return fmt.Errorf("protection at %d must come after the lock at %d", l.ProtectAt, l.LockAt)
	}
	return nil
}

// delayAt is the wait the n-th failure imposes below the lock, or 0.
func (l Ladder) delayAt(n int) time.Duration {
	var wait time.Duration
	for _, d := range l.Delays {
		if n >= d.At {
			wait = d.Wait
		}
	}
	return wait
}

// escalate is the count one stage above n's: the smallest stage threshold
// above n. A bot-paced failure jumps there at once.
func (l Ladder) escalate(n int) int {
	first := l.LockAt
	if len(l.Delays) > 0 {
		first = l.Delays[0].At
	}
	for _, t := range []int{first, l.LockAt, l.ProtectAt} {
		if n < t {
			return t
		}
	}
	return n
}
