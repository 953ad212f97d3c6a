package payment_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
)

// The paper's protocol end to end: NORMAL, approval of S's amount at the
// network, the merchant's confirmation, and a trail that names the card
// masked only.
func TestHappyPath(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	s := f.order(m, "ORD-1", 6900, 1)
	co := f.normal(s)
	if co.Transaction.Status != payment.StatusVerified || co.Transaction.Amount != 6900 || co.Transaction.ExpiresAt == nil {
		t.Fatalf("checkout view = %+v", co.Transaction)
	}
	v, err := f.authorize(co, visa)
	must(t, err)
	wantStatus(t, v, payment.StatusApproved)
	if v.Card != "411111******1111" || v.ApprovalCode == "" || v.Amount != 6900 {
		t.Fatalf("approved view = %+v", v)
	}
	if got := f.sim.Charged(co.Transaction.ID); got != 6900 {
		t.Fatalf("network charged %d, want S's 6900", got)
	}
	v, err = f.svc.Confirm(context.Background(), m.ID, v.ID, "ORD-1", 6900)
	must(t, err)
	wantStatus(t, v, payment.StatusConfirmed)
	if v.ConfirmedAt == nil || v.ExpiresAt != nil {
		t.Fatalf("confirmed view = %+v", v)
	}
	// Confirming again with the same values changes nothing.
	again, err := f.svc.Confirm(context.Background(), m.ID, v.ID, "ORD-1", 6900)
	must(t, err)
	wantStatus(t, again, payment.StatusConfirmed)
	if got := f.eventTypes(v.ID); !slices.Equal(got, []string{payment.EventApproved, payment.EventConfirmed}) {
		t.Fatalf("webhooks = %v", got)
	}
	for _, e := range f.events() {
		if e.Owner != m.ID {
			t.Fatalf("webhook owner = %s, want the merchant %s", e.Owner, m.ID)
		}
		var body struct {
			Type        string        `json:"type"`
			Transaction *payment.View `json:"transaction"`
		}
		must(t, json.Unmarshal([]byte(e.Payload), &body))
		if body.Type != e.Type || body.Transaction.ID != v.ID {
			t.Fatalf("webhook payload = %s", e.Payload)
		}
	}
	tx := f.tx(v.ID)
	pan, err := f.ring.Open(tx.PANSealed, cryptoAAD(v.ID))
	must(t, err)
	if string(pan) != visa.PAN {
		t.Fatal("sealed PAN does not open to the card")
	}
	f.noCardData(visa)
	f.verifyChain()
}

// noCardData fails if the full PAN or the CVV is anywhere in the
// transactions, webhooks or audit log.
func (f *fixture) noCardData(c cardnet.Card) {
	f.t.Helper()
	var blobs []string
	rows, err := f.db.SQL().QueryContext(context.Background(),
		`SELECT info || claimed || pan_masked || approval_code || decline_reason || COALESCE(pan_sealed, '') FROM payment_transactions`)
	must(f.t, err)
	defer rows.Close()
	for rows.Next() {
		var s []byte
		must(f.t, rows.Scan(&s))
		blobs = append(blobs, string(s))
	}
	for _, e := range f.events() {
		blobs = append(blobs, e.Payload)
	}
	for _, ev := range f.auditSince(0) {
		b, _ := json.Marshal(ev.Entry)
		blobs = append(blobs, string(b))
	}
	for _, b := range blobs {
		if strings.Contains(b, c.PAN) || strings.Contains(b, `"`+c.CVV+`"`) || strings.Contains(b, ":"+c.CVV) {
			f.t.Fatalf("card data stored in the clear: %.200s", b)
		}
	}
}

// The paper's attack, generalized: every single-field change of C is
// ABNORMAL with the reason that names the field, and untampered orders
// are all NORMAL.
func TestTamperedFieldsAreAbnormal(t *testing.T) {
	f := newFixtureOn(t, openOnRAM)
	m := f.register("shop", payment.Protected)
	other := f.register("other", payment.Protected)
	rng := rand.New(rand.NewPCG(7, 23))
	const orders = 1000
	const mutations = 10000
	s := make([]payinfo.Tagged, orders)
	for i := range s {
		s[i] = f.order(m, orderNo(i), 1+rng.Int64N(payinfo.MaxAmount), 1+rng.Int64N(payinfo.MaxQuantity))
		s[i].ItemName = randomItem(rng)
		s[i] = payinfo.Tag(m.Key, s[i].Info)
		f.merchant.put(s[i])
	}
	normal := 0
	for _, co := range checkoutAll(t, f, s) {
		if co.Transaction.Code != payment.Normal || co.ClientSecret == "" {
			t.Fatalf("untampered order %s: %s %s", co.Transaction.OrderNo, co.Transaction.Code, co.Transaction.Reason)
		}
		normal++
	}
	type mutation struct {
		orig  payinfo.Tagged
		field string
		want  payinfo.Reason
	}
	muts := make([]mutation, mutations)
	cs := make([]payinfo.Tagged, mutations)
	for i := range muts {
		orig := s[rng.IntN(orders)]
		c, field, want := mutate(rng, orig, s, other.ID)
		if err := c.Info.Validate(); err != nil {
			t.Fatalf("mutation %d of %s is invalid (%v): it would not reach the comparison", i, field, err)
		}
		muts[i], cs[i] = mutation{orig, field, want}, c
	}
	byField := map[string]int{}
	for i, co := range checkoutAll(t, f, cs) {
		mu := muts[i]
		if co.Transaction.Code != payment.Abnormal || co.Transaction.Reason != mu.want || co.ClientSecret != "" {
			t.Fatalf("mutation %d of %s (%+v → %+v): %s %q, want ABNORMAL %q",
				i, mu.field, mu.orig, cs[i], co.Transaction.Code, co.Transaction.Reason, mu.want)
		}
		byField[mu.field]++
	}
	t.Logf("untampered orders: %d, all NORMAL (0 false positives)", normal)
	t.Logf("single-field mutations: %d, all ABNORMAL with the field's reason: %v", mutations, byField)
	t.Logf("currency has no valid mutation: %v is the only currency", payinfo.Currencies)
	if len(byField) != 8 {
		t.Fatalf("mutated fields = %v, want all 8 kinds", byField)
	}
}

// checkoutAll runs the checkouts in order and returns the answers.
func checkoutAll(t *testing.T, f *fixture, cs []payinfo.Tagged) []*payment.Checkout {
	t.Helper()
	out := make([]*payment.Checkout, len(cs))
	for i, c := range cs {
		co, err := f.svc.Checkout(context.Background(), payment.CheckoutRequest{C: c})
		if err != nil {
			t.Fatalf("checkout %d: %v", i, err)
		}
		out[i] = co
	}
	return out
}

// mutate changes one field of orig to another valid value and says which
// reason the gateway must give.
func mutate(rng *rand.Rand, orig payinfo.Tagged, all []payinfo.Tagged, otherMerchant string) (payinfo.Tagged, string, payinfo.Reason) {
	c := orig
	switch rng.IntN(8) {
	case 0:
		c.MerchantID = differentID(rng, orig.MerchantID, "mch_")
		return c, "merchant_id", payinfo.ReasonMerchant // no such merchant
	case 1:
		c.MerchantID = otherMerchant
		return c, "merchant_id(other)", payinfo.ReasonUnknownOrder // a real merchant that never sold it
	case 2:
		c.OrderNo = differentID(rng, orig.OrderNo, "ORD-X")
		return c, "order_no", payinfo.ReasonUnknownOrder
	case 3:
		// Another order of the merchant: its own S answers, and the first
		// field that differs (or, failing that, the TID) is named.
		o := all[rng.IntN(len(all))]
		for o.OrderNo == orig.OrderNo {
			o = all[rng.IntN(len(all))]
		}
		c.OrderNo = o.OrderNo
		return c, "order_no(other)", firstDifference(o.Info, c.Info)
	case 4:
		c.Amount = differentCount(rng, orig.Amount, payinfo.MaxAmount)
		return c, "amount", payinfo.ReasonAmount
	case 5:
		c.Quantity = differentCount(rng, orig.Quantity, payinfo.MaxQuantity)
		return c, "quantity", payinfo.ReasonQuantity
	case 6:
		for c.ItemName == orig.ItemName {
			c.ItemName = randomItem(rng)
		}
		return c, "item_name", payinfo.ReasonItem
	default:
		for c.TID == orig.TID {
			c.TID = randomHex(rng, payinfo.TIDLen)
		}
		return c, "tid", payinfo.ReasonTID
	}
}

func firstDifference(s, c payinfo.Info) payinfo.Reason {
	switch {
	case s.Amount != c.Amount:
		return payinfo.ReasonAmount
	case s.Quantity != c.Quantity:
		return payinfo.ReasonQuantity
	case s.ItemName != c.ItemName:
		return payinfo.ReasonItem
	}
	return payinfo.ReasonTID
}

func differentID(rng *rand.Rand, orig, prefix string) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:"
	for {
		n := 1 + rng.IntN(payinfo.MaxIDLen-len(prefix))
		b := []byte(prefix)
		for range n {
			b = append(b, chars[rng.IntN(len(chars))])
		}
		if string(b) != orig {
			return string(b)
		}
	}
}

func differentCount(rng *rand.Rand, orig, max int64) int64 {
	// Small nudges (the attack's 6,900 → 6,901) as well as wild values.
	for {
		v := 1 + rng.Int64N(max)
		if rng.IntN(2) == 0 {
			v = orig + rng.Int64N(21) - 10
		}
		if v != orig && v >= 1 && v <= max {
			return v
		}
	}
}

func randomItem(rng *rand.Rand) string {
	words := []string{"사과", "배", "Apple", "pear", "1kg", "유기농", "세트", "box", "(特)", "×2", "🍎"}
	var b []string
	for range 1 + rng.IntN(4) {
		b = append(b, words[rng.IntN(len(words))])
	}
	return strings.Join(b, " ")
}

func randomHex(rng *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[rng.IntN(16)]
	}
	return string(b)
}

// Malformed C is refused before anything is recorded or looked up.
func TestCheckoutRefusesInvalidInfo(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	s := f.order(m, "ORD-1", 6900, 1)
	cases := []struct {
		name  string
		edit  func(c *payinfo.Tagged)
		field string
	}{
		{"amount/negative", func(c *payinfo.Tagged) { c.Amount = -6900 }, "amount"},
		{"amount/zero", func(c *payinfo.Tagged) { c.Amount = 0 }, "amount"},
		{"amount/over maximum", func(c *payinfo.Tagged) { c.Amount = payinfo.MaxAmount + 1 }, "amount"},
		{"amount/overflowed", func(c *payinfo.Tagged) { c.Amount = -1 << 63 }, "amount"},
		{"quantity/zero", func(c *payinfo.Tagged) { c.Quantity = 0 }, "quantity"},
		{"quantity/negative", func(c *payinfo.Tagged) { c.Quantity = -1 }, "quantity"},
		{"currency/USD", func(c *payinfo.Tagged) { c.Currency = "USD" }, "currency"},
		{"merchant/empty", func(c *payinfo.Tagged) { c.MerchantID = "" }, "merchant_id"},
		{"order/space", func(c *payinfo.Tagged) { c.OrderNo = "ORD 1" }, "order_no"},
		{"item/control", func(c *payinfo.Tagged) { c.ItemName = "a\x00b" }, "item_name"},
		{"tid/short", func(c *payinfo.Tagged) { c.TID = c.TID[:63] }, "tid"},
		{"tid/upper case", func(c *payinfo.Tagged) { c.TID = strings.ToUpper(c.TID) }, "tid"},
		{"tid/empty", func(c *payinfo.Tagged) { c.TID = "" }, "tid"},
	}
	head := f.head()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s
			tc.edit(&c)
			_, err := f.svc.Checkout(context.Background(), payment.CheckoutRequest{C: c})
			wantErr(t, err, payment.ErrInvalidPaymentInfo)
			if e := errs.As(err); e.Field != tc.field {
				t.Fatalf("field = %q, want %q", e.Field, tc.field)
			}
		})
	}
	if f.head() != head || f.merchant.calls != 0 {
		t.Fatalf("invalid checkouts wrote audit (%d → %d) or looked up (%d)", head, f.head(), f.merchant.calls)
	}
}

// A merchant's lookup that is slow, down, or answers a TID it could not
// have made leaves the transaction ABNORMAL: audited, announced, reported.
func TestLookupFailuresAreAbnormal(t *testing.T) {
	f := newFixture(t)
	f.svc.LookupTimeout = 20 * time.Millisecond
	m := f.register("shop", payment.Protected)
	forger := []byte(strings.Repeat("k", payinfo.TIDKeyLen))
	cases := []struct {
		name   string
		answer func(ctx context.Context, _ *payment.MerchantRecord, _ string) (payinfo.Tagged, error)
		want   payinfo.Reason
	}{
		{"slow", func(ctx context.Context, _ *payment.MerchantRecord, _ string) (payinfo.Tagged, error) {
			<-ctx.Done() // answers only after the gateway stopped waiting
			return payinfo.Tagged{}, errs.ErrUnavailable.WithCause(ctx.Err())
		}, payinfo.ReasonMerchantUnreachable},
		{"down", func(context.Context, *payment.MerchantRecord, string) (payinfo.Tagged, error) {
			return payinfo.Tagged{}, errs.ErrUnavailable.WithCause(fmt.Errorf("connection refused"))
		}, payinfo.ReasonMerchantUnreachable},
		{"unknown order", func(context.Context, *payment.MerchantRecord, string) (payinfo.Tagged, error) {
			return payinfo.Tagged{}, payment.ErrUnknownOrder
		}, payinfo.ReasonUnknownOrder},
		{"forged TID", func(_ context.Context, m *payment.MerchantRecord, orderNo string) (payinfo.Tagged, error) {
			// What a man in the middle of the lookup would answer: the
			// tampered amount with a TID under a key of its own.
			return payinfo.Tag(forger, payinfo.Info{MerchantID: m.ID, OrderNo: orderNo, ItemName: "유기농 사과 1kg",
				Amount: 1000, Quantity: 1, Currency: "KRW"}), nil
		}, payinfo.ReasonTID},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := f.order(m, orderNo(i), 6900, 1)
			c := s
			c.Amount = 1000
			if tc.name != "forged TID" {
				c = s
			}
			f.merchant.set(tc.answer)
			defer f.merchant.set(nil)
			head := f.head()
			co := f.checkout(c)
			v := co.Transaction
			if v.Code != payment.Abnormal || v.Reason != tc.want || v.Status != payment.StatusAbnormal || co.ClientSecret != "" {
				t.Fatalf("checkout = %s %s %s secret=%t, want ABNORMAL %s", v.Code, v.Reason, v.Status, co.ClientSecret != "", tc.want)
			}
			if got := f.eventTypes(v.ID); !slices.Equal(got, []string{payment.EventAbnormal}) {
				t.Fatalf("webhooks = %v", got)
			}
			entries := f.auditSince(head)
			if len(entries) != 1 || entries[0].Action != "payment.checkout" || entries[0].Result != "abnormal" ||
				entries[0].Details["reason"] != string(tc.want) {
				t.Fatalf("audit = %+v", entries)
			}
			last := f.risk.abnormal[len(f.risk.abnormal)-1]
			if last.TransactionID != v.ID || last.Reason != tc.want || last.InstitutionID != m.Creds.Merchant.ClientID {
				t.Fatalf("risk heard %+v", last)
			}
		})
	}
}

// A merchant id that names no merchant is ABNORMAL (merchant), recorded
// and reported, with nobody to announce it to.
func TestUnknownMerchantIsAbnormal(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	c := f.order(m, "ORD-1", 6900, 1)
	c.MerchantID = "mch_nobody"
	co := f.checkout(c)
	if co.Transaction.Code != payment.Abnormal || co.Transaction.Reason != payinfo.ReasonMerchant {
		t.Fatalf("checkout = %s %s", co.Transaction.Code, co.Transaction.Reason)
	}
	if f.merchant.calls != 0 || len(f.events()) != 0 {
		t.Fatalf("looked up %d times, %d webhooks", f.merchant.calls, len(f.events()))
	}
	if ev := f.risk.abnormal[0]; ev.InstitutionID != "" || ev.MerchantID != "mch_nobody" {
		t.Fatalf("risk heard %+v", ev)
	}
	if tx := f.tx(co.Transaction.ID); tx.MerchantID != "mch_nobody" || tx.Claimed.Amount != 6900 {
		t.Fatalf("recorded %+v", tx)
	}
}

// The paper's table 1 and its fix: a proxy rewrites 6,900 to 1,000. A
// legacy merchant is charged 1,000; a protected one never takes the card.
func TestLegacyChargesClientAmount(t *testing.T) {
	f := newFixture(t)
	legacy := f.register("legacy", payment.Legacy)
	protected := f.register("protected", payment.Protected)

	c := f.order(legacy, "ORD-1", 6900, 1)
	c.Amount = 1000
	co := f.normal(c)
	if co.Transaction.Mode != payment.Legacy || f.merchant.calls != 0 {
		t.Fatalf("legacy checkout mode %s, %d lookups", co.Transaction.Mode, f.merchant.calls)
	}
	v, err := f.authorize(co, visa)
	must(t, err)
	if v.Status != payment.StatusApproved || f.sim.Charged(v.ID) != 1000 {
		t.Fatalf("legacy: %s, charged %d; want approved at the tampered 1,000", v.Status, f.sim.Charged(v.ID))
	}
	f.normal(f.order(legacy, "ORD-2", 6900, 1))
	warned := 0
	for _, line := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(line, "legacy payment mode: amount not verified") {
			warned++
			if !strings.Contains(line, "level=WARN") || !strings.Contains(line, legacy.ID) || strings.Contains(line, "1000") {
				t.Fatalf("legacy warning = %q, want WARN naming ids only", line)
			}
		}
	}
	if warned != 2 {
		t.Fatalf("%d legacy warnings for 2 legacy checkouts", warned)
	}

	c = f.order(protected, "ORD-1", 6900, 1)
	c.Amount = 1000
	co = f.checkout(c)
	if co.Transaction.Code != payment.Abnormal || co.Transaction.Reason != payinfo.ReasonAmount || co.Transaction.Amount != 6900 {
		t.Fatalf("protected: %s %s amount %d", co.Transaction.Code, co.Transaction.Reason, co.Transaction.Amount)
	}
	if tx := f.tx(co.Transaction.ID); tx.Claimed.Amount != 1000 {
		t.Fatalf("claimed amount kept = %d, want 1000", tx.Claimed.Amount)
	}
}

// Without AllowLegacy no legacy merchant is registered, and one
// registered before is verified like a protected one (and its unverified
// NORMAL transactions cannot be paid).
func TestLegacyNeedsAllowLegacy(t *testing.T) {
	f := newFixture(t)
	legacy := f.register("legacy", payment.Legacy)
	old := f.normal(f.order(legacy, "ORD-OLD", 6900, 1))
	f.svc.AllowLegacy = false

	_, err := f.svc.RegisterMerchant(context.Background(), "op_admin", payment.NewMerchant{Name: "legacy2",
		LookupURL: "https://l2.example/orders", WebhookURL: "https://l2.example/hooks", Mode: payment.Legacy})
	wantErr(t, err, payment.ErrLegacyNotAllowed)

	c := f.order(legacy, "ORD-1", 6900, 1)
	c.Amount = 1000
	co := f.checkout(c)
	if co.Transaction.Code != payment.Abnormal || co.Transaction.Reason != payinfo.ReasonAmount || co.Transaction.Mode != payment.Protected {
		t.Fatalf("legacy merchant without AllowLegacy: %s %s %s", co.Transaction.Mode, co.Transaction.Code, co.Transaction.Reason)
	}
	_, err = f.authorize(old, visa)
	wantErr(t, err, payment.ErrLegacyNotAllowed)
	if f.sim.Calls() != 0 {
		t.Fatalf("network called %d times", f.sim.Calls())
	}
}

// An order already paid is refused at checkout.
func TestCheckoutOrderAlreadyPaid(t *testing.T) {
	f := newFixture(t)
	m := f.register("shop", payment.Protected)
	f.approved(m, "ORD-1", 6900)
	_, err := f.svc.Checkout(context.Background(), payment.CheckoutRequest{C: f.order(m, "ORD-1", 6900, 1)})
	wantErr(t, err, payment.ErrOrderPaid)
}
