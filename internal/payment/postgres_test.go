package payment_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/storetest"
)

// The gateway on PostgreSQL: the same flows, the one-payment-per-order
// race and the sweeper, where the store's locking and time precision
// differ from SQLite's. Skipped without HAECHI_TEST_POSTGRES_URL.
func TestOnPostgres(t *testing.T) {
	f := newFixtureOn(t, storetest.MustOpenPostgres)
	m := f.register("shop", payment.Protected)
	ctx := context.Background()

	v := f.approved(m, "ORD-1", 6900)
	_, err := f.svc.Confirm(ctx, m.ID, v.ID, "ORD-1", 6900)
	must(t, err)
	got, err := f.svc.Refund(ctx, m.ID, v.ID, 900, "")
	must(t, err)
	if got.Status != payment.StatusPartRefunded || f.sim.Charged(v.ID) != 6000 {
		t.Fatalf("after refund: %s charged %d", got.Status, f.sim.Charged(v.ID))
	}

	c := f.order(m, "ORD-2", 6900, 1)
	c.Amount = 1000
	if co := f.checkout(c); co.Transaction.Reason != payinfo.ReasonAmount {
		t.Fatalf("tampered checkout = %s %s", co.Transaction.Code, co.Transaction.Reason)
	}

	s := f.order(m, "ORD-3", 6900, 1)
	cos := []*payment.Checkout{f.normal(s), f.normal(s), f.normal(s)}
	var wg sync.WaitGroup
	results := make([]error, len(cos))
	for i, co := range cos {
		wg.Add(1)
		go func() { defer wg.Done(); _, results[i] = f.authorize(co, visa) }()
	}
	wg.Wait()
	approved := 0
	for _, err := range results {
		if err == nil {
			approved++
		} else if !errors.Is(err, payment.ErrOrderTaken) {
			t.Fatal(err)
		}
	}
	if approved != 1 {
		t.Fatalf("%d approved, want 1", approved)
	}

	lost := f.normal(f.order(m, "ORD-4", 6900, 1))
	_, err = f.authorize(lost, cardnet.Card{PAN: cardnet.CardLostAnswer, Expiry: "12/30", CVV: "123"})
	wantErr(t, err, payment.ErrCardNetwork)
	unconfirmed := f.approved(m, "ORD-5", 6900)
	f.clk.Add(payment.DefaultCheckoutTTL + time.Second)
	n, err := f.svc.Sweep(ctx)
	must(t, err)
	if n < 2 || f.tx(lost.Transaction.ID).Status != payment.StatusFailed || f.tx(unconfirmed.ID).Status != payment.StatusNetCancelled {
		t.Fatalf("sweep changed %d: %s, %s", n, f.tx(lost.Transaction.ID).Status, f.tx(unconfirmed.ID).Status)
	}
	if f.sim.Charged(lost.Transaction.ID) != 0 || f.sim.Charged(unconfirmed.ID) != 0 {
		t.Fatal("charges left after the sweep")
	}
	f.verifyChain()
}
