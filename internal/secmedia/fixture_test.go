package secmedia_test

import (
	"encoding/base32"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/secmedia"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

var _ ekyc.SecurityMedia = (*secmedia.Service)(nil)

// start is when media are registered; RFC vectors move the clock later.
var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type fixture struct {
	svc *secmedia.Service
	db  *sqlstore.DB
	clk *clock
}

// engines open a fresh migrated database; PostgreSQL is skipped without
// HAECHI_TEST_POSTGRES_URL.
var engines = []struct {
	name string
	open func(testing.TB, sqlstore.Options) *sqlstore.DB
}{{"sqlite", storetest.MustOpenSQLite}, {"postgres", storetest.MustOpenPostgres}}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, storetest.MustOpenSQLite)
}

func newFixtureOn(t *testing.T, open func(testing.TB, sqlstore.Options) *sqlstore.DB) *fixture {
	t.Helper()
	clk := &clock{t: start}
	db := open(t, sqlstore.Options{Now: clk.Now})
	ring, err := crypto.LoadKeyring(t.Context(), crypto.NewKeyMaterial(), db, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cl_a", "cl_b"} {
		c := &institution.Client{ID: id, Name: id, Scopes: []string{"ekyc"}, SecretHash: []byte("h"), CreatedAt: start}
		if err := db.CreateClient(t.Context(), c, audit.Entry{Actor: "test", Action: "client.create", Target: id, Result: audit.ResultSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{svc: &secmedia.Service{Store: db, Ring: ring, Now: clk.Now}, db: db, clk: clk}
}

func kim() ekyc.Applicant {
	return ekyc.Applicant{Name: "김민수", BirthDate: "1990-01-01", Phone: "01012345678"}
}

// b32 encodes an RFC test seed as an institution would send it.
func b32(seed string) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(seed))
}

// rfcSeed is the ASCII seed of RFC 4226 and of RFC 6238's SHA-1 vectors.
const rfcSeed = "12345678901234567890"

func register(t *testing.T, f *fixture, institutionID string, r secmedia.Registration) *secmedia.View {
	t.Helper()
	v, err := f.svc.Register(t.Context(), "op_1", institutionID, r)
	if err != nil {
		t.Fatalf("register %s: %v", r.Serial, err)
	}
	return v
}

func hotpReg(serial string) secmedia.Registration {
	return secmedia.Registration{Serial: serial, Kind: secmedia.HOTP, SeedBase32: b32(rfcSeed), Holder: kim()}
}

func totpReg(serial string) secmedia.Registration {
	return secmedia.Registration{Serial: serial, Kind: secmedia.TOTP, SeedBase32: b32(rfcSeed), Holder: kim()}
}

// verify calls Verify and fails on an error.
func verify(t *testing.T, f *fixture, institutionID string, holder ekyc.Applicant, serial, code string) bool {
	t.Helper()
	ok, err := f.svc.Verify(t.Context(), institutionID, holder, serial, code)
	if err != nil {
		t.Fatalf("verify %s %s: %v", serial, code, err)
	}
	return ok
}

// stored reads a medium's record straight from the store.
func stored(t *testing.T, f *fixture, institutionID, serial string) *secmedia.Record {
	t.Helper()
	r, err := f.db.Medium(t.Context(), institutionID, serial)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantCode fails unless err is an *errs.Error with code and field.
func wantCode(t *testing.T, err error, code, field string) {
	t.Helper()
	e := errs.As(err)
	if e == nil || e.Code != code || e.Field != field {
		t.Fatalf("error = %v, want %s on %q", err, code, field)
	}
}
