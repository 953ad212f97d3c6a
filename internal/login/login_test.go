package login_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/credential"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/customer"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/login"
	"github.com/haechi/haechi/internal/session"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

const goodPIN = "482915"

type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

type fixture struct {
	clk *clock
	db  *sqlstore.DB
	svc *login.Service
	dev *device.Device
	jkt string
}

// newFixture is a customer (cus_1) with an active device (dev_1) whose key
// is a real P-256 key, and the PIN goodPIN, over real stores on SQLite.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	db := storetest.MustOpenSQLite(t, storetest.Options())
	cus, devID := storetest.SessionFixture(t, db)
	km := crypto.NewKeyMaterial()
	hasher := crypto.NewHasher(km.Pepper, crypto.TestHashParams, 2, 16)
	f := &fixture{clk: clk, db: db}
	f.svc = &login.Service{
		Credentials: &credential.Service{Store: db, Hasher: hasher, Now: clk.Now},
		Lockout:     &lockout.Service{Store: db, Ladders: lockout.DefaultLadders(), Now: clk.Now},
		Sessions:    &session.Service{Store: db, Pepper: km.Pepper, Now: clk.Now},
		Customers:   nil, Audit: db, Now: clk.Now,
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	f.dev = &device.Device{ID: devID, CustomerID: cus, InstitutionID: "cl_1", PublicKey: der, Fingerprint: "fp_1"}
	if f.jkt, err = f.svc.Sessions.Bind(der); err != nil {
		t.Fatal(err)
	}
	c := &customer.Customer{ID: cus, BirthDate: "1990-01-01"}
	if err := f.svc.Credentials.Set(t.Context(), cus, c, credential.MethodPIN, goodPIN); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) login(t *testing.T, pin string) (*session.Tokens, error) {
	t.Helper()
	return f.svc.Login(t.Context(), f.dev, login.Input{Method: "pin", Secret: pin}, f.jkt, lockout.Meta{Actor: "cl_1", IP: "192.0.2.1"})
}

func (f *fixture) failures(t *testing.T) int {
	t.Helper()
	sts, err := f.svc.Lockout.States(t.Context(), f.dev.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	return sts[0].Failures
}

func wantCode(t *testing.T, err error, code string) *errs.Error {
	t.Helper()
	e := errs.As(err)
	if e == nil || e.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
	return e
}

func TestLoginOK(t *testing.T) {
	f := newFixture(t)
	tok, err := f.login(t, goodPIN)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Access == "" || tok.Refresh == "" || !tok.AccessExpires.After(f.clk.Now()) {
		t.Fatalf("tokens %+v", tok)
	}
}

// TestLoginRefusedBeforeCount: input that cannot be a guess never reaches
// the ladder.
func TestLoginRefusedBeforeCount(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		in   login.Input
		jkt  string
		code string
	}{
		{"error/pin of wrong length", login.Input{Method: "pin", Secret: "12345"}, f.jkt, "pin_format"},
		{"error/pin with non-digits", login.Input{Method: "pin", Secret: "12a456"}, f.jkt, "pin_format"},
		{"error/pattern skipping a node", login.Input{Method: "pattern", Secret: "[1,3,6,9]"}, f.jkt, "pattern_invalid"},
		{"error/unknown method", login.Input{Method: "face", Secret: goodPIN}, f.jkt, "credential_method"},
		{"error/secret with biometric", login.Input{Method: "biometric", Secret: goodPIN, Biometric: true}, f.jkt, "invalid_request"},
		{"error/dpop key is not the device key", login.Input{Method: "pin", Secret: goodPIN}, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "dpop_key_mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.svc.Login(t.Context(), f.dev, c.in, c.jkt, lockout.Meta{})
			wantCode(t, err, c.code)
			if n := f.failures(t); n != 0 {
				t.Fatalf("failures = %d, want 0", n)
			}
		})
	}
}

// TestLoginLadder climbs the PIN ladder at a human pace: the failure that
// starts a stage says so, and a refused attempt verifies nothing.
func TestLoginLadder(t *testing.T) {
	f := newFixture(t)
	steps := []struct {
		wait  time.Duration
		code  string
		retry time.Duration
	}{
		{0, "login_failed", 0},
		{7 * time.Second, "login_failed", 0},
		{13 * time.Second, "login_delayed", 5 * time.Second},
		{9 * time.Second, "login_delayed", 30 * time.Second},
		{47 * time.Second, "login_locked", 30 * time.Minute},
	}
	for i, s := range steps {
		f.clk.advance(s.wait)
		_, err := f.login(t, "111111")
		if e := wantCode(t, err, s.code); e.RetryAfter != s.retry {
			t.Fatalf("failure %d: retry after %v, want %v", i+1, e.RetryAfter, s.retry)
		}
	}
	// Locked: even the right PIN gets no verification and no count.
	_, err := f.login(t, goodPIN)
	wantCode(t, err, "login_locked")
	if n := f.failures(t); n != 5 {
		t.Fatalf("failures = %d, want 5", n)
	}
	// The lock ends by itself; success resets the count.
	f.clk.advance(31 * time.Minute)
	if _, err := f.login(t, goodPIN); err != nil {
		t.Fatal(err)
	}
	if n := f.failures(t); n != 0 {
		t.Fatalf("failures after success = %d", n)
	}
}

// TestLoginDelayRefusesEarlyAttempt: while delayed, the right PIN is
// refused with Retry-After and not counted.
func TestLoginDelayRefusesEarlyAttempt(t *testing.T) {
	f := newFixture(t)
	for _, w := range []time.Duration{0, 5 * time.Second, 11 * time.Second} {
		f.clk.advance(w)
		f.login(t, "111111") //nolint:errcheck // failures wanted
	}
	f.clk.advance(2 * time.Second)
	_, err := f.login(t, goodPIN)
	if e := wantCode(t, err, "login_delayed"); e.RetryAfter != 3*time.Second {
		t.Fatalf("retry after %v", e.RetryAfter)
	}
	if n := f.failures(t); n != 3 {
		t.Fatalf("failures = %d, want 3", n)
	}
}

func TestLoginBiometric(t *testing.T) {
	f := newFixture(t)
	in := login.Input{Method: "biometric", Biometric: false}
	_, err := f.svc.Login(t.Context(), f.dev, in, f.jkt, lockout.Meta{})
	wantCode(t, err, "login_failed")
	in.Biometric = true
	f.clk.advance(3 * time.Second)
	if _, err := f.svc.Login(t.Context(), f.dev, in, f.jkt, lockout.Meta{}); err != nil {
		t.Fatal(err)
	}
}

// TestLoginBotEscalates: failures under a second apart skip a stage.
func TestLoginBotEscalates(t *testing.T) {
	f := newFixture(t)
	f.login(t, "111111") //nolint:errcheck
	f.clk.advance(300 * time.Millisecond)
	_, err := f.login(t, "222222")
	// The 2nd failure, bot-paced, jumps to the next stage: a delay.
	wantCode(t, err, "login_delayed")
}

// TestLoginNoCredential: a customer without a PIN gets the same answer
// as a wrong PIN, and it counts.
func TestLoginNoCredential(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Login(t.Context(), f.dev, login.Input{Method: "pattern", Secret: "[1,2,3,6]"}, f.jkt, lockout.Meta{})
	wantCode(t, err, "login_failed")
	if !errors.Is(err, login.ErrFailed) {
		t.Fatal("not ErrFailed")
	}
}

// TestLoginParallel: of a burst of wrong PINs at once, only those the
// ladder reserves are verified (each audited as a failure; bot pacing may
// raise the count past them), and the rest are refused unverified.
func TestLoginParallel(t *testing.T) {
	f := newFixture(t)
	const n = 100
	var wg sync.WaitGroup
	codes := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.login(t, "111111")
			if e := errs.As(err); e != nil {
				codes[i] = e.Code
			}
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c == "" {
			t.Fatalf("attempt %d: no refusal", i)
		}
	}
	evs, err := f.db.AuditEvents(t.Context(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var audited int
	for _, ev := range evs {
		if ev.Action == lockout.ActionFailure {
			audited++
		}
	}
	got := f.failures(t)
	if audited < 1 || got < audited || got > 10 {
		t.Fatalf("failures %d, audited %d", got, audited)
	}
}

// TestLoginBusyPoolCountsNothing: when the hash pool is full the PIN is
// never compared, so the attempt is released, not counted, and the next
// one is checked as usual.
func TestLoginBusyPoolCountsNothing(t *testing.T) {
	f := newFixture(t)
	km := crypto.NewKeyMaterial()
	busy := crypto.NewHasher(km.Pepper, crypto.TestHashParams, 1, 0)
	f.svc.Credentials.Hasher = busy
	// A slow verification (64 MiB, 4 passes) holds the only slot.
	slow, err := crypto.NewHasher(km.Pepper, crypto.HashParams{Time: 4, MemKiB: 64 << 10, Threads: 1}, 1, 0).Hash(t.Context(), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	go func() {
		defer close(held)
		// Retried while the probe below happens to hold the slot.
		for {
			if _, err := busy.Verify(context.Background(), slow, []byte("x")); !errors.Is(err, crypto.ErrBusy) {
				return
			}
		}
	}()
	for range 2000 { // until the slow verification holds the slot
		if err := busy.DummyVerify(t.Context(), []byte("x")); errors.Is(err, crypto.ErrBusy) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := f.login(t, "111111"); !errors.Is(err, crypto.ErrBusy) {
		t.Fatalf("login with a full pool: %v", err)
	}
	if n := f.failures(t); n != 0 {
		t.Fatalf("a refused-busy attempt counted: %d failures", n)
	}
	<-held
	f.clk.advance(time.Minute)
	if _, err := f.login(t, "111111"); !errors.Is(err, login.ErrFailed) || f.failures(t) != 1 {
		t.Fatalf("next attempt: %v, %d failures", err, f.failures(t))
	}
}
