package payment_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
)

// The merchant's server-to-server check fails: the approval is
// net-cancelled at the network and the merchant told so.
func TestConfirmMismatchNetCancels(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	t.Run("amount", func(t *testing.T) {
		v := f.approved(m, orderNo(0), 6900)
		_, err := f.svc.Confirm(context.Background(), m.ID, v.ID, v.OrderNo, 1000)
		wantErr(t, err, payment.ErrConfirmMismatch)
		if st := f.tx(v.ID).Status; st != payment.StatusNetCancelled {
			t.Fatalf("status = %s, want net_cancelled", st)
		}
		rs := f.refunds(v.ID)
		if len(rs) != 1 || rs[0].Kind != payment.KindNetCancel || rs[0].Status != payment.RefundDone ||
			rs[0].Amount != 6900 || rs[0].NetworkRef == "" {
			t.Fatalf("reversals = %+v", rs)
		}
		if f.sim.Charged(v.ID) != 0 {
			t.Fatalf("still charged %d after the net-cancel", f.sim.Charged(v.ID))
		}
		if got := f.eventTypes(v.ID); !slices.Equal(got, []string{payment.EventApproved, payment.EventNetCancelled}) {
			t.Fatalf("webhooks = %v", got)
		}
		_, err = f.svc.Confirm(context.Background(), m.ID, v.ID, v.OrderNo, 6900)
		wantErr(t, err, payment.ErrNotConfirmable)
	})
	// A payment of another order may be that order's honest payment:
	// confirming it for this one is refused and changes nothing.
	t.Run("order", func(t *testing.T) {
		v := f.approved(m, orderNo(1), 6900)
		_, err := f.svc.Confirm(context.Background(), m.ID, v.ID, "ORD-OTHER", 6900)
		wantErr(t, err, payment.ErrConfirmWrongOrder)
		if st := f.tx(v.ID).Status; st != payment.StatusApproved {
			t.Fatalf("status = %s, want approved (unchanged)", st)
		}
		if len(f.refunds(v.ID)) != 0 || f.sim.Charged(v.ID) != 6900 {
			t.Fatalf("reversed: %+v", f.refunds(v.ID))
		}
		got, err := f.svc.Confirm(context.Background(), m.ID, v.ID, v.OrderNo, 6900)
		must(t, err)
		wantStatus(t, got, payment.StatusConfirmed)
	})
	f.verifyChain()
}

// The merchant net-cancels an approval itself; a confirmed payment is
// refunded instead.
func TestNetCancel(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	v := f.approved(m, "ORD-1", 6900)
	_, err := f.svc.NetCancel(context.Background(), m.ID, v.ID, "")
	wantErr(t, err, errs.ErrInvalid)
	got, err := f.svc.NetCancel(context.Background(), m.ID, v.ID, "out of stock")
	must(t, err)
	wantStatus(t, got, payment.StatusNetCancelled)
	if f.sim.Charged(v.ID) != 0 {
		t.Fatal("not reversed at the network")
	}
	again, err := f.svc.NetCancel(context.Background(), m.ID, v.ID, "out of stock")
	must(t, err)
	wantStatus(t, again, payment.StatusNetCancelled)
	if n := len(f.refunds(v.ID)); n != 1 {
		t.Fatalf("%d reversals, want 1", n)
	}

	c := f.approved(m, "ORD-2", 6900)
	_, err = f.svc.Confirm(context.Background(), m.ID, c.ID, "ORD-2", 6900)
	must(t, err)
	_, err = f.svc.NetCancel(context.Background(), m.ID, c.ID, "changed my mind")
	wantErr(t, err, payment.ErrNotCancellable)
}

// Refunds: partial, then the rest; more than is left is refused, and the
// network ends up with nothing charged.
func TestRefunds(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	v := f.approved(m, "ORD-1", 6900)
	ctx := context.Background()
	_, err := f.svc.Refund(ctx, m.ID, v.ID, 1000, "")
	wantErr(t, err, payment.ErrNotCancellable) // approved, not yet confirmed
	_, err = f.svc.Confirm(ctx, m.ID, v.ID, "ORD-1", 6900)
	must(t, err)

	for _, amount := range []int64{0, -1} {
		_, err = f.svc.Refund(ctx, m.ID, v.ID, amount, "")
		wantErr(t, err, errs.ErrInvalid)
	}
	got, err := f.svc.Refund(ctx, m.ID, v.ID, 1000, "one item broken")
	must(t, err)
	if got.Status != payment.StatusPartRefunded || got.RefundedAmount != 1000 || f.sim.Charged(v.ID) != 5900 {
		t.Fatalf("after 1,000: %s refunded %d charged %d", got.Status, got.RefundedAmount, f.sim.Charged(v.ID))
	}
	head := f.head()
	_, err = f.svc.Refund(ctx, m.ID, v.ID, 5901, "")
	wantErr(t, err, payment.ErrRefundExceeds)
	if f.head() != head || f.sim.Charged(v.ID) != 5900 {
		t.Fatal("an over-refund wrote something")
	}
	got, err = f.svc.Refund(ctx, m.ID, v.ID, 5900, "")
	must(t, err)
	if got.Status != payment.StatusRefunded || got.RefundedAmount != 6900 || f.sim.Charged(v.ID) != 0 {
		t.Fatalf("after the rest: %s refunded %d charged %d", got.Status, got.RefundedAmount, f.sim.Charged(v.ID))
	}
	_, err = f.svc.Refund(ctx, m.ID, v.ID, 1, "")
	wantErr(t, err, payment.ErrNotCancellable)
	rs := f.refunds(v.ID)
	if len(rs) != 2 || rs[0].Status != payment.RefundDone || rs[1].Status != payment.RefundDone {
		t.Fatalf("refunds = %+v", rs)
	}
	if got := f.eventTypes(v.ID); !slices.Equal(got, []string{payment.EventApproved, payment.EventConfirmed,
		payment.EventRefunded, payment.EventRefunded}) {
		t.Fatalf("webhooks = %v", got)
	}
	f.verifyChain()
}

// A merchant acting on another merchant's transaction finds nothing and
// changes nothing.
func TestOtherMerchantsTransaction(t *testing.T) {
	f := newFixture(t)
	a := f.register("shop-a", payment.Protected)
	b := f.register("shop-b", payment.Protected)
	v := f.approved(a, "ORD-1", 6900)
	head, version := f.head(), f.tx(v.ID).Version
	ctx := context.Background()
	_, err := f.svc.Payment(ctx, b.ID, v.ID)
	wantErr(t, err, payment.ErrTransactionNotFound)
	_, err = f.svc.Confirm(ctx, b.ID, v.ID, "ORD-1", 6900)
	wantErr(t, err, payment.ErrTransactionNotFound)
	_, err = f.svc.NetCancel(ctx, b.ID, v.ID, "mine now")
	wantErr(t, err, payment.ErrTransactionNotFound)
	_, err = f.svc.Refund(ctx, b.ID, v.ID, 100, "")
	wantErr(t, err, payment.ErrTransactionNotFound)
	_, err = f.svc.Payment(ctx, "", v.ID)
	wantErr(t, err, payment.ErrTransactionNotFound)
	f.unchanged(v.ID, version, head)
	if f.sim.Charged(v.ID) != 6900 {
		t.Fatal("the network was asked to reverse")
	}
	got, err := f.svc.Payment(ctx, a.ID, v.ID)
	must(t, err)
	wantStatus(t, got, payment.StatusApproved)
	op, err := f.svc.PaymentAny(ctx, v.ID)
	must(t, err)
	if op.ID != v.ID {
		t.Fatal("operator view differs")
	}
}

// The sweeper: NORMAL transactions expire, approvals nobody confirmed are
// net-cancelled, authorizations the network never answered are reversed,
// and reversals the network failed are retried.
func TestSweep(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	ctx := context.Background()

	unpaid := f.normal(f.order(m, "ORD-1", 6900, 1))
	unconfirmed := f.approved(m, "ORD-2", 6900)
	confirmed := f.approved(m, "ORD-3", 6900)
	_, err := f.svc.Confirm(ctx, m.ID, confirmed.ID, "ORD-3", 6900)
	must(t, err)
	silent := f.normal(f.order(m, "ORD-4", 6900, 1))
	_, err = f.authorize(silent, cardnet.Card{PAN: cardnet.CardLostAnswer, Expiry: "12/30", CVV: "123"})
	wantErr(t, err, payment.ErrCardNetwork)
	mismatched := f.approved(m, "ORD-5", 6900)
	f.sim.FailCancelNext(1)
	_, err = f.svc.Confirm(ctx, m.ID, mismatched.ID, "ORD-5", 1)
	wantErr(t, err, payment.ErrConfirmMismatch)
	if rs := f.refunds(mismatched.ID); len(rs) != 1 || rs[0].Status != payment.RefundPending {
		t.Fatalf("reversal after a network failure = %+v, want pending", rs)
	}

	// Nothing is due yet but the pending reversal.
	n, err := f.svc.Sweep(ctx)
	must(t, err)
	if n != 1 || f.refunds(mismatched.ID)[0].Status != payment.RefundDone || f.sim.Charged(mismatched.ID) != 0 {
		t.Fatalf("first sweep changed %d; reversal %+v", n, f.refunds(mismatched.ID))
	}
	early := map[string]payment.Status{unpaid.Transaction.ID: payment.StatusVerified,
		unconfirmed.ID: payment.StatusApproved, silent.Transaction.ID: payment.StatusAuthorizing}
	for id, st := range early {
		if got := f.tx(id).Status; got != st {
			t.Fatalf("%s is %s before its deadline, want %s", id, got, st)
		}
	}

	f.clk.Add(payment.DefaultCheckoutTTL + time.Second) // past every deadline
	n, err = f.svc.Sweep(ctx)
	must(t, err)
	if n != 3 {
		t.Fatalf("sweep changed %d, want 3", n)
	}
	want := map[string]payment.Status{unpaid.Transaction.ID: payment.StatusExpired,
		unconfirmed.ID: payment.StatusNetCancelled, confirmed.ID: payment.StatusConfirmed,
		silent.Transaction.ID: payment.StatusFailed}
	for id, st := range want {
		if got := f.tx(id).Status; got != st {
			t.Fatalf("%s is %s, want %s", id, got, st)
		}
	}
	if f.sim.Charged(unconfirmed.ID) != 0 || f.sim.Charged(silent.Transaction.ID) != 0 || f.sim.Charged(confirmed.ID) != 6900 {
		t.Fatal("the network still holds a charge the sweeper should have reversed")
	}
	rs := f.refunds(silent.Transaction.ID)
	if len(rs) != 1 || rs[0].Kind != payment.KindReversal || rs[0].Status != payment.RefundDone {
		t.Fatalf("reversal of the silent authorization = %+v", rs)
	}
	if got := f.eventTypes(silent.Transaction.ID); !slices.Equal(got, []string{payment.EventFailed}) {
		t.Fatalf("webhooks of the failed one = %v", got)
	}
	n, err = f.svc.Sweep(ctx)
	must(t, err)
	if n != 0 {
		t.Fatalf("a second sweep changed %d", n)
	}
	f.verifyChain()
}

// An authorization whose network never charged anything is still
// reversed safely: the network's "nothing to cancel" settles it.
func TestSweepReversesUnchargedAuthorization(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	co := f.normal(f.order(m, "ORD-1", 6900, 1))
	f.sim.TimeoutNext(1)
	_, err := f.authorize(co, visa)
	wantErr(t, err, payment.ErrCardNetwork)
	f.clk.Add(payment.DefaultAuthGiveUp)
	n, err := f.svc.Sweep(context.Background())
	must(t, err)
	if n != 0 {
		t.Fatalf("swept %d before the give-up time", n)
	}
	f.clk.Add(time.Second)
	n, err = f.svc.Sweep(context.Background())
	must(t, err)
	rs := f.refunds(co.Transaction.ID)
	if n != 1 || f.tx(co.Transaction.ID).Status != payment.StatusFailed || len(rs) != 1 || rs[0].Status != payment.RefundDone {
		t.Fatalf("swept %d: %s %+v", n, f.tx(co.Transaction.ID).Status, rs)
	}
	// The order is free again for a new checkout.
	f.approved(m, "ORD-1", 6900)
}

// An approval the merchant confirms too late is net-cancelled, not
// confirmed.
func TestConfirmAfterWindow(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	v := f.approved(m, "ORD-1", 6900)
	f.clk.Add(payment.DefaultConfirmWindow)
	_, err := f.svc.Confirm(context.Background(), m.ID, v.ID, "ORD-1", 6900)
	wantErr(t, err, payment.ErrNotConfirmable)
	if st := f.tx(v.ID).Status; st != payment.StatusNetCancelled || f.sim.Charged(v.ID) != 0 {
		t.Fatalf("status %s, charged %d", st, f.sim.Charged(v.ID))
	}
}

// An amount no payment can have is a malformed confirmation: it is refused
// as such and leaves the approved payment as it was, never net-cancelled.
func TestConfirmMalformedAmountChangesNothing(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	for i, amount := range []int64{0, -6900, payinfo.MaxAmount + 1} {
		v := f.approved(m, orderNo(40+i), 6900)
		_, err := f.svc.Confirm(context.Background(), m.ID, v.ID, v.OrderNo, amount)
		wantErr(t, err, payment.ErrInvalidPaymentInfo)
		if st := f.tx(v.ID).Status; st != payment.StatusApproved {
			t.Fatalf("amount %d: status = %s, want approved (unchanged)", amount, st)
		}
		if len(f.refunds(v.ID)) != 0 || f.sim.Charged(v.ID) != 6900 {
			t.Fatalf("amount %d: reversed: %+v", amount, f.refunds(v.ID))
		}
		if got := f.eventTypes(v.ID); !slices.Equal(got, []string{payment.EventApproved}) {
			t.Fatalf("amount %d: webhooks = %v", amount, got)
		}
	}
}

// Reversals the network keeps refusing stay due and stay the oldest; more
// of them than one sweep batch must not keep the sweeper from newer work.
func TestSweepPassesOverStuckReversals(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	ctx := context.Background()
	const stuck = 105 // more than one sweep batch
	for i := range stuck {
		f.approved(m, orderNo(100+i), 6900)
	}
	f.sim.FailCancelNext(1 << 20)
	f.clk.Add(payment.DefaultConfirmWindow + time.Second)
	n, err := f.svc.Sweep(ctx)
	must(t, err)
	if n != stuck {
		t.Fatalf("first sweep changed %d, want %d net-cancels (reversals pending)", n, stuck)
	}
	f.clk.Add(time.Second) // the newer approval changed after every stuck one
	late := f.approved(m, "ORD-LATE", 6900)
	f.clk.Add(payment.DefaultConfirmWindow + time.Second)
	if _, err := f.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if st := f.tx(late.ID).Status; st != payment.StatusNetCancelled {
		t.Fatalf("newer unconfirmed approval is %s behind %d stuck reversals, want net_cancelled", st, stuck)
	}
}
