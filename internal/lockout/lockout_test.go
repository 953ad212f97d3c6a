package lockout_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/lockout"
	"github.com/haechi/haechi/internal/operator"
)

func TestLadderValidate(t *testing.T) {
	ok := lockout.DefaultLadders()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	pin := ok[lockout.PIN]
	tests := []struct {
		name string
		edit func(l *lockout.Ladder)
	}{
		{"error/delays not increasing", func(l *lockout.Ladder) { l.Delays = []lockout.Delay{{3, time.Second}, {3, time.Second}} }},
		{"error/delay at zero", func(l *lockout.Ladder) { l.Delays = []lockout.Delay{{0, time.Second}} }},
		{"error/zero wait", func(l *lockout.Ladder) { l.Delays = []lockout.Delay{{3, 0}} }},
		{"error/lock before a delay", func(l *lockout.Ladder) { l.LockAt = 4 }},
		{"error/zero lock", func(l *lockout.Ladder) { l.LockFor = 0 }},
		{"error/protection not after lock", func(l *lockout.Ladder) { l.ProtectAt = l.LockAt }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := pin
			l.Delays = slices.Clone(pin.Delays)
			tt.edit(&l)
			bad := lockout.DefaultLadders()
			bad[lockout.PIN] = l
			if err := bad.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("error/missing method", func(t *testing.T) {
		bad := lockout.DefaultLadders()
		delete(bad, lockout.Biometric)
		if bad.Validate() == nil {
			t.Fatal("accepted")
		}
	})
}

// stage is what the n-th failure must impose.
type stage struct {
	tr   lockout.Transition // "" for none
	wait time.Duration      // delay or lock length
}

func ladderTable(l lockout.Ladder) []stage {
	var out []stage
	for n := 1; n <= l.ProtectAt; n++ {
		s := stage{}
		switch {
		case n >= l.ProtectAt:
			s.tr = lockout.Protected
		case n >= l.LockAt:
			s = stage{lockout.Locked, l.LockFor}
		default:
			for _, d := range l.Delays {
				if n >= d.At {
					s = stage{lockout.Delayed, d.Wait}
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// TestStages climbs each method's ladder with the clock, checking every
// failure's effect, the refusal just before it ends and the attempt
// accepted the instant it ends.
func TestStages(t *testing.T) {
	want := map[lockout.Method][]lockout.Transition{
		lockout.PIN:     {"", "", lockout.Delayed, lockout.Delayed, lockout.Locked, lockout.Locked, lockout.Locked, lockout.Locked, lockout.Locked, lockout.Protected},
		lockout.Pattern: {"", lockout.Delayed, lockout.Delayed, lockout.Locked, lockout.Locked, lockout.Locked, lockout.Locked, lockout.Protected},
	}
	engines(t, func(t *testing.T, open nodes) {
		db, _ := open(t)
		c := &clock{now: base}
		s := newService(db, c, false)
		for _, m := range lockout.Methods {
			table := ladderTable(s.Ladders[m])
			if w, ok := want[m]; ok {
				for i := range w {
					if table[i].tr != w[i] {
						t.Fatalf("%s: table %v differs from DESIGN at failure %d", m, table, i+1)
					}
				}
			}
			t.Run(string(m), func(t *testing.T) { climb(t, s, "cus_"+string(m), m, table) })
		}
	})
}

func climb(t *testing.T, s *lockout.Service, cus string, m lockout.Method, table []stage) {
	now := base
	for i, want := range table {
		st := failOnce(t, s, cus, m, now, meta)
		if st.Failures != i+1 || (want.tr == "" && len(st.Transitions) > 0) || (want.tr != "" && !hasTransition(st, want.tr)) {
			t.Fatalf("failure %d: state %+v, want %q", i+1, st, want.tr)
		}
		_, atOnce := s.Check(t.Context(), cus, m, now)
		_, justBefore := s.Check(t.Context(), cus, m, now.Add(want.wait-time.Nanosecond))
		switch want.tr {
		case "":
			if atOnce != nil {
				t.Fatalf("failure %d: next attempt refused: %v", i+1, atOnce)
			}
		case lockout.Delayed:
			wantRefusal(t, atOnce, lockout.ErrDelayed, errs.TooManyRequests, want.wait)
			wantRefusal(t, justBefore, lockout.ErrDelayed, errs.TooManyRequests, time.Second)
		case lockout.Locked:
			wantRefusal(t, atOnce, lockout.ErrLocked, errs.Locked, want.wait)
			wantRefusal(t, justBefore, lockout.ErrLocked, errs.Locked, time.Second)
		case lockout.Protected:
			wantRefusal(t, atOnce, lockout.ErrProtection, errs.Locked, 0)
			_, err := s.Begin(t.Context(), cus, m, now.AddDate(10, 0, 0))
			wantRefusal(t, err, lockout.ErrProtection, errs.Locked, 0)
			return
		}
		if _, err := s.Check(t.Context(), cus, m, now.Add(want.wait)); err != nil {
			t.Fatalf("failure %d: refused when the stage ends: %v", i+1, err)
		}
		now = now.Add(want.wait).Add(time.Duration(i+1) * 7 * time.Second)
	}
	t.Fatal("never reached protection")
}

func TestSuccessResets(t *testing.T) {
	engines(t, func(t *testing.T, open nodes) {
		db, _ := open(t)
		s := newService(db, &clock{base}, false)
		now := base
		for range 4 {
			now = now.Add(time.Minute)
			failOnce(t, s, "cus_1", lockout.PIN, now, meta)
		}
		now = now.Add(time.Minute)
		a, err := s.Begin(t.Context(), "cus_1", lockout.PIN, now)
		if err != nil {
			t.Fatal(err)
		}
		st, err := a.Succeed(t.Context(), now, meta)
		if err != nil || st.Failures != 0 || !hasTransition(st, lockout.Reset) {
			t.Fatalf("success: %+v %v", st, err)
		}
		// The next run starts from one: no delay until the third failure.
		now = now.Add(time.Minute)
		if st := failOnce(t, s, "cus_1", lockout.PIN, now, meta); st.Failures != 1 || len(st.Transitions) != 0 {
			t.Fatalf("after reset: %+v", st)
		}
		// Another method and another customer were never touched.
		d, err := s.Check(t.Context(), "cus_1", lockout.Pattern, now)
		if err != nil || d.State.Failures != 0 {
			t.Fatalf("pattern: %+v %v", d, err)
		}
	})
}

// TestParallelReservations: 100 concurrent requests at one frozen instant,
// spread over two nodes, get exactly one reservation while it is in flight.
// Completing them as failures, rounds of 100 each at the first instant the
// ladder allows never have two in flight, and protection comes after exactly
// ProtectAt failures, each of which the ladder counted.
func TestParallelReservations(t *testing.T) {
	engines(t, func(t *testing.T, open nodes) {
		a, b := open(t)
		c := &clock{base}
		svcs := []*lockout.Service{newService(a, c, false), newService(b, c, false)}
		var got, busy atomic.Int64
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				_, err := svcs[i%2].Begin(t.Context(), "cus_frozen", lockout.PIN, base)
				switch {
				case err == nil:
					got.Add(1)
				case errors.Is(err, lockout.ErrInProgress):
					busy.Add(1)
				default:
					t.Errorf("begin: %v", err)
				}
			})
		}
		wg.Wait()
		if got.Load() != 1 || busy.Load() != 99 {
			t.Fatalf("%d reserved, %d refused in progress", got.Load(), busy.Load())
		}
		reserved, st := attack(t, svcs, "cus_1", lockout.PIN, 100)
		if reserved != 10 || st.Failures != 10 || !st.Protected {
			t.Fatalf("reserved %d, state %+v", reserved, st)
		}
	})
}

// TestAttackerBound plays an attacker holding the phone with unlimited time
// and parallelism, bots allowed: at most ProtectAt guesses for every method,
// and none at all after protection, however long they wait.
func TestAttackerBound(t *testing.T) {
	engines(t, func(t *testing.T, open nodes) {
		a, b := open(t)
		c := &clock{base}
		for _, bot := range []bool{false, true} {
			svcs := []*lockout.Service{newService(a, c, bot), newService(b, c, bot)}
			for _, m := range lockout.Methods {
				cus := "cus_" + string(m)
				if bot {
					cus += "_bot"
				}
				reserved, st := attack(t, svcs, cus, m, 20)
				limit := svcs[0].Ladders[m].ProtectAt
				if reserved > limit || !st.Protected || (!bot && reserved != limit) {
					t.Fatalf("%s bot=%v: %d guesses, limit %d, state %+v", m, bot, reserved, limit, st)
				}
				t.Logf("%s bot=%v: %d guesses before protection", m, bot, reserved)
			}
		}
	})
}

// attack runs rounds of parallel attempts, each round at the first instant
// the ladder allows, every reserved attempt failing, until a round long
// after protection gets nothing. It returns how many attempts were reserved.
func attack(t *testing.T, svcs []*lockout.Service, cus string, m lockout.Method, parallel int) (int, lockout.State) {
	t.Helper()
	now, total := base, 0
	for round := 0; round < 100; round++ {
		var got, inFlight atomic.Int64
		var wg sync.WaitGroup
		for i := range parallel {
			wg.Go(func() {
				s := svcs[i%len(svcs)]
				at, err := s.Begin(t.Context(), cus, m, now)
				if lockout.IsRefusal(err) {
					return
				} else if err != nil {
					t.Errorf("begin: %v", err)
					return
				}
				got.Add(1)
				if inFlight.Add(1) > 1 {
					t.Errorf("two attempts in flight")
				}
				inFlight.Add(-1) // before Fail: the reservation holds until it commits
				if _, err := at.Fail(t.Context(), now, lockout.Meta{Actor: "cl_app"}); err != nil {
					t.Errorf("fail: %v", err)
				}
			})
		}
		wg.Wait()
		total += int(got.Load())
		d, err := svcs[0].Check(t.Context(), cus, m, now)
		if d.State.Protected {
			return total + tryAfter(t, svcs[1], cus, m, now), d.State
		}
		now = nextInstant(t, err, now)
	}
	t.Fatal("no protection after 100 rounds")
	return 0, lockout.State{}
}

// nextInstant is the first instant the refusal err allows, at least 1 ns on.
func nextInstant(t *testing.T, err error, now time.Time) time.Time {
	t.Helper()
	if err == nil {
		return now.Add(time.Nanosecond)
	}
	e := errs.As(err)
	if e == nil {
		t.Fatal(err)
	}
	return now.Add(e.RetryAfter)
}

// tryAfter tries once more ten years later; it must be refused.
func tryAfter(t *testing.T, s *lockout.Service, cus string, m lockout.Method, now time.Time) int {
	t.Helper()
	_, err := s.Begin(t.Context(), cus, m, now.AddDate(10, 0, 0))
	wantErr(t, err, lockout.ErrProtection)
	return 0
}

// TestAbandonedReservation: a server killed between reservation and result
// leaves a reservation that blocks the key until it lapses and then counts
// as a failure; the late result cannot count again or log in.
func TestAbandonedReservation(t *testing.T) {
	engines(t, func(t *testing.T, open nodes) {
		a, b := open(t)
		s, other := newService(a, &clock{base}, false), newService(b, &clock{base}, false)
		crashed, err := s.Begin(t.Context(), "cus_1", lockout.PIN, base)
		if err != nil {
			t.Fatal(err)
		}
		_, err = other.Begin(t.Context(), "cus_1", lockout.PIN, base.Add(9*time.Second))
		wantRefusal(t, err, lockout.ErrInProgress, errs.TooManyRequests, time.Second)
		d, err := other.Check(t.Context(), "cus_1", lockout.PIN, base.Add(lockout.DefaultReservationTTL))
		if err != nil || d.State.Failures != 1 {
			t.Fatalf("check after expiry: %+v %v", d, err)
		}
		next, err := other.Begin(t.Context(), "cus_1", lockout.PIN, base.Add(lockout.DefaultReservationTTL))
		if err != nil {
			t.Fatal(err)
		}
		st, err := crashed.Succeed(t.Context(), base.Add(11*time.Second), meta)
		wantErr(t, err, lockout.ErrAttemptLost)
		if st.Failures != 1 {
			t.Fatalf("late success changed the count: %+v", st)
		}
		if st, err = crashed.Fail(t.Context(), base.Add(11*time.Second), meta); err != nil || st.Failures != 1 {
			t.Fatalf("late failure counted again: %+v %v", st, err)
		}
		if st, err = next.Fail(t.Context(), base.Add(12*time.Second), meta); err != nil || st.Failures != 2 {
			t.Fatalf("next failure: %+v %v", st, err)
		}
	})
}

// TestRelease: a reservation given back before any comparison counts
// nothing and frees the key at once; one given back after it lapsed has
// counted already and stays counted, once.
func TestRelease(t *testing.T) {
	engines(t, func(t *testing.T, open nodes) {
		a, _ := open(t)
		s := newService(a, &clock{base}, false)
		att, err := s.Begin(t.Context(), "cus_1", lockout.PIN, base)
		if err != nil {
			t.Fatal(err)
		}
		if err := att.Release(t.Context(), base.Add(time.Second), meta); err != nil {
			t.Fatal(err)
		}
		d, err := s.Check(t.Context(), "cus_1", lockout.PIN, base.Add(time.Second))
		if err != nil || d.State.Failures != 0 || d.State.Pending != "" {
			t.Fatalf("after release: %+v %v", d, err)
		}
		late, err := s.Begin(t.Context(), "cus_1", lockout.PIN, base.Add(time.Second))
		if err != nil {
			t.Fatalf("the key stayed reserved: %v", err)
		}
		after := base.Add(time.Second + lockout.DefaultReservationTTL)
		if err := late.Release(t.Context(), after, meta); err != nil {
			t.Fatal(err)
		}
		if err := late.Release(t.Context(), after, meta); err != nil {
			t.Fatal(err)
		}
		if d, err := s.Check(t.Context(), "cus_1", lockout.PIN, after); err != nil || d.State.Failures != 1 {
			t.Fatalf("lapsed then released: %+v %v", d, err)
		}
	})
}

func TestBotDetection(t *testing.T) {
	engines(t, func(t *testing.T, open nodes) {
		db, _ := open(t)
		s := newService(db, &clock{base}, true)
		t.Run("fast failure escalates one stage", func(t *testing.T) {
			failOnce(t, s, "cus_fast", lockout.PIN, base, meta)
			st := failOnce(t, s, "cus_fast", lockout.PIN, base.Add(900*time.Millisecond), meta)
			if !st.BotSuspected || st.Failures != 3 || !hasTransition(st, lockout.Delayed) {
				t.Fatalf("state %+v", st)
			}
		})
		t.Run("even pace escalates one stage", func(t *testing.T) {
			var st lockout.State
			for i := range 5 {
				st = failOnce(t, s, "cus_even", lockout.Biometric, base.Add(time.Duration(i)*31*time.Second), meta)
			}
			// Without the rule the 5th biometric failure only delays.
			if !st.BotSuspected || st.Failures != 10 || !hasTransition(st, lockout.Locked) {
				t.Fatalf("state %+v", st)
			}
		})
		t.Run("human pace is not flagged", func(t *testing.T) {
			gaps := []time.Duration{0, 31 * time.Second, 50 * time.Second, 95 * time.Second, 40 * time.Second}
			now := base
			var st lockout.State
			for _, g := range gaps {
				now = now.Add(g)
				st = failOnce(t, s, "cus_human", lockout.Biometric, now, meta)
			}
			if st.BotSuspected || st.Failures != 5 || !hasTransition(st, lockout.Delayed) {
				t.Fatalf("state %+v", st)
			}
		})
	})
}

func TestSpraying(t *testing.T) {
	engines(t, func(t *testing.T, open nodes) {
		db, _ := open(t)
		s := newService(db, &clock{base}, false)
		src := lockout.Meta{Actor: "cl_app", IP: "198.51.100.9", Fingerprint: "fp_rig"}
		var st lockout.State
		for i := range 5 {
			if err := s.CheckSource(t.Context(), src.Fingerprint, src.IP, base); err != nil {
				t.Fatalf("customer %d: %v", i, err)
			}
			st = failOnce(t, s, "cus_"+string(rune('a'+i)), lockout.PIN, base.Add(time.Duration(i)*time.Minute), src)
		}
		if !hasTransition(st, lockout.SourceThrottled) {
			t.Fatalf("5th customer did not throttle: %+v", st)
		}
		at := base.Add(4 * time.Minute)
		wantRefusal(t, s.CheckSource(t.Context(), "", src.IP, at), lockout.ErrSourceThrottled, errs.TooManyRequests, time.Hour)
		wantRefusal(t, s.CheckSource(t.Context(), src.Fingerprint, "", at), lockout.ErrSourceThrottled, errs.TooManyRequests, time.Hour)
		if err := s.CheckSource(t.Context(), "fp_other", "192.0.2.1", at); err != nil {
			t.Fatalf("innocent source: %v", err)
		}
		if err := s.CheckSource(t.Context(), src.Fingerprint, src.IP, at.Add(time.Hour)); err != nil {
			t.Fatalf("after the hour: %v", err)
		}
		// Spread over more than the window, five customers do not throttle.
		slow := lockout.Meta{Actor: "cl_app", IP: "198.51.100.10"}
		for i := range 5 {
			st = failOnce(t, s, "cus_s"+string(rune('a'+i)), lockout.PIN, base.Add(time.Duration(i)*3*time.Minute), slow)
		}
		if hasTransition(st, lockout.SourceThrottled) || s.CheckSource(t.Context(), "", slow.IP, base.Add(13*time.Minute)) != nil {
			t.Fatalf("slow source throttled: %+v", st)
		}
	})
}

func TestOperatorActions(t *testing.T) {
	agent := &operator.Operator{ID: "op_agent", Roles: []operator.Role{operator.RoleAgent}}
	teller := &operator.Operator{ID: "op_teller", Roles: []operator.Role{operator.RoleTeller}}
	const reason = "identity_verified_by_call"
	engines(t, func(t *testing.T, open nodes) {
		db, _ := open(t)
		c := &clock{base}
		s := newService(db, c, false)
		now := base
		for range 5 {
			now = now.Add(2 * time.Minute)
			failOnce(t, s, "cus_1", lockout.PIN, now, meta)
		}
		c.now = now.Add(time.Minute)
		seq := auditSeq(t, db)
		_, err := s.ClearLock(t.Context(), teller, "cus_1", lockout.PIN, reason)
		wantErr(t, err, operator.ErrRole)
		_, err = s.ClearLock(t.Context(), agent, "cus_1", lockout.PIN, "because they asked nicely")
		wantErr(t, err, lockout.ErrInvalidClearReason)
		if auditSeq(t, db) != seq {
			t.Fatal("a refused clear wrote")
		}
		st, err := s.ClearLock(t.Context(), agent, "cus_1", lockout.PIN, reason)
		if err != nil || !hasTransition(st, lockout.Unlocked) || st.Failures != 5 {
			t.Fatalf("clear: %+v %v", st, err)
		}
		if evs := lastEvents(t, db, seq); len(evs) != 1 || evs[0].Action != lockout.ActionClear || evs[0].Actor != "op_agent" {
			t.Fatalf("audit %+v", evs)
		}
		// The count stays: the next failure locks again.
		if st := failOnce(t, s, "cus_1", lockout.PIN, c.now, meta); !hasTransition(st, lockout.Locked) {
			t.Fatalf("after clear: %+v", st)
		}
		for range 4 {
			now = now.Add(time.Hour)
			failOnce(t, s, "cus_1", lockout.PIN, now, meta)
		}
		c.now = now.AddDate(1, 0, 0)
		_, err = s.ClearLock(t.Context(), agent, "cus_1", lockout.PIN, reason)
		wantErr(t, err, lockout.ErrNeedsReverify)
		st, err = s.LiftProtection(t.Context(), "cus_1", lockout.PIN, lockout.ViaBranchReset, "op_teller")
		if err != nil || st.Protected || st.Failures != 0 || !hasTransition(st, lockout.ProtectionLifted) {
			t.Fatalf("lift: %+v %v", st, err)
		}
		_, err = s.LiftProtection(t.Context(), "cus_1", lockout.PIN, lockout.ViaBranchReset, "op_teller")
		wantErr(t, err, lockout.ErrNotProtected)
		states, err := s.States(t.Context(), "cus_1")
		if err != nil || len(states) != 3 || states[0].Method != lockout.PIN || states[0].Failures != 0 {
			t.Fatalf("states %+v %v", states, err)
		}
		kinds := noteKinds(t, db, "cus_1")
		for _, k := range []string{lockout.KindLoginDelayed, lockout.KindLoginLocked, lockout.KindLoginUnlocked, lockout.KindLoginProtected, lockout.KindLoginProtectionLifted} {
			if !slices.Contains(kinds, k) {
				t.Fatalf("no %s notification in %v", k, kinds)
			}
		}
	})
}
