package cardnet_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/errs"
)

func newSim() *cardnet.Simulator { return cardnet.NewSimulator(func() time.Time { return t0 }) }

func auth(key, pan string, amount int64) cardnet.Authorization {
	return cardnet.Authorization{Key: key, Card: card(pan), AmountKRW: amount, MerchantID: "mch_1"}
}

func TestSimulatorTestCards(t *testing.T) {
	tests := []struct {
		name    string
		pan     string
		want    cardnet.Result
		charged int64
	}{
		{"approved/visa", cardnet.CardApproved, cardnet.Result{Status: cardnet.Approved, ApprovalCode: "00000001"}, 6900},
		{"approved/mastercard", cardnet.CardMastercard, cardnet.Result{Status: cardnet.Approved, ApprovalCode: "00000001"}, 6900},
		{"approved/any other valid card", "4242424242424242", cardnet.Result{Status: cardnet.Approved, ApprovalCode: "00000001"}, 6900},
		{"declined", cardnet.CardDeclined, cardnet.Result{Status: cardnet.Declined, Reason: "do_not_honor"}, 0},
		{"insufficient funds", cardnet.CardInsufficientFunds, cardnet.Result{Status: cardnet.InsufficientFunds, Reason: "insufficient_funds"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := newSim()
			got, err := sim.Authorize(t.Context(), auth("ptx_1", tc.pan, 6900))
			if err != nil || got != tc.want {
				t.Fatalf("Authorize = %+v, %v; want %+v", got, err, tc.want)
			}
			if sim.Charged("ptx_1") != tc.charged {
				t.Fatalf("charged %d, want %d", sim.Charged("ptx_1"), tc.charged)
			}
			if n := sim.Authorizations(); (n == 1) != (tc.charged > 0) {
				t.Fatalf("%d authorizations", n)
			}
		})
	}
}

func TestSimulatorIdempotentByKey(t *testing.T) {
	sim := newSim()
	first, err := sim.Authorize(t.Context(), auth("ptx_1", cardnet.CardApproved, 6900))
	if err != nil {
		t.Fatal(err)
	}
	// The same key with another CVV is the same request: the CVV is not kept.
	again := auth("ptx_1", cardnet.CardApproved, 6900)
	again.Card.CVV = "999"
	second, err := sim.Authorize(t.Context(), again)
	if err != nil || second != first {
		t.Fatalf("repeat = %+v, %v; want %+v", second, err, first)
	}
	other, err := sim.Authorize(t.Context(), auth("ptx_2", cardnet.CardApproved, 100))
	if err != nil || other.ApprovalCode == first.ApprovalCode {
		t.Fatalf("another key = %+v, %v", other, err)
	}
	if sim.Authorizations() != 2 || sim.Calls() != 3 || sim.Charged("ptx_1") != 6900 || sim.Charged("ptx_2") != 100 {
		t.Fatalf("authorizations %d, calls %d, charged %d and %d", sim.Authorizations(), sim.Calls(), sim.Charged("ptx_1"), sim.Charged("ptx_2"))
	}
}

func TestSimulatorRefusesReusedKey(t *testing.T) {
	tests := []struct {
		name   string
		change func(*cardnet.Authorization)
	}{
		{"error/another amount", func(a *cardnet.Authorization) { a.AmountKRW = 100 }},
		{"error/another card", func(a *cardnet.Authorization) { a.Card.PAN = cardnet.CardMastercard }},
		{"error/another expiry", func(a *cardnet.Authorization) { a.Card.Expiry = "11/30" }},
		{"error/another merchant", func(a *cardnet.Authorization) { a.MerchantID = "mch_2" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := newSim()
			if _, err := sim.Authorize(t.Context(), auth("ptx_1", cardnet.CardApproved, 6900)); err != nil {
				t.Fatal(err)
			}
			a := auth("ptx_1", cardnet.CardApproved, 6900)
			tc.change(&a)
			got, err := sim.Authorize(t.Context(), a)
			if !errors.Is(err, cardnet.ErrKeyReused) || got != (cardnet.Result{}) {
				t.Fatalf("Authorize = %+v, %v; want ErrKeyReused", got, err)
			}
			if sim.Authorizations() != 1 || sim.Charged("ptx_1") != 6900 {
				t.Fatalf("authorizations %d, charged %d", sim.Authorizations(), sim.Charged("ptx_1"))
			}
		})
	}
}

// TestSimulatorLostAnswer: the first call charges but its answer is lost;
// the retry with the key gets the approval, and the card is charged once.
func TestSimulatorLostAnswer(t *testing.T) {
	sim := newSim()
	got, err := sim.Authorize(t.Context(), auth("ptx_1", cardnet.CardLostAnswer, 6900))
	if !errors.Is(err, errs.ErrUnavailable) || got != (cardnet.Result{}) {
		t.Fatalf("first = %+v, %v; want unavailable", got, err)
	}
	if sim.Charged("ptx_1") != 6900 || sim.Authorizations() != 1 {
		t.Fatalf("the lost answer charged %d (%d authorizations)", sim.Charged("ptx_1"), sim.Authorizations())
	}
	for i := range 2 {
		got, err = sim.Authorize(t.Context(), auth("ptx_1", cardnet.CardLostAnswer, 6900))
		if err != nil || got.Status != cardnet.Approved || got.ApprovalCode == "" {
			t.Fatalf("retry %d = %+v, %v", i, got, err)
		}
	}
	if sim.Charged("ptx_1") != 6900 || sim.Authorizations() != 1 || sim.Calls() != 3 {
		t.Fatalf("charged %d, %d authorizations, %d calls", sim.Charged("ptx_1"), sim.Authorizations(), sim.Calls())
	}
	// Another key loses its first answer too.
	if _, err := sim.Authorize(t.Context(), auth("ptx_2", cardnet.CardLostAnswer, 10)); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("another key: %v", err)
	}
}

func TestSimulatorTimeoutNext(t *testing.T) {
	sim := newSim()
	sim.TimeoutNext(2)
	for i := range 2 {
		if _, err := sim.Authorize(t.Context(), auth("ptx_1", cardnet.CardApproved, 6900)); !errors.Is(err, errs.ErrUnavailable) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if sim.Charged("ptx_1") != 0 || sim.Authorizations() != 0 {
		t.Fatal("a timed-out call charged")
	}
	got, err := sim.Authorize(t.Context(), auth("ptx_1", cardnet.CardApproved, 6900))
	if err != nil || got.Status != cardnet.Approved || sim.Charged("ptx_1") != 6900 || sim.Calls() != 3 {
		t.Fatalf("after the outage = %+v, %v; charged %d", got, err, sim.Charged("ptx_1"))
	}
	sim.TimeoutNext(5)
	sim.TimeoutNext(0)
	if _, err := sim.Authorize(t.Context(), auth("ptx_2", cardnet.CardApproved, 1)); err != nil {
		t.Fatalf("TimeoutNext(0) did not end the outage: %v", err)
	}
}

// TestSimulatorLoseNext: any card's answer can be lost, a decline's too;
// the retry gets the recorded decline.
func TestSimulatorLoseNext(t *testing.T) {
	sim := newSim()
	sim.LoseNext(1)
	if _, err := sim.Authorize(t.Context(), auth("ptx_1", cardnet.CardDeclined, 6900)); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("first: %v", err)
	}
	got, err := sim.Authorize(t.Context(), auth("ptx_1", cardnet.CardDeclined, 6900))
	if err != nil || got.Status != cardnet.Declined || sim.Authorizations() != 0 {
		t.Fatalf("retry = %+v, %v", got, err)
	}
	if _, err := sim.Authorize(t.Context(), auth("ptx_2", cardnet.CardApproved, 1)); err != nil {
		t.Fatalf("LoseNext(1) lost two answers: %v", err)
	}
}

func TestSimulatorRefusesBadRequests(t *testing.T) {
	sim := newSim()
	expired := auth("ptx_1", cardnet.CardApproved, 6900)
	expired.Card.Expiry = "02/26"
	if _, err := sim.Authorize(t.Context(), expired); !errors.Is(err, cardnet.ErrCardExpired) {
		t.Fatalf("expired card: %v", err)
	}
	if _, err := sim.Authorize(t.Context(), auth("ptx_1", "4111111111111112", 6900)); !errors.Is(err, cardnet.ErrInvalidCard) {
		t.Fatalf("bad check digit: %v", err)
	}
	for _, a := range []cardnet.Authorization{
		auth("ptx_1", cardnet.CardApproved, 0),
		auth("ptx_1", cardnet.CardApproved, -5),
		auth("ptx_1", cardnet.CardApproved, 1_000_000_001),
		auth("", cardnet.CardApproved, 1),
		auth("ptx 1", cardnet.CardApproved, 1),
		{Key: "ptx_1", Card: card(cardnet.CardApproved), AmountKRW: 1},
	} {
		if _, err := sim.Authorize(t.Context(), a); err == nil || errors.Is(err, errs.ErrUnavailable) {
			t.Fatalf("Authorize(key %q, amount %d, merchant %q) = %v", a.Key, a.AmountKRW, a.MerchantID, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := sim.Authorize(ctx, auth("ptx_1", cardnet.CardApproved, 6900)); !errors.Is(err, errs.ErrUnavailable) {
		t.Fatalf("cancelled context: %v", err)
	}
	if sim.Authorizations() != 0 || sim.Charged("ptx_1") != 0 {
		t.Fatal("a refused request charged")
	}
	// Nothing was recorded, so the key is still free.
	if got, err := sim.Authorize(t.Context(), auth("ptx_1", cardnet.CardMastercard, 7)); err != nil || got.Status != cardnet.Approved {
		t.Fatalf("fresh key = %+v, %v", got, err)
	}
}

// TestSimulatorReplayAfterExpiry: the network answers a key it knows even
// once the card's month is over, as a retry at midnight needs.
func TestSimulatorReplayAfterExpiry(t *testing.T) {
	now := t0
	sim := cardnet.NewSimulator(func() time.Time { return now })
	a := auth("ptx_1", cardnet.CardApproved, 6900)
	a.Card.Expiry = "03/26"
	first, err := sim.Authorize(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	now = time.Date(2026, 4, 1, 0, 0, 1, 0, time.UTC)
	if again, err := sim.Authorize(t.Context(), a); err != nil || again != first {
		t.Fatalf("replay = %+v, %v", again, err)
	}
	a.Key = "ptx_2"
	if _, err := sim.Authorize(t.Context(), a); !errors.Is(err, cardnet.ErrCardExpired) {
		t.Fatalf("new key: %v", err)
	}
}

func TestSimulatorCancel(t *testing.T) {
	sim := newSim()
	ctx := t.Context()
	for _, a := range []cardnet.Authorization{auth("ptx_ok", cardnet.CardApproved, 10000), auth("ptx_no", cardnet.CardDeclined, 10000)} {
		if _, err := sim.Authorize(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	ref1, err := sim.Cancel(ctx, cardnet.Cancellation{Key: "prf_1", AuthKey: "ptx_ok", AmountKRW: 3000})
	if err != nil || ref1 == "" || sim.Charged("ptx_ok") != 7000 {
		t.Fatalf("partial cancel = %q, %v; charged %d", ref1, err, sim.Charged("ptx_ok"))
	}
	again, err := sim.Cancel(ctx, cardnet.Cancellation{Key: "prf_1", AuthKey: "ptx_ok", AmountKRW: 3000})
	if err != nil || again != ref1 || sim.Charged("ptx_ok") != 7000 {
		t.Fatalf("repeat = %q, %v; charged %d", again, err, sim.Charged("ptx_ok"))
	}
	tests := []struct {
		name string
		c    cardnet.Cancellation
		err  error
	}{
		{"error/more than is left", cardnet.Cancellation{Key: "prf_2", AuthKey: "ptx_ok", AmountKRW: 7001}, cardnet.ErrNotCancellable},
		{"error/unknown authorization", cardnet.Cancellation{Key: "prf_2", AuthKey: "ptx_none", AmountKRW: 1}, cardnet.ErrNotCancellable},
		{"error/declined authorization", cardnet.Cancellation{Key: "prf_2", AuthKey: "ptx_no", AmountKRW: 1}, cardnet.ErrNotCancellable},
		{"error/key reused for another amount", cardnet.Cancellation{Key: "prf_1", AuthKey: "ptx_ok", AmountKRW: 1}, cardnet.ErrKeyReused},
		{"error/key reused for another authorization", cardnet.Cancellation{Key: "prf_1", AuthKey: "ptx_no", AmountKRW: 3000}, cardnet.ErrKeyReused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := sim.Cancel(ctx, tc.c)
			if ref != "" || !errors.Is(err, tc.err) {
				t.Fatalf("Cancel = %q, %v; want %v", ref, err, tc.err)
			}
		})
	}
	ref2, err := sim.Cancel(ctx, cardnet.Cancellation{Key: "prf_2", AuthKey: "ptx_ok", AmountKRW: 7000})
	if err != nil || ref2 == ref1 || sim.Charged("ptx_ok") != 0 {
		t.Fatalf("the rest = %q, %v; charged %d", ref2, err, sim.Charged("ptx_ok"))
	}
	if _, err := sim.Cancel(ctx, cardnet.Cancellation{Key: "prf_3", AuthKey: "ptx_ok", AmountKRW: 1}); !errors.Is(err, cardnet.ErrNotCancellable) {
		t.Fatalf("cancel of a fully cancelled approval: %v", err)
	}
}

func TestSimulatorFailCancelNext(t *testing.T) {
	sim := newSim()
	if _, err := sim.Authorize(t.Context(), auth("ptx_1", cardnet.CardApproved, 500)); err != nil {
		t.Fatal(err)
	}
	sim.FailCancelNext(1)
	c := cardnet.Cancellation{Key: "prf_1", AuthKey: "ptx_1", AmountKRW: 500}
	if _, err := sim.Cancel(t.Context(), c); !errors.Is(err, errs.ErrUnavailable) || sim.Charged("ptx_1") != 500 {
		t.Fatalf("failed cancel: %v, charged %d", err, sim.Charged("ptx_1"))
	}
	if _, err := sim.Cancel(t.Context(), c); err != nil || sim.Charged("ptx_1") != 0 {
		t.Fatalf("retry: %v, charged %d", err, sim.Charged("ptx_1"))
	}
}

// TestSimulatorConcurrentSameKey: racing retries of one key charge once
// and all see the same approval.
func TestSimulatorConcurrentSameKey(t *testing.T) {
	sim := newSim()
	var wg sync.WaitGroup
	results := make([]cardnet.Result, 32)
	for i := range results {
		wg.Go(func() {
			key := "ptx_1"
			if i%4 == 0 {
				key = fmt.Sprintf("ptx_other_%d", i)
			}
			r, err := sim.Authorize(context.Background(), auth(key, cardnet.CardApproved, 6900))
			if err != nil {
				t.Error(err)
			}
			if key == "ptx_1" {
				results[i] = r
			}
		})
	}
	wg.Wait()
	var code string
	for i, r := range results {
		if i%4 == 0 {
			continue
		}
		if code == "" {
			code = r.ApprovalCode
		}
		if r.Status != cardnet.Approved || r.ApprovalCode != code {
			t.Fatalf("result %d = %+v, want approval %s", i, r, code)
		}
	}
	if sim.Authorizations() != 9 || sim.Charged("ptx_1") != 6900 || sim.Calls() != 32 {
		t.Fatalf("%d authorizations, charged %d, %d calls", sim.Authorizations(), sim.Charged("ptx_1"), sim.Calls())
	}
}
