package storetest

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/secmedia"
	"github.com/haechi/haechi/internal/sqlstore"
)

// newMedium is a record with made-up sealed bytes: the store keeps them
// opaque, so any bytes show whether they survive the round trip.
func newMedium(id, institutionID, serial string, kind secmedia.Kind) *secmedia.Record {
	r := &secmedia.Record{ID: id, InstitutionID: institutionID, Serial: serial, Kind: kind,
		SeedSealed: []byte("seed-" + id), Digits: 6, Period: 30, Algorithm: secmedia.SHA1,
		HolderIndex: []byte("holder-" + id), NameSealed: []byte("name-" + id), BirthSealed: []byte("birth-" + id),
		PhoneSealed: []byte("phone-" + id), RegisteredAt: base}
	if kind == secmedia.HOTP {
		r.Period, r.Counter = 0, 7
	}
	return r
}

func lockEntry(id string) audit.Entry {
	return audit.Entry{Actor: "cl_1", Action: "secmedia.lock", Target: id, Result: audit.ResultFailure}
}

func testSecurityMedia(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	db := open(t)
	for _, id := range []string{"cl_1", "cl_2"} {
		must(t, db.CreateClient(t.Context(), newClient(id, base), entry("client.create", id)))
	}
	totp := newMedium("sm_t", "cl_1", "OTP-0000-0001", secmedia.TOTP)
	totp.Digits, totp.Algorithm, totp.LastStep = 8, secmedia.SHA512, 100
	hotp := newMedium("sm_h", "cl_1", "OTP-0000-0002", secmedia.HOTP)
	must(t, db.CreateMedium(t.Context(), totp, entry("secmedia.register", totp.ID)))
	must(t, db.CreateMedium(t.Context(), hotp, entry("secmedia.register", hotp.ID)))

	t.Run("ok/round trip of each kind", func(t *testing.T) {
		for _, want := range []*secmedia.Record{totp, hotp} {
			got, err := db.Medium(t.Context(), "cl_1", want.Serial)
			must(t, err)
			sameJSON(t, "medium "+want.ID, got, want)
		}
	})
	testMediumScoping(t, db)
	testMediumConflicts(t, db, totp)
	testMediumAdvance(t, db)
	testMediumFailures(t, db)
	testMediumRaces(t, db)
	verifyChain(t, db, headSeq(t, db))
}

func testMediumScoping(t *testing.T, db *sqlstore.DB) {
	tests := []struct{ name, institution, serial string }{
		{"error/another institution's serial", "cl_2", "OTP-0000-0001"},
		{"error/unknown serial", "cl_1", "OTP-9999-9999"},
		{"error/serial matched case-sensitively", "cl_1", "otp-0000-0001"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := db.Medium(t.Context(), tc.institution, tc.serial)
			wantErr(t, err, errs.ErrNotFound)
			if r != nil {
				t.Fatalf("got a record with not found: %+v", r)
			}
		})
	}
}

func testMediumConflicts(t *testing.T, db *sqlstore.DB, taken *secmedia.Record) {
	t.Run("error/serial taken at the institution writes nothing, not even audit", func(t *testing.T) {
		before := headSeq(t, db)
		dup := newMedium("sm_dup", "cl_1", taken.Serial, secmedia.TOTP)
		wantErr(t, db.CreateMedium(t.Context(), dup, entry("secmedia.register", dup.ID)), errs.ErrConflict)
		if got := headSeq(t, db); got != before {
			t.Fatalf("audit head moved from %d to %d", before, got)
		}
	})
	t.Run("ok/same serial at another institution", func(t *testing.T) {
		other := newMedium("sm_other", "cl_2", taken.Serial, secmedia.TOTP)
		must(t, db.CreateMedium(t.Context(), other, entry("secmedia.register", other.ID)))
	})
	t.Run("error/period on an hotp medium is refused by the schema", func(t *testing.T) {
		bad := newMedium("sm_bad", "cl_1", "OTP-BAD-00001", secmedia.HOTP)
		bad.Period = 30
		if err := db.CreateMedium(t.Context(), bad, entry("secmedia.register", bad.ID)); err == nil {
			t.Fatal("an hotp medium with a period was stored")
		}
	})
}

func testMediumAdvance(t *testing.T, db *sqlstore.DB) {
	tests := []struct {
		name string
		do   func() (bool, error)
		want bool
	}{
		{"error/totp step not after the last", func() (bool, error) { return db.AdvanceTOTP(t.Context(), "sm_t", 100, 10) }, false},
		{"ok/totp next step", func() (bool, error) { return db.AdvanceTOTP(t.Context(), "sm_t", 101, 10) }, true},
		{"error/totp same step again", func() (bool, error) { return db.AdvanceTOTP(t.Context(), "sm_t", 101, 10) }, false},
		{"ok/totp skips ahead", func() (bool, error) { return db.AdvanceTOTP(t.Context(), "sm_t", 150, 10) }, true},
		{"error/totp step on an hotp medium", func() (bool, error) { return db.AdvanceTOTP(t.Context(), "sm_h", 1000, 10) }, false},
		{"error/hotp from a stale counter", func() (bool, error) { return db.AdvanceHOTP(t.Context(), "sm_h", 6, 8, 10) }, false},
		{"ok/hotp from the stored counter", func() (bool, error) { return db.AdvanceHOTP(t.Context(), "sm_h", 7, 10, 10) }, true},
		{"error/hotp from the old counter again", func() (bool, error) { return db.AdvanceHOTP(t.Context(), "sm_h", 7, 10, 10) }, false},
		{"error/hotp counter on a totp medium", func() (bool, error) { return db.AdvanceHOTP(t.Context(), "sm_t", 0, 1, 10) }, false},
		{"error/unknown medium", func() (bool, error) { return db.AdvanceTOTP(t.Context(), "sm_nope", 1, 10) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			won, err := tc.do()
			must(t, err)
			if won != tc.want {
				t.Fatalf("advanced = %v, want %v", won, tc.want)
			}
		})
	}
	t.Run("ok/stored state after the advances", func(t *testing.T) {
		tot, err := db.Medium(t.Context(), "cl_1", "OTP-0000-0001")
		must(t, err)
		hot, err := db.Medium(t.Context(), "cl_1", "OTP-0000-0002")
		must(t, err)
		if tot.LastStep != 150 || hot.Counter != 10 {
			t.Fatalf("last step %d, counter %d; want 150 and 10", tot.LastStep, hot.Counter)
		}
	})
	t.Run("error/hotp counter moving backwards", func(t *testing.T) {
		_, err := db.AdvanceHOTP(t.Context(), "sm_h", 10, 10, 10)
		wantErr(t, err, errs.ErrInvalid)
	})
}

func testMediumFailures(t *testing.T, db *sqlstore.DB) {
	m := newMedium("sm_f", "cl_1", "OTP-FAIL-0001", secmedia.HOTP)
	must(t, db.CreateMedium(t.Context(), m, entry("secmedia.register", m.ID)))
	t.Run("ok/failures count up to the cap, the last one audited", func(t *testing.T) {
		before := headSeq(t, db)
		for want := 1; want <= 3; want++ {
			n, counted, err := db.CountMediumFailure(t.Context(), m.ID, 3, lockEntry(m.ID))
			must(t, err)
			if n != want || !counted {
				t.Fatalf("failure %d: count %d, counted %v", want, n, counted)
			}
		}
		if got := headSeq(t, db); got != before+1 {
			t.Fatalf("audit grew by %d, want 1 (the lock)", got-before)
		}
	})
	t.Run("error/at the cap nothing is counted or advanced", func(t *testing.T) {
		before := headSeq(t, db)
		_, counted, err := db.CountMediumFailure(t.Context(), m.ID, 3, lockEntry(m.ID))
		must(t, err)
		won, err := db.AdvanceHOTP(t.Context(), m.ID, m.Counter, m.Counter+1, 3)
		must(t, err)
		if counted || won || headSeq(t, db) != before {
			t.Fatalf("locked medium: counted %v, advanced %v", counted, won)
		}
	})
	t.Run("ok/reset clears, then an advance clears again", func(t *testing.T) {
		must(t, db.ResetMediumFailures(t.Context(), m.ID, entry("secmedia.unlock", m.ID)))
		_, _, err := db.CountMediumFailure(t.Context(), m.ID, 3, lockEntry(m.ID))
		must(t, err)
		won, err := db.AdvanceHOTP(t.Context(), m.ID, m.Counter, m.Counter+1, 3)
		must(t, err)
		got, err := db.Medium(t.Context(), "cl_1", m.Serial)
		must(t, err)
		if !won || got.Failures != 0 || got.Counter != m.Counter+1 {
			t.Fatalf("advanced %v, failures %d, counter %d", won, got.Failures, got.Counter)
		}
	})
	t.Run("error/reset of an unknown medium", func(t *testing.T) {
		wantErr(t, db.ResetMediumFailures(t.Context(), "sm_nope", entry("secmedia.unlock", "sm_nope")), errs.ErrNotFound)
	})
}

func testMediumRaces(t *testing.T, db *sqlstore.DB) {
	m := newMedium("sm_race", "cl_1", "OTP-RACE-0001", secmedia.TOTP)
	h := newMedium("sm_race_h", "cl_1", "OTP-RACE-0002", secmedia.HOTP)
	must(t, db.CreateMedium(t.Context(), m, entry("secmedia.register", m.ID)))
	must(t, db.CreateMedium(t.Context(), h, entry("secmedia.register", h.ID)))
	t.Run("ok/20 parallel uses of one step have one winner", func(t *testing.T) {
		wantOneWinner(t, func() (bool, error) { return db.AdvanceTOTP(t.Context(), m.ID, 500, 10) })
	})
	t.Run("ok/20 parallel moves from one counter have one winner", func(t *testing.T) {
		wantOneWinner(t, func() (bool, error) { return db.AdvanceHOTP(t.Context(), h.ID, h.Counter, h.Counter+3, 10) })
	})
	t.Run("ok/30 parallel failures on a cap of 5 count exactly 5", func(t *testing.T) {
		var counted atomic.Int32
		var wg sync.WaitGroup
		for range 30 {
			wg.Go(func() {
				_, ok, err := db.CountMediumFailure(t.Context(), m.ID, 5, lockEntry(m.ID))
				if err != nil {
					t.Errorf("count failure: %v", err)
				}
				if ok {
					counted.Add(1)
				}
			})
		}
		wg.Wait()
		got, err := db.Medium(t.Context(), "cl_1", m.Serial)
		must(t, err)
		if counted.Load() != 5 || got.Failures != 5 {
			t.Fatalf("%d counted, %d stored; want 5 and 5", counted.Load(), got.Failures)
		}
	})
}

func wantOneWinner(t *testing.T, do func() (bool, error)) {
	t.Helper()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			won, err := do()
			if err != nil {
				t.Errorf("advance: %v", err)
			}
			if won {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d callers won, want 1", wins.Load())
	}
}
