package bankxfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

// Entry is one account in the simulator's registry.
type Entry struct {
	Account Account
	Holder  string
	Closed  bool // a closed account is ErrNoAccount, like an unknown one
}

// Deposit is a transfer the simulator made, as the holder's statement
// shows it. Its String and LogValue hide the memo, which carries a
// one-time code while it is valid.
type Deposit struct {
	Ref       string
	Account   Account // normalized
	AmountKRW int64
	Memo      string
	At        time.Time
}

// String shows the deposit without its memo and with the account masked.
func (d Deposit) String() string {
	return fmt.Sprintf("deposit %s of %d KRW to %s at %s", d.Ref, d.AmountKRW, d.Account, d.At.Format(time.RFC3339))
}

// GoString keeps %#v from printing the memo.
func (d Deposit) GoString() string { return "bankxfer.Deposit{" + d.String() + "}" }

// LogValue keeps slog from printing the memo.
func (d Deposit) LogValue() slog.Value { return slog.StringValue(d.String()) }

// errOutage is the cause of the failures FailNext injects.
var errOutage = errors.New("bankxfer simulator: injected network outage")

// Simulator is a Network for the demo and tests. It is a SIMULATOR, not a
// bank network: it answers holder look-ups from a fixed in-memory
// registry and "deposits" by recording the transfer, so that a test or the
// demo can play the customer reading their statement (Statement,
// LastMemo). No money moves. The real path is HTTP. Safe for concurrent
// use.
type Simulator struct {
	// Now stamps deposits; nil means time.Now. Set it before first use.
	Now func() time.Time

	accounts map[Account]Entry // by normalized account; never written after NewSimulator

	mu       sync.Mutex
	deposits map[Account][]Deposit
	seq      int
	failNext int
}

var _ Network = (*Simulator)(nil)

// NewSimulator returns a simulator whose registry holds entries. Entries
// must be well formed, since a fixture nobody can reach is a mistake; an
// account given twice keeps its last entry.
func NewSimulator(entries ...Entry) (*Simulator, error) {
	s := &Simulator{accounts: make(map[Account]Entry, len(entries)), deposits: make(map[Account][]Deposit)}
	for _, e := range entries {
		a, err := e.Account.Normalize()
		if err != nil {
			return nil, fmt.Errorf("bankxfer: simulator entry %s: %w", e.Account, err)
		}
		if !validHolder(e.Holder) {
			return nil, fmt.Errorf("bankxfer: simulator entry %s: malformed holder name", a)
		}
		e.Account = a
		s.accounts[a] = e
	}
	return s, nil
}

// DefaultAccounts are the demo's accounts. They are fictitious; their
// holders are the people of the carrier and ID-card simulators, and two
// accounts exist to be refused: a closed one (박철수's old account) and one
// held by 김민준, a different person whose name is one syllable away from
// 김민수's.
func DefaultAccounts() []Entry {
	return []Entry{
		{Account: Account{Bank: "004", Number: "11012345678901"}, Holder: "김민수"},
		{Account: Account{Bank: "088", Number: "110123456789"}, Holder: "김민수"},
		{Account: Account{Bank: "020", Number: "1002345678901"}, Holder: "이영희"},
		{Account: Account{Bank: "011", Number: "3021234567891"}, Holder: "박철수"},
		{Account: Account{Bank: "081", Number: "12391012345607"}, Holder: "최지은"},
		{Account: Account{Bank: "090", Number: "3333012345678"}, Holder: "정하늘"},
		{Account: Account{Bank: "004", Number: "11012345670000"}, Holder: "박철수", Closed: true},
		{Account: Account{Bank: "004", Number: "11098765432101"}, Holder: "김민준"},
	}
}

// Holder returns the registry's holder of a.
func (s *Simulator) Holder(ctx context.Context, a Account) (string, error) {
	a, err := prepare(ctx, a)
	if err == nil {
		err = s.outage()
	}
	if err != nil {
		return "", err
	}
	e, err := s.open(a)
	if err != nil {
		return "", fmt.Errorf("bankxfer: holder %s: %w", a, err)
	}
	return e.Holder, nil
}

// Deposit records the transfer on a's statement and returns its
// reference, "SIM" and a sequence number.
func (s *Simulator) Deposit(ctx context.Context, a Account, amountKRW int64, memo string) (string, error) {
	a, err := prepare(ctx, a)
	if err == nil {
		err = ValidateDeposit(amountKRW, memo)
	}
	if err == nil {
		err = s.outage()
	}
	if err != nil {
		return "", err
	}
	if _, err := s.open(a); err != nil {
		return "", fmt.Errorf("bankxfer: deposit to %s: %w", a, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	d := Deposit{Ref: fmt.Sprintf("SIM%08d", s.seq), Account: a, AmountKRW: amountKRW, Memo: memo, At: s.now()}
	s.deposits[a] = append(s.deposits[a], d)
	return d.Ref, nil
}

// prepare honours ctx and checks the account's form locally, as the real
// adapter does before sending anything.
func prepare(ctx context.Context, a Account) (Account, error) {
	if err := ctx.Err(); err != nil {
		return a, err
	}
	return a.Normalize()
}

// outage consumes one failure injected by FailNext, if any.
func (s *Simulator) outage() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return errs.ErrUnavailable.WithCause(errOutage)
	}
	return nil
}

// open returns a's entry when a exists and is not closed.
func (s *Simulator) open(a Account) (Entry, error) {
	e, ok := s.accounts[a]
	if !ok || e.Closed {
		return Entry{}, ErrNoAccount
	}
	return e, nil
}

// Statement returns the deposits made to a, oldest first; none for a
// malformed account. It exists only on the simulator: it stands in for
// the holder reading their statement.
func (s *Simulator) Statement(a Account) []Deposit {
	a, err := a.Normalize()
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Deposit(nil), s.deposits[a]...)
}

// LastMemo returns the memo of the last deposit to a, as the holder reads
// it on their statement.
func (s *Simulator) LastMemo(a Account) (string, bool) {
	st := s.Statement(a)
	if len(st) == 0 {
		return "", false
	}
	return st[len(st)-1].Memo, true
}

// FailNext makes the next n calls of Holder or Deposit that reach the
// network fail with an error wrapping errs.ErrUnavailable, as during an
// outage. n ≤ 0 ends a pending outage.
func (s *Simulator) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = max(n, 0)
}

func (s *Simulator) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
