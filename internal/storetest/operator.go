package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/operator"
	"github.com/haechi/haechi/internal/sqlstore"
)

func newOperator(id, username string) *operator.Operator {
	return &operator.Operator{ID: id, Username: username, Roles: []operator.Role{operator.RoleAgent, operator.RoleAuditor},
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", TOTPSealed: []byte("sealed-" + id), CreatedAt: base}
}

func newSession(token, operatorID string) *operator.Session {
	return &operator.Session{TokenHash: []byte("token-" + token), CSRFHash: []byte("csrf-" + token),
		OperatorID: operatorID, CreatedAt: base, ExpiresAt: base.Add(8 * time.Hour)}
}

func testOperators(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("accounts", func(t *testing.T) { testOperatorAccounts(t, open(t)) })
	t.Run("failures", func(t *testing.T) { testOperatorFailures(t, open(t)) })
	t.Run("login", func(t *testing.T) { testOperatorLogin(t, open(t)) })
	t.Run("sessions", func(t *testing.T) { testOperatorSessions(t, open(t)) })
}

func createOperator(t *testing.T, db *sqlstore.DB, o *operator.Operator) {
	t.Helper()
	must(t, db.CreateOperator(t.Context(), o, entry("operator.create", o.ID)))
}

func getOperator(t *testing.T, db *sqlstore.DB, id string) *operator.Operator {
	t.Helper()
	o, err := db.Operator(t.Context(), id)
	must(t, err)
	return o
}

func testOperatorAccounts(t *testing.T, db *sqlstore.DB) {
	kim, lee := newOperator("op_1", "kim"), newOperator("op_2", "lee")
	kim.LockedUntil, kim.FailedLogins, kim.LastTOTPStep = base, 2, 41
	createOperator(t, db, lee)
	createOperator(t, db, kim)

	t.Run("ok/get by id, by username, list", func(t *testing.T) {
		sameJSON(t, "operator", getOperator(t, db, "op_1"), kim)
		byName, err := db.OperatorByUsername(t.Context(), "lee")
		must(t, err)
		sameJSON(t, "operator by username", byName, lee)
		all, err := db.Operators(t.Context())
		must(t, err)
		sameJSON(t, "operators", all, []*operator.Operator{kim, lee})
	})
	t.Run("error/not found", func(t *testing.T) {
		_, err := db.Operator(t.Context(), "op_nope")
		wantErr(t, err, errs.ErrNotFound)
		_, err = db.OperatorByUsername(t.Context(), "nobody")
		wantErr(t, err, errs.ErrNotFound)
	})
	tests := []struct {
		name string
		op   *operator.Operator
	}{
		{"error/duplicate username", newOperator("op_3", "kim")},
		{"error/duplicate id", newOperator("op_1", "park")},
	}
	for _, tc := range tests {
		t.Run(tc.name+" writes nothing", func(t *testing.T) {
			before := headSeq(t, db)
			wantErr(t, db.CreateOperator(t.Context(), tc.op, entry("operator.create", tc.op.ID)), errs.ErrConflict)
			all, err := db.Operators(t.Context())
			must(t, err)
			if len(all) != 2 || headSeq(t, db) != before {
				t.Fatal("a refused operator was stored or audited")
			}
		})
	}
	t.Run("ok/disable ends sessions, enable does not restore them", func(t *testing.T) {
		must(t, db.CompleteOperatorLogin(t.Context(), "op_1", 42, newSession("a", "op_1"), entry("operator.login", "op_1")))
		must(t, db.CompleteOperatorLogin(t.Context(), "op_2", 42, newSession("b", "op_2"), entry("operator.login", "op_2")))
		must(t, db.SetOperatorDisabled(t.Context(), "op_1", true, entry("operator.disable", "op_1")))
		if !getOperator(t, db, "op_1").Disabled {
			t.Fatal("operator not disabled")
		}
		_, err := db.OperatorSession(t.Context(), []byte("token-a"))
		wantErr(t, err, errs.ErrNotFound)
		if _, err := db.OperatorSession(t.Context(), []byte("token-b")); err != nil {
			t.Fatalf("another operator's session ended: %v", err)
		}
		must(t, db.SetOperatorDisabled(t.Context(), "op_1", false, entry("operator.enable", "op_1")))
		if getOperator(t, db, "op_1").Disabled {
			t.Fatal("operator still disabled")
		}
	})
	t.Run("error/disable unknown", func(t *testing.T) {
		wantErr(t, db.SetOperatorDisabled(t.Context(), "op_nope", true, entry("operator.disable", "op_nope")), errs.ErrNotFound)
	})
	verifyChain(t, db, headSeq(t, db))
}

func testOperatorFailures(t *testing.T, db *sqlstore.DB) {
	createOperator(t, db, newOperator("op_1", "kim"))
	createOperator(t, db, newOperator("op_2", "lee"))
	lockUntil := base.Add(15 * time.Minute)

	t.Run("ok/locks when the count reaches the limit", func(t *testing.T) {
		for i := 1; i <= 4; i++ {
			n, err := db.RecordOperatorFailure(t.Context(), "op_1", 3, lockUntil, entry("operator.login_failed", "op_1"))
			must(t, err)
			o := getOperator(t, db, "op_1")
			locked := o.LockedUntil.Equal(lockUntil)
			if n != i || o.FailedLogins != i || locked != (i >= 3) {
				t.Fatalf("failure %d: count %d/%d, locked %v", i, n, o.FailedLogins, locked)
			}
		}
	})
	t.Run("ok/concurrent failures all count", func(t *testing.T) {
		const n = 20
		before := headSeq(t, db)
		counts := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				counts[i], err = db.RecordOperatorFailure(t.Context(), "op_2", 100, lockUntil, entry("operator.login_failed", "op_2"))
				if err != nil {
					t.Errorf("failure %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		slices.Sort(counts)
		for i, c := range counts {
			if c != i+1 {
				t.Fatalf("counts returned %v, want 1..%d each once", counts, n)
			}
		}
		if o := getOperator(t, db, "op_2"); o.FailedLogins != n || !o.LockedUntil.IsZero() {
			t.Fatalf("stored count %d (locked until %v), want %d and no lock", o.FailedLogins, o.LockedUntil, n)
		}
		if got := headSeq(t, db) - before; got != n {
			t.Fatalf("%d audit events for %d failures", got, n)
		}
	})
	t.Run("error/unknown operator", func(t *testing.T) {
		_, err := db.RecordOperatorFailure(t.Context(), "op_nope", 3, lockUntil, entry("operator.login_failed", "op_nope"))
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("error/limit below one", func(t *testing.T) {
		_, err := db.RecordOperatorFailure(t.Context(), "op_1", 0, lockUntil, entry("operator.login_failed", "op_1"))
		wantErr(t, err, errs.ErrInvalid)
	})
	verifyChain(t, db, headSeq(t, db))
}

func testOperatorLogin(t *testing.T, db *sqlstore.DB) {
	createOperator(t, db, newOperator("op_1", "kim"))
	_, err := db.RecordOperatorFailure(t.Context(), "op_1", 5, base.Add(time.Hour), entry("operator.login_failed", "op_1"))
	must(t, err)

	t.Run("ok/accepts a newer step and resets failures", func(t *testing.T) {
		must(t, db.CompleteOperatorLogin(t.Context(), "op_1", 1000, newSession("s1", "op_1"), entry("operator.login", "op_1")))
		o := getOperator(t, db, "op_1")
		if o.LastTOTPStep != 1000 || o.FailedLogins != 0 || !o.LockedUntil.IsZero() {
			t.Fatalf("after login: step %d, failures %d, locked until %v", o.LastTOTPStep, o.FailedLogins, o.LockedUntil)
		}
		s, err := db.OperatorSession(t.Context(), []byte("token-s1"))
		must(t, err)
		sameJSON(t, "session", s, newSession("s1", "op_1"))
	})
	tests := []struct {
		name string
		id   string
		step int64
		want error
	}{
		{"error/same step replayed", "op_1", 1000, operator.ErrCodeReused},
		{"error/older step", "op_1", 999, operator.ErrCodeReused},
		{"error/unknown operator", "op_nope", 2000, errs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name+" writes nothing", func(t *testing.T) {
			before := headSeq(t, db)
			err := db.CompleteOperatorLogin(t.Context(), tc.id, tc.step, newSession("replay", tc.id), entry("operator.login", tc.id))
			wantErr(t, err, tc.want)
			_, err = db.OperatorSession(t.Context(), []byte("token-replay"))
			wantErr(t, err, errs.ErrNotFound)
			if headSeq(t, db) != before {
				t.Fatal("a refused login wrote an audit event")
			}
		})
	}
	t.Run("error/session of another operator", func(t *testing.T) {
		err := db.CompleteOperatorLogin(t.Context(), "op_1", 3000, newSession("x", "op_2"), entry("operator.login", "op_1"))
		wantErr(t, err, errs.ErrInvalid)
	})
	t.Run("ok/one code, many racing logins, one session", func(t *testing.T) { raceLogins(t, db) })
	t.Run("error/locked operator writes nothing", func(t *testing.T) {
		// Failures racing a login may lock the account after the service
		// looked; the store must refuse the session at commit time.
		_, err := db.RecordOperatorFailure(t.Context(), "op_1", 1, base.Add(time.Hour), entry("operator.login_failed", "op_1"))
		must(t, err)
		before := headSeq(t, db)
		err = db.CompleteOperatorLogin(t.Context(), "op_1", 8000, newSession("l", "op_1"), entry("operator.login", "op_1"))
		wantErr(t, err, operator.ErrLocked)
		if _, err := db.OperatorSession(t.Context(), []byte("token-l")); !errors.Is(err, errs.ErrNotFound) || headSeq(t, db) != before {
			t.Fatal("a locked operator's login wrote something")
		}
	})
	t.Run("error/disabled operator", func(t *testing.T) {
		must(t, db.SetOperatorDisabled(t.Context(), "op_1", true, entry("operator.disable", "op_1")))
		before := headSeq(t, db)
		err := db.CompleteOperatorLogin(t.Context(), "op_1", 9000, newSession("d", "op_1"), entry("operator.login", "op_1"))
		wantErr(t, err, operator.ErrBadLogin)
		if _, err := db.OperatorSession(t.Context(), []byte("token-d")); !errors.Is(err, errs.ErrNotFound) || headSeq(t, db) != before {
			t.Fatal("a disabled operator's login wrote something")
		}
	})
	verifyChain(t, db, headSeq(t, db))
}

// raceLogins completes ten logins with one TOTP step at once: exactly one
// may win.
func raceLogins(t *testing.T, db *sqlstore.DB) {
	const n = 10
	errCh := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := newSession(fmt.Sprint("race", i), "op_1")
			errCh <- db.CompleteOperatorLogin(t.Context(), "op_1", 5000, s, entry("operator.login", "op_1"))
		})
	}
	wg.Wait()
	close(errCh)
	won := 0
	for err := range errCh {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, operator.ErrCodeReused):
			t.Fatalf("racing login: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d logins won with one code, want 1", won)
	}
}

func testOperatorSessions(t *testing.T, db *sqlstore.DB) {
	createOperator(t, db, newOperator("op_1", "kim"))
	must(t, db.CompleteOperatorLogin(t.Context(), "op_1", 1, newSession("s1", "op_1"), entry("operator.login", "op_1")))

	t.Run("ok/delete", func(t *testing.T) {
		must(t, db.DeleteOperatorSession(t.Context(), []byte("token-s1"), entry("operator.logout", "op_1")))
		_, err := db.OperatorSession(t.Context(), []byte("token-s1"))
		wantErr(t, err, errs.ErrNotFound)
	})
	t.Run("error/delete unknown writes nothing", func(t *testing.T) {
		before := headSeq(t, db)
		wantErr(t, db.DeleteOperatorSession(t.Context(), []byte("token-s1"), entry("operator.logout", "op_1")), errs.ErrNotFound)
		if headSeq(t, db) != before {
			t.Fatal("deleting an unknown session wrote an audit event")
		}
	})
	verifyChain(t, db, headSeq(t, db))
}
