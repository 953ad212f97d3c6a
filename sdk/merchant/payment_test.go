package merchant

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/haechi/haechi/sdk/internal/gateway"
)

// approvedFor is the gateway's view of an approved payment of S.
func approvedFor(id string, o Order) Payment {
	s := o.S
	return Payment{ID: id, MerchantID: s.MerchantID, OrderNo: s.OrderNo, ItemName: s.ItemName,
		Amount: s.Amount, Quantity: s.Quantity, Currency: s.Currency, Mode: "protected",
		Code: CodeNormal, Status: StatusApproved, Card: "411111******1111", ApprovalCode: "A1",
		CreatedAt: testNow}
}

// confirmSetup is a merchant with order ord-1 of 6,900 KRW and a gateway.
func confirmSetup(t *testing.T) (*Merchant, *fakeGateway, Order, *[]time.Duration) {
	t.Helper()
	g, srv := newFakeGateway(t, testAPIKey)
	m, sleeps := testMerchant(t, srv.URL)
	if _, err := m.CreateOrder("ord-1", "케이크", 6900, 1, "KRW"); err != nil {
		t.Fatal(err)
	}
	o, _ := m.Orders.Get(context.Background(), "ord-1")
	return m, g, o, sleeps
}

func TestConfirmMatching(t *testing.T) {
	m, g, o, _ := confirmSetup(t)
	ctx := context.Background()
	g.put(approvedFor("ptx_1", o))

	p, err := m.Confirm(ctx, "ptx_1", "ord-1")
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if p.Status != StatusConfirmed || g.payment("ptx_1").Status != StatusConfirmed {
		t.Fatalf("status %s", p.Status)
	}
	calls := g.callsTo("confirm")
	if len(calls) != 1 || calls[0].Body["order_no"] != "ord-1" || calls[0].Body["amount"] != float64(6900) || len(calls[0].Body) != 2 {
		t.Fatalf("confirm calls = %+v", calls)
	}
	if len(calls[0].Key) < 16 {
		t.Fatalf("idempotency key %q", calls[0].Key)
	}
	if got, _ := m.Orders.Get(ctx, "ord-1"); got.PaidBy != "ptx_1" {
		t.Fatalf("order paid by %q", got.PaidBy)
	}
	if len(g.callsTo("net-cancel")) != 0 {
		t.Fatal("net-cancel called on a matching payment")
	}

	t.Run("again is idempotent", func(t *testing.T) {
		p, err := m.Confirm(ctx, "ptx_1", "ord-1")
		if err != nil || p.Status != StatusConfirmed {
			t.Fatalf("second Confirm: %v", err)
		}
		if len(g.callsTo("confirm")) != 1 || len(g.callsTo("net-cancel")) != 0 {
			t.Fatal("the second Confirm changed something at the gateway")
		}
	})
}

func TestConfirmMismatch(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Payment)
		field  string
	}{
		{"error/amount tampered to 1000", func(p *Payment) { p.Amount = 1000 }, "amount"},
		{"error/quantity", func(p *Payment) { p.Quantity = 2 }, "quantity"},
		{"error/currency", func(p *Payment) { p.Currency = "USD" }, "currency"},
		{"error/order number", func(p *Payment) { p.OrderNo = "ord-2" }, "order_no"},
		{"error/merchant", func(p *Payment) { p.MerchantID = "mch_2" }, "merchant_id"},
		{"error/item", func(p *Payment) { p.ItemName = "other" }, "item_name"},
		{"error/abnormal code", func(p *Payment) { p.Code = CodeAbnormal }, "code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, g, o, _ := confirmSetup(t)
			p := approvedFor("ptx_1", o)
			tt.change(&p)
			g.put(p)

			_, err := m.Confirm(context.Background(), "ptx_1", "ord-1")
			var me *MismatchError
			if !errors.Is(err, ErrMismatch) || !errors.As(err, &me) || me.Field != tt.field {
				t.Fatalf("err = %v, want mismatch on %s", err, tt.field)
			}
			if me.CancelErr != nil || me.Payment == nil || me.Payment.Status != StatusNetCancelled {
				t.Fatalf("net-cancel: %+v", me)
			}
			nc := g.callsTo("net-cancel")
			if len(nc) != 1 || nc[0].Body["reason"] != "merchant_check_failed: "+tt.field || len(nc[0].Key) < 16 {
				t.Fatalf("net-cancel calls = %+v", nc)
			}
			if len(g.callsTo("confirm")) != 0 {
				t.Fatal("confirm called on a mismatching payment")
			}
			if got, _ := m.Orders.Get(context.Background(), "ord-1"); got.Paid() {
				t.Fatal("order marked paid")
			}
		})
	}
}

func TestConfirmSecondPaymentOfPaidOrder(t *testing.T) {
	m, g, o, _ := confirmSetup(t)
	ctx := context.Background()
	g.put(approvedFor("ptx_1", o))
	if _, err := m.Confirm(ctx, "ptx_1", "ord-1"); err != nil {
		t.Fatal(err)
	}
	o, _ = m.Orders.Get(ctx, "ord-1")
	g.put(approvedFor("ptx_2", o))
	_, err := m.Confirm(ctx, "ptx_2", "ord-1")
	var me *MismatchError
	if !errors.As(err, &me) || me.Field != "already_paid" || g.payment("ptx_2").Status != StatusNetCancelled {
		t.Fatalf("err = %v", err)
	}
	if got, _ := m.Orders.Get(ctx, "ord-1"); got.PaidBy != "ptx_1" {
		t.Fatalf("paid by %q", got.PaidBy)
	}
}

func TestConfirmGatewayMismatch(t *testing.T) {
	m, g, o, _ := confirmSetup(t)
	g.put(approvedFor("ptx_1", o))
	g.refuseConfirm = true // the gateway's own check fails and it net-cancels
	_, err := m.Confirm(context.Background(), "ptx_1", "ord-1")
	var me *MismatchError
	if !errors.Is(err, ErrMismatch) || !errors.As(err, &me) || me.Field != "gateway" {
		t.Fatalf("err = %v", err)
	}
	if got, _ := m.Orders.Get(context.Background(), "ord-1"); got.Paid() {
		t.Fatal("order marked paid")
	}
}

func TestConfirmNotApproved(t *testing.T) {
	for _, status := range []string{"declined", "abnormal", "verified", "expired", "net_cancelled", "failed"} {
		t.Run("error/"+status, func(t *testing.T) {
			m, g, o, _ := confirmSetup(t)
			p := approvedFor("ptx_1", o)
			p.Status = status
			g.put(p)
			if _, err := m.Confirm(context.Background(), "ptx_1", "ord-1"); !errors.Is(err, ErrNotApproved) {
				t.Fatalf("err = %v", err)
			}
			if len(g.callsTo("confirm"))+len(g.callsTo("net-cancel")) != 0 {
				t.Fatal("a state-changing call was made")
			}
			if got, _ := m.Orders.Get(context.Background(), "ord-1"); got.Paid() {
				t.Fatal("order marked paid")
			}
		})
	}
}

func TestConfirmRetriesWithTheSameKey(t *testing.T) {
	m, g, o, sleeps := confirmSetup(t)
	g.put(approvedFor("ptx_1", o))
	g.fail503["confirm"] = 2
	if _, err := m.Confirm(context.Background(), "ptx_1", "ord-1"); err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	calls := g.callsTo("confirm")
	if len(calls) != 3 || calls[0].Key != calls[1].Key || calls[1].Key != calls[2].Key {
		t.Fatalf("confirm calls = %+v", calls)
	}
	if len(*sleeps) != 2 || (*sleeps)[0] != time.Second {
		t.Fatalf("sleeps = %v (Retry-After 1 s honoured)", *sleeps)
	}

	t.Run("a new call uses a new key", func(t *testing.T) {
		m2, g2, o2, _ := confirmSetup(t)
		g2.put(approvedFor("ptx_1", o2))
		g2.put(approvedFor("ptx_2", o2))
		m2.Confirm(context.Background(), "ptx_1", "ord-1")
		m2.NetCancel(context.Background(), "ptx_2", "x")
		if a, b := g2.callsTo("confirm"), g2.callsTo("net-cancel"); len(a) != 1 || len(b) != 1 || a[0].Key == b[0].Key {
			t.Fatal("two calls shared a key")
		}
	})
}

func TestConfirmGivesUp(t *testing.T) {
	m, g, o, sleeps := confirmSetup(t)
	g.put(approvedFor("ptx_1", o))
	g.fail503["confirm"] = 100
	_, err := m.Confirm(context.Background(), "ptx_1", "ord-1")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.Code != "unavailable" {
		t.Fatalf("err = %v", err)
	}
	if len(g.callsTo("confirm")) != 1+gateway.MaxRetries || len(*sleeps) != gateway.MaxRetries {
		t.Fatalf("%d calls, %d sleeps", len(g.callsTo("confirm")), len(*sleeps))
	}
	if got, _ := m.Orders.Get(context.Background(), "ord-1"); got.Paid() {
		t.Fatal("order marked paid")
	}
}

func TestConfirmLocalRefusals(t *testing.T) {
	m, g, o, _ := confirmSetup(t)
	g.put(approvedFor("ptx_1", o))
	if _, err := m.Confirm(context.Background(), "ptx_1", "ord-404"); !errors.Is(err, ErrOrderNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	if _, err := m.Confirm(context.Background(), "../ptx_1", "ord-1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
	g.mu.Lock()
	n := len(g.calls)
	g.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d gateway calls", n)
	}
	if _, err := m.Confirm(context.Background(), "ptx_404", "ord-1"); CodeOf(err) != "transaction_not_found" {
		t.Fatalf("unknown transaction: %v", err)
	}
}

func TestGatewayRefusesWrongAPIKey(t *testing.T) {
	m, g, o, _ := confirmSetup(t)
	g.put(approvedFor("ptx_1", o))
	m.APIKey = "hk_wrong"
	_, err := m.Payment(context.Background(), "ptx_1")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthenticated" {
		t.Fatalf("err = %v", err)
	}
}

func TestRefund(t *testing.T) {
	m, g, o, _ := confirmSetup(t)
	ctx := context.Background()
	g.put(approvedFor("ptx_1", o))
	if _, err := m.Confirm(ctx, "ptx_1", "ord-1"); err != nil {
		t.Fatal(err)
	}
	p, err := m.Refund(ctx, "ptx_1", 2000, "customer request")
	if err != nil || p.RefundedAmount != 2000 || p.Status != StatusPartRefunded {
		t.Fatalf("Refund = %+v, %v", p, err)
	}
	calls := g.callsTo("refunds")
	if len(calls) != 1 || calls[0].Body["amount"] != float64(2000) || calls[0].Body["reason"] != "customer request" || len(calls[0].Key) < 16 {
		t.Fatalf("refund calls = %+v", calls)
	}
	if _, err := m.Refund(ctx, "ptx_1", 5000, "too much"); CodeOf(err) != "refund_exceeds_balance" {
		t.Fatalf("over-refund: %v", err)
	}
	for _, bad := range []struct {
		amount int64
		reason string
	}{{0, "r"}, {-1, "r"}, {1, ""}} {
		if _, err := m.Refund(ctx, "ptx_1", bad.amount, bad.reason); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Refund(%d, %q): %v", bad.amount, bad.reason, err)
		}
	}
	if len(g.callsTo("refunds")) != 2 {
		t.Fatal("an invalid refund reached the gateway")
	}
}

// A payment of another of the merchant's own orders may be that order's
// honest payment: Confirm refuses it for this order but does not cancel
// it, and the order stays unpaid.
func TestConfirmPaymentOfAnotherKnownOrder(t *testing.T) {
	m, g, _, _ := confirmSetup(t)
	ctx := context.Background()
	if _, err := m.CreateOrder("ord-2", "쿠키", 1000, 1, "KRW"); err != nil {
		t.Fatal(err)
	}
	other, _ := m.Orders.Get(ctx, "ord-2")
	g.put(approvedFor("ptx_2", other))

	_, err := m.Confirm(ctx, "ptx_2", "ord-1")
	var me *MismatchError
	if !errors.As(err, &me) || me.Field != "order_no" || me.Payment != nil {
		t.Fatalf("err = %v, want an order_no mismatch without a cancel", err)
	}
	if len(g.callsTo("net-cancel")) != 0 || len(g.callsTo("confirm")) != 0 {
		t.Fatal("the other order's payment was touched")
	}
	if got, _ := m.Orders.Get(ctx, "ord-1"); got.Paid() {
		t.Fatal("order marked paid")
	}
	if _, err := m.Confirm(ctx, "ptx_2", "ord-2"); err != nil {
		t.Fatalf("its own order: %v", err)
	}
}
