package payment_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/cardnet"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/sqlite"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
	"github.com/haechi/haechi/internal/webhook"
)

// A card the simulator approves, with an expiry after the fixture's clock.
var visa = cardnet.Card{PAN: cardnet.CardApproved, Expiry: "12/30", CVV: "123"}

// clock is the injected time every collaborator shares.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// merchantSide is the merchants' servers as the gateway's Lookup sees
// them, in process: each merchant's orders, S with TID_S. answer, when
// set, replaces the honest answer (a slow, down or forging merchant).
type merchantSide struct {
	mu     sync.Mutex
	orders map[string]payinfo.Tagged // by merchant id + "/" + order no
	answer func(ctx context.Context, m *payment.MerchantRecord, orderNo string) (payinfo.Tagged, error)
	calls  int
}

func (l *merchantSide) Order(ctx context.Context, m *payment.MerchantRecord, orderNo string) (payinfo.Tagged, error) {
	l.mu.Lock()
	l.calls++
	answer := l.answer
	s, ok := l.orders[m.ID+"/"+orderNo]
	l.mu.Unlock()
	if answer != nil {
		return answer(ctx, m, orderNo)
	}
	if !ok {
		return payinfo.Tagged{}, payment.ErrUnknownOrder
	}
	return s, nil
}

func (l *merchantSide) put(s payinfo.Tagged) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.orders[s.MerchantID+"/"+s.OrderNo] = s
}

func (l *merchantSide) set(f func(ctx context.Context, m *payment.MerchantRecord, orderNo string) (payinfo.Tagged, error)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answer = f
}

// risk is a fraud engine that denies every authorization while deny is
// set, and remembers what it heard.
type risk struct {
	mu       sync.Mutex
	deny     bool
	abnormal []payment.RiskEvent
	reviews  []payment.RiskEvent
}

func (r *risk) ObserveAbnormal(_ context.Context, ev payment.RiskEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.abnormal = append(r.abnormal, ev)
}

func (r *risk) ReviewAuthorization(_ context.Context, ev payment.RiskEvent) payment.RiskVerdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reviews = append(r.reviews, ev)
	return payment.RiskVerdict{Deny: r.deny, DecisionID: "dec_test"}
}

// shop is a registered merchant with the TID key it was given.
type shop struct {
	ID    string
	Key   []byte
	Creds *payment.MerchantCredentials
}

type fixture struct {
	t        testing.TB
	clk      *clock
	db       *sqlstore.DB
	ring     *crypto.Keyring
	sim      *cardnet.Simulator
	merchant *merchantSide
	risk     *risk
	inst     *institution.Service
	hooks    *webhook.Service
	svc      *payment.Service
	logs     *syncBuffer
}

// syncBuffer collects the service's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureOn(t, storetest.MustOpenSQLite)
}

func newFixtureOn(t testing.TB, open func(testing.TB, sqlstore.Options) *sqlstore.DB) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	opts := storetest.Options()
	opts.Now = clk.Now
	db := open(t, opts)
	ring, err := crypto.LoadKeyring(context.Background(), testKeys(), db, clk.Now)
	must(t, err)
	pepper := []byte(strings.Repeat("p", 32))
	f := &fixture{t: t, clk: clk, db: db, ring: ring, sim: cardnet.NewSimulator(clk.Now),
		merchant: &merchantSide{orders: map[string]payinfo.Tagged{}}, risk: &risk{},
		inst:  &institution.Service{Store: db, Pepper: pepper, Now: clk.Now},
		hooks: &webhook.Service{Store: db, Ring: ring, Now: clk.Now}, logs: &syncBuffer{}}
	f.svc = &payment.Service{Store: db, Ring: ring, Pepper: pepper, Lookup: f.merchant, Network: f.sim,
		Institutions: f.inst, Webhooks: f.hooks, Risk: f.risk, AllowLegacy: true, Now: clk.Now,
		Log: slog.New(slog.NewTextHandler(f.logs, nil))}
	return f
}

func testKeys() *crypto.KeyMaterial {
	k := func(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }
	return &crypto.KeyMaterial{MasterKeys: map[int][]byte{1: k(1)}, ActiveMaster: 1, BlindKey: k(2), Pepper: k(3), AuditSeed: k(4)}
}

// register creates a merchant in mode.
func (f *fixture) register(name string, mode payment.Mode) *shop {
	f.t.Helper()
	c, err := f.svc.RegisterMerchant(context.Background(), "op_admin", payment.NewMerchant{Name: name,
		LookupURL: "https://" + name + ".example/orders", WebhookURL: "https://" + name + ".example/hooks", Mode: mode})
	must(f.t, err)
	key, err := hex.DecodeString(c.TIDKey)
	must(f.t, err)
	return &shop{ID: c.Merchant.ID, Key: key, Creds: c}
}

// order is steps 1–3: the merchant records an order and hands out S.
func (f *fixture) order(m *shop, orderNo string, amount, quantity int64) payinfo.Tagged {
	f.t.Helper()
	s := payinfo.Tag(m.Key, payinfo.Info{MerchantID: m.ID, OrderNo: orderNo, ItemName: "유기농 사과 1kg",
		Amount: amount, Quantity: quantity, Currency: "KRW"})
	f.merchant.put(s)
	return s
}

func (f *fixture) checkout(c payinfo.Tagged) *payment.Checkout {
	f.t.Helper()
	co, err := f.svc.Checkout(context.Background(), payment.CheckoutRequest{C: c, IP: "203.0.113.7"})
	must(f.t, err)
	return co
}

// normal checks out c and fails unless it is NORMAL.
func (f *fixture) normal(c payinfo.Tagged) *payment.Checkout {
	f.t.Helper()
	co := f.checkout(c)
	if co.Transaction.Code != payment.Normal || co.ClientSecret == "" {
		f.t.Fatalf("checkout = %s %s, want NORMAL with a client secret", co.Transaction.Code, co.Transaction.Reason)
	}
	return co
}

func (f *fixture) authorize(co *payment.Checkout, card cardnet.Card) (*payment.View, error) {
	return f.svc.Authorize(context.Background(), payment.AuthorizeRequest{TransactionID: co.Transaction.ID,
		ClientSecret: co.ClientSecret, Card: card, IP: "203.0.113.7"})
}

// approved runs an order through checkout and authorization.
func (f *fixture) approved(m *shop, orderNo string, amount int64) *payment.View {
	f.t.Helper()
	co := f.normal(f.order(m, orderNo, amount, 1))
	v, err := f.authorize(co, visa)
	must(f.t, err)
	if v.Status != payment.StatusApproved {
		f.t.Fatalf("authorize = %s, want approved", v.Status)
	}
	return v
}

func (f *fixture) tx(id string) *payment.Transaction {
	f.t.Helper()
	t, err := f.db.PaymentTransaction(context.Background(), id)
	must(f.t, err)
	return t
}

func (f *fixture) refunds(id string) []payment.Refund {
	f.t.Helper()
	rs, err := f.db.PaymentRefunds(context.Background(), id)
	must(f.t, err)
	return rs
}

func (f *fixture) head() int64 {
	f.t.Helper()
	h, err := f.db.AuditHead(context.Background())
	must(f.t, err)
	return h.Seq
}

func (f *fixture) auditSince(seq int64) []audit.Event {
	f.t.Helper()
	evs, err := f.db.AuditEvents(context.Background(), seq, 10000)
	must(f.t, err)
	return evs
}

// event is one row of the webhook outbox.
type event struct{ Owner, Type, Payload string }

func (f *fixture) events() []event {
	f.t.Helper()
	rows, err := f.db.SQL().QueryContext(context.Background(), `SELECT owner, type, payload FROM webhook_events ORDER BY rowid` /* SQLite: insertion order */)
	must(f.t, err)
	defer rows.Close()
	var out []event
	for rows.Next() {
		var e event
		must(f.t, rows.Scan(&e.Owner, &e.Type, &e.Payload))
		out = append(out, e)
	}
	must(f.t, rows.Err())
	return out
}

// eventTypes lists the types of the events of one transaction.
func (f *fixture) eventTypes(txID string) []string {
	f.t.Helper()
	var out []string
	for _, e := range f.events() {
		if strings.Contains(e.Payload, txID) {
			out = append(out, e.Type)
		}
	}
	return out
}

func (f *fixture) verifyChain() {
	f.t.Helper()
	_, brk, err := audit.Verify(context.Background(), f.db, storetest.PublicKey())
	must(f.t, err)
	if brk != nil {
		f.t.Fatalf("audit chain broken at %v", brk)
	}
}

// unchanged fails unless the transaction's version and the audit head are
// still as given: nothing was written.
func (f *fixture) unchanged(id string, version int, head int64) {
	f.t.Helper()
	if got := f.tx(id).Version; got != version {
		f.t.Fatalf("transaction version = %d, want %d (unchanged)", got, version)
	}
	if got := f.head(); got != head {
		f.t.Fatalf("audit head = %d, want %d (nothing appended)", got, head)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func wantStatus(t testing.TB, v *payment.View, st payment.Status) {
	t.Helper()
	if v.Status != st {
		t.Fatalf("status = %s, want %s", v.Status, st)
	}
}

func cryptoAAD(id string) crypto.AAD {
	return crypto.AAD{Table: "payment_transactions", Column: "pan", RowID: id}
}

func orderNo(i int) string { return fmt.Sprintf("ORD-%06d", i) }

// openOnRAM opens a migrated SQLite store in a tmpfs directory when the
// machine has one: the same store, minus the disk's fsync latency, for
// tests that write tens of thousands of transactions.
func openOnRAM(tb testing.TB, opts sqlstore.Options) *sqlstore.DB {
	tb.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "haechi-payment-")
	if err != nil {
		return storetest.MustOpenSQLite(tb, opts)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	db, err := sqlite.Open(filepath.Join(dir, "haechi.db"), opts)
	must(tb, err)
	tb.Cleanup(func() { db.Close() })
	_, err = db.Migrate(context.Background())
	must(tb, err)
	return db
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	must(t, err)
	return b
}
