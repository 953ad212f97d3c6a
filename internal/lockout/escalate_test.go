package lockout_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/lockout"
)

// TestEscalate raises the PIN ladder one stage from each stage, checking
// the new count, the refusal it imposes from now, its audit entry and the
// customer's notification.
func TestEscalate(t *testing.T) {
	tests := []struct {
		name     string
		failures int // human-paced failures before the escalation
		want     int
		tr       lockout.Transition
		refusal  *errs.Error
		kind     errs.Kind
		retry    time.Duration
		note     string
	}{
		{"no failures: the first delay", 0, 3, lockout.Delayed, lockout.ErrDelayed, errs.TooManyRequests, 5 * time.Second, lockout.KindLoginDelayed},
		{"one failure: the first delay", 1, 3, lockout.Delayed, lockout.ErrDelayed, errs.TooManyRequests, 5 * time.Second, lockout.KindLoginDelayed},
		{"delayed: the lock", 3, 5, lockout.Locked, lockout.ErrLocked, errs.Locked, 30 * time.Minute, lockout.KindLoginLocked},
		{"locked: protection mode", 6, 10, lockout.Protected, lockout.ErrProtection, errs.Locked, 0, lockout.KindLoginProtected},
	}
	engines(t, func(t *testing.T, open nodes) {
		db, _ := open(t)
		s := newService(db, &clock{base}, false)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cus := "cus_esc_" + tt.name[:3]
				now := climbTo(t, s, cus, tt.failures)
				seq := auditSeq(t, db)
				st, err := s.Escalate(t.Context(), cus, lockout.PIN, now, meta, "fds_step_up")
				if err != nil || st.Failures != tt.want || !slices.Equal(st.Transitions, []lockout.Transition{tt.tr}) {
					t.Fatalf("escalate: %+v %v, want %d failures and %s", st, err, tt.want, tt.tr)
				}
				_, err = s.Check(t.Context(), cus, lockout.PIN, now)
				wantRefusal(t, err, tt.refusal, tt.kind, tt.retry)
				evs := lastEvents(t, db, seq)
				if len(evs) != 1 || evs[0].Action != lockout.ActionEscalated || evs[0].Target != cus ||
					evs[0].Actor != meta.Actor || evs[0].Details["reason"] != "fds_step_up" || evs[0].Details["transitions"] != string(tt.tr) {
					t.Fatalf("audit %+v", evs)
				}
				if !slices.Contains(noteKinds(t, db, cus), tt.note) {
					t.Fatalf("no %s notification in %v", tt.note, noteKinds(t, db, cus))
				}
			})
		}
	})
}

// climbTo fails n PIN attempts at a human pace, each after the stage
// before it ended, and returns a time just after the last.
func climbTo(t *testing.T, s *lockout.Service, cus string, n int) time.Time {
	t.Helper()
	now := base
	for range n {
		st := failOnce(t, s, cus, lockout.PIN, now, meta)
		now = later(now, st.NextAllowed, st.LockedUntil).Add(7 * time.Second)
	}
	return now
}

func later(ts ...time.Time) time.Time {
	out := ts[0]
	for _, t := range ts[1:] {
		if t.After(out) {
			out = t
		}
	}
	return out
}

func TestEscalateRefusals(t *testing.T) {
	engines(t, func(t *testing.T, open nodes) {
		db, _ := open(t)
		s := newService(db, &clock{base}, false)
		t.Run("protection mode: nothing written", func(t *testing.T) {
			now := climbTo(t, s, "cus_prot", 10)
			before, _ := db.LockoutState(t.Context(), lockout.Key{CustomerID: "cus_prot", Method: lockout.PIN})
			seq := auditSeq(t, db)
			st, err := s.Escalate(t.Context(), "cus_prot", lockout.PIN, now, meta, "fds_deny")
			if err != nil || !st.Protected || st.Failures != 10 || len(st.Transitions) != 0 {
				t.Fatalf("escalate: %+v %v", st, err)
			}
			after, _ := db.LockoutState(t.Context(), lockout.Key{CustomerID: "cus_prot", Method: lockout.PIN})
			if auditSeq(t, db) != seq || after.Version != before.Version {
				t.Fatal("an escalation of a protected key wrote")
			}
		})
		for _, tt := range []struct {
			name     string
			customer string
			method   lockout.Method
			want     error
		}{
			{"error/no customer", "", lockout.PIN, errs.ErrInvalid},
			{"error/unknown method", "cus_x", lockout.Method("iris"), lockout.ErrUnknownMethod},
		} {
			t.Run(tt.name, func(t *testing.T) {
				seq := auditSeq(t, db)
				_, err := s.Escalate(t.Context(), tt.customer, tt.method, base, meta, "fds_deny")
				wantErr(t, err, tt.want)
				if auditSeq(t, db) != seq {
					t.Fatal("a refused escalation wrote")
				}
			})
		}
	})
}

// TestEscalateSettlesLapsed counts a reservation that lapsed before the
// escalation, then escalates from there: the crash's free guess is not
// lost in the jump.
func TestEscalateSettlesLapsed(t *testing.T) {
	engines(t, func(t *testing.T, open nodes) {
		db, _ := open(t)
		s := newService(db, &clock{base}, false)
		failOnce(t, s, "cus_lapse", lockout.PIN, base, meta)
		failOnce(t, s, "cus_lapse", lockout.PIN, base.Add(time.Minute), meta)
		if _, err := s.Begin(t.Context(), "cus_lapse", lockout.PIN, base.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		now := base.Add(3 * time.Minute)
		st, err := s.Escalate(t.Context(), "cus_lapse", lockout.PIN, now, meta, "fds_deny")
		// 2 failures + the lapsed one = 3 (delayed), escalated to 5 (locked).
		if err != nil || st.Failures != 5 || !hasTransition(st, lockout.Abandoned) || !hasTransition(st, lockout.Locked) || st.Pending != "" {
			t.Fatalf("escalate: %+v %v", st, err)
		}
	})
}

// TestEscalateConcurrent escalates one key from both nodes at once: every
// escalation counts, so three reach protection mode from a clean key.
func TestEscalateConcurrent(t *testing.T) {
	engines(t, func(t *testing.T, open nodes) {
		a, b := open(t)
		c := &clock{base}
		svcs := []*lockout.Service{newService(a, c, false), newService(b, c, false)}
		var wg sync.WaitGroup
		errc := make(chan error, 3)
		for i := range 3 {
			wg.Go(func() {
				_, err := svcs[i%2].Escalate(t.Context(), "cus_race", lockout.PIN, base, meta, "fds_deny")
				errc <- err
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		st, err := a.LockoutState(t.Context(), lockout.Key{CustomerID: "cus_race", Method: lockout.PIN})
		if err != nil || !st.Protected || st.Failures != 10 {
			t.Fatalf("after 3 concurrent escalations: %+v %v", st, err)
		}
	})
}
