package carrier

import (
	"context"
	"sync"
)

// Subscriber is one line in the simulator's registry.
type Subscriber struct {
	Name      string
	BirthDate string // YYYY-MM-DD
	Phone     string // digits only
}

// Simulator is a Provider for the demo and tests. It is a SIMULATOR, not a
// carrier: it matches identities against a fixed in-memory registry and
// sends no SMS, only remembering the last code per phone so that a test or
// the demo can read it back with LastCode. The real path is HTTP. Safe for
// concurrent use.
type Simulator struct {
	subs map[string]Subscriber // by phone; never written after NewSimulator

	mu    sync.Mutex
	codes map[string]string // last code sent, by phone
}

var _ Provider = (*Simulator)(nil)

// NewSimulator returns a simulator whose registry holds subs. A phone given
// twice keeps its last subscriber.
func NewSimulator(subs ...Subscriber) *Simulator {
	s := &Simulator{subs: make(map[string]Subscriber, len(subs)), codes: make(map[string]string)}
	for _, sub := range subs {
		s.subs[sub.Phone] = sub
	}
	return s
}

// DefaultSubscribers are the demo's people. They are fictitious.
func DefaultSubscribers() []Subscriber {
	return []Subscriber{
		{Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345678"},
		{Name: "이영희", BirthDate: "1985-05-05", Phone: "01098765432"},
		{Name: "박철수", BirthDate: "1980-03-15", Phone: "01055556666"},
		{Name: "최지은", BirthDate: "1992-07-20", Phone: "01077778888"},
		{Name: "정하늘", BirthDate: "2001-11-30", Phone: "01033334444"},
	}
}

// Match reports whether the registry lists id.Phone with id's name and
// birth date; an unknown phone is a mismatch.
func (s *Simulator) Match(ctx context.Context, id Identity) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	sub, ok := s.subs[id.Phone]
	return ok && sub.Name == id.Name && sub.BirthDate == id.BirthDate, nil
}

// SendCode "delivers" code to phone by remembering it. Like a carrier, it
// sends to any number, listed or not.
func (s *Simulator) SendCode(ctx context.Context, phone, code string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[phone] = code
	return nil
}

// LastCode returns the last code sent to phone. It exists only on the
// simulator: it stands in for the customer reading the SMS.
func (s *Simulator) LastCode(phone string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	code, ok := s.codes[phone]
	return code, ok
}
