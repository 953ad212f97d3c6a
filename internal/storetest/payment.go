package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/webhook"
)

// allPaymentStatuses is every status a transaction can be in.
var allPaymentStatuses = []payment.Status{payment.StatusAbnormal, payment.StatusVerified, payment.StatusExpired,
	payment.StatusAuthorizing, payment.StatusApproved, payment.StatusConfirmed, payment.StatusDeclined,
	payment.StatusRefused, payment.StatusFailed, payment.StatusNetCancelled, payment.StatusPartRefunded,
	payment.StatusRefunded}

func newMerchantRecord(id, clientID string, at time.Time) *payment.MerchantRecord {
	return &payment.MerchantRecord{ID: id, ClientID: clientID, Name: "Shop " + id,
		LookupURL: "https://" + id + ".example/orders", Mode: payment.Protected,
		SealedTIDKey: []byte("sealed-tid-key-" + id), CreatedAt: at}
}

// newPaymentTx is a transaction of an order with every stored field set;
// the sealed bytes are made up, as the store keeps them opaque.
func newPaymentTx(id, merchantID, orderNo string, status payment.Status) *payment.Transaction {
	info := payinfo.Info{MerchantID: merchantID, OrderNo: orderNo, ItemName: "사과 1kg", Amount: 6900, Quantity: 1, Currency: "KRW"}
	claimed := info
	claimed.Amount = 1000
	lease, confirmed := base.Add(30*time.Second), base.Add(2*time.Minute)
	return &payment.Transaction{ID: id, MerchantID: merchantID, Info: info, Claimed: claimed, Mode: payment.Protected,
		Code: payment.Normal, Reason: payinfo.ReasonAmount, Status: status, ClientSecretMAC: []byte("mac-" + id),
		PANSealed: []byte("pan-" + id), PANMasked: "411111******1111", ApprovalCode: "A1B2C3", DeclineReason: "none",
		AuthAttempts: 2, AuthLeaseEnd: &lease, RefundedAmount: 900, ConfirmedAt: &confirmed,
		ExpiresAt: base.Add(15 * time.Minute), CreatedAt: base, UpdatedAt: base, Version: 1}
}

// nextPaymentTx is t as the following version in status s, changed at.
func nextPaymentTx(t *payment.Transaction, s payment.Status, at time.Time) *payment.Transaction {
	c := *t
	c.Status, c.UpdatedAt = s, at
	c.Version++
	return &c
}

func paymentEvent(owner, typ string) webhook.Event {
	return webhook.NewEvent(owner, typ, json.RawMessage(`{"type":"`+typ+`"}`), base)
}

// savePaymentTx saves tx (already at its next version) with refunds.
func savePaymentTx(t *testing.T, db *sqlstore.DB, tx *payment.Transaction, refunds ...payment.Refund) error {
	t.Helper()
	return db.SavePaymentTransaction(t.Context(), payment.Change{T: tx, PrevVersion: tx.Version - 1, Refunds: refunds})
}

func createPaymentTx(t *testing.T, db *sqlstore.DB, tx *payment.Transaction) {
	t.Helper()
	must(t, db.CreatePaymentTransaction(t.Context(), tx, nil, entry("payment.checkout", tx.ID)))
}

func testPayments(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("merchants", func(t *testing.T) { testMerchants(t, paymentDB(t, open)) })
	t.Run("transactions", func(t *testing.T) { testPaymentTransactions(t, paymentDB(t, open)) })
	t.Run("compare and set", func(t *testing.T) { testPaymentCompareAndSet(t, paymentDB(t, open)) })
	t.Run("one holder per order", func(t *testing.T) { testPaymentOrderHolder(t, paymentDB(t, open)) })
	t.Run("concurrent payments of one order", func(t *testing.T) { PaymentsConcurrentOrder(t, paymentDB(t, open)) })
	t.Run("refunds", func(t *testing.T) { testPaymentRefunds(t, paymentDB(t, open)) })
	t.Run("due", func(t *testing.T) { testDuePayments(t, paymentDB(t, open)) })
}

// paymentDB is a migrated database with institution clients cl_1 and cl_2
// and merchant mch_1 of cl_1.
func paymentDB(t *testing.T, open func(t *testing.T) *sqlstore.DB) *sqlstore.DB {
	db := open(t)
	for _, id := range []string{"cl_1", "cl_2"} {
		must(t, db.CreateClient(t.Context(), newClient(id, base), entry("client.create", id)))
	}
	must(t, db.CreateMerchant(t.Context(), newMerchantRecord("mch_1", "cl_1", base), entry("payment.merchant.create", "mch_1")))
	return db
}

func testMerchants(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	m1, err := db.Merchant(ctx, "mch_1")
	must(t, err)
	m2 := newMerchantRecord("mch_2", "cl_2", base.Add(time.Minute))
	m2.Mode = payment.Legacy
	disabled := base.Add(time.Hour)
	m2.DisabledAt = &disabled
	must(t, db.CreateMerchant(ctx, m2, entry("payment.merchant.create", "mch_2")))
	t.Run("ok/round trip", func(t *testing.T) {
		sameJSON(t, "merchant", m1, newMerchantRecord("mch_1", "cl_1", base))
		got, err := db.Merchant(ctx, "mch_2")
		must(t, err)
		sameJSON(t, "merchant", got, m2)
	})
	t.Run("ok/by client", func(t *testing.T) {
		got, err := db.MerchantByClient(ctx, "cl_2")
		must(t, err)
		sameJSON(t, "merchant of cl_2", got, m2)
	})
	t.Run("ok/list oldest first", func(t *testing.T) {
		all, err := db.Merchants(ctx)
		must(t, err)
		if len(all) != 2 || all[0].ID != "mch_1" || all[1].ID != "mch_2" {
			t.Fatalf("merchants = %+v, want mch_1, mch_2", all)
		}
	})
	t.Run("error/not found", func(t *testing.T) {
		_, err := db.Merchant(ctx, "mch_nope")
		wantErr(t, err, errs.ErrNotFound)
		_, err = db.MerchantByClient(ctx, "cl_nope")
		wantErr(t, err, errs.ErrNotFound)
	})
	tests := []struct {
		name string
		m    *payment.MerchantRecord
		want error
	}{
		{"error/duplicate id", newMerchantRecord("mch_1", "cl_2", base), errs.ErrConflict},
		{"error/client already a merchant", newMerchantRecord("mch_3", "cl_1", base), errs.ErrConflict},
		{"error/no TID key", &payment.MerchantRecord{ID: "mch_4", ClientID: "cl_2", Mode: payment.Protected}, errs.ErrInvalid},
		{"error/no client", &payment.MerchantRecord{ID: "mch_5", Mode: payment.Protected, SealedTIDKey: []byte("k")}, errs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head := headSeq(t, db)
			wantErr(t, db.CreateMerchant(ctx, tc.m, entry("payment.merchant.create", tc.m.ID)), tc.want)
			if headSeq(t, db) != head || countRows(t, db, "merchants") != 2 {
				t.Fatal("a refused merchant was written or audited")
			}
		})
	}
	verifyChain(t, db, headSeq(t, db))
}

func testPaymentTransactions(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	tx := newPaymentTx("ptx_1", "mch_1", "ord_1", payment.StatusVerified)
	head := headSeq(t, db)
	ev := paymentEvent("mch_1", payment.EventAbnormal)
	must(t, db.CreatePaymentTransaction(ctx, tx, []webhook.Event{ev}, entry("payment.checkout", "ptx_1")))
	t.Run("ok/round trip with event and audit", func(t *testing.T) {
		got, err := db.PaymentTransaction(ctx, "ptx_1")
		must(t, err)
		sameJSON(t, "transaction", got, tx)
		if headSeq(t, db) != head+1 || countRows(t, db, "webhook_events") != 1 {
			t.Fatal("the create's audit entry or webhook event is missing")
		}
	})
	t.Run("ok/optional fields absent", func(t *testing.T) {
		bare := &payment.Transaction{ID: "ptx_bare", MerchantID: "mch_1", Info: payinfo.Info{OrderNo: "ord_9"},
			Mode: payment.Legacy, Code: payment.Abnormal, Reason: payinfo.ReasonUnknownOrder, Status: payment.StatusAbnormal,
			CreatedAt: base, UpdatedAt: base, Version: 1}
		createPaymentTx(t, db, bare)
		got, err := db.PaymentTransaction(ctx, "ptx_bare")
		must(t, err)
		sameJSON(t, "bare transaction", got, bare)
	})
	t.Run("error/unknown transaction", func(t *testing.T) {
		_, err := db.PaymentTransaction(ctx, "ptx_nope")
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("error/duplicate id writes nothing", func(t *testing.T) {
		head, events := headSeq(t, db), countRows(t, db, "webhook_events")
		dup := newPaymentTx("ptx_1", "mch_1", "ord_2", payment.StatusVerified)
		err := db.CreatePaymentTransaction(ctx, dup, []webhook.Event{paymentEvent("mch_1", payment.EventAbnormal)},
			entry("payment.checkout", "ptx_1"))
		wantErr(t, err, errs.ErrConflict)
		if errors.Is(err, payment.ErrOrderTaken) {
			t.Fatalf("a duplicate id is reported as a taken order: %v", err)
		}
		if headSeq(t, db) != head || countRows(t, db, "webhook_events") != events {
			t.Fatal("a refused create wrote its event or audit entry")
		}
		got, err := db.PaymentTransaction(ctx, "ptx_1")
		must(t, err)
		sameJSON(t, "transaction after a refused duplicate", got, tx)
	})
	t.Run("error/a bad event writes nothing", func(t *testing.T) {
		head := headSeq(t, db)
		bad := webhook.Event{ID: "evt_bad", Owner: "mch_1", Type: payment.EventAbnormal, Payload: json.RawMessage(`{`)}
		err := db.CreatePaymentTransaction(ctx, newPaymentTx("ptx_2", "mch_1", "ord_2", payment.StatusVerified),
			[]webhook.Event{bad}, entry("payment.checkout", "ptx_2"))
		wantErr(t, err, errs.ErrInvalid)
		_, err = db.PaymentTransaction(ctx, "ptx_2")
		wantErr(t, err, errs.ErrNotFound)
		if headSeq(t, db) != head {
			t.Fatal("a refused create was audited")
		}
	})
	verifyChain(t, db, headSeq(t, db))
}

func testPaymentCompareAndSet(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	tx := newPaymentTx("ptx_1", "mch_1", "ord_1", payment.StatusVerified)
	createPaymentTx(t, db, tx)
	authorizing := nextPaymentTx(tx, payment.StatusAuthorizing, base.Add(time.Minute))
	authorizing.PANSealed, authorizing.PANMasked, authorizing.AuthAttempts = []byte("pan-2"), "555555******4444", 3
	head, events := headSeq(t, db), countRows(t, db, "webhook_events")
	t.Run("ok/change with event and audit", func(t *testing.T) {
		must(t, db.SavePaymentTransaction(ctx, payment.Change{T: authorizing, PrevVersion: 1,
			Events: []webhook.Event{paymentEvent("mch_1", payment.EventApproved)},
			Audit:  []audit.Entry{entry("payment.authorize", "ptx_1"), entry("payment.approved", "ptx_1")}}))
		got, err := db.PaymentTransaction(ctx, "ptx_1")
		must(t, err)
		sameJSON(t, "saved transaction", got, authorizing)
		if headSeq(t, db) != head+2 || countRows(t, db, "webhook_events") != events+1 {
			t.Fatalf("audit head %d and %d events, want %d and %d", headSeq(t, db), countRows(t, db, "webhook_events"), head+2, events+1)
		}
	})
	stale := nextPaymentTx(tx, payment.StatusDeclined, base.Add(2*time.Minute))
	refund := payment.Refund{ID: "prf_stale", TransactionID: "ptx_1", Kind: payment.KindReversal, Amount: 6900,
		Status: payment.RefundPending, CreatedAt: base}
	tests := []struct {
		name string
		c    payment.Change
		want error
	}{
		{"error/stale version writes nothing", payment.Change{T: stale, PrevVersion: 1, Refunds: []payment.Refund{refund},
			Events: []webhook.Event{paymentEvent("mch_1", payment.EventDeclined)},
			Audit:  []audit.Entry{entry("payment.declined", "ptx_1")}}, errs.ErrConflict},
		{"error/version that does not follow", payment.Change{T: nextPaymentTx(authorizing, payment.StatusApproved, base), PrevVersion: 1},
			errs.ErrInvalid},
		{"error/a bad event after the update writes nothing", payment.Change{
			T: nextPaymentTx(authorizing, payment.StatusApproved, base), PrevVersion: 2, Refunds: []payment.Refund{refund},
			Events: []webhook.Event{{ID: "evt_bad", Owner: "mch_1", Type: payment.EventApproved, Payload: json.RawMessage(`nope`)}},
			Audit:  []audit.Entry{entry("payment.approved", "ptx_1")}}, errs.ErrInvalid},
		{"error/unknown transaction", payment.Change{T: nextPaymentTx(newPaymentTx("ptx_nope", "mch_1", "ord_x",
			payment.StatusVerified), payment.StatusExpired, base), PrevVersion: 1}, errs.ErrConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head, events := headSeq(t, db), countRows(t, db, "webhook_events")
			wantErr(t, db.SavePaymentTransaction(ctx, tc.c), tc.want)
			got, err := db.PaymentTransaction(ctx, "ptx_1")
			must(t, err)
			sameJSON(t, "transaction after a refused change", got, authorizing)
			if headSeq(t, db) != head || countRows(t, db, "webhook_events") != events || countRows(t, db, "payment_refunds") != 0 {
				t.Fatal("a refused change wrote something")
			}
		})
	}
	t.Run("ok/parallel writers of one version: one wins", func(t *testing.T) {
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				n := nextPaymentTx(authorizing, payment.StatusApproved, base.Add(time.Duration(i)*time.Second))
				err := db.SavePaymentTransaction(ctx, payment.Change{T: n, PrevVersion: 2,
					Audit: []audit.Entry{entry("payment.approved", "ptx_1")}})
				if err == nil {
					won.Add(1)
				} else if !errors.Is(err, errs.ErrConflict) {
					t.Errorf("save: %v", err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d writers won, want 1", won.Load())
		}
	})
	verifyChain(t, db, headSeq(t, db))
}

// testPaymentOrderHolder checks the one-payment-per-order index against
// every status: a transaction holds its order exactly in the statuses of
// payment.Status.HoldsOrder.
func testPaymentOrderHolder(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	for i, s := range allPaymentStatuses {
		t.Run(string(s), func(t *testing.T) {
			order := fmt.Sprint("ord_", i)
			first := newPaymentTx(fmt.Sprint("ptx_a", i), "mch_1", order, s)
			createPaymentTx(t, db, first)
			holder, err := db.OrderHolder(ctx, "mch_1", order)
			if s.HoldsOrder() {
				must(t, err)
				sameJSON(t, "holder", holder, first)
			} else {
				wantErr(t, err, errs.ErrNotFound)
			}
			// More transactions of the order: one created in a holding status,
			// one moved into a holding status by a save. Where first does not
			// hold the order the created one takes it, so the save is refused
			// either way.
			second := newPaymentTx(fmt.Sprint("ptx_b", i), "mch_1", order, payment.StatusAuthorizing)
			err = db.CreatePaymentTransaction(ctx, second, nil, entry("payment.checkout", second.ID))
			third := newPaymentTx(fmt.Sprint("ptx_c", i), "mch_1", order, payment.StatusVerified)
			createPaymentTx(t, db, third)
			head := headSeq(t, db)
			saveErr := db.SavePaymentTransaction(ctx, payment.Change{T: nextPaymentTx(third, payment.StatusApproved, base),
				PrevVersion: 1, Audit: []audit.Entry{entry("payment.authorize", third.ID)}})
			if !s.HoldsOrder() {
				must(t, err)
				wantErr(t, saveErr, payment.ErrOrderTaken)
				return
			}
			wantErr(t, err, payment.ErrOrderTaken)
			wantErr(t, saveErr, payment.ErrOrderTaken)
			if _, err := db.PaymentTransaction(ctx, second.ID); !errors.Is(err, errs.ErrNotFound) {
				t.Fatalf("the refused second holder was stored (%v)", err)
			}
			got, err := db.PaymentTransaction(ctx, third.ID)
			must(t, err)
			if got.Status != payment.StatusVerified || got.Version != 1 || headSeq(t, db) != head {
				t.Fatalf("the refused save wrote: %s v%d", got.Status, got.Version)
			}
		})
	}
	t.Run("ok/other merchant or order is free", func(t *testing.T) {
		createPaymentTx(t, db, newPaymentTx("ptx_m2", "mch_2", "ord_3", payment.StatusApproved))
		createPaymentTx(t, db, newPaymentTx("ptx_o", "mch_1", "ord_3x", payment.StatusApproved))
	})
	for _, end := range []payment.Status{payment.StatusDeclined, payment.StatusNetCancelled, payment.StatusFailed} {
		t.Run("ok/"+string(end)+" releases the order", func(t *testing.T) {
			order := "ord_release_" + string(end)
			a := newPaymentTx("ptx_ra_"+string(end), "mch_1", order, payment.StatusVerified)
			b := newPaymentTx("ptx_rb_"+string(end), "mch_1", order, payment.StatusVerified)
			createPaymentTx(t, db, a)
			createPaymentTx(t, db, b)
			a2 := nextPaymentTx(a, payment.StatusAuthorizing, base)
			must(t, savePaymentTx(t, db, a2))
			wantErr(t, savePaymentTx(t, db, nextPaymentTx(b, payment.StatusAuthorizing, base)), payment.ErrOrderTaken)
			must(t, savePaymentTx(t, db, nextPaymentTx(a2, end, base.Add(time.Minute))))
			_, err := db.OrderHolder(ctx, "mch_1", order)
			wantErr(t, err, errs.ErrNotFound)
			must(t, savePaymentTx(t, db, nextPaymentTx(b, payment.StatusAuthorizing, base.Add(2*time.Minute))))
			holder, err := db.OrderHolder(ctx, "mch_1", order)
			must(t, err)
			if holder.ID != b.ID {
				t.Fatalf("holder = %s, want %s", holder.ID, b.ID)
			}
		})
	}
	verifyChain(t, db, headSeq(t, db))
}

// PaymentsConcurrentOrder races authorizations of one order, each through
// its own verified transaction, spread over dbs (several handles on one
// database act as several nodes): exactly one may take the order, every
// other gets payment.ErrOrderTaken, and only the winner's event and audit
// entry are written.
func PaymentsConcurrentOrder(t *testing.T, dbs ...*sqlstore.DB) {
	t.Helper()
	ctx := t.Context()
	const n = 8
	txs := make([]*payment.Transaction, n)
	for i := range n {
		txs[i] = newPaymentTx(fmt.Sprint("ptx_race_", i), "mch_1", "ord_race", payment.StatusVerified)
		createPaymentTx(t, dbs[0], txs[i])
	}
	head, events := headSeq(t, dbs[0]), countRows(t, dbs[0], "webhook_events")
	var won atomic.Int32
	winner := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		db := dbs[i%len(dbs)]
		wg.Go(func() {
			err := db.SavePaymentTransaction(ctx, payment.Change{T: nextPaymentTx(txs[i], payment.StatusAuthorizing, base),
				PrevVersion: 1, Events: []webhook.Event{paymentEvent("mch_1", payment.EventApproved)},
				Audit: []audit.Entry{entry("payment.authorize", txs[i].ID)}})
			if err == nil {
				won.Add(1)
				winner[i] = true
			} else if !errors.Is(err, payment.ErrOrderTaken) {
				t.Errorf("save %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if won.Load() != 1 || headSeq(t, dbs[0]) != head+1 || countRows(t, dbs[0], "webhook_events") != events+1 {
		t.Fatalf("%d authorizations won with %d audit events and %d webhook events, want 1, 1 and 1",
			won.Load(), headSeq(t, dbs[0])-head, countRows(t, dbs[0], "webhook_events")-events)
	}
	holder, err := dbs[len(dbs)-1].OrderHolder(ctx, "mch_1", "ord_race")
	must(t, err)
	if i := slices.Index(winner, true); holder.ID != txs[i].ID || holder.Status != payment.StatusAuthorizing {
		t.Fatalf("holder = %s (%s), want the winner %s", holder.ID, holder.Status, txs[i].ID)
	}
	verifyChain(t, dbs[0], headSeq(t, dbs[0]))
}

func testPaymentRefunds(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	tx := newPaymentTx("ptx_1", "mch_1", "ord_1", payment.StatusConfirmed)
	createPaymentTx(t, db, tx)
	createPaymentTx(t, db, newPaymentTx("ptx_2", "mch_1", "ord_2", payment.StatusConfirmed))
	pending := payment.Refund{ID: "prf_1", TransactionID: "ptx_1", Kind: payment.KindRefund, Amount: 900,
		Reason: "damaged", Status: payment.RefundPending, CreatedAt: base.Add(time.Minute)}
	v2 := nextPaymentTx(tx, payment.StatusPartRefunded, base.Add(time.Minute))
	t.Run("ok/pending refund", func(t *testing.T) {
		must(t, savePaymentTx(t, db, v2, pending))
		got, err := db.PaymentRefunds(ctx, "ptx_1")
		must(t, err)
		sameJSON(t, "refunds", got, []payment.Refund{pending})
	})
	done := pending
	doneAt := base.Add(2 * time.Minute)
	done.Status, done.NetworkRef, done.DoneAt = payment.RefundDone, "net_ref_1", &doneAt
	v3 := nextPaymentTx(v2, payment.StatusPartRefunded, doneAt)
	t.Run("ok/the same refund done", func(t *testing.T) {
		second := payment.Refund{ID: "prf_2", TransactionID: "ptx_1", Kind: payment.KindRefund, Amount: 100,
			Status: payment.RefundPending, CreatedAt: doneAt}
		must(t, savePaymentTx(t, db, v3, done, second))
		got, err := db.PaymentRefunds(ctx, "ptx_1")
		must(t, err)
		sameJSON(t, "refunds", got, []payment.Refund{done, second})
		other, err := db.PaymentRefunds(ctx, "ptx_2")
		must(t, err)
		if len(other) != 0 {
			t.Fatalf("refunds of ptx_2 = %+v, want none", other)
		}
	})
	changed := done
	changed.Amount = 6900
	tests := []struct {
		name string
		r    payment.Refund
		want error
	}{
		{"error/stored refund with another amount", changed, errs.ErrConflict},
		{"error/refund of another transaction", payment.Refund{ID: "prf_3", TransactionID: "ptx_2", Kind: payment.KindRefund,
			Amount: 1, Status: payment.RefundPending, CreatedAt: base}, errs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head := headSeq(t, db)
			err := db.SavePaymentTransaction(ctx, payment.Change{T: nextPaymentTx(v3, payment.StatusRefunded, doneAt),
				PrevVersion: 3, Refunds: []payment.Refund{tc.r}, Audit: []audit.Entry{entry("payment.refund", "ptx_1")}})
			wantErr(t, err, tc.want)
			got, err := db.PaymentTransaction(ctx, "ptx_1")
			must(t, err)
			if got.Version != 3 || got.Status != payment.StatusPartRefunded || headSeq(t, db) != head {
				t.Fatalf("a refused refund changed the transaction to %s v%d", got.Status, got.Version)
			}
			refunds, err := db.PaymentRefunds(ctx, "ptx_1")
			must(t, err)
			if len(refunds) != 2 || refunds[0].Amount != 900 {
				t.Fatalf("refunds after a refused change = %+v", refunds)
			}
		})
	}
}

func testDuePayments(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	now, giveUp := base.Add(time.Hour), 10*time.Minute
	lease := func(d time.Duration) *time.Time { l := now.Add(d); return &l }
	type fixture struct {
		id      string
		status  payment.Status
		expires time.Time
		updated time.Time
		lease   *time.Time
		refund  payment.RefundStatus // "": none
		due     bool
	}
	fixtures := []fixture{
		{"ptx_verified_past", payment.StatusVerified, now, base.Add(1 * time.Minute), nil, "", true},
		{"ptx_verified_live", payment.StatusVerified, now.Add(time.Nanosecond), base, nil, "", false},
		{"ptx_approved_past", payment.StatusApproved, now.Add(-time.Minute), base.Add(2 * time.Minute), nil, "", true},
		{"ptx_approved_live", payment.StatusApproved, now.Add(time.Minute), base, nil, "", false},
		{"ptx_auth_abandoned", payment.StatusAuthorizing, now, now.Add(-giveUp - time.Nanosecond), lease(-time.Minute), "", true},
		{"ptx_auth_no_lease", payment.StatusAuthorizing, now.Add(time.Hour), base.Add(3 * time.Minute), nil, "", true},
		{"ptx_auth_recent", payment.StatusAuthorizing, now, now.Add(-giveUp), nil, "", false},
		{"ptx_auth_leased", payment.StatusAuthorizing, now, base, lease(time.Second), "", false},
		{"ptx_refund_pending", payment.StatusNetCancelled, now.Add(time.Hour), base.Add(4 * time.Minute), nil, payment.RefundPending, true},
		{"ptx_refund_done", payment.StatusRefunded, now.Add(-time.Hour), base, nil, payment.RefundDone, false},
		{"ptx_expired", payment.StatusExpired, now.Add(-time.Hour), base, nil, "", false},
		{"ptx_abnormal", payment.StatusAbnormal, now.Add(-time.Hour), base, nil, "", false},
		{"ptx_confirmed", payment.StatusConfirmed, now.Add(-time.Hour), base, nil, "", false},
	}
	var dueFixtures []fixture
	for i, f := range fixtures {
		tx := newPaymentTx(f.id, "mch_1", fmt.Sprint("ord_", i), f.status)
		tx.ExpiresAt, tx.UpdatedAt, tx.AuthLeaseEnd = f.expires, f.updated, f.lease
		createPaymentTx(t, db, tx)
		if f.refund != "" {
			r := payment.Refund{ID: "prf_" + f.id, TransactionID: f.id, Kind: payment.KindNetCancel, Amount: 6900,
				Status: f.refund, CreatedAt: base}
			if f.refund == payment.RefundDone {
				r.DoneAt = &base
			}
			must(t, savePaymentTx(t, db, nextPaymentTx(tx, f.status, f.updated), r))
		}
		if f.due {
			dueFixtures = append(dueFixtures, f)
		}
	}
	// DuePaymentTransactions gives the oldest change first.
	slices.SortFunc(dueFixtures, func(a, b fixture) int { return a.updated.Compare(b.updated) })
	var want []string
	for _, f := range dueFixtures {
		want = append(want, f.id)
	}
	t.Run("ok/exactly the due ones, oldest change first", func(t *testing.T) {
		due, err := db.DuePaymentTransactions(ctx, now, giveUp, 100)
		must(t, err)
		if got := paymentTxIDs(due); !slices.Equal(got, want) {
			t.Fatalf("due = %v, want %v", got, want)
		}
	})
	t.Run("ok/limit", func(t *testing.T) {
		due, err := db.DuePaymentTransactions(ctx, now, giveUp, 2)
		must(t, err)
		if got := paymentTxIDs(due); !slices.Equal(got, want[:2]) {
			t.Fatalf("due with limit 2 = %v, want %v", got, want[:2])
		}
	})
	t.Run("ok/nothing due earlier", func(t *testing.T) {
		due, err := db.DuePaymentTransactions(ctx, base, giveUp, 100)
		must(t, err)
		if len(due) != 1 || due[0].ID != "ptx_refund_pending" {
			t.Fatalf("due at the start = %v, want only the pending refund", paymentTxIDs(due))
		}
	})
}

func paymentTxIDs(txs []*payment.Transaction) []string {
	out := make([]string, len(txs))
	for i, tx := range txs {
		out[i] = tx.ID
	}
	return out
}
