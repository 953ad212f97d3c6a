package ekyc_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/bankxfer"
	"github.com/haechi/haechi/internal/carrier"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/face"
	"github.com/haechi/haechi/internal/idcheck"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/onetime"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

// Two institutions: sessions of one are invisible to the other.
const (
	inst  = "cl_bank"
	other = "cl_other"
)

// The simulators' people (carrier subscribers, ID cards, accounts).
var (
	kim  = ekyc.Applicant{Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345678"}
	park = ekyc.Applicant{Name: "박철수", BirthDate: "1980-03-15", Phone: "01055556666"}
	lee  = ekyc.Applicant{Name: "이영희", BirthDate: "1985-05-05", Phone: "01098765432"}

	kimCard  = idcheck.Card{Kind: idcheck.KindResident, Name: "김민수", RRN: "900101-1234567", IssueDate: "2015-03-02"}
	parkCard = idcheck.Card{Kind: idcheck.KindResident, Name: "박철수", RRN: "800315-1456789", IssueDate: "2010-01-15"}
	leeCard  = idcheck.Card{Kind: idcheck.KindResident, Name: "이영희", RRN: "850505-2345678", IssueDate: "2012-07-01"}

	kimAccount   = bankxfer.Account{Bank: "004", Number: "110-1234-5678901"}
	minjunAcct   = bankxfer.Account{Bank: "004", Number: "11098765432101"} // held by 김민준, not 김민수
	kimIDImage   = face.IDPhotoFixture("kim")
	jpegIDImage  = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, "jfif body"...)
	kimIDPattern = []string{"김민수", "01012345678", "900101-1234567", "9001011234567", "11012345678901"}
)

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

// media is a security-media registry: serial OTP-0001 is kim's and takes
// 123456 once.
type media struct {
	mu    sync.Mutex
	spent bool
}

func (m *media) Verify(_ context.Context, _ string, holder ekyc.Applicant, serial, code string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if holder.Name != kim.Name || serial != "OTP-0001" || code != "123456" || m.spent {
		return false, nil
	}
	m.spent = true
	return true, nil
}

type fixture struct {
	t         testing.TB
	clk       *clock
	db        *sqlstore.DB
	svc       *ekyc.Service
	carrier   *carrier.Simulator
	bank      *bankxfer.Simulator
	face      *face.Simulator
	customers *customer.Service
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
	ctx := context.Background()
	ring, err := crypto.LoadKeyring(ctx, testKeys(), db, clk.Now)
	must(t, err)
	ids, err := idcheck.NewSimulator(idcheck.DefaultRecords()...)
	must(t, err)
	bank, err := bankxfer.NewSimulator(bankxfer.DefaultAccounts()...)
	must(t, err)
	f := &fixture{t: t, clk: clk, db: db, carrier: carrier.NewSimulator(carrier.DefaultSubscribers()...), bank: bank,
		face: face.NewSimulator(), customers: &customer.Service{Store: db, Ring: ring, Now: clk.Now}}
	pepper := []byte(strings.Repeat("p", 32))
	f.svc = &ekyc.Service{Store: db, Ring: ring, Pepper: pepper,
		Codes:   &onetime.Service{Store: db, Pepper: pepper, Now: clk.Now},
		IDCheck: ids, Accounts: bank, Carrier: f.carrier, Media: &media{}, Face: f.face, Customers: f.customers,
		Now: clk.Now}
	for _, id := range []string{inst, other} {
		cl := &institution.Client{ID: id, Name: "Bank " + id, Scopes: []string{"ekyc"}, SecretHash: []byte("h"), CreatedAt: clk.Now()}
		must(t, db.CreateClient(ctx, cl, audit.Entry{Actor: "test", Action: "client.create", Target: id, Result: audit.ResultSuccess}))
	}
	return f
}

func testKeys() *crypto.KeyMaterial {
	k := func(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }
	return &crypto.KeyMaterial{MasterKeys: map[int][]byte{1: k(1)}, ActiveMaster: 1, BlindKey: k(2), Pepper: k(3), AuditSeed: k(4)}
}

// open starts a session of inst for a.
func (f *fixture) open(a ekyc.Applicant, p ekyc.Policy) *ekyc.Opened {
	f.t.Helper()
	o, err := f.svc.Open(context.Background(), inst, ekyc.Open{Applicant: a, Policy: p})
	must(f.t, err)
	return o
}

// ctx is a call of inst.
func (f *fixture) ctx() context.Context { return ekyc.WithInstitution(context.Background(), inst) }

func (f *fixture) idCard(id string, c idcheck.Card) *ekyc.View {
	f.t.Helper()
	v, err := f.svc.SubmitIDCard(f.ctx(), id, c, kimIDImage)
	must(f.t, err)
	return v
}

// account runs the 1-won check with the memo the holder reads.
func (f *fixture) account(id string, a bankxfer.Account) *ekyc.View {
	f.t.Helper()
	_, err := f.svc.StartAccount(f.ctx(), id, a)
	must(f.t, err)
	v, err := f.svc.ConfirmAccount(f.ctx(), id, f.memo(a))
	must(f.t, err)
	return v
}

func (f *fixture) memo(a bankxfer.Account) string {
	f.t.Helper()
	m, ok := f.bank.LastMemo(a)
	if !ok {
		f.t.Fatalf("no deposit to %s", a)
	}
	return m
}

// wrongMemo differs from the memo sent to a in its first character.
func (f *fixture) wrongMemo(a bankxfer.Account) string {
	m := []byte(f.memo(a))
	if m[0] == 'A' {
		m[0] = 'B'
	} else {
		m[0] = 'A'
	}
	return string(m)
}

func (f *fixture) carrierCheck(id string, phone string) *ekyc.View {
	f.t.Helper()
	_, err := f.svc.StartCarrier(f.ctx(), id)
	must(f.t, err)
	code, _ := f.carrier.LastCode(phone)
	v, err := f.svc.ConfirmCarrier(f.ctx(), id, code)
	must(f.t, err)
	return v
}

func (f *fixture) record(id string) *ekyc.Record {
	f.t.Helper()
	r, err := f.db.EKYCSessionByID(context.Background(), id)
	must(f.t, err)
	return r
}

func (f *fixture) head() int64 {
	f.t.Helper()
	h, err := f.db.AuditHead(context.Background())
	must(f.t, err)
	return h.Seq
}

// event is one row of the webhook outbox.
type event struct {
	Owner, Type, Payload string
}

func (f *fixture) events() []event {
	f.t.Helper()
	rows, err := f.db.SQL().QueryContext(context.Background(), `SELECT owner, type, payload FROM webhook_events ORDER BY created_at, id`)
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

// auditSince returns the audit events after seq.
func (f *fixture) auditSince(seq int64) []audit.Event {
	f.t.Helper()
	evs, err := f.db.AuditEvents(context.Background(), seq, 1000)
	must(f.t, err)
	return evs
}

func (f *fixture) verifyChain() {
	f.t.Helper()
	_, brk, err := audit.Verify(context.Background(), f.db, storetest.PublicKey())
	must(f.t, err)
	if brk != nil {
		f.t.Fatalf("audit chain broken at %v", brk)
	}
}

// unchanged fails unless the session's version and the audit head are
// still as given: nothing was written.
func (f *fixture) unchanged(id string, version, head int64) {
	f.t.Helper()
	if got := f.record(id).Version; got != version {
		f.t.Fatalf("session version = %d, want %d (unchanged)", got, version)
	}
	if got := f.head(); got != head {
		f.t.Fatalf("audit head = %d, want %d (nothing appended)", got, head)
	}
}

func method(v *ekyc.View, m ekyc.Method) ekyc.MethodState {
	for _, s := range v.Methods {
		if s.Method == m {
			return s
		}
	}
	return ekyc.MethodState{}
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
