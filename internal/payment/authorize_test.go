package payment_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payment"
)

// gated holds every Authorize at the network until released, so a test
// can act while an authorization is in flight.
type gated struct {
	cardnet.Network
	entered chan struct{}
	release chan struct{}
}

func (g *gated) Authorize(ctx context.Context, a cardnet.Authorization) (cardnet.Result, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.Network.Authorize(ctx, a)
}

// Replaying a completed transaction's authorization is refused and never
// reaches the network again.
func TestReplayOfCompletedTransaction(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	co := f.normal(f.order(m, "ORD-1", 6900, 1))
	_, err := f.authorize(co, visa)
	must(t, err)
	calls, head, version := f.sim.Calls(), f.head(), f.tx(co.Transaction.ID).Version
	for _, card := range []cardnet.Card{visa, {PAN: cardnet.CardMastercard, Expiry: "01/29", CVV: "999"}} {
		_, err := f.authorize(co, card)
		wantErr(t, err, payment.ErrTransactionCompleted)
	}
	if f.sim.Calls() != calls || f.sim.Authorizations() != 1 {
		t.Fatalf("network calls %d → %d, charges %d", calls, f.sim.Calls(), f.sim.Authorizations())
	}
	f.unchanged(co.Transaction.ID, version, head)
	// A declined transaction is completed too: a new checkout is needed.
	co = f.normal(f.order(m, "ORD-2", 6900, 1))
	v, err := f.authorize(co, cardnet.Card{PAN: cardnet.CardDeclined, Expiry: "12/30", CVV: "123"})
	must(t, err)
	if v.Status != payment.StatusDeclined || v.DeclineReason != cardnet.ReasonDoNotHonor {
		t.Fatalf("declined view = %+v", v)
	}
	_, err = f.authorize(co, visa)
	wantErr(t, err, payment.ErrTransactionCompleted)
}

// Two NORMAL transactions of one order, authorized at once: exactly one
// is approved and the card network is asked once.
func TestConcurrentPaymentsOfOneOrder(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	s := f.order(m, "ORD-1", 6900, 1)
	first, second := f.normal(s), f.normal(s)

	// Deterministically: the second arrives while the first is at the network.
	g := &gated{Network: f.sim, entered: make(chan struct{}), release: make(chan struct{})}
	f.svc.Network = g
	done := make(chan error)
	go func() {
		v, err := f.authorize(first, visa)
		if err == nil && v.Status != payment.StatusApproved {
			err = errors.New("first not approved: " + string(v.Status))
		}
		done <- err
	}()
	<-g.entered
	_, err := f.authorize(second, visa)
	wantErr(t, err, payment.ErrOrderTaken)
	close(g.release)
	must(t, <-done)
	if f.sim.Calls() != 1 || f.sim.Authorizations() != 1 {
		t.Fatalf("network calls %d, charges %d; want 1 and 1", f.sim.Calls(), f.sim.Authorizations())
	}
	if st := f.tx(second.Transaction.ID).Status; st != payment.StatusVerified {
		t.Fatalf("losing transaction is %s, want still verified", st)
	}

	// And as a real race, many times over.
	f.svc.Network = f.sim
	for i := range 20 {
		s := f.order(m, orderNo(i), 6900, 1)
		cos := []*payment.Checkout{f.normal(s), f.normal(s), f.normal(s)}
		var wg sync.WaitGroup
		results := make([]error, len(cos))
		for j, co := range cos {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[j] = f.authorize(co, visa)
			}()
		}
		wg.Wait()
		approved := 0
		for _, err := range results {
			switch {
			case err == nil:
				approved++
			case !errors.Is(err, payment.ErrOrderTaken):
				t.Fatalf("race %d: %v", i, err)
			}
		}
		if approved != 1 {
			t.Fatalf("race %d: %d approved, want exactly 1", i, approved)
		}
	}
	if f.sim.Authorizations() != 21 {
		t.Fatalf("charges = %d, want one per order (21)", f.sim.Authorizations())
	}
}

// The network charges but its answer is lost: the transaction stays
// authorizing, the retry asks with the same key and gets the approval,
// and the card is charged once.
func TestNetworkTimeoutThenRetry(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	co := f.normal(f.order(m, "ORD-1", 6900, 1))
	rival := f.normal(f.order(m, "ORD-1", 6900, 1))
	lost := cardnet.Card{PAN: cardnet.CardLostAnswer, Expiry: "12/30", CVV: "123"}

	_, err := f.authorize(co, lost)
	wantErr(t, err, payment.ErrCardNetwork)
	if e := errs.As(err); e.Kind != errs.Unavailable || e.RetryAfter <= 0 {
		t.Fatalf("error = %+v, want unavailable with Retry-After", e)
	}
	tx := f.tx(co.Transaction.ID)
	if tx.Status != payment.StatusAuthorizing || tx.AuthLeaseEnd != nil || tx.AuthAttempts != 1 {
		t.Fatalf("after the lost answer: %s lease=%v attempts=%d", tx.Status, tx.AuthLeaseEnd, tx.AuthAttempts)
	}
	// Another order-holder cannot start meanwhile.
	_, err = f.authorize(rival, visa)
	wantErr(t, err, payment.ErrOrderTaken)
	// A retry must bring the same card: the network's answer is the first card's.
	_, err = f.authorize(co, visa)
	wantErr(t, err, payment.ErrCardNetwork)

	v, err := f.authorize(co, lost)
	must(t, err)
	wantStatus(t, v, payment.StatusApproved)
	if f.sim.Authorizations() != 1 || f.sim.Charged(v.ID) != 6900 {
		t.Fatalf("charges %d, charged %d; want once, 6900", f.sim.Authorizations(), f.sim.Charged(v.ID))
	}
	if tx := f.tx(v.ID); tx.AuthAttempts != 2 {
		t.Fatalf("attempts = %d, want 2", tx.AuthAttempts)
	}

	// A timeout before the network acted: the retry is the first charge.
	co = f.normal(f.order(m, "ORD-2", 5000, 1))
	f.sim.TimeoutNext(1)
	_, err = f.authorize(co, visa)
	wantErr(t, err, payment.ErrCardNetwork)
	v, err = f.authorize(co, visa)
	must(t, err)
	if v.Status != payment.StatusApproved || f.sim.Charged(v.ID) != 5000 || f.sim.Authorizations() != 2 {
		t.Fatalf("after retry: %s charged %d, %d charges", v.Status, f.sim.Charged(v.ID), f.sim.Authorizations())
	}
}

// While an authorization call is in flight its own transaction cannot be
// authorized a second time either.
func TestAuthorizationInFlightIsExclusive(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	co := f.normal(f.order(m, "ORD-1", 6900, 1))
	g := &gated{Network: f.sim, entered: make(chan struct{}), release: make(chan struct{})}
	f.svc.Network = g
	done := make(chan error)
	go func() { _, err := f.authorize(co, visa); done <- err }()
	<-g.entered
	_, err := f.authorize(co, visa)
	wantErr(t, err, payment.ErrOrderTaken)
	close(g.release)
	must(t, <-done)
	if f.sim.Calls() != 1 {
		t.Fatalf("network calls = %d, want 1", f.sim.Calls())
	}
}

// A wrong client secret answers like an unknown transaction, and changes
// nothing.
func TestWrongClientSecret(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	co := f.normal(f.order(m, "ORD-1", 6900, 1))
	head, version := f.head(), f.tx(co.Transaction.ID).Version
	for _, req := range []payment.AuthorizeRequest{
		{TransactionID: co.Transaction.ID, ClientSecret: co.ClientSecret + "x", Card: visa},
		{TransactionID: co.Transaction.ID, ClientSecret: "", Card: visa},
		{TransactionID: "ptx_nosuchtransaction", ClientSecret: co.ClientSecret, Card: visa},
	} {
		_, err := f.svc.Authorize(context.Background(), req)
		wantErr(t, err, payment.ErrTransactionNotFound)
	}
	// Another transaction's secret does not open this one.
	co2 := f.normal(f.order(m, "ORD-2", 6900, 1))
	_, err := f.svc.Authorize(context.Background(), payment.AuthorizeRequest{TransactionID: co.Transaction.ID,
		ClientSecret: co2.ClientSecret, Card: visa})
	wantErr(t, err, payment.ErrTransactionNotFound)
	if f.sim.Calls() != 0 {
		t.Fatalf("network called %d times", f.sim.Calls())
	}
	if got := f.tx(co.Transaction.ID).Version; got != version {
		t.Fatalf("version %d → %d", version, got)
	}
	if f.head() != head+1 { // the second checkout only
		t.Fatalf("audit head %d → %d", head, f.head())
	}
}

// An ABNORMAL transaction takes no card data, whatever secret is tried.
func TestAbnormalRefusesCardData(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	c := f.order(m, "ORD-1", 6900, 1)
	c.Amount = 1000
	co := f.checkout(c)
	if co.Transaction.Code != payment.Abnormal {
		t.Fatalf("code = %s", co.Transaction.Code)
	}
	head, version := f.head(), f.tx(co.Transaction.ID).Version
	for _, secret := range []string{"", "guess"} {
		_, err := f.svc.Authorize(context.Background(), payment.AuthorizeRequest{TransactionID: co.Transaction.ID,
			ClientSecret: secret, Card: visa})
		wantErr(t, err, payment.ErrTransactionAbnormal)
	}
	if f.sim.Calls() != 0 || f.tx(co.Transaction.ID).PANSealed != nil {
		t.Fatal("card data reached the network or the store")
	}
	f.unchanged(co.Transaction.ID, version, head)
}

// Malformed or expired cards are refused before anything is recorded.
func TestAuthorizeRefusesBadCards(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	co := f.normal(f.order(m, "ORD-1", 6900, 1))
	head, version := f.head(), f.tx(co.Transaction.ID).Version
	cases := []struct {
		name string
		card cardnet.Card
		want error
	}{
		{"pan/luhn", cardnet.Card{PAN: "4111111111111112", Expiry: "12/30", CVV: "123"}, cardnet.ErrInvalidCard},
		{"pan/short", cardnet.Card{PAN: "411111111111", Expiry: "12/30", CVV: "123"}, cardnet.ErrInvalidCard},
		{"expiry/month", cardnet.Card{PAN: visa.PAN, Expiry: "13/30", CVV: "123"}, cardnet.ErrInvalidCard},
		{"expiry/past", cardnet.Card{PAN: visa.PAN, Expiry: "10/26", CVV: "123"}, cardnet.ErrCardExpired},
		{"cvv/letters", cardnet.Card{PAN: visa.PAN, Expiry: "12/30", CVV: "12a"}, cardnet.ErrInvalidCard},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.authorize(co, tc.card)
			wantErr(t, err, tc.want)
		})
	}
	f.unchanged(co.Transaction.ID, version, head)
	if f.sim.Calls() != 0 {
		t.Fatalf("network called %d times", f.sim.Calls())
	}
}

// The fraud engine's denial refuses the payment before the network.
func TestRiskDenyRefusesBeforeNetwork(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	co := f.normal(f.order(m, "ORD-1", 6900, 1))
	f.risk.deny = true
	head := f.head()
	_, err := f.authorize(co, visa)
	wantErr(t, err, payment.ErrPaymentRefused)
	if f.sim.Calls() != 0 {
		t.Fatalf("network called %d times", f.sim.Calls())
	}
	tx := f.tx(co.Transaction.ID)
	if tx.Status != payment.StatusRefused || tx.PANSealed != nil {
		t.Fatalf("after denial: %s, PAN kept=%t", tx.Status, tx.PANSealed != nil)
	}
	entries := f.auditSince(head)
	if len(entries) != 1 || entries[0].Action != "payment.refuse" || entries[0].Result != "denied" ||
		entries[0].Details["card"] != "411111******1111" || entries[0].Details["decision"] != "dec_test" {
		t.Fatalf("audit = %+v", entries)
	}
	if got := f.eventTypes(co.Transaction.ID); !slices.Equal(got, []string{payment.EventRefused}) {
		t.Fatalf("webhooks = %v, want the merchant told of the refusal", got)
	}
	rv := f.risk.reviews[0]
	if rv.BIN != "411111" || rv.AmountKRW != 6900 || rv.InstitutionID != m.Creds.Merchant.ClientID || rv.IP != "203.0.113.7" {
		t.Fatalf("risk reviewed %+v", rv)
	}
	f.risk.deny = false
	_, err = f.authorize(co, visa)
	wantErr(t, err, payment.ErrTransactionCompleted)
}

// A NORMAL transaction past its deadline expires instead of paying.
func TestAuthorizeAfterCheckoutTTL(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	co := f.normal(f.order(m, "ORD-1", 6900, 1))
	f.clk.Add(payment.DefaultCheckoutTTL)
	_, err := f.authorize(co, visa)
	wantErr(t, err, payment.ErrTransactionExpired)
	if st := f.tx(co.Transaction.ID).Status; st != payment.StatusExpired {
		t.Fatalf("status = %s, want expired", st)
	}
	if f.sim.Calls() != 0 {
		t.Fatal("network called")
	}
	if got := f.eventTypes(co.Transaction.ID); !slices.Equal(got, []string{payment.EventExpired}) {
		t.Fatalf("webhooks = %v, want the merchant told of the expiry", got)
	}
}
