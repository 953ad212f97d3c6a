package notify

import (
	"context"
	"errors"
	"maps"
	"sync"
)

// ErrSimulatedFailure is what Simulator.Deliver returns while failures
// injected with FailNext remain.
var ErrSimulatedFailure = errors.New("notify simulator: injected delivery failure")

// Simulator is a Channel for the demo and tests. It is a SIMULATOR: it
// sends nothing anywhere and only records deliveries in memory, per
// customer. A deployment delivers through a real push, SMS or e-mail
// gateway implementing Channel. Safe for concurrent use.
type Simulator struct {
	mu       sync.Mutex
	inbox    map[string][]Notification
	failNext int
}

var _ Channel = (*Simulator)(nil)

// NewSimulator returns a simulator with empty inboxes.
func NewSimulator() *Simulator {
	return &Simulator{inbox: make(map[string][]Notification)}
}

// Deliver records n in its customer's inbox, unless a failure is pending.
func (s *Simulator) Deliver(ctx context.Context, n Notification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return ErrSimulatedFailure
	}
	n.Data = maps.Clone(n.Data)
	s.inbox[n.CustomerID] = append(s.inbox[n.CustomerID], n)
	return nil
}

// Inbox returns a copy of what was delivered to the customer, in order.
func (s *Simulator) Inbox(customerID string) []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.inbox[customerID]
	out := make([]Notification, len(in))
	for i, n := range in {
		n.Data = maps.Clone(n.Data)
		out[i] = n
	}
	return out
}

// FailNext makes the next n deliveries fail (for tests of retries).
func (s *Simulator) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = max(n, 0)
}
