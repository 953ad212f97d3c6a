package operator_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/sqlstore"
	"github.com/haechi/haechi/internal/storetest"
)

type fixture struct {
	svc    *operator.Service
	db     *sqlstore.DB
	now    time.Time
	secret string
	op     *operator.Operator
}

const password = "correct horse battery"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{now: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	f.db = storetest.MustOpenSQLite(t, storetest.Options())
	km := testKeys()
	clock := func() time.Time { return f.now }
	ring, err := crypto.LoadKeyring(ctx, km, f.db, clock)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = &operator.Service{Store: f.db, Hasher: crypto.NewHasher(km.Pepper, crypto.TestHashParams, 2, 16), Ring: ring, Pepper: km.Pepper, Now: clock}
	op, enr, err := f.svc.Create(ctx, "cli", "lee.agent", password, []operator.Role{operator.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	f.op, f.secret = op, enr.TOTPSecret
	return f
}

func testKeys() *crypto.KeyMaterial {
	k := func(b byte) []byte {
		out := make([]byte, 32)
		for i := range out {
			out[i] = b
		}
		return out
	}
	return &crypto.KeyMaterial{MasterKeys: map[int][]byte{1: k(1)}, ActiveMaster: 1, BlindKey: k(2), Pepper: k(3), AuditSeed: k(4)}
}

func (f *fixture) code(_ *testing.T, at time.Time) string {
	c, err := totp.GenerateCode(f.secret, at)
	if err != nil {
		panic(err) // the secret came from totp.Generate
	}
	return c
}

func (f *fixture) sessions(t *testing.T) int {
	t.Helper()
	var n int
	err := f.db.SQL().QueryRowContext(context.Background(), "SELECT count(*) FROM operator_sessions").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLogin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	token, csrf, op, err := f.svc.Login(ctx, "lee.agent", password, f.code(t, f.now))
	if err != nil || op.ID != f.op.ID {
		t.Fatalf("login: %v", err)
	}
	gotOp, sess, err := f.svc.Authenticate(ctx, token)
	if err != nil || gotOp.ID != op.ID {
		t.Fatalf("authenticate: %v", err)
	}
	if err := f.svc.CheckCSRF(sess, csrf); err != nil {
		t.Fatalf("csrf: %v", err)
	}
	if err := f.svc.CheckCSRF(sess, token); !errors.Is(err, operator.ErrCSRF) {
		t.Fatalf("session token accepted as CSRF token: %v", err)
	}
	f.now = f.now.Add(8*time.Hour + time.Second)
	if _, _, err := f.svc.Authenticate(ctx, token); !errors.Is(err, operator.ErrNoSession) {
		t.Fatalf("expired session accepted: %v", err)
	}
}

func TestLoginRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(f *fixture) error
		want error
	}{
		{"error/unknown user", func(f *fixture) error {
			_, _, _, err := f.svc.Login(ctx, "nobody", password, f.code(nil, f.now))
			return err
		}, operator.ErrBadLogin},
		{"error/wrong password", func(f *fixture) error {
			_, _, _, err := f.svc.Login(ctx, "lee.agent", "wrong password!", f.code(nil, f.now))
			return err
		}, operator.ErrBadLogin},
		{"error/wrong code", func(f *fixture) error {
			_, _, _, err := f.svc.Login(ctx, "lee.agent", password, "000000")
			return err
		}, operator.ErrBadLogin},
		{"error/code from 2 minutes ago", func(f *fixture) error {
			_, _, _, err := f.svc.Login(ctx, "lee.agent", password, f.code(nil, f.now.Add(-2*time.Minute)))
			return err
		}, operator.ErrBadLogin},
		{"error/code reused", func(f *fixture) error {
			code := f.code(nil, f.now)
			if _, _, _, err := f.svc.Login(ctx, "lee.agent", password, code); err != nil {
				return err
			}
			_, _, _, err := f.svc.Login(ctx, "lee.agent", password, code)
			return err
		}, operator.ErrCodeReused},
		{"error/disabled", func(f *fixture) error {
			if err := f.svc.SetDisabled(ctx, "admin", f.op.ID, true); err != nil {
				return err
			}
			_, _, _, err := f.svc.Login(ctx, "lee.agent", password, f.code(nil, f.now))
			return err
		}, operator.ErrBadLogin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			before := f.sessions(t)
			err := tt.run(f)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.name != "error/code reused" && f.sessions(t) != before {
				t.Fatal("a refused login created a session")
			}
		})
	}
}

func TestLockoutAfterFailuresAndExpiry(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var wg sync.WaitGroup
	// More parallel failures than the limit: every checked guess counts;
	// a guess that arrives once the lock is set is refused unchecked.
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _, _ = f.svc.Login(ctx, "lee.agent", "wrong password!", "123456")
		}()
	}
	wg.Wait()
	op, _ := f.db.Operator(ctx, f.op.ID)
	if op.FailedLogins < 5 || op.FailedLogins > 8 || !op.LockedUntil.After(f.now) {
		t.Fatalf("failed_logins = %d, locked until %v; want 5..8 and locked", op.FailedLogins, op.LockedUntil)
	}
	if _, _, _, err := f.svc.Login(ctx, "lee.agent", password, f.code(t, f.now)); !errors.Is(err, operator.ErrLocked) {
		t.Fatalf("correct login while locked: %v", err)
	}
	f.now = f.now.Add(15*time.Minute + time.Second) // the lock ends by itself
	if _, _, _, err := f.svc.Login(ctx, "lee.agent", password, f.code(t, f.now)); err != nil {
		t.Fatalf("login after the lock expired: %v", err)
	}
	op, _ = f.db.Operator(ctx, f.op.ID)
	if op.FailedLogins != 0 {
		t.Fatalf("success did not reset failures: %d", op.FailedLogins)
	}
}

func TestDisableEndsSessions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	token, _, _, err := f.svc.Login(ctx, "lee.agent", password, f.code(t, f.now))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetDisabled(ctx, "admin", f.op.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Authenticate(ctx, token); !errors.Is(err, operator.ErrNoSession) {
		t.Fatalf("session of a disabled operator: %v", err)
	}
}

func TestCreateValidation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tests := []struct {
		name, user, pass string
		roles            []operator.Role
	}{
		{"error/short password", "park", "short", []operator.Role{operator.RoleAdmin}},
		{"error/bad username", "Park Admin", password, []operator.Role{operator.RoleAdmin}},
		{"error/no roles", "park", password, nil},
		{"error/unknown role", "park", password, []operator.Role{"root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := f.svc.Create(ctx, "cli", tt.user, tt.pass, tt.roles); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, _, err := f.svc.Create(ctx, "cli", "lee.agent", password, []operator.Role{operator.RoleAgent}); err == nil {
		t.Fatal("duplicate username accepted")
	}
}
