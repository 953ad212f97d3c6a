package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/notify"
	"github.com/haechi/haechi/internal/sqlstore"
)

// testLockout checks the ladder's store: states round-trip exactly, an
// update writes its state, audit entries and notifications together or not
// at all, concurrent updates lose nothing, and spraying sources throttle.
func testLockout(t *testing.T, migrated func(*testing.T) *sqlstore.DB) {
	k := lockout.Key{CustomerID: "cus_1", Method: lockout.PIN}
	t.Run("ok/unknown key is zero", func(t *testing.T) {
		db := migrated(t)
		st, err := db.LockoutState(t.Context(), k)
		must(t, err)
		if st.Key != k || st.Failures != 0 || st.Protected || st.Version != 0 {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("ok/round trip with audit and notification", func(t *testing.T) { testLockoutRoundTrip(t, migrated(t), k) })
	t.Run("ok/nil change and error write nothing", func(t *testing.T) {
		db := migrated(t)
		seq := headSeq(t, db)
		_, err := db.UpdateLockout(t.Context(), k, func(st *lockout.State) (*lockout.Change, error) {
			st.Failures = 7
			return nil, nil
		})
		must(t, err)
		boom := errors.New("boom")
		_, err = db.UpdateLockout(t.Context(), k, func(st *lockout.State) (*lockout.Change, error) {
			st.Failures = 7
			return &lockout.Change{Audit: []audit.Entry{lockoutEntry()}}, boom
		})
		wantErr(t, err, boom)
		states, err := db.LockoutStates(t.Context(), k.CustomerID)
		must(t, err)
		if len(states) != 0 || headSeq(t, db) != seq {
			t.Fatalf("wrote: %+v, audit %d→%d", states, seq, headSeq(t, db))
		}
	})
	t.Run("ok/concurrent updates lose nothing", func(t *testing.T) {
		db := migrated(t)
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				_, err := db.UpdateLockout(t.Context(), k, func(st *lockout.State) (*lockout.Change, error) {
					st.Failures++
					return &lockout.Change{}, nil
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		st, err := db.LockoutState(t.Context(), k)
		must(t, err)
		if st.Failures != 40 || st.Version != 40 {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("ok/spraying source throttles at the fifth customer", func(t *testing.T) { testLockoutSources(t, migrated(t)) })
}

func lockoutEntry() audit.Entry {
	return audit.Entry{Time: base, Actor: "cl_app", Action: lockout.ActionFailure, Target: "cus_1", Result: audit.ResultFailure}
}

func testLockoutRoundTrip(t *testing.T, db *sqlstore.DB, k lockout.Key) {
	seq := headSeq(t, db)
	want := lockout.State{Key: k, Failures: 10, LastFailure: base, NextAllowed: base.Add(5 * time.Second),
		LockedUntil: base.Add(30 * time.Minute), Protected: true, ProtectedSince: base.Add(time.Nanosecond),
		Recent: []time.Time{base.Add(-time.Second), base}, Pending: "att_1", PendingUntil: base.Add(10 * time.Second), Version: 1}
	note := notify.New(k.CustomerID, lockout.KindLoginProtected, map[string]string{"method": "pin"}, base)
	got, err := db.UpdateLockout(t.Context(), k, func(st *lockout.State) (*lockout.Change, error) {
		v := st.Version
		*st = want
		st.Version = v
		return &lockout.Change{Audit: []audit.Entry{lockoutEntry()}, Notes: []notify.Notification{note}}, nil
	})
	must(t, err)
	read, err := db.LockoutState(t.Context(), k)
	must(t, err)
	sameJSON(t, "updated state", got, want)
	sameJSON(t, "read state", read, want)
	if headSeq(t, db) != seq+1 {
		t.Fatal("audit entry not written")
	}
	due, err := db.DueNotifications(t.Context(), base, 10)
	must(t, err)
	if len(due) != 1 || due[0].ID != note.ID {
		t.Fatalf("notifications %+v", due)
	}
	states, err := db.LockoutStates(t.Context(), k.CustomerID)
	must(t, err)
	if len(states) != 1 {
		t.Fatalf("states %+v", states)
	}
}

func testLockoutSources(t *testing.T, db *sqlstore.DB) {
	rule := lockout.Spray{Customers: 5, Window: 10 * time.Minute, Throttle: time.Hour}
	srcs := []string{"fp:rig", "ip:198.51.100.9"}
	var st lockout.State
	for i, cus := range []string{"c1", "c2", "c2", "c3", "c4", "c5"} {
		at := base.Add(time.Duration(i) * time.Minute)
		var err error
		st, err = db.UpdateLockout(t.Context(), lockout.Key{CustomerID: cus, Method: lockout.PIN}, func(*lockout.State) (*lockout.Change, error) {
			return &lockout.Change{Source: &lockout.SourceFailure{Sources: srcs, CustomerID: cus, At: at, Rule: rule, Actor: "cl_app"}}, nil
		})
		must(t, err)
		if throttled := len(st.Transitions) > 0; throttled != (i == 5) {
			t.Fatalf("failure %d (%s): transitions %v", i, cus, st.Transitions)
		}
	}
	if len(st.Transitions) != 2 {
		t.Fatalf("both sources should throttle: %v", st.Transitions)
	}
	until, err := db.SourceThrottledUntil(t.Context(), srcs[1:])
	must(t, err)
	if !until.Equal(base.Add(5*time.Minute + time.Hour)) {
		t.Fatalf("throttled until %v", until)
	}
	until, err = db.SourceThrottledUntil(t.Context(), []string{"ip:192.0.2.1"})
	must(t, err)
	if !until.IsZero() {
		t.Fatalf("unknown source throttled until %v", until)
	}
}
