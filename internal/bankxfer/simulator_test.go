package bankxfer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/errs"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func newSim(t *testing.T) *bankxfer.Simulator {
	t.Helper()
	sim, err := bankxfer.NewSimulator(bankxfer.DefaultAccounts()...)
	if err != nil {
		t.Fatal(err)
	}
	sim.Now = func() time.Time { return t0 }
	return sim
}

func TestSimulatorHolder(t *testing.T) {
	sim := newSim(t)
	tests := []struct {
		name string
		acct bankxfer.Account
		want string
		err  error
	}{
		{"ok", kimAcct, "김민수", nil},
		{"ok/typed with hyphens", bankxfer.Account{Bank: "004", Number: "110-1234-5678-901"}, "김민수", nil},
		{"ok/same person at another bank", bankxfer.Account{Bank: "088", Number: "110123456789"}, "김민수", nil},
		{"ok/another person", bankxfer.Account{Bank: "020", Number: "1002345678901"}, "이영희", nil},
		{"ok/a different person's account", minjunAcct, "김민준", nil},
		{"no account/closed", closedAcct, "", bankxfer.ErrNoAccount},
		{"no account/number at another bank", bankxfer.Account{Bank: "088", Number: kimAcct.Number}, "", bankxfer.ErrNoAccount},
		{"no account/unknown number", bankxfer.Account{Bank: "004", Number: "11012345678902"}, "", bankxfer.ErrNoAccount},
		{"error/malformed", bankxfer.Account{Bank: "4", Number: kimAcct.Number}, "", bankxfer.ErrInvalidAccount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sim.Holder(t.Context(), tc.acct)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Holder = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "5678") {
				t.Fatalf("error %q shows the account", err)
			}
		})
	}
}

func TestSimulatorDeposit(t *testing.T) {
	sim := newSim(t)
	if _, ok := sim.LastMemo(kimAcct); ok {
		t.Fatal("a memo before any deposit")
	}
	ref1, err := sim.Deposit(t.Context(), kimAcct, 1, "해치 A1B2")
	if err != nil {
		t.Fatal(err)
	}
	sim.Now = func() time.Time { return t0.Add(time.Minute) }
	ref2, err := sim.Deposit(t.Context(), bankxfer.Account{Bank: "004", Number: "110-1234-5678-901"}, 1, "해치 C3D4")
	if err != nil {
		t.Fatal(err)
	}
	if ref1 == ref2 || ref1 == "" {
		t.Fatalf("refs %q, %q", ref1, ref2)
	}
	want := []bankxfer.Deposit{
		{Ref: ref1, Account: kimAcct, AmountKRW: 1, Memo: "해치 A1B2", At: t0},
		{Ref: ref2, Account: kimAcct, AmountKRW: 1, Memo: "해치 C3D4", At: t0.Add(time.Minute)},
	}
	if got := sim.Statement(kimAcct); !slices.Equal(got, want) {
		t.Fatalf("Statement = %+v", got)
	}
	if memo, ok := sim.LastMemo(kimAcct); !ok || memo != "해치 C3D4" {
		t.Fatalf("LastMemo = %q, %v; want the last one", memo, ok)
	}
	if st := sim.Statement(bankxfer.Account{Bank: "088", Number: "110123456789"}); len(st) != 0 {
		t.Fatalf("deposit leaked to kim's other account: %v", st)
	}
	t.Run("statement is a copy", func(t *testing.T) {
		sim.Statement(kimAcct)[0].Memo = "changed"
		if sim.Statement(kimAcct)[0].Memo != "해치 A1B2" {
			t.Fatal("the caller changed the statement")
		}
	})
}

func TestSimulatorDepositRefuses(t *testing.T) {
	tests := []struct {
		name   string
		acct   bankxfer.Account
		amount int64
		memo   string
		err    *errs.Error
		field  string
	}{
		{"error/closed account", closedAcct, 1, "A1B2", bankxfer.ErrNoAccount, ""},
		{"error/unknown account", bankxfer.Account{Bank: "004", Number: "11012345678902"}, 1, "A1B2", bankxfer.ErrNoAccount, ""},
		{"error/malformed account", bankxfer.Account{Bank: "004", Number: "1"}, 1, "A1B2", bankxfer.ErrInvalidAccount, "account_number"},
		{"error/malformed account before amount", bankxfer.Account{Bank: "04", Number: kimAcct.Number}, 0, "", bankxfer.ErrInvalidAccount, "bank_code"},
		{"error/zero amount", kimAcct, 0, "A1B2", bankxfer.ErrInvalidDeposit, "amount"},
		{"error/negative amount", kimAcct, -1, "A1B2", bankxfer.ErrInvalidDeposit, "amount"},
		{"error/amount above 1,000,000", kimAcct, 1_000_001, "A1B2", bankxfer.ErrInvalidDeposit, "amount"},
		{"error/empty memo", kimAcct, 1, "", bankxfer.ErrInvalidDeposit, "memo"},
		{"error/long memo", kimAcct, 1, "12345678901", bankxfer.ErrInvalidDeposit, "memo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := newSim(t)
			ref, err := sim.Deposit(t.Context(), tc.acct, tc.amount, tc.memo)
			e := errs.As(err)
			if ref != "" || !errors.Is(err, tc.err) || e.Field != tc.field {
				t.Fatalf("Deposit = %q, %v; want %s on %q", ref, err, tc.err.Code, tc.field)
			}
			if st := sim.Statement(tc.acct); len(st) != 0 {
				t.Fatalf("recorded %v", st)
			}
		})
	}
}

func TestSimulatorFailNext(t *testing.T) {
	sim := newSim(t)
	sim.FailNext(2)
	if _, err := sim.Deposit(t.Context(), kimAcct, 0, "A1B2"); !errors.Is(err, bankxfer.ErrInvalidDeposit) {
		t.Fatalf("a refused deposit used up the outage: %v", err)
	}
	if _, err := sim.Holder(t.Context(), kimAcct); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("Holder during outage: %v", err)
	}
	if _, err := sim.Deposit(t.Context(), kimAcct, 1, "A1B2"); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("Deposit during outage: %v", err)
	}
	if st := sim.Statement(kimAcct); len(st) != 0 {
		t.Fatalf("a failed deposit reached the statement: %v", st)
	}
	if _, err := sim.Deposit(t.Context(), kimAcct, 1, "A1B2"); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	sim.FailNext(5)
	sim.FailNext(0)
	if _, err := sim.Holder(t.Context(), kimAcct); err != nil {
		t.Fatalf("FailNext(0) did not end the outage: %v", err)
	}
}

func TestSimulatorCancelled(t *testing.T) {
	sim := newSim(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := sim.Holder(ctx, kimAcct); !errors.Is(err, context.Canceled) {
		t.Fatalf("Holder: %v", err)
	}
	if _, err := sim.Deposit(ctx, kimAcct, 1, "A1B2"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Deposit: %v", err)
	}
	if len(sim.Statement(kimAcct)) != 0 {
		t.Fatal("a cancelled deposit was recorded")
	}
}

func TestSimulatorConcurrent(t *testing.T) {
	sim := newSim(t)
	var wg sync.WaitGroup
	refs := make(chan string, 50)
	for range 50 {
		wg.Go(func() {
			ref, err := sim.Deposit(context.Background(), kimAcct, 1, "A1B2")
			if err != nil {
				t.Error(err)
			}
			refs <- ref
			sim.LastMemo(kimAcct)
		})
	}
	wg.Wait()
	close(refs)
	seen := map[string]bool{}
	for r := range refs {
		if seen[r] {
			t.Fatalf("ref %q given twice", r)
		}
		seen[r] = true
	}
	if n := len(sim.Statement(kimAcct)); n != 50 {
		t.Fatalf("%d deposits recorded, want 50", n)
	}
}

func TestNewSimulatorRefusesMalformedEntry(t *testing.T) {
	tests := []struct {
		name  string
		entry bankxfer.Entry
	}{
		{"error/account", bankxfer.Entry{Account: bankxfer.Account{Bank: "4", Number: kimAcct.Number}, Holder: "김민수"}},
		{"error/empty holder", bankxfer.Entry{Account: kimAcct}},
		{"error/holder with newline", bankxfer.Entry{Account: kimAcct, Holder: "김\n민수"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := bankxfer.NewSimulator(tc.entry); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestDepositPrintsWithoutMemo(t *testing.T) {
	d := bankxfer.Deposit{Ref: "SIM1", Account: kimAcct, AmountKRW: 1, Memo: "해치 A1B2", At: t0}
	for _, s := range []string{fmt.Sprint(d), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", d), d.LogValue().String()} {
		if strings.Contains(s, "A1B2") || strings.Contains(s, "12345678") || !strings.Contains(s, "SIM1") {
			t.Errorf("printed %q", s)
		}
	}
}
